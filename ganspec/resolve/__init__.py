"""Syntax tree -> typed spec, in two steps:

    evaluate.py  syntax tree -> raw values (raw.py): `let`, expressions, `extends`, `--set`
    to_ir.py     raw values -> pydantic IR nodes (ganspec.ir)

    resolve_file("specs/wgan_gp.gan") -> Resolved(spec, diagnostics, files)

No semantic checks here beyond typing; those live in ganspec.checks. A problem is
recorded as a diagnostic and stops only the part it is in (see abort.py).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from ganspec.diagnostics import Diagnostic, SpecError, error, has_errors
from ganspec.ir.base import Registry
from ganspec.ir.spec import Spec
from ganspec.resolve.abort import Abort
from ganspec.resolve.evaluate import Evaluator, apply_override, evaluate_document, load_document
from ganspec.resolve.to_ir import Typer
from ganspec.syntax import ast
from ganspec.syntax.parser import parse

__all__ = ["Resolved", "load_document", "parse_component", "resolve_document", "resolve_file", "resolve_text"]


@dataclass
class Resolved:
    """The result of resolving one spec file."""

    spec: Spec | None
    diagnostics: list[Diagnostic]
    files: list[str] = field(default_factory=list)  # the file and every file it extends
    document: ast.Document | None = None

    @property
    def ok(self) -> bool:
        return self.spec is not None and not has_errors(self.diagnostics)


def resolve_document(doc: ast.Document, overrides: list[tuple[str, str]] | None = None) -> Resolved:
    """Resolve a parsed document (following `extends`) into a typed Spec."""
    diags: list[Diagnostic] = []
    files = [doc.file]
    stack = (os.path.realpath(doc.file),) if doc.file not in ("<string>", "-") else ()
    name, block, env = evaluate_document(doc, diags, stack, files)
    for path, text in overrides or ():
        apply_override(block, path, text, diags, env)
    spec = None
    if not has_errors(diags):
        typer = Typer(diags)
        try:
            spec = typer.model(Spec, block, "", extra={"name": name})
        except Abort:
            pass  # reported
        else:
            spec.located(doc.experiment.name_span)
            typer.expansion(spec)
    return Resolved(spec, diags, files, doc)


def resolve_text(text: str, file: str = "<string>", overrides=None) -> Resolved:
    """Parse and resolve spec text; `file` names it in diagnostics and anchors `extends` paths."""
    try:
        doc = parse(text, file)
    except SpecError as exc:
        return Resolved(None, exc.diagnostics, [file])
    return resolve_document(doc, overrides)


def resolve_file(path: str | Path, overrides=None) -> Resolved:
    """Read, parse and resolve one .gan file. Never raises for a bad spec."""
    try:
        doc = load_document(path)
    except SpecError as exc:
        return Resolved(None, exc.diagnostics, [str(path)])
    return resolve_document(doc, overrides)


def parse_component(text: str, registry: Registry, where: str = "--metric"):
    """A component written on the command line (`fid(samples: 1000)`) -> (node or None, diagnostics)."""
    diags: list[Diagnostic] = []
    try:
        doc = parse(f"experiment cli {{ value {text} }}", where)
    except SpecError as exc:
        return None, exc.diagnostics
    stmt = doc.experiment.items[0] if len(doc.experiment.items) == 1 else None
    if not isinstance(stmt, ast.Setting) or isinstance(stmt.value, ast.Block):
        return None, [error("E204", f"{where}: expected one {registry.concept}, got {text!r}")]
    try:
        raw = Evaluator(diags).expr(stmt.value, {})
        return Typer(diags).component(registry, raw, where), diags
    except Abort:
        return None, diags
