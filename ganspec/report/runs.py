"""Rich tables of training results: a run's summary, an evaluation, runs side by side."""

from __future__ import annotations


def summary_table(summary: dict):
    """`ganspec run`'s closing table: last losses, and the last and best value of each metric."""
    from rich.markup import escape
    from rich.table import Table

    table = Table(title=f"summary after {summary['iterations']} iterations", title_justify="left")
    table.add_column("value", style="cyan")
    table.add_column("last", justify="right")
    table.add_column("best", justify="right")
    table.add_column("best at", justify="right")
    for key, value in summary["last"].items():
        table.add_row(escape(key), f"{value:.4g}", "", "")
    for key, m in summary["metrics"].items():
        table.add_row(escape(key), f"{m['last']:.4g}", f"{m['best']:.4g}", str(m["best_at"]))
    return table


def evaluation_table(title: str, values: dict):
    """`ganspec eval`'s table: one row per shown metric value."""
    from rich.markup import escape
    from rich.table import Table

    table = Table(title=escape(title), title_justify="left")  # plain text: a run's folder name may hold brackets
    table.add_column("metric", style="cyan")
    table.add_column("value", justify="right")
    for key, value in values.items():
        table.add_row(escape(key), f"{value:.4g}" if isinstance(value, float) else escape(str(value)))
    return table


def last_evaluations_table(evaluations: dict[str, list[dict]], keys: list[str]):
    """`ganspec compare`'s table: each run's last evaluation, one column per numeric key."""
    from rich.markup import escape
    from rich.table import Table

    table = Table(title="last evaluation of each run", title_justify="left")
    table.add_column("run", style="cyan")
    table.add_column("iteration", justify="right")
    for key in keys:
        table.add_column(escape(key), justify="right")
    for name, records in evaluations.items():
        last = records[-1] if records else {}
        table.add_row(escape(name), str(last.get("iteration", "-")),
                      *[f"{last[k]:.4g}" if isinstance(last.get(k), (int, float)) else "-" for k in keys])
    return table
