"""The results table of a sweep: per group of points that differ only by seed, and per metric, the mean,
standard error (sample standard deviation / sqrt(n), for n >= 2), min and max over the finished seeds.

The value of a metric in a run is its last evaluation's (`summary.json`: `metrics.KEY.last`, the trained
generator at the end); `best` (the best evaluation during training, as the metric's class says: lowest
or highest) is in results.json too, and `--score best` shows it. Points that diverged, failed or have not
finished are counted apart and left out of the statistics.
"""

from __future__ import annotations

import json
import math
import statistics
from pathlib import Path

from ganspec.sweeps.layout import SweepDir, finished_iterations

SCORES = ("last", "best")


def stats(values: list[float]) -> dict:
    """{"mean", "se", "min", "max", "n"} of finite values; "se" is None below two values."""
    values = [float(v) for v in values if isinstance(v, (int, float)) and math.isfinite(v)]
    if not values:
        return {"mean": None, "se": None, "min": None, "max": None, "n": 0}
    se = statistics.stdev(values) / math.sqrt(len(values)) if len(values) > 1 else None
    return {"mean": statistics.fmean(values), "se": se, "min": min(values), "max": max(values), "n": len(values)}


def collect(path: str | Path) -> dict:
    """The results document of a sweep directory (what results.json holds), read from its run directories."""
    sweep = SweepDir(path)
    document = sweep.read()
    points, groups = {}, {}
    for name, entry in document["points"].items():
        run = sweep.run_dir(name)
        status = sweep.state(name, entry)
        if status == "incomplete" and entry.get("status") in ("failed", "interrupted"):
            status = entry["status"]
        elif status == "incomplete" and not (run / "metrics.jsonl").exists():
            status = "not started"  # its run directory is made; the sweep stopped before it ran
        elif status == "new":
            status = entry.get("status") if entry.get("status") in ("failed", "interrupted") else "not started"
        summary = json.loads((run / "summary.json").read_text()) if status == "finished" else None
        point = {"group": entry["group"], "spec": entry["spec_name"], "seed": entry["seed"], "status": status,
                 "run_dir": str(run), "iterations": finished_iterations(run) if summary else None,
                 "seconds": entry.get("seconds"), "message": entry.get("message") or ""}
        for score in SCORES:
            point[score] = {k: m[score] for k, m in summary["metrics"].items()} if summary else {}
        points[name] = point
        group = groups.setdefault(entry["group"], {"group": entry["group"], "spec": entry["spec_name"],
                                                   "set": dict(entry["set"]), "points": []})
        group["points"].append(name)
    specs = {p["spec"] for p in points.values()}
    # The values set on every point (`--set` with one value, --iterations), as the table's heading says them.
    fixed_sets = [set(map(tuple, entry.get("fixed", []))) for entry in document["points"].values()]
    common = set.intersection(*fixed_sets) if fixed_sets else set()
    fixed = {p: v for entry in document["points"].values() for p, v in entry.get("fixed", []) if (p, v) in common}
    out_groups = []
    for group in groups.values():
        members = [points[n] for n in group["points"]]
        finished = [p for p in members if p["status"] == "finished"]
        keys = list(dict.fromkeys(k for p in finished for k in p["last"]))
        seconds = [p["seconds"] for p in finished if p["seconds"] is not None]
        out_groups.append({
            **group,
            "label": _label(group, several_specs=len(specs) > 1),
            "finished": len(finished),
            "not_counted": {status: [n for n in group["points"] if points[n]["status"] == status]
                            for status in ("diverged", "failed", "interrupted", "incomplete", "not started")
                            if any(points[n]["status"] == status for n in group["points"])},
            "seconds_per_run": statistics.fmean(seconds) if seconds else None,
            "metrics": {k: {score: stats([p[score][k] for p in finished if k in p[score]]) for score in SCORES}
                        for k in keys},
        })
    return {"sweep": str(sweep.path), "value": "each run's last evaluation (summary.json metrics.KEY.last); "
                                                 "`best`: its best evaluation",
            "statistics": "over the finished seeds of a group: mean, standard error (stdev / sqrt(n)), min, max",
            "set": fixed, "groups": out_groups, "points": points}


def _label(group: dict, several_specs: bool) -> str:
    values = ", ".join(f"{p}={v}" for p, v in group["set"].items())
    if several_specs:
        return f"{group['spec']}: {values}" if values else group["spec"]
    return values or group["spec"]


def counts(results: dict) -> dict[str, int]:
    """How many points stand where: {"finished": 4, "diverged": 1, ...}."""
    out: dict[str, int] = {}
    for point in results["points"].values():
        out[point["status"]] = out.get(point["status"], 0) + 1
    return out


def _num(value, digits: int = 4) -> str:
    return "-" if value is None else f"{value:.{digits}g}"


def _rows(results: dict, score: str):
    """(group label or "", metric, mean ± se, min, max, n) per metric of each group, the label on its first."""
    for group in results["groups"]:
        label = group["label"]
        if not group["metrics"]:
            yield group, (label, "-", "-", "-", "-", "0")
            continue
        for key, by_score in group["metrics"].items():
            s = by_score[score]
            yield group, (label, key, mean_se(s["mean"], s["se"]), _num(s["min"]), _num(s["max"]), str(s["n"]))
            label = ""


def mean_se(mean, se) -> str:
    """`0.72 ± 0.10`: the standard error to two significant digits and the mean to the same decimals; the
    mean alone (4 significant digits) without a standard error."""
    if mean is None:
        return "-"
    if se is None or not math.isfinite(se):
        return _num(mean)
    if se == 0:
        return f"{_num(mean)} ± 0"
    decimals = min(6, max(0, 1 - math.floor(math.log10(se))))
    return f"{mean:.{decimals}f} ± {se:.{decimals}f}"


def title(results: dict, score: str) -> str:
    done = counts(results)
    total = sum(done.values())
    state = ", ".join(f"{n} {status}" for status, n in done.items() if status != "finished")
    which = "last evaluation" if score == "last" else "best evaluation"
    return (f"{done.get('finished', 0)}/{total} points finished{f' ({state})' if state else ''}; "
            f"each run's {which}, mean ± standard error over seeds")


def table(results: dict, score: str = "last"):
    """The results as a Rich table, a section per group."""
    from rich.table import Table

    table = Table(title=f"sweep {results['sweep']}: {title(results, score)}", title_justify="left")
    table.add_column("point", style="cyan", overflow="fold")
    table.add_column("metric", overflow="fold")
    table.add_column("mean ± se", justify="right")
    table.add_column("min", justify="right")
    table.add_column("max", justify="right")
    table.add_column("n", justify="right")
    previous = None
    for group, row in _rows(results, score):
        if previous is not None and group is not previous:
            table.add_section()
        table.add_row(*row)
        previous = group
    return table


def not_counted(results: dict) -> list[str]:
    """One line per point left out of the table, saying why."""
    lines = []
    for name, point in results["points"].items():
        if point["status"] != "finished":
            message = f": {point['message']}" if point["message"] else ""
            lines.append(f"{point['status']}: {name}{message}")
    return lines


def markdown(results: dict, score: str = "last") -> str:
    """The results as a Markdown table (results.md)."""
    done = counts(results)
    lines = [f"# Sweep {Path(results['sweep']).name}", "",
             f"{done.get('finished', 0)} of {sum(done.values())} points finished. A run's value is its {score} "
             f"evaluation (summary.json `metrics.KEY.{score}`); mean ± standard error (stdev / sqrt(n)), min and "
             "max over the finished seeds of each point.", ""]
    if results["set"]:
        lines += ["Every point: " + ", ".join(f"`{p}={v}`" for p, v in results["set"].items()) + ".", ""]
    lines += ["| point | metric | mean ± se | min | max | n |", "| --- | --- | --- | --- | --- | --- |"]
    for _, row in _rows(results, score):
        lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |")
    left = not_counted(results)
    if left:
        lines += ["", "Not counted:", ""] + [f"- {line}" for line in left]
    return "\n".join(lines) + "\n"


def write(results: dict, score: str = "last") -> None:
    """results.json and results.md in the sweep directory."""
    from ganspec.run.rundir import atomic_write

    path = Path(results["sweep"])
    atomic_write(path / "results.json", json.dumps(results, indent=2) + "\n")
    atomic_write(path / "results.md", markdown(results, score))
