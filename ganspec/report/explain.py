"""Rich rendering of `ganspec explain`: the resolved spec and the network tables."""

from __future__ import annotations

from rich.markup import escape
from rich.table import Table
from rich.tree import Tree


def _value(v) -> str:
    if isinstance(v, float):
        return f"{v:g}"
    if isinstance(v, bool):
        return "true" if v else "false"
    if v is None:
        return "none"
    if isinstance(v, (list, tuple)) and all(not isinstance(x, dict) for x in v):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    return str(v)


def _add(tree: Tree, key: str, value) -> None:
    if isinstance(value, dict):
        label = f"[cyan]{escape(key)}[/]" + (f" [bold]{escape(str(value['kind']))}[/]" if "kind" in value else "")
        branch = tree.add(label)
        for k, v in value.items():
            if k != "kind":
                _add(branch, k, v)
    elif isinstance(value, list) and any(isinstance(x, dict) for x in value):
        if key == "layers":
            tree.add(f"[cyan]{escape(key)}[/] [dim]({len(value)}; see the table below)[/]")
            return
        branch = tree.add(f"[cyan]{escape(key)}[/]")
        for i, item in enumerate(value):
            _add(branch, f"[{i}]", item)
    else:
        tree.add(f"[cyan]{escape(key)}[/] {escape(_value(value))}")


def print_explain(console, spec, tables, files, memory=None) -> None:
    dump = spec.model_dump(mode="json")
    # Every value shown comes from the spec (a description, tags, file names): escaped, so that text in
    # brackets is shown as written, not taken for Rich markup.
    tree = Tree(f"[bold]experiment {escape(spec.name)}[/]"
                + (f"  [dim](from {escape(' <- '.join(files))})[/]" if len(files) > 1 else ""))
    for key, value in dump.items():
        if key != "name":
            _add(tree, key, value)
    console.print(tree)
    for t in tables:
        table = Table(title=f"{t.role}: {_shape(t.input_shape)} -> {_shape(t.output_shape)}", title_justify="left")
        table.add_column("#", justify="right", style="dim")
        table.add_column("layer")
        table.add_column("output shape", justify="right")
        table.add_column("params", justify="right")
        table.add_column("non-trainable", justify="right", style="dim")
        for i, r in enumerate(t.rows):
            name = "  " * r.depth + escape(r.layer.label()) + (f" [dim]({escape(r.note)})[/]" if r.note else "")
            if r.copies > 1:  # a repeat's copies that are alike, shown once (ganspec.ir.layers.walk)
                name += f" [dim]x {r.copies:,}[/]"
            table.add_row(str(i), name, _shape(r.out_shape), f"{r.trainable * r.copies:,}",
                          f"{r.non_trainable * r.copies:,}")
        table.add_section()
        table.add_row("", "[bold]total[/]", "", f"[bold]{t.trainable:,}[/]", f"{t.non_trainable:,}")
        console.print(table)
        if t.problem:
            console.print(f"[red]{t.role}: {escape(t.problem)}[/]")
    if memory is not None:  # ganspec.checks.memory.MemoryEstimate
        console.print(f"[bold]training memory[/] [dim](static estimate)[/]: {memory.text()}")


def _shape(shape) -> str:
    if shape is None:
        return "?"
    return "(" + ", ".join(str(s) for s in shape) + ")"
