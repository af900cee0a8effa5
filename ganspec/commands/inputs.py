"""What commands are given: spec paths, `--set` overrides, and specs loaded into a `Report`."""

from __future__ import annotations

from pathlib import Path

from ganspec.diagnostics import error, has_errors


def collect_spec_paths(paths: list[str], exclude: list[str] | tuple = ()) -> list[Path]:
    """Files as given, folders searched recursively for *.gan, in a stable order. A folder walk skips
    hidden folders, run directories (a `spec.gan` copy beside `resolved.json`) and whatever matches an
    `exclude` pattern (a glob on the path below the folder, or on one name); files named outright are
    always taken."""
    found: list[Path] = []
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            found.extend(_walk(p, tuple(exclude)))
        else:
            found.append(p)
    return found


def _walk(root: Path, exclude: tuple) -> list[Path]:
    import fnmatch
    import os

    def excluded(relative: str, name: str) -> bool:
        return any(fnmatch.fnmatch(relative, pattern) or fnmatch.fnmatch(name, pattern) for pattern in exclude)

    found = []
    for folder, dirs, files in os.walk(root):
        here = Path(folder)
        if here != root and (here / "resolved.json").exists():
            dirs[:] = []
            continue  # a run directory: its spec.gan is a copy
        dirs[:] = sorted(d for d in dirs if not d.startswith(".")
                         and not excluded((here / d).relative_to(root).as_posix(), d))
        for name in sorted(files):
            relative = (here / name).relative_to(root).as_posix()
            if name.endswith(".gan") and not excluded(relative, name):
                found.append(here / name)
    return sorted(found)


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
