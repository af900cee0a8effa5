"""Timing shared by the throughput benchmarks: contenders timed per iteration, steady-state
summaries and paired ratios (shared/BENCHMARKS.md, section 3). No backend imports here."""

from __future__ import annotations

import statistics
import time
import platform
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Contender:
    """One way of training: `next_iteration()` runs one generator iteration and waits for it."""

    name: str
    build_seconds: float
    next_iteration: object
    times: list[float] = field(default_factory=list)
    flops: object = None  # () -> FLOPs of one iteration as its compiler counts them, or None

    def timed(self) -> float:
        start = time.perf_counter()
        self.next_iteration()
        elapsed = time.perf_counter() - start
        self.times.append(elapsed)
        return elapsed


def summarize(contender: Contender, warmup: int) -> dict:
    times = contender.times
    steady = statistics.median(times[warmup:])
    within = next((i + 1 for i, t in enumerate(times) if i > 0 and t <= 2 * steady), None)
    at20 = steady / times[19] if len(times) >= 20 else None
    return {
        "build_seconds": round(contender.build_seconds, 3),
        "first_iteration_seconds": round(times[0], 3),
        "compile_overhead_seconds": round(contender.build_seconds + times[0] - steady, 3),
        "steady_seconds_per_iteration": round(steady, 4),
        "steady_iterations_per_second": round(1 / steady, 4),
        "within_2x_of_steady_at_iteration": within,
        "speed_at_iteration_20_over_steady": None if at20 is None else round(at20, 3),
        "seconds_per_iteration": [round(t, 4) for t in times],
    }


def paired_ratio(ours: Contender, theirs: Contender, warmup: int) -> dict:
    """ganspec speed over theirs: per iteration pair, their seconds / ganspec's seconds."""
    ratios = [b / a for a, b in zip(ours.times[warmup:], theirs.times[warmup:])]
    quartiles = statistics.quantiles(ratios, n=4) if len(ratios) > 1 else [ratios[0]] * 3
    return {"paired_median": round(statistics.median(ratios), 3),
            "paired_quartiles": [round(quartiles[0], 3), round(quartiles[2], 3)],
            "of_steady_medians": round(statistics.median(theirs.times[warmup:])
                                       / statistics.median(ours.times[warmup:]), 3)}


def ganspec_contender(spec, spec_dir: Path, layout=None) -> tuple[Contender, object]:
    """ganspec's trainer: its data feed and its compiled step, as `ganspec run` drives them (on a device
    layout of `ganspec.train.layout`, if given)."""
    from ganspec.data.feed import iteration_feed
    from ganspec.run.trainer import Trainer

    start = time.perf_counter()
    trainer = Trainer(spec, run=None, spec_dir=spec_dir, display=None, layout=layout)
    trainer.prepare()
    batches = iteration_feed(trainer.dataset, spec, 0, 0, trainer.backend)
    build = time.perf_counter() - start

    def iteration():
        real, labels, critic_steps = next(batches)
        float(trainer.step(real, labels, critic_steps=critic_steps)["generator_loss"])

    return Contender("ganspec", build, iteration), trainer


def cpu_name() -> str:
    """The CPU's model name (Linux), else what Python's platform module says."""
    try:
        return next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                    if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or "a CPU"
