"""A sweep directory: what was asked, one run directory per point, and the results table.

    sweeps/tiny/
      sweep.json                                  the requests of the last command, its executor, and every
                                                  point ever planned here: spec, values, seed, status, seconds
      tiny,optimizer.critic.lr=1e-4,seed=0/       a run directory (ganspec.run.rundir), named by its point
      tiny,optimizer.critic.lr=2e-4,seed=0/
      results.json                                the table as data (ganspec.sweeps.results)
      results.md                                  the table in Markdown

A sweep directory grows: running a command on it again trains what is missing (finished points are
skipped, interrupted ones resume from their latest checkpoint) and a new plan adds its new points. A
point whose run directory holds a run of another spec (not only more iterations) is refused (E504).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from ganspec.diagnostics import SpecError, error

SWEEP_FILE = "sweep.json"
FORMAT = 1
STAGING = ".staging"  # run directories are made here and renamed into place


class SweepDir:
    """The files of one sweep directory."""

    def __init__(self, path: str | Path):
        self.path = Path(path)

    @property
    def file(self) -> Path:
        return self.path / SWEEP_FILE

    def exists(self) -> bool:
        return self.file.is_file()

    def read(self) -> dict:
        """sweep.json (an empty document for a new sweep); SpecError E502 when it is not one."""
        if not self.exists():
            return {"format": FORMAT, "requests": [], "executor": None, "points": {}}
        try:
            document = json.loads(self.file.read_text(encoding="utf-8"))
            document["points"]  # noqa: B018 - the one key every sweep.json has
        except (OSError, ValueError, KeyError, TypeError):
            raise SpecError(error("E502", f"{self.file} is not a ganspec sweep file")) from None
        return document

    def write(self, document: dict) -> None:
        from ganspec.run.rundir import atomic_write

        self.path.mkdir(parents=True, exist_ok=True)
        atomic_write(self.file, json.dumps(document, indent=2) + "\n")

    def run_dir(self, name: str) -> Path:
        return self.path / name

    def run_dirs(self) -> list[Path]:
        """The run directories of the points in sweep.json that exist, in the order they were planned."""
        return [self.run_dir(name) for name in self.read()["points"]
                if (self.run_dir(name) / "resolved.json").exists()]

    def state(self, name: str, entry: dict) -> str:
        """Where a point stands: "new" (no run directory), "finished" (a summary at its planned iterations),
        "diverged" (a loss became NaN: training again would diverge again), or "incomplete" (started, not
        finished: interrupted, failed, or asked for more iterations)."""
        run = self.run_dir(name)
        if not (run / "resolved.json").exists():
            return "new"
        if entry.get("status") == "diverged":
            return "diverged"
        summary = finished_iterations(run)
        if summary is not None and summary >= entry["iterations"]:
            return "finished"
        return "incomplete"


def finished_iterations(run: Path) -> int | None:
    """The iterations of a run's summary.json (written when it finished), or None."""
    try:
        return int(json.loads((run / "summary.json").read_text())["iterations"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def is_sweep_dir(path: str | Path) -> bool:
    return (Path(path) / SWEEP_FILE).is_file()


def expand_run_dirs(paths) -> list[str]:
    """Run directories as given, with each sweep directory replaced by its points' run directories
    (`ganspec compare SWEEP_DIR`)."""
    out = []
    for path in paths:
        if is_sweep_dir(path):
            try:
                out.extend(str(p) for p in SweepDir(path).run_dirs())
            except SpecError:
                out.append(str(path))  # compare says it is not a run directory
        else:
            out.append(str(path))
    return out


# ---- making the run directories ------------------------------------------------------------


def check_existing(sweep: SweepDir, points, document: dict) -> dict[str, str]:
    """{point name: state} for the plan's points; SpecError (E504, every such point) when a run directory
    holds a run of another spec than its point (bookkeeping such as more iterations is allowed)."""
    from ganspec.diff import diff_specs
    from ganspec.run.rundir import RunDir, bookkeeping_only

    states, refused = {}, []
    for point in points:
        entry = {**document["points"].get(point.name, {}), "iterations": point.iterations}
        states[point.name] = state = sweep.state(point.name, entry)
        if state == "new":
            continue
        try:
            stored = RunDir(sweep.run_dir(point.name)).resolved_spec()
        except Exception:  # a plugin's component, or a damaged file: not the point's run either
            refused.append(error("E504", f"{sweep.run_dir(point.name)}/resolved.json cannot be read as this "
                                         "point's spec"))
            continue
        edits = [e for e in diff_specs(stored, point.spec) if not bookkeeping_only([e])]
        if edits:
            shown = ", ".join(f"{e.path} ({_short(e.old)} -> {_short(e.new)})" for e in edits[:3])
            more = f" and {len(edits) - 3} more" if len(edits) > 3 else ""
            refused.append(error("E504", f"refusing to continue {point.name}: its run directory was trained from "
                                         f"another spec, which differs in {shown}{more}",
                                 hint="the spec file or a --set changed since: sweep into another directory "
                                      "(--out), or delete that run directory to train it anew"))
    if refused:
        raise SpecError(refused)
    return states


def _short(value) -> str:
    text = json.dumps(value) if not isinstance(value, str) else value
    return text if len(text) <= 40 else text[:37] + "..."


def prepare_run_dirs(sweep: SweepDir, points, states: dict[str, str]) -> list[tuple]:
    """Make the run directories the pending points train in: (point, "resume", "start" or "busy") for each.
    A new point gets a new run directory; an incomplete one keeps its own (its resolved.json updated to the
    planned bookkeeping, e.g. more iterations), unless it has no checkpoint yet, when it starts over; one
    that another process trains in now is left to it ("busy")."""
    from ganspec.run.rundir import RunDir

    pending = []
    for point in points:
        state = states[point.name]
        if state in ("finished", "diverged"):
            continue
        run = RunDir(sweep.run_dir(point.name))
        if state == "incomplete" and _busy(run):  # another sweep of this directory trains it now
            pending.append((point, "busy"))
            continue
        if state == "incomplete" and run.latest_checkpoint() is not None:
            run.write_json("resolved.json", point.spec.model_dump(mode="json"))
            pending.append((point, "resume"))
        else:
            _create(sweep, point)
            pending.append((point, "start"))
    shutil.rmtree(sweep.path / STAGING, ignore_errors=True)
    return pending


def _busy(run) -> bool:
    """Whether another process trains in the run directory now (it holds the directory's lock)."""
    lock = getattr(run, "lock", None)
    if lock is None or not (run.path / "resolved.json").exists():
        return False
    try:
        lock()
    except SpecError:
        return True
    run.unlock()
    return False


def _create(sweep: SweepDir, point) -> None:
    """A fresh run directory for the point, at its name."""
    from ganspec.run.rundir import RunDir

    final = sweep.run_dir(point.name)
    if final.exists():
        shutil.rmtree(final)
    staging = sweep.path / STAGING
    made = RunDir.create(point.spec, list(point.files), staging, spec_dir=Path(point.spec_file).parent)
    os.replace(made.path, final)
