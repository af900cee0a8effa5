"""`ganspec data get|list|where`: the data sets the specs name, fetched into a data folder that the
specs' relative paths search (the per-user data folder by default). Standard library only."""

from __future__ import annotations

import os
from pathlib import Path

from ganspec.report.report import Report


def _data_folder(report: Report, chosen: str | None) -> Path | None:
    """--dir, else the per-user data folder; None (after an error) when there is none."""
    from ganspec.ir.datashape import user_data_dir

    if chosen:
        return Path(chosen).expanduser()
    folder = user_data_dir()
    if folder is None:
        report.error("E500", "there is no per-user data folder: no home folder was found",
                     hint="set $GANSPEC_DATA_HOME, or pass --dir")
    return folder


def cmd_data_get(args) -> int:
    """Download data sets into the data folder, verifying every file against its pinned sha256."""
    from rich.text import Text

    from ganspec.download import DATA_SETS, DownloadError, get

    report = Report()
    root = _data_folder(report, args.dir)
    if root is None:
        return report.exit_code
    for name in dict.fromkeys(args.names):
        data_set = DATA_SETS[name]
        try:
            folder = get(data_set, root, tuple(args.mirror), log=lambda line: report.print(Text(line)))
        except DownloadError as exc:
            report.error("E508", exc.message, exc.hint, exc.notes)
            return report.exit_code
        report.print(Text(f"{name}: {len(data_set.files)} files in {folder}"))
    report.print(Text(_how_specs_find(root, args.names)))
    return report.exit_code


def _how_specs_find(root: Path, names: list[str]) -> str:
    """How specs reach files under `root`: by their relative paths, or once $GANSPEC_DATA names it."""
    from ganspec.download import DATA_SETS
    from ganspec.ir.datashape import data_roots

    first = DATA_SETS[names[0]]
    example = f"{first.folder}/{first.files[0].name}"
    searched = {_same(r) for r in data_roots(None)}
    if _same(root) in searched:
        return f"specs find these files by their relative paths, e.g. idx(\"{example}\")"
    return (f"{root} is not searched for data: add it to $GANSPEC_DATA (e.g. export GANSPEC_DATA={root}) "
            f"for specs to find idx(\"{example}\")")


def _same(path: Path) -> str:
    return os.path.normcase(os.path.abspath(path))


def cmd_data_list(args) -> int:
    """A table of the known data sets: files, download size, and how many are in the data folder."""
    from rich.markup import escape
    from rich.table import Table
    from rich.text import Text

    from ganspec.download import DATA_SETS

    report = Report()
    root = _data_folder(report, args.dir)
    if root is None:
        return report.exit_code
    table = Table(title=escape(f"data sets in {root}"), title_justify="left")
    table.add_column("name")
    table.add_column("files", no_wrap=True)
    table.add_column("download", justify="right")
    table.add_column("there")
    for name, data_set in sorted(DATA_SETS.items()):
        present = sum((root / data_set.folder / f.name).is_file() for f in data_set.files)
        status = ("all" if present == len(data_set.files) else "none" if present == 0
                  else f"{present} of {len(data_set.files)}")
        table.add_row(name, escape("\n".join(f"{data_set.folder}/{f.name}" for f in data_set.files)),
                      f"{data_set.download_size / 1e6:.1f} MB", status)
    report.print(table)
    for name, data_set in sorted(DATA_SETS.items()):
        report.print(Text(f"{name}: {data_set.about}; from {data_set.source}"))
    return report.exit_code


def cmd_data_where(args) -> int:
    """Print the per-user data folder, the last place relative data paths are looked up."""
    report = Report()
    folder = _data_folder(report, None)
    if folder is not None:
        report.write(f"{folder}\n")
    return report.exit_code
