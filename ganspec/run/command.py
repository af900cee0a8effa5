"""`ganspec run` and `ganspec sample`. This module is imported by the CLI to register the
commands, so it must stay light: TensorFlow is imported only when a command runs."""

from __future__ import annotations

import json
from pathlib import Path

from ganspec import exitcodes
from ganspec.diagnostics import Severity, SpecError


def register(sub) -> None:
    p = sub.add_parser("run", help="train a spec (or resume a run directory)")
    p.add_argument("spec", nargs="?", help="the .gan file (optional with --resume)")
    p.add_argument("--set", action="append", metavar="PATH=VALUE", help="override a value, e.g. train.batch=32")
    p.add_argument("--out", metavar="DIR", help="parent folder of the run directory (default ./runs)")
    p.add_argument("--iterations", type=int, metavar="N", help="generator iterations (overrides the spec)")
    p.add_argument("--resume", metavar="RUN_DIR", help="continue a run from its latest checkpoint")
    p.add_argument("--force", action="store_true", help="resume even though the spec changed")
    p.add_argument("--plain", action="store_true", help="plain log lines instead of the live display")
    _backend_argument(p)
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("sample", help="write a grid of samples from a run's generator")
    p.add_argument("run_dir")
    p.add_argument("-n", type=int, default=64, help="number of samples (default 64)")
    p.add_argument("-o", "--output", default="samples.png", help="PNG file to write")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-ema", action="store_true", help="use the raw generator even if an EMA one exists")
    _backend_argument(p)
    p.set_defaults(func=cmd_sample)

    p = sub.add_parser("eval", help="evaluate a run's generator (latest checkpoint, or --checkpoint)")
    p.add_argument("run_dir")
    p.add_argument("--metric", action="append", metavar="METRIC", help="e.g. fid or 'kid(samples: 2000)'")
    p.add_argument("--samples", type=int, metavar="N", help="samples per metric (overrides the spec)")
    p.add_argument("--checkpoint", metavar="NAME", help="a checkpoint folder name, e.g. ckpt-00001000")
    p.add_argument("--no-ema", action="store_true", help="use the raw generator even if an EMA one exists")
    p.add_argument("--format", choices=("human", "json"), default="human")
    _backend_argument(p)
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("compare", help="runs side by side: scores, spec differences, metric curves")
    p.add_argument("run_dirs", nargs="+", metavar="RUN_DIR")
    p.add_argument("--plot", default="compare.png", help="PNG of metric curves (default compare.png)")
    p.add_argument("--format", choices=("human", "json"), default="human")
    p.set_defaults(func=cmd_compare)


def _backend_argument(parser) -> None:
    parser.add_argument("--backend", choices=("tensorflow", "jax"),
                        help="Keras backend (default: $KERAS_BACKEND if it names one, else the spec's train.backend)")


def _activate_backend(console, spec, flag, notes=None):
    """Switch Keras to the run's backend; returns (spec with train.backend set to it, None) or
    (None, exit code) after saying why it cannot. `notes`: where to say which backend (default console)."""
    from ganspec.backend import BackendError, activate, choose

    name, source = choose(spec.train.backend, flag)
    try:
        activate(name)
    except BackendError as exc:
        console.print(f"[red]error[/]: {exc.message}" + (f"\n  hint: {exc.hint}" if exc.hint else ""))
        return None, exitcodes.INVALID
    if name != spec.train.backend:
        (notes or console).print(f"backend: {name} (from {source}; the spec says {spec.train.backend})")
        spec = spec.model_copy(update={"train": spec.train.model_copy(update={"backend": name})})
    return spec, None


def _print_diagnostics(console, diagnostics) -> int:
    from ganspec.report.diagnostics import SourceCache, print_rich

    sources = SourceCache()
    for d in diagnostics:
        print_rich(console, d, sources)
    if any(d.code == "E001" for d in diagnostics if d.severity is Severity.ERROR):
        return exitcodes.UNREADABLE
    return exitcodes.INVALID


def cmd_run(args) -> int:
    from rich.console import Console

    from ganspec.cli import _overrides, print_diff
    from ganspec.diff import diff_specs
    from ganspec.load import load
    from ganspec.run.display import make_display
    from ganspec.run.rundir import RunDir, bookkeeping_only

    console = Console(highlight=False, soft_wrap=True)
    overrides = _overrides(args)
    if args.iterations is not None:
        overrides.append(("train.iterations", str(args.iterations)))
    run = None
    if args.resume:
        run = _open_run(console, args.resume)
        if run is None:
            return exitcodes.UNREADABLE

    if args.spec:
        resolved = load(args.spec, overrides=overrides, checks=True)
        errors = [d for d in resolved.diagnostics if d.severity is Severity.ERROR]
        if resolved.spec is None or errors:
            return _print_diagnostics(console, resolved.diagnostics)
        spec, files, spec_dir = resolved.spec, resolved.files, Path(args.spec).parent
        for d in resolved.diagnostics:
            _print_diagnostics(console, [d])
    elif run is not None:
        if args.set:
            console.print("[red]error[/]: --set needs the spec: `ganspec run SPEC --resume RUN_DIR --set ...`")
            return exitcodes.INVALID
        spec, files = run.resolved_spec(), None
        spec_dir = _stored_spec_dir(run)
        if args.iterations is not None:
            train = spec.train.model_copy(update={"iterations": args.iterations})
            spec = spec.model_copy(update={"train": train})
    else:
        console.print("[red]error[/]: give a spec to run, or --resume RUN_DIR")
        return exitcodes.INVALID

    spec, failed = _activate_backend(console, spec, args.backend)
    if failed is not None:
        return failed

    if run is not None:
        stored = run.resolved_spec()
        edits = diff_specs(stored, spec)
        if edits and not bookkeeping_only(edits) and not args.force:
            console.print(f"[red]refusing to resume[/]: the spec differs from the one {run.path} was started with")
            print_diff(console, edits, "run", args.spec or "overrides")
            console.print("use --force to resume anyway, or start a new run")
            return exitcodes.INVALID
        if edits:
            run.write_json("resolved.json", spec.model_dump(mode="json"))
    else:
        run = RunDir.create(spec, files, args.out)
        (run.path / "spec_dir").write_text(str(Path(spec_dir).resolve()) + "\n")

    from ganspec.run.trainer import Trainer, summarize

    display = make_display(force_plain=args.plain)
    trainer = Trainer(spec, run, spec_dir, display)
    try:
        trainer.prepare()
    except SpecError as exc:
        return _print_diagnostics(console, exc.diagnostics)
    if args.resume:
        if trainer.resume():
            console.print(f"resuming {run.path} at iteration {trainer.iteration}")
        else:
            console.print(f"{run.path} has no checkpoint yet: starting from the beginning")
    outcome = trainer.train(spec.train.iterations)
    if outcome.message:
        console.print(outcome.message)
    if outcome.code == exitcodes.OK:
        _print_summary(console, summarize(trainer.history, trainer.evaluations, outcome.iteration))
    console.print(f"run directory: [bold]{run.path}[/]")
    return outcome.code


def _stored_spec_dir(run) -> Path:
    pointer = run.path / "spec_dir"
    return Path(pointer.read_text().strip()) if pointer.exists() else run.path


def _print_summary(console, summary) -> None:
    from rich.table import Table

    table = Table(title=f"summary after {summary['iterations']} iterations", title_justify="left")
    table.add_column("value", style="cyan")
    table.add_column("last", justify="right")
    table.add_column("best", justify="right")
    table.add_column("best at", justify="right")
    for key, value in summary["last"].items():
        table.add_row(key, f"{value:.4g}", "", "")
    for key, m in summary["metrics"].items():
        table.add_row(key, f"{m['last']:.4g}", f"{m['best']:.4g}", str(m["best_at"]))
    console.print(table)


def cmd_sample(args) -> int:
    from rich.console import Console

    console = Console(highlight=False, soft_wrap=True)
    run = _open_run(console, args.run_dir)
    if run is None:
        return exitcodes.UNREADABLE
    spec, failed = _activate_backend(console, run.resolved_spec(), args.backend)
    if failed is not None:
        return failed

    from ganspec.run.images import image_grid, save_png, scatter
    from ganspec.run.sampling import generate

    loaded = _load_generator(console, run, spec, None, args.no_ema)
    if loaded is None:
        return exitcodes.UNREADABLE
    generator, name, iteration = loaded
    fake = generate(spec, generator, args.n, seed=args.seed)
    picture = image_grid(fake, tuple(spec.data.scale or (0, 1))) if fake.ndim == 4 else scatter(fake)
    save_png(picture, Path(args.output))
    console.print(f"wrote {args.output}: {args.n} samples from {name} at iteration {iteration}")
    return exitcodes.OK


def _load_generator(console, run, spec, checkpoint_name, no_ema):
    """(generator with a checkpoint's weights, which weights, iteration), or None after saying why."""
    from ganspec.networks import build_generator

    folder = run.checkpoints / checkpoint_name if checkpoint_name else run.latest_checkpoint()
    if folder is None or not (folder / "state.json").exists():
        choices = ", ".join(p.name for p in run.list_checkpoints()) or "none yet"
        console.print(f"[red]error[/]: no such checkpoint in {run.path} (checkpoints: {choices})")
        return None
    generator = build_generator(spec)
    name = "generator_ema" if (folder / "generator_ema.weights.h5").exists() and not no_ema else "generator"
    generator.load_weights(str(folder / f"{name}.weights.h5"))
    return generator, name, json.loads((folder / "state.json").read_text())["iteration"]


def _open_run(console, path):
    from ganspec.run.rundir import RunDir

    run = RunDir(path)
    if not (run.path / "resolved.json").exists():
        console.print(f"[red]error[/]: {run.path} is not a ganspec run directory (no resolved.json)")
        return None
    return run


def cmd_eval(args) -> int:
    from rich.console import Console
    from rich.table import Table

    from ganspec.metrics.evaluate import Evaluator
    from ganspec.run.sampling import Sampler
    from ganspec.ir.components import METRICS
    from ganspec.ir.resolve import parse_component

    console = Console(highlight=False, soft_wrap=True)
    run = _open_run(console, args.run_dir)
    if run is None:
        return exitcodes.UNREADABLE
    notes = Console(stderr=True, highlight=False) if args.format == "json" else console  # stdout is JSON
    spec, failed = _activate_backend(console, run.resolved_spec(), args.backend, notes)
    if failed is not None:
        return failed
    override = None
    if args.metric:
        override = []
        for text in args.metric:
            node, diags = parse_component(text, METRICS)
            if node is None:
                for d in diags:
                    console.print(f"[red]error[/]: --metric {text}: {d.message}" + (f" ({d.hint})" if d.hint else ""))
                return exitcodes.INVALID
            override.append(node)
    loaded = _load_generator(console, run, spec, args.checkpoint, args.no_ema)
    if loaded is None:
        return exitcodes.UNREADABLE
    generator, name, iteration = loaded
    evaluator = Evaluator(spec, _stored_spec_dir(run))
    from ganspec.metrics.features import FeatureError

    try:
        results, skipped = evaluator.run(Sampler(spec, generator), override, args.samples)
    except SpecError as exc:
        return _print_diagnostics(console, exc.diagnostics)
    except FeatureError as exc:
        console.print(f"[red]error[/]: {exc.message}" + (f"\n  hint: {exc.hint}" if exc.hint else ""))
        return exitcodes.INVALID
    report = {"run": str(run.path), "generator": name, "iteration": iteration, "results": results,
              "skipped": skipped}
    run.write_json(f"eval-{iteration:08d}.json", report)
    if args.format == "json":
        print(json.dumps(report, indent=2))
        return exitcodes.OK
    table = Table(title=f"{run.path.name}: {name} at iteration {iteration}", title_justify="left")
    table.add_column("metric", style="cyan")
    table.add_column("value", justify="right")
    from ganspec.metrics import shown

    for key, value in shown(results).items():
        table.add_row(key, f"{value:.4g}" if isinstance(value, float) else str(value))
    console.print(table)
    if skipped:
        console.print(f"not available in this version: {', '.join(skipped)}")
    return exitcodes.OK


def cmd_compare(args) -> int:
    from rich.console import Console
    from rich.table import Table

    from ganspec.cli import print_diff
    from ganspec.diff import diff_specs
    from ganspec.report.compare import (
        IncomparableRuns,
        check_comparable,
        evaluations,
        numeric_keys,
        plot_curves,
        run_labels,
        settings_of,
    )

    console = Console(highlight=False, soft_wrap=True)
    runs = []
    for path in args.run_dirs:
        run = _open_run(console, path)
        if run is None:
            return exitcodes.UNREADABLE
        runs.append(run)
    names = run_labels([r.path for r in runs])
    evals = {name: evaluations(r.path) for name, r in zip(names, runs)}
    try:
        check_comparable({name: settings_of(e) for name, e in evals.items()})
    except IncomparableRuns as exc:
        console.print(f"[red]refusing to compare[/]: {exc}")
        return exitcodes.INVALID
    keys = numeric_keys(evals)
    specs = [r.resolved_spec() for r in runs]
    diffs = {name: [e.to_json() for e in diff_specs(specs[0], s)] for name, s in zip(names[1:], specs[1:])}
    if keys:
        plot_curves(evals, keys, Path(args.plot))
    if args.format == "json":
        last = {n: (e[-1] if e else {}) for n, e in evals.items()}
        print(json.dumps({"runs": names, "last": last, "diffs": diffs, "plot": args.plot if keys else None},
                         indent=2))
        return exitcodes.OK
    table = Table(title="last evaluation of each run", title_justify="left")
    table.add_column("run", style="cyan")
    table.add_column("iteration", justify="right")
    for key in keys:
        table.add_column(key, justify="right")
    for name, e in evals.items():
        last = e[-1] if e else {}
        table.add_row(name, str(last.get("iteration", "-")),
                      *[f"{last[k]:.4g}" if isinstance(last.get(k), (int, float)) else "-" for k in keys])
    console.print(table)
    for name, spec in zip(names[1:], specs[1:]):
        print_diff(console, diff_specs(specs[0], spec), names[0], name)
    if keys:
        console.print(f"metric curves: {args.plot}")
    return exitcodes.OK
