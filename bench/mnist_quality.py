"""MNIST image quality at full length on a CPU (shared/BENCHMARKS.md section 2; issue 13): train on the
10k set, score against the held-out 5k set with the shipped MNIST classifier's features.

    python bench/mnist_quality.py [--specs mnist_cpu/dcgan,mnist_cpu/wgan_gp] [--seeds 0,1,2]
                                  [--runs sweeps/mnist_quality] [--jobs 2] [--threads-per-run 1]
                                  [--report-only] [--backend tensorflow|jax] [--truncations 2,1.5,1,0.75,0.5]

A sweep (ganspec.sweeps, what `ganspec sweep` runs): every spec (specs/NAME.gan) once per seed at its
own full length, each run in a process of its own, side by side, in one sweep directory (`--runs`;
running the command again continues it: finished runs are kept, interrupted ones resume from their
checkpoints). Each finished run is then scored: its last evaluation (classifier Inception Score and
Frechet distance on 5,000 samples, with the real-vs-real floor and the pure-noise value, as the spec's
`evaluate` computes them during training) and, once, KID and precision/recall of the same generator
(`Run.evaluate`, recorded in the run as eval-ITERATION.json). Writes docs/results/mnist_quality.{json,md}
(per seed and mean ± standard error per spec, against the targets: IS >= 9.5 and FD within 10x the
floor on every seed) and one sample grid per spec (seed 0). Each finished run is also scored with the
truncation trick (Brock et al. 2019: z drawn from a normal truncated to +-T, `--truncations`), kept in the run
as eval-ITERATION-truncation-T.json: how far fidelity rises, at what cost in FD, without retraining. Rows of
runs that are not in the sweep directory (a fresh clone has none) are kept from the json as they are.
GANSPEC_DATA must point at the folder holding mnist/ (default: ../shared/data beside the project).
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
sys.path.insert(0, str(ROOT / "bench"))
os.environ.setdefault("GANSPEC_DATA", str(ROOT.parent / "shared" / "data"))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

TARGET_IS, TARGET_FD_OVER_FLOOR = 9.5, 10.0
EXTRA_METRICS = ["kid(5000, subsets: 50, subset_size: 1000)", "precision_recall(5000)"]
TRUNCATED_METRICS = ["fid(samples: 5000)", "inception_score(samples: 5000)"]  # as the specs' own evaluations
REAL_IS = 9.79  # train5k with the shipped classifier (docs/results: the classifier's card)


def train(args, specs: list[str], seeds: list[int]) -> None:
    """Every (spec, seed) as one sweep; returns when all have ended (finished points are skipped)."""
    from ganspec.sweeps import Request, build, run
    from ganspec.sweeps.executors import make_executor

    plan = build(Request(tuple(str(ROOT / "specs" / f"{name}.gan") for name in specs), (), (), tuple(seeds)))
    executor = make_executor("local", jobs=args.jobs, threads=args.threads_per_run)
    done = run(plan, args.runs, executor, backend=args.backend, display="none")
    if done.interrupted:
        raise KeyboardInterrupt


def row_of(run_dir: Path, entry: dict, truncations: list[float]) -> dict | None:
    """A finished run's scores: its last evaluation, and KID / precision-recall computed once."""
    import ganspec

    if entry.get("status") not in ("finished", "diverged"):
        return None
    run = ganspec.open_run(run_dir)
    last = run.evaluations[-1]
    spec = run.spec
    extra_file = run_dir / f"eval-{last['iteration']:08d}.json"
    if extra_file.exists():
        extra = json.loads(extra_file.read_text())["results"]
    else:
        extra = run.evaluate(EXTRA_METRICS, save=True)
    truncated = {f"{t:g}": truncated_scores(run, last["iteration"], t) for t in truncations}
    return {**confidence(run, last["iteration"]), "truncation": truncated, "spec": spec.name, "seed": spec.seed, "iterations": spec.train.iterations, "batch": spec.train.batch,
            "critic_steps": spec.steps.critic, "backend": spec.train.backend, "train_seconds": training_seconds(run),
            "run_dir": str(run_dir), "scored_at": last["iteration"],
            **{k: last[k] for k in ("inception_score", "inception_score_std", "fid", "fid_real_floor", "fid_noise")},
            **{k: extra[k] for k in ("kid", "kid_real_floor", "precision", "recall") if k in extra}}


def truncated_scores(run, iteration: int, truncation: float) -> dict:
    """IS and FD of the scored checkpoint's samples with z truncated at `truncation` standard deviations
    (`Run.evaluate(truncation=...)`, the same metrics and sample count as the training-time scores), computed
    once and kept in the run."""
    from ganspec.run.sampling import evaluation_file

    path = run.path / evaluation_file(iteration, truncation)
    if path.exists():
        results = json.loads(path.read_text())["results"]
    else:
        results = run.evaluate(TRUNCATED_METRICS, truncation=truncation, save=True)
    return {k: results[k] for k in ("inception_score", "fid", "fid_real_floor")}


def training_seconds(run) -> float:
    """Wall time the run spent training, evaluations included, over every session that resumed it: the sum
    of the gaps between consecutive logged records, leaving out the pauses between sessions (a gap over
    20x the median; the sweep's own `seconds` counts the last session only)."""
    times = [r["time"] for r in run.history if "time" in r]
    gaps = [b - a for a, b in zip(times, times[1:]) if b > a]
    if not gaps:
        return 0.0
    limit = 20 * statistics.median(gaps)
    return sum(g for g in gaps if g <= limit)


def confidence(run, iteration: int) -> dict:
    """What the Inception Score is made of, from the classifier's class probabilities p(y|x) of 5,000 samples:
    IS = exp(H(y) - E H(y|x)). `class_balance` is H(y) / ln 10 (1: every digit equally often) and
    `confident` the share of samples whose top class has p > 0.9 (the ambiguous rest lowers IS). Computed
    once per scored checkpoint and kept in the run (confidence-ITERATION.json), as KID is in eval-*.json."""
    import numpy as np

    cached = run.path / f"confidence-{iteration:08d}.json"
    if cached.exists():
        return json.loads(cached.read_text())

    from ganspec.metrics.features import get_extractor

    samples = run.sample(5000, seed=2)
    p = get_extractor("classifier").extract(samples, tuple(run.spec.data.scale)).probabilities.astype(np.float64)
    marginal = p.mean(axis=0)
    parts = {"class_balance": float(-(marginal * np.log(np.clip(marginal, 1e-12, 1))).sum() / math.log(10)),
             "confident": float((p.max(axis=1) > 0.9).mean()),
             "conditional_entropy": float(-(p * np.log(np.clip(p, 1e-12, 1))).sum(axis=1).mean())}
    cached.write_text(json.dumps(parts) + "\n")
    return parts


def meets(row: dict) -> bool:
    return row["inception_score"] >= TARGET_IS and row["fid"] <= TARGET_FD_OVER_FLOOR * row["fid_real_floor"]


def mean_se(values: list[float]) -> str:
    if len(values) < 2:
        return f"{values[0]:.2f}" if values else "-"
    return f"{statistics.fmean(values):.2f} ± {statistics.stdev(values) / math.sqrt(len(values)):.2f}"


def truncation_section(rows: list[dict]) -> list[str]:
    """The truncation trick's table: IS and FD of each spec's final generators with z truncated at T."""
    rows = [r for r in rows if r.get("truncation")]
    if not rows:
        return []
    lines = ["", "With the truncation trick (Brock et al. 2019, sec. 3.1: the same final generators, z drawn from "
             "N(0, 1) truncated to [-T, T]; `ganspec eval --truncation T`), a sampling choice made after training "
             "that trades variety for fidelity. The rows above are the untruncated prior, as trained:", "",
             "| spec | T | seeds | IS | FD | target met on every seed |", "| --- | --- | --- | --- | --- | --- |"]
    by_spec: dict[str, list[dict]] = {}
    for row in rows:
        by_spec.setdefault(row["spec"], []).append(row)
    for name, group in by_spec.items():
        thresholds = sorted({t for r in group for t in r["truncation"]}, key=float, reverse=True)
        for t in thresholds:
            scores = [r["truncation"][t] for r in group if t in r["truncation"]]
            lines.append(f"| {name} | {t} | {len(scores)} | {mean_se([x['inception_score'] for x in scores])} | "
                         f"{mean_se([x['fid'] for x in scores])} | {'yes' if all(meets(x) for x in scores) else 'no'} |")
    return lines


def differential_section(path: Path) -> list[str]:
    """bench/tutorial_differential.py's table (issue 13 asks for it beside these runs), under a heading of
    this page; a line saying it has not been run when its file is missing."""
    heading = "## Differential check against the TensorFlow DCGAN tutorial's loop"
    if not path.exists():
        return [heading, "", "Not run yet: `python bench/tutorial_differential.py` writes it."]
    body = path.read_text().splitlines()
    if body and body[0].startswith("# "):
        body = body[1:]
    return [heading, *body]


def markdown(rows: list[dict], command: str, device: str, threads: int) -> str:
    floor = rows[0]["fid_real_floor"] if rows else float("nan")
    lines = ["# MNIST image quality at full length on a CPU", "", f"Command: `{command}`", "",
             f"Trained on t10k (10,000 images), scored against train5k (5,000 held-out images) with the shipped "
             f"MNIST classifier (ganspec/metrics/weights/mnist_classifier.json, 99.08% held-out accuracy; real "
             f"train5k scores IS {REAL_IS}). Every run is the spec's own full length on {device}, {threads} "
             f"thread(s) per run, runs side by side on the machine's cores. Targets (issue 13): IS >= {TARGET_IS} and FD <= {TARGET_FD_OVER_FLOOR:g}x "
             f"the real-vs-real floor ({floor:.2f}, so FD <= {TARGET_FD_OVER_FLOOR * floor:.1f}) on every seed.", "",
             "| spec | seeds | iterations (batch, critic steps) | train min/run | IS | FD | KID | precision "
             "| recall | target met on every seed |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    by_spec: dict[str, list[dict]] = {}
    for row in rows:
        by_spec.setdefault(row["spec"], []).append(row)
    for name, group in by_spec.items():
        first = group[0]
        minutes = [r["train_seconds"] / 60 for r in group if r.get("train_seconds")]
        lines.append(
            f"| {name} | {len(group)} | {first['iterations']} ({first['batch']}, {first['critic_steps']}) | "
            f"{mean_se(minutes)} | {mean_se([r['inception_score'] for r in group])} | "
            f"{mean_se([r['fid'] for r in group])} | {mean_se([r['kid'] for r in group if 'kid' in r])} | "
            f"{mean_se([r['precision'] for r in group if 'precision' in r])} | "
            f"{mean_se([r['recall'] for r in group if 'recall' in r])} | "
            f"{'yes' if all(meets(r) for r in group) else 'no'} |")
    lines += ["", "Per seed (class balance: H(y) / ln 10 of the classifier's predicted classes, 1 = every digit "
              "equally often; confident: samples whose top class has probability > 0.9; E H(y|x): their mean "
              "entropy in nats. IS = exp(H(y) - E H(y|x)).):", "",
              "| spec | seed | IS | FD | class balance | confident % | E H(y\\|x) | train min | scored at |",
              "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for row in rows:
        minutes = f"{row['train_seconds'] / 60:.0f}" if row.get("train_seconds") else "-"
        lines.append(f"| {row['spec']} | {row['seed']} | {row['inception_score']:.2f} | {row['fid']:.1f} | "
                     f"{row['class_balance']:.4f} | {100 * row['confident']:.1f} | {row['conditional_entropy']:.3f} | "
                     f"{minutes} | {row['scored_at']} |")
    lines += truncation_section(rows)
    lines += ["", "Samples and scores come from the generator the spec samples with (its EMA copy when it keeps "
              "one), in inference mode with the batch-norm statistics its `evaluate.standing_stats` says.", "",
              "Sample grids (seed 0, a fixed latent batch, shown at 2x):", ""]
    lines += [f"![{name}](mnist_{name}_samples.png)" for name in by_spec]
    lines += ["", *differential_section(ROOT / "docs" / "results" / "tutorial_differential.md")]
    notes = ROOT / "docs" / "results" / "mnist_quality.notes.md"
    if notes.exists():
        lines += ["", notes.read_text().rstrip()]
    return "\n".join(lines) + "\n"


def kept_rows(path: Path, fresh: list[dict]) -> list[dict]:
    """The fresh rows, and the rows of the json at `path` for (spec, seed) pairs they lack (runs scored before,
    whose run directories are not here), in the order: spec of first appearance, then seed."""
    saved = json.loads(path.read_text()) if path.exists() else []
    have = {(r["spec"], r["seed"]) for r in fresh}
    rows = fresh + [r for r in saved if (r["spec"], r["seed"]) not in have]
    order = list(dict.fromkeys(r["spec"] for r in saved + fresh))
    return sorted(rows, key=lambda r: (order.index(r["spec"]), r["seed"]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--specs", default="mnist_cpu/dcgan,mnist_cpu/wgan_gp")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--runs", type=Path, default=ROOT / "sweeps" / "mnist_quality", help="the sweep directory")
    parser.add_argument("--jobs", type=int, default=None, help="runs at a time (default: one per core)")
    parser.add_argument("--threads-per-run", type=int, default=1)
    parser.add_argument("--backend", choices=("tensorflow", "jax"), default="tensorflow")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "results")
    parser.add_argument("--report-only", action="store_true", help="train nothing: score and tabulate what is there")
    parser.add_argument("--truncations", default="2,1.5,1,0.75,0.5",
                        help="thresholds of the truncation trick to score every finished run at ('' for none)")
    args = parser.parse_args()
    os.environ["KERAS_BACKEND"] = args.backend
    specs, seeds = args.specs.split(","), [int(s) for s in args.seeds.split(",")]
    if not args.report_only:
        train(args, specs, seeds)

    import ganspec
    from ganspec.sweeps.layout import SweepDir
    from timing import cpu_name

    sweep = SweepDir(args.runs)
    points = sweep.read()["points"]
    files = [str(ROOT / "specs" / f"{name}.gan") for name in specs]
    chosen = sorted((files.index(entry["spec"]), entry["seed"], name) for name, entry in points.items()
                    if entry["spec"] in files and entry["seed"] in seeds)
    truncations = [float(t) for t in args.truncations.split(",") if t.strip()]
    rows = [row for _, _, name in chosen if (row := row_of(sweep.run_dir(name), points[name], truncations))]
    rows = kept_rows(args.out / "mnist_quality.json", rows)
    args.out.mkdir(parents=True, exist_ok=True)
    for row in rows:
        if row["seed"] == min(r["seed"] for r in rows if r["spec"] == row["spec"]) and Path(row["run_dir"]).exists():
            grid = ganspec.open_run(row["run_dir"]).sample_grid(64, seed=1, scale=2)
            grid.save(args.out / f"mnist_{row['spec']}_samples.png")
    command = ("python bench/mnist_quality.py " + " ".join(sys.argv[1:])).strip()
    (args.out / "mnist_quality.json").write_text(json.dumps(rows, indent=1) + "\n")
    (args.out / "mnist_quality.md").write_text(markdown(rows, command, cpu_name(), args.threads_per_run))
    print(markdown(rows, command, cpu_name(), args.threads_per_run))


if __name__ == "__main__":
    main()
