"""The commands that read specs: validate, diff, fmt, explain, schema.

They never import TensorFlow, JAX or Keras (tests/test_no_tensorflow.py) and keep start-up
fast (bench/validate_speed.py): heavier modules are imported inside the command that needs them.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from pathlib import Path

from ganspec import exitcodes
from ganspec.commands.inputs import collect_spec_paths, load_spec, parse_overrides
from ganspec.diagnostics import Diagnostic, Span, SpecError, error
from ganspec.report.report import Report


def cmd_validate(args) -> int:
    """Check specs (files or folders of *.gan) and report every finding."""
    from ganspec.load import load

    start = time.perf_counter()
    report = Report(args.format, strict=args.strict)
    paths = collect_spec_paths(args.paths)
    if not paths:  # only folders were given, and none holds a spec
        for raw in args.paths:
            report.add_file(raw, [error("E001", f"no .gan files in {raw}")])
    for path in paths:
        report.add_file(str(path), [_via(d, str(path)) for d in load(path, checks=True).diagnostics])
    report.finish_files(time.perf_counter() - start, quiet=args.quiet)
    return report.exit_code


def _via(diag: Diagnostic, file: str) -> Diagnostic:
    """Say which spec was being checked when a finding points into a file it extends."""
    if diag.span is None or Path(diag.span.file) == Path(file):
        return diag
    return dataclasses.replace(diag, notes=diag.notes + (f"found while checking {file}, which extends it",))


def cmd_diff(args) -> int:
    """The hyperparameters that differ between two resolved specs."""
    from ganspec.diff import diff_specs

    report = Report()
    a = load_spec(report, args.a, checks=False)
    b = load_spec(report, args.b, checks=False)
    if a is None or b is None:
        return report.exit_code
    edits = diff_specs(a.spec, b.spec, metadata=args.metadata)
    report.different = bool(edits)
    if args.format == "json":
        report.data({"a": args.a, "b": args.b, "equal": not edits, "edits": [e.to_json() for e in edits]})
    else:
        report.diff(edits, args.a, args.b)
    return report.exit_code


def cmd_fmt(args) -> int:
    """Format specs in place, or with --check only say which would change; `-` formats stdin."""
    report = Report(stderr=True)  # standard output may be the formatted text
    if args.paths == ["-"]:
        _format_stdin(report, args.check)
        return report.exit_code
    changed = []
    for path in collect_spec_paths(args.paths):
        text, out = _format_file(report, path)
        if out is not None and out != text:
            changed.append(path)
            if not args.check:
                _write_atomic(path, out)
    verb = "would reformat" if args.check else "reformatted"
    for path in changed:
        report.print(f"{verb} {path}")
    report.different = args.check and bool(changed)
    if not changed and not report.failed:
        report.print("[green]all files formatted[/]")
    return report.exit_code


def _format_stdin(report: Report, check: bool) -> None:
    import sys

    from ganspec.syntax.fmt import format_text
    from ganspec.syntax.parser import decode

    text = ""
    try:
        text = decode(sys.stdin.buffer.read(), "<stdin>")
        out = format_text(text, "<stdin>")
    except SpecError as exc:
        report.sources.remember("<stdin>", text)
        report.add(exc.diagnostics)
        return
    report.write(out)
    report.different = check and out != text


def _format_file(report: Report, path: Path) -> tuple[str | None, str | None]:
    """(the file's text, its formatted text), or Nones after adding to the report why not."""
    from ganspec.syntax.fmt import format_text
    from ganspec.syntax.parser import decode

    try:
        data = path.read_bytes()
    except OSError as exc:
        report.add(error("E001", f"cannot read {path}: {exc.strerror or exc}", Span(str(path), 1, 1, 1, 1)))
        return None, None
    try:
        text = decode(data, str(path))
        return text, format_text(text, str(path))
    except SpecError as exc:
        report.add(exc.diagnostics)
        return None, None


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".fmt-tmp")
    tmp.write_text(text, encoding="utf-8", newline="\n")
    os.replace(tmp, path)


def cmd_explain(args) -> int:
    """The resolved spec and, per network, each layer's output shape and parameter count."""
    from ganspec.explain import network_tables

    report = Report()
    overrides = parse_overrides(report, args.set)
    if report.failed:
        return report.exit_code
    resolved = load_spec(report, args.spec, overrides=overrides, checks=True)
    if resolved is None:
        return report.exit_code
    spec = resolved.spec
    tables = network_tables(spec, Path(args.spec).parent)
    if args.format == "json":
        report.data({"spec": spec.model_dump(mode="json"), "networks": [t.to_json() for t in tables],
                     "diagnostics": [d.to_json() for d in resolved.diagnostics]})
        return report.exit_code
    from ganspec.report.explain import print_explain

    print_explain(report.console, spec, tables, resolved.files)
    report.add(resolved.diagnostics)
    return report.exit_code


def cmd_schema(args) -> int:
    """The JSON Schema of a resolved spec."""
    from ganspec.ir.spec import schema

    print(json.dumps(schema(), indent=2))
    return exitcodes.OK
