"""Rich rendering of a semantic diff (`ganspec diff`, a refused resume, `ganspec compare`)."""

from __future__ import annotations

import json
from pathlib import Path


def print_diff(console, edits, a_name: str, b_name: str) -> None:
    """The edits from spec `a_name` to spec `b_name` as a table, or a line saying they resolve alike."""
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
