"""The cost of the data-parallel path with one replica, against today's single-device path, in one process.

    python bench/distributed_overhead.py [--iterations 40] [--warmup 10] [--only wgan_gp|dcgan|ring]
                                         [--backend tensorflow|jax|both] [--json docs/results/distributed_overhead.json]

Protocol (shared/BENCHMARKS.md, section 3, as bench/throughput.py): the same spec, data and machine, measured
in one run and reported as a ratio. Contenders, each `ganspec run`'s own feed and compiled step
(`timing.ganspec_contender`):
- "single": `ganspec run SPEC` (no strategy: today's path);
- "distributed-1": `ganspec run SPEC --devices 1 --strategy mirrored` on TensorFlow (the step inside
  `strategy.run`, losses scaled by 1/replicas, gradients all-reduced) and `--strategy data_parallel` on JAX
  (the state replicated and the batch sharded over a one-device mesh).
Every iteration runs each contender once, in an order that rotates, so background load falls on both alike;
the headline is the paired median of (single s / distributed s) per iteration: the distributed path's speed
as a fraction of today's. Target (issue 12): overhead under 5%, i.e. a ratio of at least 0.95.
Each backend is measured in a process of its own (Keras fixes its backend at import). Specs: `specs/wgan_gp.gan`
(keras.io WGAN-GP, MNIST, batch 64, 5 critic steps), `specs/dcgan.gan` (TensorFlow's DCGAN tutorial, batch 256)
and `specs/toy/ring_wgan_gp.gan` (an MLP WGAN-GP, where the per-iteration fixed costs weigh most). By default
TensorFlow runs all three and JAX the ring only: XLA's CPU convolutions make an MNIST run on JAX take tens of
minutes on a CPU (README, "Backends"); `--only wgan_gp --backend jax` measures it anyway (on a GPU).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("GANSPEC_DATA", str((ROOT.parent / "shared" / "data").resolve()))

SPECS = {"wgan_gp": ROOT / "specs" / "wgan_gp.gan", "dcgan": ROOT / "specs" / "dcgan.gan",
         "ring": ROOT / "specs" / "toy" / "ring_wgan_gp.gan"}
DEFAULT = {"tensorflow": ("wgan_gp", "dcgan", "ring"), "jax": ("ring",)}
STRATEGY = {"tensorflow": "mirrored", "jax": "data_parallel"}
TARGET = 0.95


def measure(backend: str, kind: str, iterations: int, warmup: int) -> dict:
    from ganspec.load import load
    from ganspec.train.layout import Layout
    from timing import ganspec_contender, paired_ratio, summarize

    path = SPECS[kind]
    resolved = load(path)
    assert resolved.spec is not None, resolved.diagnostics
    spec = resolved.spec.model_copy(update={"train": resolved.spec.train.model_copy(update={"backend": backend})})
    single, _ = ganspec_contender(spec, path.parent)
    single.name = "single"
    distributed, trainer = ganspec_contender(spec, path.parent, Layout(STRATEGY[backend], devices=1))
    distributed.name = "distributed-1"
    assert trainer.layout.distributed and trainer.layout.replicas == 1, trainer.layout
    contenders = [single, distributed]
    for i in range(iterations):
        for contender in (contenders if i % 2 == 0 else contenders[::-1]):
            contender.timed()
    ratio = paired_ratio(distributed, single, warmup)  # single s / distributed s: distributed speed / single
    return {"spec": str(path.relative_to(ROOT)), "backend": backend, "strategy": STRATEGY[backend],
            "batch": spec.train.batch, "critic_steps": spec.steps.critic,
            "contenders": {c.name: summarize(c, warmup) for c in contenders},
            "distributed_speed_over_single": ratio,
            "overhead_percent": round(100 * (1 / ratio["paired_median"] - 1), 2)}


def child(args) -> None:
    """Measure one backend in this process; print its results as JSON on the last line."""
    from ganspec import backend as backends

    backends.activate(args.backend)
    import keras

    keras.utils.set_random_seed(0)
    results = {kind: measure(args.backend, kind, args.iterations, args.warmup)
               for kind in args.only or DEFAULT[args.backend]}
    print(json.dumps(results))


def machine() -> dict:
    import platform

    from timing import cpu_name

    return {"cpu": cpu_name(), "cores": os.cpu_count(), "python": platform.python_version()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--iterations", type=int, default=40, help="generator iterations per contender")
    parser.add_argument("--warmup", type=int, default=10, help="iterations left out of the steady state")
    parser.add_argument("--only", choices=tuple(SPECS), action="append")
    parser.add_argument("--backend", choices=("tensorflow", "jax", "both"), default="both")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.iterations <= args.warmup:
        parser.error("--iterations must exceed --warmup")
    if args.child:
        return child(args)
    results = {"command": " ".join(["python", "bench/distributed_overhead.py", *sys.argv[1:]]),
               "machine": machine(), "iterations": args.iterations, "warmup": args.warmup, "benchmarks": []}
    for backend in (("tensorflow", "jax") if args.backend == "both" else (args.backend,)):
        command = [sys.executable, __file__, "--child", "--backend", backend, "--iterations", str(args.iterations),
                   "--warmup", str(args.warmup), *[a for kind in args.only or () for a in ("--only", kind)]]
        done = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "KERAS_BACKEND": backend})
        if done.returncode:
            sys.exit(f"{backend} failed:\n{done.stderr[-4000:]}")
        results["benchmarks"].extend(json.loads(done.stdout.strip().splitlines()[-1]).values())
    print(f"{'backend':<11} {'spec':<28} {'single it/s':>11} {'distributed-1 it/s':>18} {'speed ratio':>20} "
          f"{'overhead':>9}")
    for r in results["benchmarks"]:
        c, ratio = r["contenders"], r["distributed_speed_over_single"]
        print(f"{r['backend']:<11} {r['spec']:<28} {c['single']['steady_iterations_per_second']:>11.3f} "
              f"{c['distributed-1']['steady_iterations_per_second']:>18.3f} "
              f"{ratio['paired_median']:>7.3f}x ({ratio['paired_quartiles'][0]:.2f}-{ratio['paired_quartiles'][1]:.2f})"
              f" {r['overhead_percent']:>8.1f}%")
    worst = min(r["distributed_speed_over_single"]["paired_median"] for r in results["benchmarks"])
    results["target"] = {"min_speed_ratio": TARGET, "worst": worst, "met": worst >= TARGET}
    print(f"target, distributed path with one replica at most 5% slower: {'met' if worst >= TARGET else 'NOT met'} "
          f"(worst ratio {worst:.3f}x)")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
        args.json.with_suffix(".md").write_text(markdown(results))


def markdown(results: dict) -> str:
    lines = ["# The data-parallel path with one replica against today's path", "",
             f"`{results['command']}` on {results['machine']['cpu']} ({results['machine']['cores']} cores), "
             f"{results['iterations']} iterations of each, the first {results['warmup']} left out; bench/distributed_overhead.py "
             "says how it measures.", "",
             "| backend | spec | strategy | batch | single it/s | distributed-1 it/s | speed ratio (paired median, quartiles) "
             "| overhead |", "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in results["benchmarks"]:
        c, ratio = r["contenders"], r["distributed_speed_over_single"]
        lines.append(f"| {r['backend']} | `{r['spec']}` | {r['strategy']} | {r['batch']} | "
                     f"{c['single']['steady_iterations_per_second']:.3f} | "
                     f"{c['distributed-1']['steady_iterations_per_second']:.3f} | {ratio['paired_median']:.3f}x "
                     f"({ratio['paired_quartiles'][0]:.2f}-{ratio['paired_quartiles'][1]:.2f}) | "
                     f"{r['overhead_percent']:.1f}% |")
    target = results["target"]
    lines += ["", f"Target: the distributed path with one replica at most 5% slower (a ratio of at least "
                  f"{target['min_speed_ratio']}): **{'met' if target['met'] else 'not met'}** (worst {target['worst']:.3f}x)."]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
