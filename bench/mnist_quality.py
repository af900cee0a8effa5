"""MNIST image quality (shared/BENCHMARKS.md section 2): train on the 10k set, score against
the held-out 5k set with the shipped MNIST classifier's features.

    python bench/mnist_quality.py [--specs dcgan,wgan_gp] [--iterations N] [--samples 5000]

For each spec: train it (shortened to --iterations on a CPU, stated in the table), then
score the final generator (EMA when kept): classifier Inception Score, Frechet distance
on classifier features (with the real-vs-real floor and the pure-noise value), KID,
precision/recall. Writes docs/results/mnist_quality.{json,md} and a sample grid per
spec (docs/results/mnist_<spec>_samples.png). GANSPEC_DATA must point at the folder
holding mnist/.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("GANSPEC_DATA", str(ROOT.parent / "shared" / "data"))

METRICS = ("[fid({n}), kid({n}, subsets: 50, subset_size: 1000), inception_score({n}), precision_recall({n}), "
           "samples(64)]")


def run_spec(name: str, iterations: int | None, samples: int, out: Path) -> dict:
    """Train specs/NAME.gan (through the Python API) and return its last scores and timing."""
    import ganspec
    from ganspec.run.images import save_png

    overrides = {"evaluate.metrics": METRICS.format(n=samples), "train.log_every": 25,
                 "train.backend": os.environ.get("KERAS_BACKEND", "tensorflow")}
    if iterations:
        overrides.update({"train.iterations": iterations, "evaluate.every": iterations,
                          "train.checkpoint_every": iterations})
    experiment = ganspec.load_spec(ROOT / "specs" / f"{name}.gan", overrides)
    spec = experiment.spec
    start = time.perf_counter()
    run = ganspec.fit(experiment, out=Path("/tmp/ganspec-mnist-quality"), display="plain")
    seconds = time.perf_counter() - start
    # The run evaluated the untrained generator first and the trained one last.
    evaluations = run.evaluations
    results = evaluations[-1]
    untrained = {f"untrained_{k}": evaluations[0][k] for k in ("fid", "inception_score")}
    backend = run.spec.train.backend
    grid_name = f"mnist_{name}_samples{'_' + backend if backend != 'tensorflow' else ''}.png"
    save_png(np.asarray(run.sample_grid(64, seed=spec.seed + 1)), out / grid_name)
    return {"spec": name, "backend": backend, "device": device_name(), "iterations": spec.train.iterations,
            "batch": spec.train.batch, "critic_steps": spec.steps.critic, "train_seconds": round(seconds, 1),
            "exit_code": run.outcome.code, "run_dir": str(run.path), "grid": grid_name, **untrained, **results}


def device_name() -> str:
    """The accelerator the run used, or the CPU's name."""
    import keras

    if keras.backend.backend() == "jax":
        import jax

        device = jax.devices()[0]
        if device.platform != "cpu":
            return device.device_kind
    elif keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        gpus = tf.config.list_physical_devices("GPU")
        if gpus:
            return tf.config.experimental.get_device_details(gpus[0]).get("device_name", "GPU")
    try:
        return next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                    if line.startswith("model name"))
    except (OSError, StopIteration):
        return "cpu"


def markdown(rows: list[dict], command: str) -> str:
    lines = ["# MNIST image quality", "", f"Command: `{command}`", "",
             "Trained on t10k (10,000 images), scored against train5k (5,000 held-out images) with the shipped "
             "MNIST classifier (ganspec/metrics/weights/mnist_classifier.json: 99.08% held-out accuracy). "
             "Real data scores IS 9.79 (train5k) with this classifier.", "",
             "| spec | backend, device | iterations (batch, critic steps) | train s | IS | FD (floor / noise) "
             "| KID (floor / noise) | precision | recall | untrained IS / FD |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        lines.append(
            f"| {r['spec']} | {r.get('backend', 'tensorflow')}, {r.get('device', 'cpu')} | "
            f"{r['iterations']} ({r['batch']}, {r['critic_steps']}) | {r['train_seconds']:.0f} | "
            f"{r['inception_score']:.2f} ± {r['inception_score_std']:.2f} | "
            f"{r['fid']:.1f} ({r['fid_real_floor']:.2f} / {r['fid_noise']:.0f}) | "
            f"{r['kid']:.2f} ({r['kid_real_floor']:.2f} / {r['kid_noise']:.1f}) | "
            f"{r['precision']:.3f} | {r['recall']:.3f} | "
            f"{r['untrained_inception_score']:.2f} / {r['untrained_fid']:.0f} |")
    lines += ["", "Iterations below a spec's own `train.iterations` mean a shortened CPU run: the scores then "
              "measure an early generator, not the method. The paper-length GPU run is part of the JAX/GPU "
              "work. Samples and scores come from the generator in inference mode, with the batch-norm "
              "statistics the spec's `evaluate.standing_stats` says (standing statistics of 20 batches in the "
              "shipped MNIST specs).", ""]
    lines += ["", "Sample grids (fixed latent batch, final generator):", ""]
    lines += [f"![{r['spec']}]({r.get('grid', 'mnist_' + r['spec'] + '_samples.png')})" for r in rows]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--specs", default="dcgan,wgan_gp")
    parser.add_argument("--iterations", default=None,
                        help="shorten training (CPU): N for every spec, or per spec: dcgan=400,wgan_gp=200")
    parser.add_argument("--samples", type=int, default=5000)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "results")
    parser.add_argument("--backend", choices=("tensorflow", "jax"), default="tensorflow")
    parser.add_argument("--name", default="mnist_quality",
                        help="results file stem (e.g. mnist_quality_gpu for the full-length GPU run)")
    args = parser.parse_args()
    os.environ["KERAS_BACKEND"] = args.backend
    per_spec = {}
    if args.iterations:
        for part in args.iterations.split(","):
            name, _, value = part.rpartition("=")
            per_spec[name or "*"] = int(value)
    rows = [run_spec(name, per_spec.get(name, per_spec.get("*")), args.samples, args.out)
            for name in args.specs.split(",")]
    command = "python bench/mnist_quality.py " + " ".join(sys.argv[1:])
    (args.out / f"{args.name}.json").write_text(json.dumps(rows, indent=1) + "\n")
    (args.out / f"{args.name}.md").write_text(markdown(rows, command.strip()))
    print(markdown(rows, command.strip()))


if __name__ == "__main__":
    main()
