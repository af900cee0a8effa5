"""`ganspec sweep`: train specs over seeds and a grid of `--set` values, and print the results table.

The parser imports this module to register the command, so it stays light: the runs import Keras in
processes of their own (ganspec.sweeps.executors); this process reads specs and writes files.
"""

from __future__ import annotations

from pathlib import Path

from ganspec import exitcodes
from ganspec.diagnostics import SpecError
from ganspec.report.report import Report


def cmd_sweep(args) -> int:
    """Plan, check, train what is missing, and show the table; or only show it (--table)."""
    from ganspec.sweeps.layout import SweepDir

    report = Report(data_on_stdout=args.format == "json")
    targets = _targets(report, args)
    if targets is None:
        return report.exit_code
    sweep_dir, sweep_file, specs = targets
    if args.table:
        return _show_table(report, args, sweep_dir)
    plan = _plan(report, args, sweep_dir, sweep_file, specs)
    if plan is None:
        return report.exit_code
    report.add(plan.warnings)
    out = _out(report, args, plan, sweep_dir, sweep_file)
    if out is None:
        return report.exit_code
    if args.dry_run:
        return _dry_run(report, plan, out)
    from ganspec.sweeps import run
    from ganspec.sweeps.executors import make_executor

    try:
        executor = make_executor(args.executor, args.jobs, args.threads_per_run, args.gpus_per_run, args.ray_address)
        done = run(plan, out, executor, backend=args.backend, display=_display(args), say=_sayer(report),
                   score=args.score)
    except SpecError as exc:
        report.add(exc.diagnostics)
        return report.exit_code
    _show(report, args, done.results)
    if done.interrupted:
        report.outcome = exitcodes.INTERRUPTED
        report.note(f"interrupted: run the same command again to continue {SweepDir(out).path}")
    elif done.failed:
        report.error("E513", f"{len(done.failed)} point(s) of the sweep failed: {', '.join(done.failed)}",
                     hint="their messages are above; run the same command again to retry them")
    elif done.diverged:
        report.outcome = exitcodes.DIVERGED
    return report.exit_code


def _targets(report: Report, args):
    """(sweep directory, sweep file, specs) named on the command line, or None after saying what is wrong."""
    from ganspec.sweeps.layout import is_sweep_dir

    sweep_dirs, files, specs = [], [], []
    for target in args.targets:
        path = Path(target)
        if path.is_dir():
            if not is_sweep_dir(path):
                report.error("E502", f"{path} is not a sweep directory (no sweep.json)",
                             hint="give .gan specs, a .toml sweep file, or a directory a sweep wrote")
            sweep_dirs.append(str(path))
        elif path.suffix == ".toml":
            files.append(str(path))
        else:
            specs.append(str(path))
    if report.failed:
        return None
    if sweep_dirs and (len(sweep_dirs) > 1 or files or specs):
        report.error("E500", "a sweep directory is continued alone: give it without specs or a sweep file")
    elif len(files) > 1:
        report.error("E500", "one sweep file at a time")
    elif args.table and not sweep_dirs:
        report.error("E500", "--table shows the table of a sweep directory", hint="`ganspec sweep --table SWEEP_DIR`")
    elif sweep_dirs and args.out is not None and Path(args.out).resolve() != Path(sweep_dirs[0]).resolve():
        report.error("E500", "--out names another sweep directory than the one given")
    if report.failed:
        return None
    return (sweep_dirs[0] if sweep_dirs else None), (files[0] if files else None), specs


def _plan(report: Report, args, sweep_dir, sweep_file, specs):
    """The plan: the stored requests of a sweep directory, or a sweep file's, or the specs given, each with
    the command line's --set, --seeds and --iterations over it; None after reporting what is wrong."""
    from ganspec.sweeps import Request, build, parse_seeds, read_sweep_file
    from ganspec.sweeps.layout import SweepDir
    from ganspec.sweeps.plan import ITERATIONS, parse_sets

    fixed, axes, diags = parse_sets(args.set)
    report.add(diags)
    seeds = None
    if args.seeds is not None:
        try:
            seeds = parse_seeds(args.seeds)
        except ValueError as exc:
            report.error("E500", f"--seeds {exc}")
    if args.iterations is not None:
        if args.iterations < 1:
            report.error("E500", f"--iterations must be at least 1, not {args.iterations}")
        fixed.append((ITERATIONS, str(args.iterations)))
    if report.failed:
        return None
    given = Request((), tuple(fixed), tuple(axes), seeds)
    try:
        if sweep_dir is not None:
            bases = [Request.from_json(r) for r in SweepDir(sweep_dir).read()["requests"]]
        elif sweep_file is not None:
            base = read_sweep_file(sweep_file)
            if base.specs and specs:
                report.error("E500", f"{sweep_file} names its specs: give either the sweep file or specs")
                return None
            bases = [Request(tuple(specs) or base.specs, base.fixed, base.axes, base.seeds)]
        else:
            bases = [Request(tuple(specs))]
        plans = [build(base.merged(given)) for base in bases]
    except SpecError as exc:
        report.add(exc.diagnostics)
        return None
    plan = plans[0]
    for more in plans[1:]:
        plan = plan + more
    return plan


def _out(report: Report, args, plan, sweep_dir, sweep_file):
    from ganspec.sweeps import default_out

    if sweep_dir is not None:
        return Path(sweep_dir)
    if args.out is not None:
        return Path(args.out)
    out = default_out(plan, sweep_file)
    if out is None:
        report.error("E500", "several specs: name their sweep directory with --out")
    return out


def _display(args) -> str:
    """What the runs print (their own lines reach standard output, which carries the JSON document with
    --format json)."""
    return "none" if args.quiet or args.format == "json" else "all" if args.verbose else "evaluations"


def _sayer(report: Report):
    """Progress lines, as plain text (point names hold brackets that Rich would read as markup)."""
    from rich.text import Text

    return lambda line: report.note(Text(line))  # standard error when standard output carries JSON


def _dry_run(report: Report, plan, out) -> int:
    from rich.table import Table

    from ganspec.sweeps import describe

    try:
        states = describe(plan, out)
    except SpecError as exc:
        report.add(exc.diagnostics)
        return report.exit_code
    doing = {"new": "train", "incomplete": "resume", "finished": "skip (finished)", "diverged": "skip (diverged)"}
    if report._data_on_stdout:
        report.data({"sweep": str(out), "points": [{"name": n, "state": s, "action": doing[s]} for n, s in states]})
        return report.exit_code
    table = Table(title=f"sweep {out}: {len(states)} point(s), nothing trained (--dry-run)", title_justify="left")
    table.add_column("point", style="cyan", overflow="fold")
    table.add_column("iterations", justify="right")
    table.add_column("would")
    iterations = {p.name: p.iterations for p in plan.points}
    for name, state in states:
        table.add_row(name, str(iterations[name]), doing[state])
    report.print(table)
    return report.exit_code


def _show_table(report: Report, args, sweep_dir) -> int:
    from ganspec.sweeps import results

    try:
        document = results.collect(sweep_dir)
    except SpecError as exc:
        report.add(exc.diagnostics)
        return report.exit_code
    _show(report, args, document)
    return report.exit_code


def _show(report: Report, args, document: dict) -> None:
    from rich.text import Text

    from ganspec.sweeps import results

    if args.format == "json":
        report.data(document)
        return
    report.print(results.table(document, args.score))
    for line in results.not_counted(document):
        report.print(Text(line))
    report.print(Text(f"results: {Path(document['sweep']) / 'results.md'} (and results.json); "
                      f"compare the runs with `ganspec compare {document['sweep']}`"))
