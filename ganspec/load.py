"""One call from a path to a checked spec: parse, resolve, type, check."""

from __future__ import annotations

from pathlib import Path

from ganspec.checks import run_checks
from ganspec.diagnostics import has_errors
from ganspec.resolve import Resolved, resolve_file, resolve_text


def load(path: str | Path, overrides=None, checks: bool = True) -> Resolved:
    """Resolve a spec file and, when it types, run the semantic checks on it."""
    resolved = resolve_file(path, overrides)
    return _checked(resolved, Path(path).parent, checks)


def load_text(text: str, file: str = "<string>", overrides=None, checks: bool = True, spec_dir=None) -> Resolved:
    resolved = resolve_text(text, file, overrides)
    return _checked(resolved, spec_dir, checks)


def _checked(resolved: Resolved, spec_dir, checks: bool) -> Resolved:
    if checks and resolved.spec is not None and not has_errors(resolved.diagnostics):
        resolved.diagnostics.extend(run_checks(resolved.spec, spec_dir))
    return resolved
