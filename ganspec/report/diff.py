"""Rich rendering of a semantic diff (`ganspec diff`, a refused resume, `ganspec compare`)."""

from __future__ import annotations

import json
from pathlib import Path


def print_diff(console, edits, a_name: str, b_name: str) -> None:
    """The edits from spec `a_name` to spec `b_name` as a table, or a line saying they resolve alike."""
    from rich.markup import escape
    from rich.table import Table

    if not edits:
        console.print(f"[green]no differences[/]: {escape(a_name)} and {escape(b_name)} resolve to the same "
                      "hyperparameters")
        return
    table = Table(title=escape(f"{a_name} -> {b_name}"), title_justify="left", show_lines=False)
    table.add_column("", width=1)
    table.add_column("path", style="cyan", no_wrap=True)
    table.add_column(escape(Path(a_name).name), style="red")
    table.add_column(escape(Path(b_name).name), style="green")
    marks = {"changed": "[yellow]~[/]", "added": "[green]+[/]", "removed": "[red]-[/]"}
    for e in edits:
        table.add_row(marks[e.op], escape(e.path), escape(_show(e.old)) if e.op != "added" else "",
                      escape(_show(e.new)) if e.op != "removed" else "")
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
