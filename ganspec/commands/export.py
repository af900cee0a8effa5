"""`ganspec export RUN_DIR`: a run's generator as a .keras file, a TensorFlow SavedModel and an ONNX
model (those this installation can write), with export.json and README.txt saying how to sample from
them without ganspec. The formats live in `ganspec.run.export`; Keras is imported only when it runs."""

from __future__ import annotations

from pathlib import Path

from ganspec.commands.training import _activate_backend, _load_generator, _open_run
from ganspec.diagnostics import SpecError
from ganspec.report.report import Report
from ganspec.run.export import FORMATS



def cmd_export(args) -> int:
    """Export a run's generator in the formats asked for (or all this installation writes)."""
    report = Report()
    run = _open_run(report, args.run_dir)
    if run is None:
        return report.exit_code
    folder = Path(args.output) if args.output else run.path / "export"
    if folder.exists() and not folder.is_dir():
        report.error("E500", f"-o {folder}: not a folder", hint="name a folder to write the files into")
        return report.exit_code

    from ganspec.backend import choose
    from ganspec.run import export as exporting

    trained = run.resolved_spec()
    asked = list(dict.fromkeys(args.formats or ()))
    # What the backend about to run can write is known before it starts (seconds): a missing extra is said now.
    chosen, skipped = _formats(report, exporting, asked, choose(trained.train.backend, args.backend)[0])
    if report.failed:
        return report.exit_code
    spec = _activate_backend(report, trained, args.backend)
    if spec is None:
        return report.exit_code
    spec = exporting.float32_spec(spec)
    loaded = _load_generator(report, run, spec, args.checkpoint, args.no_ema)
    if loaded is None:
        return report.exit_code
    generator, which, iteration = loaded
    export, notes = exporting.prepare(spec, generator, which, run.checkpoint(args.checkpoint).name, iteration,
                                      trained.train.precision)
    for note in notes:
        report.note(f"note: {note}")

    folder.mkdir(parents=True, exist_ok=True)
    exporting.clear(folder)
    written = {}
    for name in chosen:
        try:
            written[name] = exporting.write(export, name, folder)
        except SpecError as exc:
            if asked:
                report.add(exc.diagnostics)
            else:
                skipped[name] = exc.diagnostics[0].message
    if not written:
        if not report.failed:
            report.error("E509", "nothing was exported: " + "; ".join(f"{k}: {v}" for k, v in skipped.items()))
        return report.exit_code
    document = exporting.manifest(export, run.path, written, skipped)
    exporting.write_manifest(folder, document)
    _print_result(report, document, folder)
    return report.exit_code


def _formats(report: Report, exporting, asked: list[str], backend: str) -> tuple[list[str], dict[str, str]]:
    """(formats to write, {format left out: why}): a format asked for with --format that cannot be
    written here is an error (E507, naming the extra to install); by default it is left out."""
    chosen, skipped = [], {}
    for name in asked or tuple(FORMATS):
        missing = exporting.unavailable(name, backend)
        if missing is None:
            chosen.append(name)
        elif asked:
            report.add(missing)
        else:
            skipped[name] = f"{missing.message}; {missing.hint}" if missing.hint else missing.message
    return chosen, skipped


def _print_result(report: Report, document: dict, folder: Path) -> None:
    from rich.table import Table

    table = Table(title=f"{folder}: {document['generator']} of {document['spec']} at iteration "
                        f"{document['iteration']} ({document['checkpoint']})", title_justify="left")
    for column in ("format", "file", "largest difference from the generator"):
        table.add_column(column)
    for name, entry in document["files"].items():
        table.add_row(name, entry["path"], f"{entry['max_abs_difference']:.2g}")
    report.print(table)
    for name, reason in document["skipped"].items():
        report.print(f"[yellow]skipped {name}[/]: {reason}")
    signature = ", ".join(f"{i['name']} {i['dtype']}{i['shape']}" for i in document["inputs"])
    report.print(f"inputs: {signature} -> {document['output']['name']}; how to sample without ganspec: "
                 f"{folder / 'README.txt'} (facts for programs: export.json)")
