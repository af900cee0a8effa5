"""Evaluation metrics: one registered function per metric kind of the spec language.

Each takes the metric's spec node, generated samples and a `Reference` (real samples
and what is known about the data), and returns a flat dict of named numbers. NumPy
only, so every backend shares them.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Callable

import numpy as np

from ganspec.ir.components import METRICS, Metric
from ganspec.plugins import Implementations


@dataclass
class Reference:
    """What a metric may compare generated samples with."""

    real: np.ndarray  # real samples, same shape as generated ones
    modes: np.ndarray | None = None  # mode centres of a toy mixture
    mode_std: float | None = None
    name: str = "data"  # which real data: caches of reference statistics are keyed by it
    value_range: tuple[float, float] = (-1.0, 1.0)  # pixel range of image samples


MetricFn = Callable[..., dict]
METRIC_FUNCTIONS: dict[str, MetricFn] = Implementations(METRICS)  # + plugins', lazily


def metric(kind: str):
    def register(fn: MetricFn) -> MetricFn:
        METRIC_FUNCTIONS[kind] = fn
        return fn

    return register


def available(kind: str) -> bool:
    return kind in METRIC_FUNCTIONS


# ---- what each key of a result is ------------------------------------------------------------
# Results are stored as flat dicts (metrics.jsonl, eval-*.json); the registered metric classes
# declare which of their keys are scores, settings (how the scores were computed) and context.


def context_keys(kind: str) -> tuple[str, str]:
    """Keys of what a metric with context gives for real training images (the floor a perfect
    generator would reach) and for uniform noise."""
    return f"{kind}_real_floor", f"{kind}_noise"


@cache
def _declared_keys() -> dict[str, tuple[type[Metric], str]]:
    table: dict[str, tuple[type[Metric], str]] = {}
    for cls in METRICS.items.values():
        table.update({key: (cls, "score") for key in cls.score_keys})
        table.update({key: (cls, "setting") for key in cls.setting_keys})
        if cls.context_of:
            table.update({key: (cls, "context") for key in context_keys(cls.kind_name())})
    return table


def declared(key: str) -> tuple[type[Metric], str] | None:
    """The metric class that declares a result key, and the key's role ("score", "setting" or
    "context"); None for a key no registered metric gives. A run's second metric of one kind
    prefixes its keys with the kind (`fid.fid_features`), and is read as the first."""
    table = _declared_keys()
    if key in table:
        return table[key]
    kind, dot, bare = key.partition(".")
    if dot and bare in table and table[bare][0].kind_name() == kind:
        return table[bare]
    return None


def role(key: str, value) -> str:
    """What a result value is: "score", "setting" (extractor, weights hash, counts...) or "context"
    (real floor, noise value). Text and containers are always settings; a key no metric declares
    is a score when it is a number."""
    if isinstance(value, (str, dict, list)):
        return "setting"
    found = declared(key)
    if found is None:
        return "score" if isinstance(value, (int, float)) else "setting"
    return found[1]


def scores(results: dict) -> dict:
    """Only the numbers of a result dict that are scores."""
    return {k: v for k, v in results.items() if role(k, v) == "score"}


def shown(results: dict) -> dict:
    """Scores with their context (real-vs-real floor, pure-noise value), for people to read."""
    return {k: v for k, v in results.items() if role(k, v) == "score" or
            (role(k, v) == "context" and isinstance(v, (int, float)))}


def lower_is_better(key: str) -> bool:
    """Whether a lower value of the score `key` is better (the metric's class says; higher otherwise)."""
    found = declared(key)
    return found is not None and key.rpartition(".")[2] in found[0].lower_is_better


@metric("mode_coverage")
def mode_coverage(node, fake: np.ndarray, ref: Reference) -> dict:
    """PacGAN/VEEGAN protocol (shared/BENCHMARKS.md): a sample is high quality within 3 std of
    its nearest mode; a mode is covered when it is the nearest mode of a high-quality sample;
    reverse KL between the high-quality mode histogram and the uniform distribution."""
    return mode_statistics(fake, ref.modes, ref.mode_std)


def mode_statistics(fake: np.ndarray, modes: np.ndarray, std: float) -> dict:
    fake = np.asarray(fake, dtype=np.float64).reshape(len(fake), -1)
    distances = np.linalg.norm(fake[:, None, :] - modes[None, :, :], axis=-1)
    nearest = distances.argmin(axis=1)
    high_quality = distances[np.arange(len(fake)), nearest] <= 3.0 * std
    counts = np.bincount(nearest[high_quality], minlength=len(modes)).astype(np.float64)
    covered = int((counts > 0).sum())
    if counts.sum() > 0:
        p = counts / counts.sum()
        nz = p > 0
        reverse_kl = float(np.sum(p[nz] * np.log(p[nz] * len(modes))))
    else:
        reverse_kl = float("inf")
    return {
        "modes_covered": covered,
        "modes_total": int(len(modes)),
        "high_quality_percent": float(100.0 * high_quality.mean()),
        "reverse_kl": reverse_kl,
    }


@metric("wasserstein_distance")
def wasserstein_distance(node, fake: np.ndarray, ref: Reference) -> dict:
    """Exact 1-Wasserstein distance between two equal-size empirical samples: the optimal
    assignment (Hungarian algorithm, scipy) of generated to real points, mean Euclidean cost."""
    return {"wasserstein_distance": exact_w1(fake, ref.real)}


def exact_w1(a: np.ndarray, b: np.ndarray) -> float:
    from scipy.optimize import linear_sum_assignment

    n = min(len(a), len(b))
    a = np.asarray(a[:n], dtype=np.float64).reshape(n, -1)
    b = np.asarray(b[:n], dtype=np.float64).reshape(n, -1)
    cost = np.linalg.norm(a[:, None, :] - b[None, :, :], axis=-1)
    rows, cols = linear_sum_assignment(cost)
    return float(cost[rows, cols].mean())


# Image metrics register themselves on import (NumPy/SciPy at import; Keras only when features are computed).
from ganspec.metrics import images  # noqa: E402,F401
