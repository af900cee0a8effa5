"""The `ganspec` command. Heavy libraries (TensorFlow, JAX) are imported only by the
commands that train; validate, diff, fmt, explain and schema never import them."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from ganspec import __version__, exitcodes
from ganspec.diagnostics import Diagnostic, Severity, SpecError


def _console(stderr: bool = False):
    from rich.console import Console

    return Console(stderr=stderr, highlight=False, soft_wrap=True)


def collect_spec_paths(paths: list[str]) -> list[Path]:
    """Files as given, folders searched recursively for *.gan, in a stable order."""
    found: list[Path] = []
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            found.extend(sorted(p.rglob("*.gan")))
        else:
            found.append(p)
    return found


# ---- validate ------------------------------------------------------------------------------


def cmd_validate(args) -> int:
    from ganspec.load import load
    from ganspec.report.diagnostics import SourceCache, github_annotation, print_rich, to_json

    start = time.perf_counter()
    paths = collect_spec_paths(args.paths)
    results: list[tuple[str, list[Diagnostic]]] = []
    for path in paths:
        resolved = load(path, checks=True)
        results.append((str(path), [_via(d, str(path)) for d in resolved.diagnostics]))
    elapsed = time.perf_counter() - start

    errors = sum(d.severity is Severity.ERROR for _, ds in results for d in ds)
    warnings = sum(d.severity is Severity.WARNING for _, ds in results for d in ds)
    unreadable = any(d.code in ("E001",) for _, ds in results for d in ds)

    if args.format == "json":
        print(to_json(results))
    elif args.format == "github":
        for _, diags in results:
            for d in diags:
                if args.strict and d.severity is Severity.WARNING:
                    d = Diagnostic(d.code, Severity.ERROR, d.message, d.span, d.hint, d.notes)
                print(github_annotation(d))
        print(f"ganspec: {len(results)} file(s), {errors} error(s), {warnings} warning(s)")
    else:
        console = _console()
        sources = SourceCache()
        for file, diags in results:
            for d in diags:
                print_rich(console, d, sources)
        if not args.quiet:
            bad = sum(1 for _, ds in results if any(d.severity is Severity.ERROR for d in ds))
            status = "[bold red]invalid[/]" if errors else "[bold yellow]ok with warnings[/]" if warnings else "[bold green]ok[/]"
            console.print(f"{status}: {len(results)} file(s) checked in {elapsed * 1000:.0f} ms: "
                          f"{len(results) - bad} valid, {bad} invalid; {errors} error(s), {warnings} warning(s)")
    if not paths:
        return exitcodes.UNREADABLE
    if unreadable:
        return exitcodes.UNREADABLE
    if errors:
        return exitcodes.INVALID
    if warnings and args.strict:
        return exitcodes.WARNINGS_STRICT
    return exitcodes.OK


def _via(diag: Diagnostic, file: str) -> Diagnostic:
    """Say which spec was being checked when a finding points into a file it extends."""
    if diag.span is None or Path(diag.span.file) == Path(file):
        return diag
    import dataclasses

    return dataclasses.replace(diag, notes=diag.notes + (f"found while checking {file}, which extends it",))


# ---- diff ----------------------------------------------------------------------------------


def _load_or_report(path: str, console, overrides=None):
    """A resolved spec, or None after printing why not."""
    from ganspec.load import load
    from ganspec.report.diagnostics import SourceCache, print_rich

    resolved = load(path, overrides=overrides, checks=False)
    if resolved.spec is None or any(d.severity is Severity.ERROR for d in resolved.diagnostics):
        sources = SourceCache()
        for d in resolved.diagnostics:
            print_rich(console, d, sources)
        code = exitcodes.UNREADABLE if any(d.code == "E001" for d in resolved.diagnostics) else exitcodes.INVALID
        return None, code
    return resolved.spec, exitcodes.OK


def cmd_diff(args) -> int:
    from ganspec.diff import diff_specs

    console = _console()
    a, code_a = _load_or_report(args.a, console)
    b, code_b = _load_or_report(args.b, console)
    if a is None or b is None:
        return max(code_a, code_b)
    edits = diff_specs(a, b, metadata=args.metadata)
    if args.format == "json":
        print(json.dumps({"a": args.a, "b": args.b, "equal": not edits, "edits": [e.to_json() for e in edits]},
                         indent=2))
    else:
        print_diff(console, edits, args.a, args.b)
    return exitcodes.OK if not edits else exitcodes.DIFFERENT


def print_diff(console, edits, a_name: str, b_name: str) -> None:
    from rich.table import Table

    if not edits:
        console.print(f"[green]no differences[/]: {a_name} and {b_name} resolve to the same hyperparameters")
        return
    table = Table(title=f"{a_name} -> {b_name}", title_justify="left", show_lines=False)
    table.add_column("", width=1)
    table.add_column("path", style="cyan", no_wrap=True)
    table.add_column(Path(a_name).name, style="red")
    table.add_column(Path(b_name).name, style="green")
    marks = {"changed": "[yellow]~[/]", "added": "[green]+[/]", "removed": "[red]-[/]"}
    for e in edits:
        table.add_row(marks[e.op], e.path, _show(e.old) if e.op != "added" else "",
                      _show(e.new) if e.op != "removed" else "")
    console.print(table)
    console.print(f"{len(edits)} difference(s)")


def _show(value) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (list, dict)):
        return json.dumps(value)
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


# ---- fmt -----------------------------------------------------------------------------------


def cmd_fmt(args) -> int:
    from ganspec.report.diagnostics import SourceCache, print_rich
    from ganspec.syntax.fmt import format_text
    from ganspec.syntax.parser import decode

    console = _console(stderr=True)
    if args.paths == ["-"]:
        try:
            text = decode(sys.stdin.buffer.read(), "<stdin>")
            out = format_text(text, "<stdin>")
        except SpecError as exc:
            sources = SourceCache({"<stdin>": locals().get("text", "")})
            for d in exc.diagnostics:
                print_rich(console, d, sources)
            return exitcodes.INVALID
        sys.stdout.write(out)
        return exitcodes.OK if not args.check or out == text else exitcodes.DIFFERENT
    code = exitcodes.OK
    changed = []
    for path in collect_spec_paths(args.paths):
        try:
            data = path.read_bytes()
        except OSError as exc:
            console.print(f"[red]error[/]: cannot read {path}: {exc.strerror or exc}")
            code = max(code, exitcodes.UNREADABLE)
            continue
        try:
            text = decode(data, str(path))
            out = format_text(text, str(path))
        except SpecError as exc:
            sources = SourceCache()
            for d in exc.diagnostics:
                print_rich(console, d, sources)
            code = max(code, exitcodes.INVALID)
            continue
        if out != text:
            changed.append(path)
            if not args.check:
                _write_atomic(path, out)
    verb = "would reformat" if args.check else "reformatted"
    for path in changed:
        console.print(f"{verb} {path}")
    if args.check and changed and code == exitcodes.OK:
        code = exitcodes.DIFFERENT
    if not changed and code == exitcodes.OK:
        console.print("[green]all files formatted[/]")
    return code


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".fmt-tmp")
    tmp.write_text(text, encoding="utf-8", newline="\n")
    os.replace(tmp, path)


# ---- explain / schema ----------------------------------------------------------------------


def cmd_explain(args) -> int:
    from ganspec.explain import network_tables

    console = _console()
    from ganspec.load import load
    from ganspec.report.diagnostics import SourceCache, print_rich

    resolved = load(args.spec, overrides=_overrides(args), checks=True)
    sources = SourceCache()
    if resolved.spec is None or any(d.severity is Severity.ERROR for d in resolved.diagnostics):
        for d in resolved.diagnostics:
            print_rich(console, d, sources)
        return exitcodes.UNREADABLE if any(d.code == "E001" for d in resolved.diagnostics) else exitcodes.INVALID
    spec = resolved.spec
    tables = network_tables(spec, Path(args.spec).parent)
    if args.format == "json":
        print(json.dumps({"spec": spec.model_dump(mode="json"), "networks": [t.to_json() for t in tables],
                          "diagnostics": [d.to_json() for d in resolved.diagnostics]}, indent=2))
        return exitcodes.OK
    from ganspec.report.explain import print_explain

    print_explain(console, spec, tables, resolved.files)
    for d in resolved.diagnostics:
        print_rich(console, d, sources)
    return exitcodes.OK


def cmd_schema(args) -> int:
    from ganspec.ir.spec import schema

    print(json.dumps(schema(), indent=2))
    return exitcodes.OK


def _overrides(args):
    out = []
    for item in getattr(args, "set", None) or []:
        if "=" not in item:
            raise SystemExit(f"ganspec: --set expects path=value, got {item!r}")
        path, value = item.split("=", 1)
        out.append((path.strip(), value.strip()))
    return out


# ---- entry point ---------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ganspec", description="Declarative GAN experiments.")
    parser.add_argument("--version", action="version", version=f"ganspec {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("validate", help="check .gan specs (files or folders)")
    p.add_argument("paths", nargs="+", metavar="PATH")
    p.add_argument("--format", choices=("human", "json", "github"), default="human")
    p.add_argument("--strict", action="store_true", help="treat warnings as errors (exit 1)")
    p.add_argument("-q", "--quiet", action="store_true", help="no summary line")
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("diff", help="hyperparameters that differ between two resolved specs")
    p.add_argument("a")
    p.add_argument("b")
    p.add_argument("--format", choices=("human", "json"), default="human")
    p.add_argument("--metadata", action="store_true", help="also compare description and tags")
    p.set_defaults(func=cmd_diff)

    p = sub.add_parser("fmt", help="format .gan files in place (or check that they are formatted)")
    p.add_argument("paths", nargs="+", metavar="PATH", help="files, folders, or - for stdin")
    p.add_argument("--check", action="store_true", help="change nothing; exit 1 if a file would change")
    p.set_defaults(func=cmd_fmt)

    p = sub.add_parser("explain", help="the resolved spec and per-layer shapes and parameter counts")
    p.add_argument("spec")
    p.add_argument("--format", choices=("human", "json"), default="human")
    p.add_argument("--set", action="append", metavar="PATH=VALUE", help="override a value")
    p.set_defaults(func=cmd_explain)

    p = sub.add_parser("schema", help="JSON Schema of a resolved spec")
    p.set_defaults(func=cmd_schema)

    for register in _extra_commands():
        register(sub)
    return parser


def _extra_commands():
    """Commands that live with their stage (run, sample, eval), registered lazily."""
    registrars = []
    try:
        from ganspec.run.command import register as run_register
    except ImportError:
        return registrars
    registrars.append(run_register)
    return registrars


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return exitcodes.INTERRUPTED
    except SystemExit:
        raise
    except Exception as exc:  # never show a traceback for a user error; say it is ours
        import traceback

        if os.environ.get("GANSPEC_DEBUG"):
            traceback.print_exc()
        print(f"ganspec: internal error: {type(exc).__name__}: {exc}\n"
              "This is a bug in ganspec; set GANSPEC_DEBUG=1 for the traceback.", file=sys.stderr)
        return exitcodes.INTERNAL_ERROR


if __name__ == "__main__":
    sys.exit(main())
