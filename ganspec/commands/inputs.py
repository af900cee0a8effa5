"""What commands are given: spec paths, `--set` overrides, and specs loaded into a `Report`."""

from __future__ import annotations

from pathlib import Path

from ganspec.diagnostics import error, has_errors


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


def parse_overrides(report, items: list[str] | None) -> list[tuple[str, str]]:
    """`--set path=value` items as (path, value) pairs; a malformed one goes to the report (E105)."""
    out = []
    for item in items or []:
        if "=" not in item:
            report.add(error("E105", f"--set {item}: expected `path=value`"))
            continue
        path, value = item.split("=", 1)
        out.append((path.strip(), value.strip()))
    return out


def load_spec(report, path: str, overrides=None, checks: bool = True):
    """The resolved spec of `path`, or None after adding to the report why it has none.

    Warnings of a spec that resolves are left to the caller, which decides where they show."""
    from ganspec.load import load

    resolved = load(path, overrides=overrides, checks=checks)
    if resolved.spec is None or has_errors(resolved.diagnostics):
        report.add(resolved.diagnostics)
        return None
    return resolved
