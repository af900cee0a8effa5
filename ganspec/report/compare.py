"""`ganspec compare`: runs side by side — scores, spec differences, metric curves as a PNG."""

from __future__ import annotations

from pathlib import Path

from ganspec.metrics import role


def run_labels(paths: list[Path]) -> list[str]:
    """Short, unique labels for runs: the directory name, with as many parent folders as it takes
    to tell two runs apart (runs started in the same second in different --out folders share a name)."""
    paths = [Path(p).resolve() for p in paths]
    distinct = set(paths)
    depth = 1
    while len({p.parts[-depth:] for p in distinct}) < len(distinct):
        depth += 1
    labels = ["/".join(p.parts[-depth:]) for p in paths]
    seen: dict[str, int] = {}
    unique = []
    for label in labels:  # the same directory given twice
        seen[label] = seen.get(label, 0) + 1
        unique.append(label if seen[label] == 1 else f"{label} ({seen[label]})")
    return unique


def evaluations(run_path: Path) -> list[dict]:
    """The evaluations a run directory's metrics.jsonl holds (a damaged line skipped, not the rest)."""
    from ganspec.run.rundir import RunDir

    return [{"iteration": r["iteration"], **r["evaluation"]} for r in RunDir(run_path).read_metrics()
            if "evaluation" in r and "iteration" in r]


def numeric_keys(evals_by_run: dict[str, list[dict]]) -> list[str]:
    keys = []
    for evals in evals_by_run.values():
        for e in evals:
            for key, value in e.items():
                if key != "iteration" and isinstance(value, (int, float)) and not isinstance(value, bool) \
                        and key not in keys and role(key, value) == "score":
                    keys.append(key)
    return keys


def plot_curves(evals_by_run: dict[str, list[dict]], keys: list[str], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = min(3, max(1, len(keys)))
    rows = (len(keys) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(5 * cols, 3.4 * rows), squeeze=False)
    for ax, key in zip(axes.flat, keys):
        for name, evals in evals_by_run.items():
            points = [(e["iteration"], e[key]) for e in evals if isinstance(e.get(key), (int, float))]
            if points:
                xs, ys = zip(*points)
                ax.plot(xs, ys, marker="o", markersize=3, label=name)
        ax.set_title(key)
        ax.set_xlabel("generator iteration")
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(keys):]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
