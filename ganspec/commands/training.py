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
    report = Report()
    overrides = parse_overrides(report, args.set)
    if args.iterations is not None:
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
    spec = _activate_backend(report, spec, args.backend)
    if spec is None:
        return report.exit_code
    run = _resume_or_create(report, run, spec, files, spec_dir, args)
    if run is None:
        return report.exit_code

    from ganspec.report.runs import summary_table
    from ganspec.run.display import make_display
    from ganspec.run.trainer import Trainer, summarize

    trainer = Trainer(spec, run, spec_dir, make_display(force_plain=args.plain))
    try:
        trainer.prepare()
    except SpecError as exc:
        report.add(exc.diagnostics)
        return report.exit_code
    if args.resume:
        if trainer.resume():
            report.print(f"resuming {run.path} at iteration {trainer.iteration}")
        else:
            report.print(f"{run.path} has no checkpoint yet: starting from the beginning")
    outcome = trainer.train(spec.train.iterations)
    report.outcome = outcome.code
    if outcome.message:
        report.print(outcome.message)
    if outcome.code == exitcodes.OK:
        report.print(summary_table(summarize(trainer.history, trainer.evaluations, outcome.iteration)))
    report.print(f"run directory: [bold]{run.path}[/]")
    return report.exit_code


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
    if edits:
        run.write_json("resolved.json", spec.model_dump(mode="json"))
    return run


# ---- sample and eval -----------------------------------------------------------------------


def cmd_sample(args) -> int:
    """Write a grid (images) or a scatter plot (points) of samples from a run's generator."""
    report = Report()
    run = _open_run(report, args.run_dir)
    if run is None:
        return report.exit_code
    spec = _activate_backend(report, run.resolved_spec(), args.backend)
    if spec is None:
        return report.exit_code
    loaded = _load_generator(report, run, spec, None, args.no_ema)
    if loaded is None:
        return report.exit_code

    from ganspec.run.images import image_grid, save_png, scatter
    from ganspec.run.sampling import generate

    generator, name, iteration = loaded
    fake = generate(spec, generator, args.n, seed=args.seed)
    picture = image_grid(fake, tuple(spec.data.scale or (0, 1))) if fake.ndim == 4 else scatter(fake)
    save_png(picture, Path(args.output))
    report.print(f"wrote {args.output}: {args.n} samples from {name} at iteration {iteration}")
    return report.exit_code


def cmd_eval(args) -> int:
    """Evaluate a run's generator (latest checkpoint, or --checkpoint) and record the scores in the run."""
    report = Report(data_on_stdout=args.format == "json")
    run = _open_run(report, args.run_dir)
    if run is None:
        return report.exit_code
    spec = _activate_backend(report, run.resolved_spec(), args.backend)
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
    from ganspec.run.sampling import Sampler

    generator, name, iteration = loaded
    try:  # a FeatureError (weights missing) is a SpecError too
        results, skipped = Evaluator(spec, _stored_spec_dir(run)).run(Sampler(spec, generator), metrics,
                                                                        args.samples)
    except SpecError as exc:
        report.add(exc.diagnostics)
        return report.exit_code
    document = {"run": str(run.path), "generator": name, "iteration": iteration, "results": results,
                "skipped": skipped}
    run.write_json(f"eval-{iteration:08d}.json", document)
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
    from ganspec.metrics.comparison import IncomparableResults, check_comparable, settings_of
    from ganspec.report.compare import evaluations, numeric_keys, plot_curves, run_labels
    from ganspec.report.runs import last_evaluations_table

    report = Report()
    runs = [_open_run(report, path) for path in args.run_dirs]
    if report.failed:
        return report.exit_code
    names = run_labels([r.path for r in runs])
    evals = {name: evaluations(r.path) for name, r in zip(names, runs)}
    try:
        check_comparable({name: settings_of(e) for name, e in evals.items()})
    except IncomparableResults as exc:
        report.error("E505", f"refusing to compare: {exc}")
        return report.exit_code
    keys = numeric_keys(evals)
    if keys:
        from ganspec.backend import MissingExtra, require

        try:
            require("plots", "drawing the metric curves (compare --plot)")
        except MissingExtra as exc:
            report.add(exc.diagnostics)
            return report.exit_code
    specs = [r.resolved_spec() for r in runs]
    edits = {name: diff_specs(specs[0], s) for name, s in zip(names[1:], specs[1:])}
    if keys:
        plot_curves(evals, keys, Path(args.plot))
    if args.format == "json":
        report.data({"runs": names, "last": {n: (e[-1] if e else {}) for n, e in evals.items()},
                     "diffs": {n: [e.to_json() for e in es] for n, es in edits.items()},
                     "plot": args.plot if keys else None})
        return report.exit_code
    report.print(last_evaluations_table(evals, keys))
    for name, es in edits.items():
        report.diff(es, names[0], name)
    if keys:
        report.print(f"metric curves: {args.plot}")
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
    pointer = run.path / "spec_dir"
    return Path(pointer.read_text().strip()) if pointer.exists() else run.path


def _activate_backend(report: Report, spec, flag):
    """Switch Keras to the command's backend; the spec with `train.backend` set to it, or None after
    reporting why it cannot run there (E501)."""
    from ganspec.backend import BackendError, MissingExtra, activate, choose

    name, source = choose(spec.train.backend, flag)
    try:
        activate(name)
    except (BackendError, MissingExtra) as exc:
        report.add(exc.diagnostics)
        return None
    if name != spec.train.backend:
        report.note(f"backend: {name} (from {source}; the spec says {spec.train.backend})")
        spec = spec.model_copy(update={"train": spec.train.model_copy(update={"backend": name})})
    return spec


def _load_generator(report: Report, run, spec, checkpoint_name, no_ema):
    """(generator with a checkpoint's weights, which weights, iteration), or None after reporting that
    there is no such checkpoint (E503)."""
    from ganspec.networks import build_generator

    folder = run.checkpoints / checkpoint_name if checkpoint_name else run.latest_checkpoint()
    if folder is None or not (folder / "state.json").exists():
        choices = ", ".join(p.name for p in run.list_checkpoints()) or "none yet"
        report.error("E503", f"no such checkpoint in {run.path} (checkpoints: {choices})")
        return None
    generator = build_generator(spec)
    name = "generator_ema" if (folder / "generator_ema.weights.h5").exists() and not no_ema else "generator"
    generator.load_weights(str(folder / f"{name}.weights.h5"))
    return generator, name, json.loads((folder / "state.json").read_text())["iteration"]
