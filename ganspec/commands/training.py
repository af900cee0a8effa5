"""The commands that train or read a run: run, sample, eval, compare.

The parser imports this module to register the commands, so it must stay light: Keras and its
backend are imported only when a command runs, after `ganspec.backend.activate` chose the backend.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from ganspec import exitcodes
from ganspec.commands.inputs import load_spec, parse_overrides
from ganspec.diagnostics import SpecError
from ganspec.report.report import Report


# ---- run -----------------------------------------------------------------------------------


def cmd_run(args) -> int:
    """Train a spec, or resume a run directory from its latest checkpoint."""
    from ganspec.run.signals import StopSignals

    report = Report()
    # Ctrl-C and SIGTERM only set a flag, from the first line on: one that comes while the backend imports or the
    # networks are built is never lost in a finaliser, and stops the run before it trains (ganspec.run.signals).
    with StopSignals(linger=True) as stop:
        return _run(report, args, stop)


def _interrupted(report: Report, run=None) -> int:
    """Exit 130 for a stop signal that came before training: a run directory made for this start is deleted."""
    if run is not None:
        import shutil

        shutil.rmtree(run.path, ignore_errors=True)
    report.print("interrupted before training started: nothing was trained or saved")
    report.outcome = exitcodes.INTERRUPTED
    return report.exit_code


def _run(report: Report, args, stop) -> int:
    overrides = parse_overrides(report, args.set)
    if args.iterations is not None and args.iterations < 1:
        report.error("E500", f"--iterations must be at least 1, not {args.iterations}")
    elif args.iterations is not None:
        overrides.append(("train.iterations", str(args.iterations)))
    if report.failed:
        return report.exit_code
    run = None
    if args.resume:
        run = _open_run(report, args.resume)
        if run is None:
            return report.exit_code
    chosen = _spec_to_run(report, args, overrides, run)
    if chosen is None:
        return report.exit_code
    spec, files, spec_dir = chosen
    layout = _plan_layout(report, spec, args)
    if layout is None:
        return report.exit_code
    spec = _activate_backend(report, spec, args.backend)
    if spec is None:
        return report.exit_code
    trackers = _trackers(report, args) if layout.is_chief else []
    if trackers is None:
        return report.exit_code
    if stop.received:
        return _interrupted(report)
    if not layout.is_chief:  # another worker of a multi-process run: the chief alone writes the run directory
        return _train_as_worker(report, spec, files, spec_dir, run, layout, args, stop)
    created = run is None
    run = _resume_or_create(report, run, spec, files, spec_dir, args)
    if run is None:
        return report.exit_code

    from ganspec.report.runs import summary_table
    from ganspec.run.display import make_display
    from ganspec.run.trainer import Trainer, summarize

    trainer = Trainer(spec, run, spec_dir, make_display(force_plain=args.plain), callbacks=trackers, layout=layout)
    trainer.exits_after = True
    trainer.stop_signals = stop
    try:
        trainer.prepare()
    except SpecError as exc:
        report.add(exc.diagnostics)
        if created:  # a start that failed (unreadable data, devices) leaves no empty run directory behind
            import shutil

            shutil.rmtree(run.path, ignore_errors=True)
        return report.exit_code
    if stop.received:
        return _interrupted(report, run if created else None)
    if trainer.layout.distributed:
        report.print(f"devices: {trainer.layout.describe()}; train.batch {spec.train.batch} is the global batch")
    try:
        if args.resume:
            if trainer.resume():
                report.print(f"resuming {run.path} at iteration {trainer.iteration}")
            else:
                report.print(f"{run.path} has no checkpoint yet: starting from the beginning")
            # The spec it goes on with (more iterations, or --force), recorded once its checkpoint fits.
            run.write_json("resolved.json", spec.model_dump(mode="json"))
        outcome = trainer.train(spec.train.iterations)
    except SpecError as exc:  # another process trains there (E512), a tracker could not start (E510)
        report.add(exc.diagnostics)
        return report.exit_code
    report.outcome = outcome.code
    if outcome.message:
        report.print(outcome.message)
    if outcome.code == exitcodes.OK:
        report.print(summary_table(summarize(trainer.history, trainer.evaluations, outcome.iteration)))
    report.print(f"run directory: [bold]{run.path}[/]")
    return report.exit_code


def _plan_layout(report: Report, spec, args):
    """The device layout --strategy, --devices and the environment ask for (E511 when it cannot train the
    spec), decided before the backend is imported."""
    from ganspec.backend import plan_layout

    try:
        return plan_layout(spec, args.backend, getattr(args, "strategy", "auto"), getattr(args, "devices", None))
    except SpecError as exc:
        report.add(exc.diagnostics)
        return None


def _train_as_worker(report: Report, spec, files, spec_dir, run, layout, args, stop) -> int:
    """A worker other than the chief (index 0) of a multi-process run: it trains its share of every step in
    lockstep with the others, reading the chief's checkpoint on --resume, and writes only into a scratch
    folder that is deleted at the end, so checkpoints, metrics and pictures are written once."""
    import shutil

    from ganspec.run.display import PlainDisplay
    from ganspec.run.rundir import RunDir, worker_scratch
    from ganspec.run.trainer import Trainer

    scratch = worker_scratch(layout.worker)
    try:
        own = RunDir.create(spec, files, scratch, spec_dir=spec_dir)
        trainer = Trainer(spec, own, spec_dir, PlainDisplay(), layout=layout)
        trainer.exits_after = True
        trainer.stop_signals = stop
        try:
            trainer.prepare()
        except SpecError as exc:
            report.add(exc.diagnostics)
            return report.exit_code
        if stop.received:
            return _interrupted(report)
        report.print(f"worker {layout.worker} of {layout.workers}: {trainer.layout.describe()}; "
                     "the chief (worker 0) writes the run directory")
        try:
            if run is not None:
                trainer.resume(source=run)
            outcome = trainer.train(spec.train.iterations)
        except SpecError as exc:  # out of memory (E514), a checkpoint that does not fit (E504)
            report.add(exc.diagnostics)
            return report.exit_code
        report.outcome = outcome.code
        return report.exit_code
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _trackers(report: Report, args):
    """The tracker callbacks that --track and $GANSPEC_TRACK ask for, or None after reporting an unknown
    one (E500) or a missing library (E507). Imports Keras: call it after the backend is chosen."""
    from ganspec.run.tracking import from_options, options_from_environment

    try:
        return from_options([*getattr(args, "track", []), *options_from_environment()])
    except SpecError as exc:
        report.add(exc.diagnostics)
        return None


def _spec_to_run(report: Report, args, overrides, run):
    """(spec, the files it was read from, the folder its relative paths start from), or None after
    reporting why there is none: the spec named on the command line, else the resumed run's own."""
    if args.spec:
        resolved = load_spec(report, args.spec, overrides=overrides, checks=True)
        if resolved is None:
            return None
        report.add(resolved.diagnostics)  # its warnings, before training starts
        return resolved.spec, resolved.files, Path(args.spec).parent
    if run is None:
        report.error("E500", "give a spec to run, or --resume RUN_DIR")
        return None
    if args.set:
        report.error("E500", "--set needs the spec", hint="`ganspec run SPEC --resume RUN_DIR --set ...`")
        return None
    spec = run.resolved_spec()
    if args.iterations is not None:
        spec = spec.model_copy(update={"train": spec.train.model_copy(update={"iterations": args.iterations})})
    return spec, None, _stored_spec_dir(run)


def _resume_or_create(report: Report, run, spec, files, spec_dir, args):
    """The run directory to train in: a new one, or the resumed one when its spec still matches
    (differences in bookkeeping only, such as more iterations, are recorded); None when refused."""
    from ganspec.diff import diff_specs
    from ganspec.run.rundir import RunDir, bookkeeping_only

    if run is None:
        run = RunDir.create(spec, files, args.out)
        (run.path / "spec_dir").write_text(str(Path(spec_dir).resolve()) + "\n")
        return run
    edits = diff_specs(run.resolved_spec(), spec)
    if edits and not bookkeeping_only(edits) and not args.force:
        report.error("E504", f"refusing to resume: the spec differs from the one {run.path} was started with",
                     hint="use --force to resume anyway, or start a new run")
        report.diff(edits, "run", args.spec or "overrides")
        return None
    return run


# ---- sample and eval -----------------------------------------------------------------------


def cmd_sample(args) -> int:
    """Write a picture of samples from a run's generator: a grid, one row per class (--per-class, --class),
    latent interpolations (--interpolate), or 2-D points drawn over the run's data."""
    report = Report()
    run = _open_run(report, args.run_dir)
    if run is None:
        return report.exit_code
    spec = _activate_backend(report, run.resolved_spec(), args.backend)  # first: it checks the extras are there
    spec = _with_truncation(report, spec, args.truncation)
    if spec is None or not _sample_arguments_fit(report, run, spec, args):
        return report.exit_code
    loaded = _load_generator(report, run, spec, None, args.no_ema)
    if loaded is None:
        return report.exit_code

    from ganspec.run.images import save_picture

    generator, name, iteration = loaded
    picture, what = _sample_picture(report, run, spec, generator, args)
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    save_picture(picture, output)
    truncation = spec.evaluate.truncation
    what += f", z truncated at {truncation:g} standard deviations" if truncation is not None else ""
    report.print(f"wrote {args.output}: {what} from {name} at iteration {iteration}")
    return report.exit_code


SAMPLE_PER_CLASS_DEFAULT = 8


def _sample_arguments_fit(report: Report, run, spec, args) -> bool:
    """Whether the sample options make sense together and for this run; each misfit reported (E500)."""
    from ganspec.run.images import PICTURE_FORMATS, picture_format
    from ganspec.run.sampling import check_classes

    if picture_format(Path(args.output)) is None:
        report.error("E500", f"cannot write {args.output}: the format follows the extension, "
                             f"one of {', '.join(PICTURE_FORMATS)}")
    least = {"-n": (args.n, 1), "--per-class": (args.per_class, 1), "--interpolate": (args.interpolate, 2),
             "--rows": (args.rows, 1), "--columns": (args.columns, 1), "--scale": (args.scale, 1),
             "--padding": (args.padding, 0)}
    for flag, (value, minimum) in least.items():
        if value is not None and value < minimum:
            report.error("E500", f"{flag} must be at least {minimum}, not {value}")
    by_class = args.per_class is not None or (args.classes is not None and args.interpolate is None)
    if by_class and args.interpolate is not None:
        report.error("E500", "--per-class and --interpolate draw different pictures: choose one",
                     hint="`--interpolate STEPS --class C` holds class C along every interpolation row")
    if args.columns is not None and (by_class or args.interpolate is not None):
        report.error("E500", "--columns sets the width of the plain grid; a class row has --per-class "
                             "columns and an interpolation row --interpolate columns")
    if (by_class or args.classes is not None) and spec.conditional is None:
        flag = "--per-class" if args.per_class is not None else "--class"
        report.error("E500", f"{flag} needs a conditional run, but {run.path} was trained without a "
                             "`conditional` block", hint="use -n N for a grid of samples, or --interpolate STEPS")
    elif args.classes is not None:
        try:
            check_classes(spec, args.classes)
        except ValueError as exc:
            report.error("E500", f"--class: {exc}")
    return not report.failed


def _sample_picture(report: Report, run, spec, generator, args):
    """(the picture the sample options ask for, a few words saying what it shows)."""
    import numpy as np

    from ganspec.run import images
    from ganspec.run import sampling

    sampler = sampling.Sampler(spec, generator)
    if args.interpolate is not None:
        rows = sampling.interpolation_rows(spec, sampler, args.rows, args.interpolate, args.seed, args.classes)
        labels = sampling.row_classes(spec, len(rows), args.classes)
        what = f"{args.rows} interpolations of {args.interpolate} steps, {sampling.describe_interpolation(spec)}"
    elif args.per_class is not None or args.classes is not None:
        per_class = args.per_class or SAMPLE_PER_CLASS_DEFAULT
        rows = sampling.class_rows(spec, sampler, per_class, args.seed, args.classes)
        labels = sampling.check_classes(spec, args.classes)
        what = f"{len(rows)} classes x {per_class} samples"
    else:
        rows, labels, what = None, None, f"{args.n} samples"
    fake = rows.reshape(-1, *rows.shape[2:]) if rows is not None else sampler(args.n, args.seed)
    value_range = tuple(spec.data.scale or (0.0, 1.0))
    if fake.ndim == 4 and rows is not None:
        row_labels = [str(c) for c in labels] if labels is not None and not args.no_labels else None
        return images.rows_grid(rows, value_range, args.scale, args.padding, row_labels), what
    if fake.ndim == 4:
        scale = args.scale or images.auto_scale(*fake.shape[1:3])
        return images.image_grid(fake, value_range, args.columns, args.padding, scale), what
    groups = None
    if rows is not None:  # points: a colour per class, or per interpolation path
        by_row = labels if args.interpolate is None else range(len(rows))
        groups = np.repeat(np.asarray(list(by_row)), rows.shape[1])
    overlay = None if args.no_data else _sample_data_overlay(report, run, spec, args.seed)
    picture = images.scatter(fake, overlay.points if overlay else None, groups=groups,
                             joined=args.interpolate is not None, modes=overlay.modes if overlay else None,
                             mode_radius=overlay.mode_radius if overlay else 0.0)
    return images.upscale(picture, args.scale or 1), what


def _sample_data_overlay(report: Report, run, spec, seed: int):
    """The run's real points to draw under 2-D samples, or None with a note when its data cannot be read."""
    from ganspec.run.sampling import data_overlay

    try:
        return data_overlay(spec, _stored_spec_dir(run), seed=seed + 3)
    except SpecError as exc:
        report.note(f"drawing the samples without the data, which cannot be read: {exc.diagnostics[0].message}")
        return None


def cmd_eval(args) -> int:
    """Evaluate a run's generator (latest checkpoint, or --checkpoint) and record the scores in the run."""
    report = Report(data_on_stdout=args.format == "json")
    if args.samples is not None and args.samples < 1:
        report.error("E500", f"--samples must be at least 1, not {args.samples}")
        return report.exit_code
    run = _open_run(report, args.run_dir)
    if run is None:
        return report.exit_code
    spec = _with_truncation(report, _activate_backend(report, run.resolved_spec(), args.backend), args.truncation)
    if spec is None:
        return report.exit_code
    metrics = _metrics_from_command_line(report, args.metric)
    if report.failed:
        return report.exit_code
    loaded = _load_generator(report, run, spec, args.checkpoint, args.no_ema)
    if loaded is None:
        return report.exit_code

    from ganspec.metrics import shown
    from ganspec.metrics.evaluate import Evaluator
    from ganspec.report.runs import evaluation_table
    from ganspec.run.sampling import Sampler, evaluation_file

    generator, name, iteration = loaded
    try:  # a FeatureError (weights missing) is a SpecError too
        results, skipped = Evaluator(spec, _stored_spec_dir(run)).run(Sampler(spec, generator), metrics,
                                                                        args.samples)
    except SpecError as exc:
        report.add(exc.diagnostics)
        return report.exit_code
    document = {"run": str(run.path), "generator": name, "iteration": iteration,
                "truncation": spec.evaluate.truncation, "results": results, "skipped": skipped}
    target = evaluation_file(iteration, args.truncation)
    try:
        run.write_json(target, document)
    except OSError as exc:  # a read-only or full run directory: the scores are shown, not lost
        report.note(f"warning: the scores could not be saved as {run.path / target} ({exc.strerror or exc}); "
                    "they are shown here only")
    if args.format == "json":
        report.data(document)
        return report.exit_code
    report.print(evaluation_table(f"{run.path.name}: {name} at iteration {iteration}", shown(results)))
    if skipped:
        report.print(f"not available in this version: {', '.join(skipped)}")
    return report.exit_code


def _metrics_from_command_line(report: Report, texts: list[str] | None):
    """The metrics written with --metric, or None to use the spec's; the first bad one is reported."""
    if not texts:
        return None
    from ganspec.ir.components import METRICS
    from ganspec.resolve import parse_component

    nodes = []
    for text in texts:
        node, diags = parse_component(text, METRICS)
        if node is None:
            # Their spans point into a wrapper spec made up around the text; say which argument instead.
            report.add([dataclasses.replace(d, message=f"--metric {text}: {d.message}", span=None) for d in diags])
            return None
        nodes.append(node)
    return nodes


# ---- compare -------------------------------------------------------------------------------


def cmd_compare(args) -> int:
    """Runs side by side: last scores, spec differences against the first run, metric curves."""
    from ganspec.diff import diff_specs
    from ganspec.metrics.comparison import IncomparableResults, check_comparable, run_settings
    from ganspec.report.compare import evaluations, numeric_keys, plot_curves, run_labels
    from ganspec.report.runs import last_evaluations_table
    from ganspec.sweeps.layout import expand_run_dirs

    report = Report()
    runs = [_open_run(report, path) for path in expand_run_dirs(args.run_dirs)]  # a sweep directory: its runs
    if report.failed:
        return report.exit_code
    names = run_labels([r.path for r in runs])
    evals = {name: evaluations(r.path) for name, r in zip(names, runs)}
    specs = [r.resolved_spec() for r in runs]
    try:  # the settings their scores record, and their specs' metric parameters
        check_comparable({name: run_settings(evals[name], spec) for name, spec in zip(names, specs)})
    except IncomparableResults as exc:
        report.error("E505", f"refusing to compare: {exc}")
        return report.exit_code
    keys = numeric_keys(evals)
    plot = args.plot if keys and args.plot else None  # a picture only when one is asked for
    if plot:
        from ganspec.backend import MissingExtra, require

        try:
            require("plots", "drawing the metric curves (compare --plot)")
        except MissingExtra as exc:
            report.add(exc.diagnostics)
            return report.exit_code
    edits = {name: diff_specs(specs[0], s) for name, s in zip(names[1:], specs[1:])}
    if plot:
        plot_curves(evals, keys, Path(plot))
    if args.format == "json":
        report.data({"runs": names, "last": {n: (e[-1] if e else {}) for n, e in evals.items()},
                     "diffs": {n: [e.to_json() for e in es] for n, es in edits.items()},
                     "plot": plot})
        return report.exit_code
    report.print(last_evaluations_table(evals, keys))
    for name, es in edits.items():
        report.diff(es, names[0], name)
    if plot:
        report.print(f"metric curves: {plot}")
    return report.exit_code


# ---- run directories and backends ----------------------------------------------------------


def _open_run(report: Report, path):
    """The run directory at `path`, or None after reporting that it is not one (E502)."""
    from ganspec.run.rundir import RunDir

    run = RunDir(path)
    if not (run.path / "resolved.json").exists():
        report.error("E502", f"{run.path} is not a ganspec run directory (no resolved.json)")
        return None
    unknown = _unknown_kinds(run)
    if unknown:
        report.error("E502", f"{run.path}/resolved.json names {', '.join(unknown)}, which no loaded plugin defines",
                     hint="load the plugins the run was trained with: `--plugin MODULE` or $GANSPEC_PLUGINS")
        return None
    return run


def _unknown_kinds(run) -> list[str]:
    """The components of a run's resolved.json that nothing registered here defines (a plugin's, not loaded)."""
    from pydantic import ValidationError

    try:
        run.resolved_spec()
    except ValidationError as exc:
        return sorted({f"`{error['ctx']['tag']}`" for error in exc.errors() if error["type"] == "union_tag_invalid"})
    return []


def _stored_spec_dir(run) -> Path:
    """The folder the run's spec was read from: relative data paths start there."""
    return run.spec_dir


def _activate_backend(report: Report, spec, flag):
    """Switch Keras to the command's backend; the spec with `train.backend` set to it, or None after
    reporting why it cannot run there (E501, E507)."""
    from ganspec.backend import activate_for_spec

    try:
        spec, note = activate_for_spec(spec, flag)
    except SpecError as exc:
        report.add(exc.diagnostics)
        return None
    if note:
        report.note(note)
    return spec


def _with_truncation(report: Report, spec, truncation: float | None):
    """The spec with evaluate.truncation set from --truncation (unchanged without it), or None after
    reporting why it cannot be (E500)."""
    if spec is None or truncation is None:
        return spec
    from ganspec.run.sampling import with_truncation

    try:
        return with_truncation(spec, truncation)
    except ValueError as exc:
        report.error("E500", f"--truncation: {exc}")
        return None


def _load_generator(report: Report, run, spec, checkpoint_name, no_ema):
    """(generator with a checkpoint's weights, which weights, iteration), or None after reporting that
    there is no such checkpoint (E503)."""
    try:
        loaded = run.load_generator(spec, checkpoint_name, ema=not no_ema)
    except SpecError as exc:
        report.add(exc.diagnostics)
        return None
    for name, why in getattr(run, "passed_over", []):
        report.note(f"checkpoint {name} cannot be used ({why}); using {loaded[1]} of the newest usable one, "
                    f"at iteration {loaded[2]}")
    return loaded
