"""Sweeps: one spec (or several) trained over seeds and a grid of values, and a table of the results.

    plan.py        what to train: specs x `--set` grid x seeds, every point resolved and checked first
    layout.py      the sweep directory: sweep.json, one run directory per point, results files
    executors.py   where the points train: local processes, or Ray tasks
    results.py     mean, standard error, min and max over seeds, per group and metric

From Python (what `ganspec sweep` does, returning values instead of printing a table):

    from ganspec.sweeps import sweep

    done = sweep("specs/toy/ring_wgan_gp.gan", seeds=range(5), grid={"optimizer.critic.lr": [1e-4, 2e-4]},
                 iterations=500, out="sweeps/ring")
    done.results["groups"][0]["metrics"]["modes_covered"]["last"]   # {"mean", "se", "min", "max", "n"}
    done.failed, done.diverged                                      # names of points

Running the same sweep again continues it; see layout.py for what a sweep directory keeps.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Callable

from ganspec.diagnostics import SpecError, error
from ganspec.sweeps.plan import ITERATIONS, Plan, Point, Request, build, parse_seeds, read_sweep_file

__all__ = ["Plan", "Point", "Request", "SweepRun", "build", "default_out", "describe", "parse_seeds",
           "read_sweep_file", "run", "sweep"]


@dataclasses.dataclass
class SweepRun:
    """What a sweep did: its directory, the results document (results.json), this call's point results."""

    path: Path
    results: dict
    trained: list[dict]
    interrupted: bool = False

    def _with(self, status: str) -> list[str]:
        return [name for name, p in self.results["points"].items() if p["status"] == status]

    @property
    def failed(self) -> list[str]:
        return self._with("failed")

    @property
    def diverged(self) -> list[str]:
        return self._with("diverged")

    def table(self, score: str = "last"):
        """The results as a Rich table."""
        from ganspec.sweeps.results import table

        return table(self.results, score)


def default_out(plan: Plan, sweep_file: str | None = None) -> Path:
    """sweeps/NAME: the sweep file's name, else the spec's; several specs need --out (None)."""
    if sweep_file is not None:
        return Path("sweeps") / Path(sweep_file).stem
    names = {p.spec_name for p in plan.points}
    return Path("sweeps") / names.pop() if len(names) == 1 else None


def describe(plan: Plan, out: str | Path) -> list[tuple[str, str]]:
    """(point name, state) of each point: what running the plan in `out` would do, changing nothing.
    Raises SpecError E504 as `run` would."""
    from ganspec.sweeps.layout import SweepDir, check_existing

    sweep = SweepDir(out)
    states = check_existing(sweep, plan.points, sweep.read())
    return [(p.name, states[p.name]) for p in plan.points]


def run(plan: Plan, out: str | Path, executor, *, backend: str | None = None, display: str = "evaluations",
        say: Callable[[str], None] = print, score: str = "last",
        on_result: Callable[[dict], None] | None = None) -> SweepRun:
    """Train the plan's points that are not finished in the sweep directory `out`, with `executor`
    (ganspec.sweeps.executors), saying what happens through `say` and handing each point's result (name,
    status, seconds, message) to `on_result` as it ends; then write results.json and results.md. Raises
    SpecError before anything is written when a point's run directory holds another spec (E504)."""
    from ganspec.sweeps import results as tables
    from ganspec.sweeps.layout import SweepDir, check_existing, prepare_run_dirs

    sweep = SweepDir(out)
    document = sweep.read()
    states = check_existing(sweep, plan.points, document)
    document["requests"] = [r.to_json() for r in plan.requests]
    document["executor"] = executor.describe()
    for point in plan.points:
        entry = {**document["points"].get(point.name, {}), **point.to_json()}
        entry["status"] = states[point.name] if states[point.name] in ("finished", "diverged") else "pending"
        document["points"][point.name] = entry
    sweep.write(document)
    prepared = prepare_run_dirs(sweep, plan.points, states)
    pending = [point for point, how in prepared if how != "busy"]
    resumed = sum(how == "resume" for _, how in prepared)
    busy = [point.name for point, how in prepared if how == "busy"]
    skipped = [s for s in states.values() if s in ("finished", "diverged")]
    resuming = f" ({resumed} resumed from a checkpoint)" if resumed else ""
    elsewhere = f"; {len(busy)} training in another process, left to it" if busy else ""
    where = f"; {executor.summary()}" if pending else ""
    say(f"sweep {sweep.path}: {len(plan.points)} point(s); {len(skipped)} done already, {len(pending)} to train"
        f"{resuming}{elsewhere}{where}")
    trained = []

    def done(result: dict) -> None:
        entry = document["points"][result["name"]]
        entry.update({k: result.get(k) for k in ("status", "exit_code", "iteration", "seconds", "message")})
        entry.pop("traceback", None)
        if result.get("traceback"):
            entry["traceback"] = result["traceback"]
        sweep.write(document)
        trained.append(result)
        say(_done_line(result, len(trained), len(pending)))
        if on_result is not None:
            on_result(result)

    tasks = [{"name": p.name, "run_dir": str(sweep.run_dir(p.name).resolve()), "backend": backend,
              "threads": executor.threads, "display": display} for p in pending]
    interrupted = False
    try:
        if tasks:
            executor.run(tasks, done)
    except KeyboardInterrupt:
        interrupted = True
    results = tables.collect(sweep.path)
    tables.write(results, score)
    return SweepRun(sweep.path, results, trained, interrupted)


def _done_line(result: dict, n: int, total: int) -> str:
    status = result["status"]
    took = f" in {result['seconds']:.0f} s" if result.get("seconds") is not None else ""
    where = f" at iteration {result['iteration']}" if result.get("iteration") is not None else ""
    message = f": {result['message']}" if result.get("message") and status != "finished" else ""
    return f"[{n}/{total}] {result['name']}: {status}{where}{took}{message}"


def sweep(specs: str | Path | Iterable[str | Path], *, seeds: Iterable[int] | str | None = None,
          grid: Mapping[str, Iterable[Any]] | None = None, overrides: Mapping[str, Any] | Iterable | None = None,
          iterations: int | None = None, out: str | Path | None = None, executor: str = "local",
          jobs: int | None = None, threads_per_run: int | None = None, gpus_per_run: float | None = None,
          ray_address: str | None = None, backend: str | None = None, display: str = "evaluations",
          say: Callable[[str], None] | None = print) -> SweepRun:
    """Train `specs` (paths) over `seeds` (`range(10)`, `[0, 3]`, "0:10"; default each spec's own) and
    every combination of the `grid` values (`{"optimizer.critic.lr": [1e-4, 2e-4]}`, Python values or spec
    text), with `overrides` and `iterations` on every point, in the sweep directory `out` (default
    sweeps/SPEC_NAME), as `ganspec sweep` does. Raises `ganspec.InvalidSpec` for a plan that cannot run."""
    from ganspec.api import InvalidSpec, _override_pairs, _spec_text
    from ganspec.sweeps.executors import make_executor

    paths = [specs] if isinstance(specs, (str, Path)) else list(specs)
    fixed = list(_override_pairs(overrides))
    if iterations is not None:
        fixed.append((ITERATIONS, str(iterations)))
    axes = []
    for path, values in (grid or {}).items():
        texts = tuple(_spec_text(v) for v in values)
        if len(texts) == 1:
            fixed.append((path, texts[0]))
        else:
            axes.append((path, texts))
    try:
        chosen = None if seeds is None else parse_seeds(seeds if isinstance(seeds, str) else list(seeds))
    except ValueError as exc:
        raise InvalidSpec(error("E500", f"seeds {exc}")) from None
    try:
        plan = build(Request(tuple(str(p) for p in paths), tuple(fixed), tuple(axes), chosen))
        out = out if out is not None else default_out(plan)
        if out is None:
            raise SpecError(error("E500", "several specs: say where their sweep goes (out=...)"))
        runner = make_executor(executor, jobs, threads_per_run, gpus_per_run, ray_address)
        return run(plan, out, runner, backend=backend, display=display, say=say or (lambda line: None))
    except SpecError as exc:
        raise InvalidSpec(exc.diagnostics) from None
