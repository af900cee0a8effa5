"""Mode collapse on the 2D ring and grid (PacGAN/VEEGAN protocol, shared/BENCHMARKS.md section 1).

    python bench/mode_collapse.py [--seeds 10] [--methods gan,nsgan,...] [--tasks ring,grid]
                                  [--iterations N] [--backend jax|tensorflow] [--out docs/results]
                                  [--runs SWEEP_DIR] [--executor local|ray] [--jobs N]

A sweep (ganspec.sweeps, what `ganspec sweep` runs): every method's spec (specs/toy/{task}_{method}.gan)
once per seed, each run in a process of its own, as many side by side as the machine allows, in one
sweep directory (`--runs`). Each run's last evaluation scores 2,500 samples of its final generator (EMA
generator when the spec keeps one) with the protocol's modes-covered / high-quality / reverse-KL
(`evaluate.metrics` is set to `[mode_coverage(2500)]`); this script writes them to `mode_collapse.json`
and `mode_collapse.md` (mean and standard error over seeds, next to the published rows). The same
numbers as a sweep table: `ganspec sweep --table SWEEP_DIR`. `--iterations` shortens every spec alike
(stated in the table). A finished (spec, seed, iterations) is not run again, so an interrupted benchmark
resumes (runs in progress continue from their checkpoints); `docs/results/mode_collapse.notes.md`, when
present, is appended to the table as its notes.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

METHODS = ["gan", "nsgan", "wgan", "wgan_gp", "wgan_gp_veegan", "dragan", "sngan", "pacgan2", "unrolled",
           "pacgan_gan", "pacgan3", "pacgan4", "best", "best_normal"]
LABELS = {
    "gan": "GAN (minimax)", "nsgan": "GAN (non-saturating)", "wgan": "WGAN (clip)",
    "wgan_gp": "WGAN-GP (toy/*_wgan_gp.gan)", "wgan_gp_veegan": "WGAN-GP",
    "dragan": "DRAGAN", "sngan": "SN-GAN", "pacgan2": "PacGAN2", "unrolled": "Unrolled GAN (5)",
    "pacgan_gan": "GAN (larger nets)", "pacgan3": "PacGAN3", "pacgan4": "PacGAN4",
    "best": "ganspec best (toy/*_best.gan)",
    "best_normal": "ganspec best from N(0, I) (toy/grid_best_normal.gan)",
}
# Which protocol's regime a row follows and how it departs from it (shared/BENCHMARKS.md section 1; each
# spec's header says the same). The published row to compare with has the same name.
VEEGAN = ("VEEGAN regime (2x128 tanh, z 256, batch 512, 25k its; as GDPP's code: orthogonal init gain 1.4, "
          "Adam eps 1e-8, G and D updated together); batches drawn fresh")
REGIMES = {
    "gan": VEEGAN + "; minimax loss (the code's GAN row is the non-saturating one below)",
    "nsgan": VEEGAN + "; the code's GAN (non-saturating)",
    "unrolled": VEEGAN + "; as the unrolled_gan notebook: minimax loss through 5 unrolled steps of D's Adam "
                         "(from its state)",
    "wgan": VEEGAN + "; WGAN paper's RMSProp 5e-5, clip 0.01, 5 critic steps first (not in the published tables)",
    "wgan_gp": "Gulrajani et al.'s toy code regime (2x128 ReLU, z 2, penalty 0.1, batch 256), shortened",
    "wgan_gp_veegan": VEEGAN + "; penalty 10, 5 critic steps first, Adam 1e-4 (0.5, 0.9) (GDPP's row)",
    "dragan": VEEGAN + "; penalty 10 around the data (not in the published tables)",
    "sngan": VEEGAN + "; hinge loss (not in the published tables)",
    "pacgan2": VEEGAN + "; D packs 2 (not in the published tables)",
    "pacgan_gan": "PacGAN regime (G 4x400 ReLU+BN, z 2, D 3 maxout(200, 5), batch 100, N(0, 0.02) init, Adam 1e-4 beta1 0.8, G and D updated together); 25k of 400k its, batches drawn fresh",
    "pacgan3": "PacGAN regime, D packs 3; 25k of 400k its, batches drawn fresh",
    "pacgan4": "PacGAN regime, D packs 4; 25k of 400k its, batches drawn fresh",
    "best": "ganspec's own (WGAN-GP, ReLU MLPs, linear lr decay; see the spec)",
    "best_normal": "ganspec's own, from N(0, I)",
}
# Rows whose spec knows something about the task's answer say so: grid_best draws from a mixture prior
# of 75 = 3 x 25 components, the number of modes it is scored on.
TASK_LABELS = {("grid", "best"): "ganspec best, mixture prior of 3 x 25 components (uses the mode count)"}
PUBLISHED = [  # method, ring modes, ring HQ%, grid modes, grid HQ%, source
    ("GAN", 1, 99.3, 3.3, 0.5, "VEEGAN Table 1"),
    ("Unrolled GAN", 7.6, 35.6, 23.6, 16.0, "VEEGAN Table 1"),
    ("VEEGAN", 8.0, 52.9, 24.6, 40.0, "VEEGAN Table 1"),
    ("WGAN-GP", 6.8, 59.6, 24.2, 28.7, "GDPP Table 1"),
    ("GDPP-GAN", 8.0, 71.7, 24.8, 68.5, "GDPP Table 1"),
    ("GAN (larger nets)", 6.3, 98.2, 17.3, 94.8, "PacGAN Table 1"),
    ("PacGAN3", 7.8, 97.7, 24.6, 94.2, "PacGAN Table 1"),
    ("PacGAN4", 7.8, 95.9, 24.8, 93.6, "PacGAN Table 1"),
]

# The published row each of ours reproduces (same regime; GDPP's and VEEGAN's "GAN" is the code's
# non-saturating loss), shown beside it.
PUBLISHED_AS = {"nsgan": "GAN", "unrolled": "Unrolled GAN", "wgan_gp_veegan": "WGAN-GP",
                "pacgan_gan": "GAN (larger nets)", "pacgan3": "PacGAN3", "pacgan4": "PacGAN4"}


def published(method: str, task: str) -> str:
    """The published modes / high-quality % of the row `method` reproduces, or an empty cell."""
    for name, ring_modes, ring_hq, grid_modes, grid_hq, source in PUBLISHED:
        if name == PUBLISHED_AS.get(method):
            modes, hq = (ring_modes, ring_hq) if task == "ring" else (grid_modes, grid_hq)
            return f"{modes} / {hq} ({source})"
    return ""


SCORED = ("modes_covered", "modes_total", "high_quality_percent", "reverse_kl")
METRICS = "[mode_coverage(2500)]"  # the protocol's scores, at every evaluation and at the end


def sweep_plan(specs: dict[str, Path], seeds: dict[str, list[int]], iterations: int | None):
    """One sweep plan of every spec over the seeds it still lacks."""
    from ganspec.sweeps import Request, build

    fixed = [("evaluate.metrics", METRICS)] + ([("train.iterations", str(iterations))] if iterations else [])
    plans = [build(Request((str(specs[key]),), tuple(fixed), (), tuple(seeds[key]))) for key in specs if seeds[key]]
    plan = plans[0]
    for more in plans[1:]:
        plan = plan + more
    return plan


def row_of(run_dir: Path, entry: dict) -> dict | None:
    """A finished (or diverged) point's row: the protocol's scores of its last evaluation."""
    import ganspec

    run = ganspec.open_run(run_dir)
    evaluations = run.evaluations
    if not evaluations or entry.get("status") not in ("finished", "diverged"):
        return None
    last = evaluations[-1]
    spec = run.spec
    return {**{k: last[k] for k in SCORED}, "seed": spec.seed, "iterations": spec.train.iterations,
            "spec_digest": spec_digest(spec), "seconds": entry.get("seconds"), "exit_code": entry.get("exit_code"),
            "backend": spec.train.backend, "scored_by": f"last evaluation, at iteration {last['iteration']}"}


def resolved_spec(spec_path: Path, iterations: int | None):
    from ganspec.load import load

    overrides = [("train.iterations", str(iterations))] if iterations else []
    return load(spec_path, overrides=overrides).spec


def spec_digest(spec) -> str:
    """What makes a spec's runs comparable: every resolved field but the seed, the name, the
    evaluation and the run directory's bookkeeping fields other than the length. A row of another
    digest came from another version of the spec."""
    import hashlib

    from ganspec.run.rundir import BOOKKEEPING

    fields = spec.model_dump(mode="json", exclude={"seed", "name", "evaluate"})
    for path in BOOKKEEPING - {("train", "iterations")}:
        parent = fields
        for key in path[:-1]:
            parent = parent.get(key, {})
        parent.pop(path[-1], None)
    return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:16]


def summarize(rows: list[dict]) -> dict:
    def mean_se(key):
        values = [r[key] for r in rows if math.isfinite(r[key])]
        if not values:
            return float("nan"), float("nan")
        se = statistics.stdev(values) / math.sqrt(len(values)) if len(values) > 1 else 0.0
        return statistics.fmean(values), se

    modes, modes_se = mean_se("modes_covered")
    hq, hq_se = mean_se("high_quality_percent")
    kl, kl_se = mean_se("reverse_kl")
    return {"modes": modes, "modes_se": modes_se, "hq": hq, "hq_se": hq_se, "reverse_kl": kl, "reverse_kl_se": kl_se,
            "all_modes_every_seed": all(r["modes_covered"] == r["modes_total"] for r in rows),
            "min_hq": min(r["high_quality_percent"] for r in rows), "seeds": len(rows),
            "iterations": rows[0]["iterations"],
            "seconds_per_run": statistics.fmean([r["seconds"] for r in rows if r.get("seconds") is not None] or [0]),
            "backend": ",".join(sorted({r.get("backend", "tensorflow") for r in rows}))}


def markdown(results: dict, command: str, stale: list[str] = ()) -> str:
    lines = ["# Mode collapse on 2D mixtures", "",
             f"Command: `{command}`", "",
             "Protocol: shared/BENCHMARKS.md section 1 (2,500 samples; high quality = within 3 std of the nearest "
             "mode; a mode is covered by at least one high-quality sample). Mean ± standard error over seeds.", ""]
    for task, total in (("ring", 8), ("grid", 25)):
        if task not in results:
            continue
        lines += [f"## {task} ({total} modes)", "",
                  "| method | modes covered | high quality % | reverse KL | all modes on every seed | min HQ % | "
                  "seeds | iterations | s/run | backend | published modes / HQ % | regime and departures |",
                  "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
        for method, s in results[task].items():
            lines.append(f"| {TASK_LABELS.get((task, method), LABELS.get(method, method))} | {s['modes']:.1f} ± {s['modes_se']:.1f} | "
                         f"{s['hq']:.1f} ± {s['hq_se']:.1f} | {s['reverse_kl']:.3f} ± {s['reverse_kl_se']:.3f} | "
                         f"{'yes' if s['all_modes_every_seed'] else 'no'} | {s['min_hq']:.1f} | {s['seeds']} | "
                         f"{s['iterations']} | {s['seconds_per_run']:.0f} | {s.get('backend', 'tensorflow')} | "
                         f"{published(method, task)} | {REGIMES.get(method, '')} |")
        lines.append("")
    if stale:
        lines += ["Not run since their spec changed (their earlier rows are kept in mode_collapse.json, not shown): "
                  + ", ".join(f"`{key}.gan`" for key in stale) + ".", ""]
    lines += ["## Published (modes covered / high quality %)", "",
              "| method | ring modes | ring HQ % | grid modes | grid HQ % | source |",
              "| --- | --- | --- | --- | --- | --- |"]
    for name, rm, rh, gm, gh, src in PUBLISHED:
        lines.append(f"| {name} | {rm} | {rh} | {gm} | {gh} | {src} |")
    notes = ROOT / "docs" / "results" / "mode_collapse.notes.md"
    if notes.exists():
        lines += ["", notes.read_text().rstrip()]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--tasks", default="ring,grid")
    parser.add_argument("--iterations", type=int, default=None, help="shorten every spec to N iterations")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "results")
    parser.add_argument("--runs", type=Path, default=ROOT / "sweeps" / "mode_collapse_bench",
                        help="the sweep directory (kept between sessions: an interrupted benchmark continues)")
    parser.add_argument("--backend", choices=("tensorflow", "jax"), default="jax",
                        help="default jax: these small MLPs train 2-4x faster with it on a CPU than with "
                             "TensorFlow (280 against 70 it/s for ring_gan, 38 against 20 for ring_pacgan4, "
                             "one thread each on this 2-core machine)")
    parser.add_argument("--executor", choices=("local", "ray"), default="local")
    parser.add_argument("--jobs", type=int, default=None, help="runs at a time (default: one per core)")
    parser.add_argument("--report-only", action="store_true",
                        help="train nothing: write the tables from the runs already in mode_collapse.json")
    args = parser.parse_args()
    json_path = args.out / "mode_collapse.json"
    saved = json.loads(json_path.read_text()) if json_path.exists() else {"runs": {}}
    specs, digests, rows, missing = {}, {}, {}, {}
    for task in args.tasks.split(","):
        for method in args.methods.split(","):
            key = f"{task}_{method}"
            if not (ROOT / "specs" / "toy" / f"{key}.gan").exists():  # a row of one task only
                continue
            specs[key] = ROOT / "specs" / "toy" / f"{key}.gan"
            digests[key] = spec_digest(resolved_spec(specs[key], args.iterations))
            # Rows of another version of the spec (or another --iterations) are replaced.
            rows[key] = [r for r in saved["runs"].get(key, []) if r.get("spec_digest") == digests[key]]
            done = {r["seed"] for r in rows[key]}
            missing[key] = [] if args.report_only else [s for s in range(args.seeds) if s not in done]
    if any(missing.values()):
        train(args, specs, missing, digests, rows, saved, json_path)
    results: dict = {}
    # specs with rows of an earlier version only (rows[key] holds the current version's): not run since they changed
    stale = [key for key in specs if not rows[key] and saved["runs"].get(key)]
    for key in specs:
        task, method = key.split("_", 1)
        kept = [r for r in rows[key] if r["seed"] < args.seeds]
        if kept:
            results.setdefault(task, {})[method] = summarize(kept)
    write_tables(args.out, saved, results, stale)
    print(markdown(results, command_line(), stale))


def train(args, specs, missing, digests, rows, saved, json_path) -> None:
    """The missing (spec, seed) points as one sweep; each finished point's row saved as it ends."""
    from ganspec.sweeps import run
    from ganspec.sweeps.executors import make_executor
    from ganspec.sweeps.layout import SweepDir

    plan = sweep_plan(specs, missing, args.iterations)
    executor = make_executor(args.executor, jobs=args.jobs)
    keys = {point.name: f"{Path(point.spec_file).stem}" for point in plan.points}
    sweep = SweepDir(args.runs)

    def saved_row(result: dict) -> None:  # a point ended: its row, saved at once
        name = result["name"]
        key = keys[name]
        row = row_of(sweep.run_dir(name), sweep.read()["points"][name])
        if row is None or row["spec_digest"] != digests[key]:
            return
        rows[key] = sorted([r for r in rows[key] if r["seed"] != row["seed"]] + [row], key=lambda r: r["seed"])
        saved["runs"][key] = rows[key]
        json_path.write_text(json.dumps(saved, indent=1) + "\n")
        print(f"{key} seed {row['seed']}: {row['modes_covered']}/{row['modes_total']} modes, "
              f"{row['high_quality_percent']:.1f}% HQ, KL {row['reverse_kl']:.3f} ({row['seconds']} s)", flush=True)

    done = run(plan, args.runs, executor, backend=args.backend, display="none", on_result=saved_row)
    if done.interrupted:
        raise KeyboardInterrupt


def command_line() -> str:
    return ("python bench/mode_collapse.py " + " ".join(sys.argv[1:])).strip()


def write_tables(out: Path, saved: dict, results: dict, stale: list[str]) -> None:
    saved["summary"] = results
    (out / "mode_collapse.json").write_text(json.dumps(saved, indent=1) + "\n")
    (out / "mode_collapse.md").write_text(markdown(results, command_line(), stale))


if __name__ == "__main__":
    main()
