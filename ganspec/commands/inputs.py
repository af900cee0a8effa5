"""What commands are given: spec paths, `--set` overrides, and specs loaded into a `Report`."""

from __future__ import annotations

from pathlib import Path

from ganspec.diagnostics import error, has_errors


def collect_spec_paths(paths: list[str], exclude: list[str] | tuple = (), git_ignore: bool = True) -> list[Path]:
    """Files as given, folders searched recursively for *.gan, in a stable order. A folder walk skips
    hidden folders, run directories (a `spec.gan` copy beside `resolved.json`), whatever matches an
    `exclude` pattern (a glob on the path below the folder, or on one name) and, with `git_ignore`,
    what git ignores (.gitignore files, .git/info/exclude, the global excludes file); files named
    outright are always taken."""
    found: list[Path] = []
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            found.extend(_walk(p, tuple(exclude), git_ignore))
        else:
            found.append(p)
    return found


def _walk(root: Path, exclude: tuple, git_ignore: bool = True) -> list[Path]:
    import fnmatch
    import os

    def excluded(relative: str, name: str) -> bool:
        return any(fnmatch.fnmatch(relative, pattern) or fnmatch.fnmatch(name, pattern) for pattern in exclude)

    ignored_files, ignored_dirs = _git_ignored(root) if git_ignore else (frozenset(), frozenset())
    found = []
    for folder, dirs, files in os.walk(root):
        here = Path(folder)
        if here != root and (here / "resolved.json").exists():
            dirs[:] = []
            continue  # a run directory: its spec.gan is a copy
        below = here.relative_to(root).as_posix()
        prefix = "" if below == "." else below + "/"
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and prefix + d not in ignored_dirs
                         and not excluded(prefix + d, d))
        for name in sorted(files):
            relative = prefix + name
            if name.endswith(".gan") and relative not in ignored_files and not excluded(relative, name):
                found.append(here / name)
    return sorted(found)


def _git_ignored(root: Path) -> tuple[frozenset, frozenset]:
    """(files, folders) below `root` that git ignores, as paths relative to it, from `git ls-files`,
    which applies nested .gitignore files, negations and the excludes files exactly as git does.
    Nothing is ignored when git is missing or `root` is not in a work tree; nor when git ignores
    `root` itself: a folder named outright is what the user asked for."""
    listed = _git(root, "ls-files", "--others", "--ignored", "--exclude-standard", "--directory", "-z")
    if listed is None:  # no git, not a work tree, or a folder deep inside an ignored one
        return frozenset(), frozenset()
    if listed == ["./"]:  # git ignores `root` itself, or every file in it: ask which
        if _git(root, "check-ignore", "-q", ".") is not None:
            return frozenset(), frozenset()
        listed = _git(root, "ls-files", "--others", "--ignored", "--exclude-standard", "-z") or []
    # a folder listed whole (all it holds is ignored) ends in "/"
    return (frozenset(e for e in listed if not e.endswith("/")),
            frozenset(e.rstrip("/") for e in listed if e.endswith("/")))


def _git(folder: Path, *args: str) -> list[str] | None:
    """The NUL-separated paths that `git ARGS` prints in `folder`, or None where git is missing or fails."""
    import os
    import shutil
    import subprocess

    git = shutil.which("git")
    if git is None:
        return None
    try:
        done = subprocess.run([git, *args], cwd=folder, stdin=subprocess.DEVNULL, capture_output=True,
                              timeout=60, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    if done.returncode != 0:
        return None
    return [os.fsdecode(entry) for entry in done.stdout.split(b"\0") if entry]


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
