"""What a person sees during `ganspec run`: a Rich live panel on a terminal, plain lines otherwise."""

from __future__ import annotations

import math
import sys
import time

from rich.console import Console, Group
from rich.live import Live
from rich.panel import Panel
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

# Scalars shown, in order, with their labels.
SHOWN = [
    ("critic_loss", "critic loss"),
    ("generator_loss", "generator loss"),
    ("wasserstein_estimate", "W estimate  E[D(x)] - E[D(G(z))]"),
    ("penalty", "penalty"),
    ("d_real", "D(x) mean"),
    ("d_fake", "D(G(z)) mean"),
    ("critic_grad_norm", "critic grad norm"),
    ("generator_grad_norm", "generator grad norm"),
    ("critic_auxiliary", "critic auxiliary (AC-GAN)"),
    ("generator_auxiliary", "generator auxiliary (AC-GAN)"),
    ("information_loss", "information loss (InfoGAN)"),
]


def _num(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        return f"{value:.4g}"
    return str(value)


class Display:
    """Base observer: receives the run's events."""

    def start(self, title: str, total: int, done: int, run_dir: str) -> None: ...

    def log(self, iteration: int, scalars: dict, rate: float) -> None: ...

    def evaluation(self, iteration: int, results: dict) -> None: ...

    def alert(self, alert) -> None: ...

    def message(self, text: str) -> None: ...

    def stop(self) -> None: ...


class PlainDisplay(Display):
    """One line per log, for CI logs and pipes."""

    def __init__(self, stream=None):
        self.console = Console(file=stream or sys.stdout, highlight=False, soft_wrap=True, force_terminal=False,
                               no_color=True)
        self.total = 0

    def start(self, title, total, done, run_dir):
        self.total = total
        self.console.print(f"{title}: {total} iterations ({done} done) -> {run_dir}")

    def log(self, iteration, scalars, rate):
        parts = [f"{key}={_num(scalars[key])}" for key, _ in SHOWN if key in scalars]
        self.console.print(f"[{iteration}/{self.total}] {rate:.1f} it/s " + " ".join(parts))

    def evaluation(self, iteration, results):
        self.console.print(f"[{iteration}/{self.total}] eval " + " ".join(f"{k}={_num(v)}" for k, v in results.items()))

    def alert(self, alert):
        self.console.print(f"{alert.severity.upper()} {alert.code}: {alert.message}; try: {alert.advice}")

    def message(self, text):
        self.console.print(text)


class LiveDisplay(Display):
    """A live panel: progress with it/s and ETA, latest scalars, metrics and alerts."""

    def __init__(self, console: Console | None = None):
        self.console = console or Console()
        self.progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TextColumn("{task.fields[rate]} it/s"), TimeElapsedColumn(), TextColumn("eta"),
                                 TimeRemainingColumn(), console=self.console)
        self.task = None
        self.scalars: dict = {}
        self.metrics: dict = {}
        self.metrics_at = None
        self.alerts: dict = {}
        self.live: Live | None = None
        self.title = ""
        self.run_dir = ""

    def start(self, title, total, done, run_dir):
        self.title, self.run_dir = title, run_dir
        self.task = self.progress.add_task(title, total=total, completed=done, rate="-")
        self.live = Live(self._render(), console=self.console, refresh_per_second=4, transient=False)
        self.live.start()

    def _render(self):
        table = Table.grid(padding=(0, 2))
        table.add_column(style="cyan")
        table.add_column(justify="right")
        for key, label in SHOWN:
            if key in self.scalars:
                table.add_row(label, _num(self.scalars[key]))
        parts = [self.progress, table]
        if self.metrics:
            mt = Table.grid(padding=(0, 2))
            mt.add_column(style="magenta")
            mt.add_column(justify="right")
            for key, value in self.metrics.items():
                mt.add_row(key, _num(value))
            parts.append(Panel(mt, title=f"evaluation at {self.metrics_at}", title_align="left"))
        for alert in self.alerts.values():
            colour = "red" if alert.severity == "fatal" else "yellow"
            parts.append(f"[{colour}]{alert.severity} {alert.code}: {alert.message}[/]\n  try: {alert.advice}")
        parts.append(f"[dim]run directory: {self.run_dir}[/]")
        return Group(*parts)

    def log(self, iteration, scalars, rate):
        self.scalars = scalars
        self.progress.update(self.task, completed=iteration, rate=f"{rate:.1f}")
        if self.live:
            self.live.update(self._render())

    def evaluation(self, iteration, results):
        self.metrics, self.metrics_at = dict(results), iteration
        if self.live:
            self.live.update(self._render())

    def alert(self, alert):
        self.alerts[alert.code] = alert
        if self.live:
            self.live.update(self._render())

    def message(self, text):
        self.console.print(text)

    def stop(self):
        if self.live:
            self.live.update(self._render())
            self.live.stop()
            self.live = None


def make_display(force_plain: bool = False) -> Display:
    console = Console()
    if force_plain or not console.is_terminal:
        return PlainDisplay()
    return LiveDisplay(console)


class RateMeter:
    """Iterations per second over a sliding window."""

    def __init__(self, window: int = 20):
        self.window = window
        self.marks: list[tuple[float, int]] = []

    def mark(self, iteration: int) -> float:
        now = time.perf_counter()
        self.marks.append((now, iteration))
        self.marks = self.marks[-self.window:]
        if len(self.marks) < 2:
            return 0.0
        (t0, i0), (t1, i1) = self.marks[0], self.marks[-1]
        return (i1 - i0) / max(t1 - t0, 1e-9)
