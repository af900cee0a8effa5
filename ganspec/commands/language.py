"""The commands that read specs: validate, diff, fmt, explain, schema.

They never import TensorFlow, JAX or Keras (tests/test_no_tensorflow.py) and keep start-up
fast (bench/validate_speed.py): heavier modules are imported inside the command that needs them.
"""

from __future__ import annotations

import dataclasses
import os
import time
from pathlib import Path

from ganspec import exitcodes
from ganspec.commands.inputs import collect_spec_paths, load_spec, parse_overrides
from ganspec.diagnostics import Diagnostic, Severity, SpecError
from ganspec.report.report import Report


def _spare_the_collector(*modules: str):
    """Run the command with the garbage collector looking only at objects made while it runs.

    The `modules` the command needs are imported first, with the collector paused: their classes
    and tables (pydantic model classes and validators, the parse tables: some hundred thousand
    objects that live as long as the process) would only be walked again and again while they are
    built. Everything imported is then frozen for the duration, so that Python's periodic full
    collections do not walk it either; afterwards the collector sees it as before. At interpreter
    exit the same objects are frozen for good: the last collection over them would only delay the
    exit, since the operating system reclaims the memory either way. Together about a fifth of a
    `validate` run."""
    import functools

    def decorate(command):
        @functools.wraps(command)
        def run(args):
            import atexit
            import gc
            import importlib

            atexit.unregister(gc.freeze)  # registered once, however often a command runs in this process
            atexit.register(gc.freeze)
            if gc.get_freeze_count():  # objects frozen by someone else: leave the collector as they set it
                return command(args)
            enabled = gc.isenabled()
            gc.disable()
            try:
                for module in modules:
                    importlib.import_module(module)
            finally:
                if enabled:
                    gc.enable()
            gc.freeze()
            try:
                return command(args)
            finally:
                gc.unfreeze()

        return run

    return decorate


@_spare_the_collector("ganspec.load")
def cmd_validate(args) -> int:
    """Check specs (files or folders of *.gan) and report every finding."""
    from ganspec.load import load

    start = time.perf_counter()
    report = Report(args.format, strict=args.strict)
    paths = collect_spec_paths(args.paths, args.exclude, git_ignore=not args.no_ignore)
    if not paths:  # only folders were given, and none holds a spec
        return _nothing_to_validate(report, args.paths)
    seen: set = set()  # a warning in a file that several specs extend is reported once, for the first
    real: dict[str, Path] = {}  # file name in a span -> its resolved path, looked up once
    for path in paths:
        if str(path) == "-":  # standard input; relative paths (extends, data) from the current folder
            report.add_file("<stdin>", _stdin_diagnostics())
            continue
        found = []
        for diag in load(path, checks=True).diagnostics:
            if diag.span is not None and diag.severity != Severity.ERROR:  # an error keeps its spec invalid
                file = diag.span.file
                if file not in real:
                    real[file] = Path(file).resolve()
                place = (diag.code, diag.message, real[file], diag.span.line, diag.span.column)
                if place in seen:
                    continue
                seen.add(place)
            found.append(_via(diag, str(path)))
        report.add_file(str(path), found)
    report.finish_files(time.perf_counter() - start, quiet=args.quiet)
    return report.exit_code


def _nothing_to_validate(report: Report, folders: list[str]) -> int:
    """Folders without a spec: a usage error (exit 2), not a pass, so that a CI job pointed at the wrong
    or an emptied folder fails; and no summary claiming that files were checked."""
    where = ", ".join(folders)
    report.error("E500", f"no .gan files found under {where}",
                 hint="hidden folders, run directories, git-ignored files (see --no-ignore) and --exclude "
                      "matches are skipped; name a file to check it anyway")
    if report.format == "json":
        report.data({"files": [], "summary": {"files": 0, "errors": 1, "warnings": 0},
                     "diagnostics": [d.to_json() for d in report.diagnostics]})
    elif report.format == "github":
        print("ganspec: 0 file(s), 1 error(s), 0 warning(s)")
    return report.exit_code


def _stdin_diagnostics() -> list[Diagnostic]:
    import sys

    from ganspec.load import load_text
    from ganspec.syntax.parser import decode, read_stream

    try:
        text = decode(read_stream(sys.stdin.buffer), "<stdin>")
    except SpecError as exc:
        return list(exc.diagnostics)
    return list(load_text(text, file="<stdin>", checks=True, spec_dir=Path.cwd()).diagnostics)


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
    check = args.check or args.diff
    changed = []
    for path in collect_spec_paths(args.paths, args.exclude, git_ignore=not args.no_ignore):
        text, out = _format_file(report, path)
        if out is not None and out != text:
            changed.append(path)
            if args.diff:  # the unified diff on standard output, the file unchanged
                import difflib
                import sys

                sys.stdout.writelines(difflib.unified_diff(text.splitlines(True), out.splitlines(True),
                                                           f"{path}", f"{path} (formatted)"))
            elif not check:
                _write_atomic(path, out)
    verb = "would reformat" if check else "reformatted"
    for path in changed:
        report.print(f"{verb} {path}")
    report.different = check and bool(changed)
    if not changed and not report.failed:
        report.print("[green]all files formatted[/]")
    return report.exit_code


def _format_stdin(report: Report, check: bool) -> None:
    import sys

    from ganspec.syntax.fmt import format_text
    from ganspec.syntax.parser import decode, read_stream

    text = ""
    try:
        text = decode(read_stream(sys.stdin.buffer), "<stdin>")
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
    from ganspec.syntax.parser import decode, read_source

    try:
        text = decode(read_source(path), str(path))
        return text, format_text(text, str(path))
    except SpecError as exc:
        report.add(exc.diagnostics)
        return None, None


def _write_atomic(path: Path, text: str) -> None:
    """Replace a file's text at once; a symlink keeps pointing at its target, which is what changes,
    and the file keeps its permission bits."""
    target = Path(os.path.realpath(path))
    mode = target.stat().st_mode & 0o7777
    tmp = target.with_name(target.name + ".fmt-tmp")
    tmp.write_text(text, encoding="utf-8", newline="\n")
    os.chmod(tmp, mode)
    os.replace(tmp, target)


def cmd_explain(args) -> int:
    """The resolved spec and, per network, each layer's output shape and parameter count."""
    from ganspec.explain import memory_estimate, network_tables

    report = Report()
    overrides = parse_overrides(report, args.set)
    if report.failed:
        return report.exit_code
    resolved = load_spec(report, args.spec, overrides=overrides, checks=True)
    if resolved is None:
        return report.exit_code
    spec = resolved.spec
    tables = network_tables(spec, Path(args.spec).parent)
    memory = memory_estimate(spec, tables, Path(args.spec).parent)
    if args.format == "json":
        report.data({"spec": spec.model_dump(mode="json"), "networks": [t.to_json() for t in tables],
                     "memory": memory.to_json() if memory is not None else None,
                     "diagnostics": [d.to_json() for d in resolved.diagnostics]})
        return report.exit_code
    from ganspec.report.explain import print_explain

    print_explain(report.console, spec, tables, resolved.files, memory)
    report.add(resolved.diagnostics)
    return report.exit_code


def cmd_schema(args) -> int:
    """The JSON Schema of a resolved spec."""
    import json  # here, not at the top: `validate` never needs it

    from ganspec.ir.spec import schema

    print(json.dumps(schema(), indent=2))
    return exitcodes.OK
