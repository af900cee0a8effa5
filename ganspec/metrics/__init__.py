"""Evaluation metrics: one registered function per metric kind of the spec language.

Each takes the metric's spec node, generated samples and a `Reference` (real samples
and what is known about the data), and returns a flat dict of named numbers. NumPy
only, so every backend shares them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np


@dataclass
class Reference:
    """What a metric may compare generated samples with."""

    real: np.ndarray  # real samples, same shape as generated ones
    modes: np.ndarray | None = None  # mode centres of a toy mixture
    mode_std: float | None = None
    name: str = "data"  # which real data: caches of reference statistics are keyed by it
    value_range: tuple[float, float] = (-1.0, 1.0)  # pixel range of image samples


MetricFn = Callable[..., dict]
METRIC_FUNCTIONS: dict[str, MetricFn] = {}


def metric(kind: str):
    def register(fn: MetricFn) -> MetricFn:
        METRIC_FUNCTIONS[kind] = fn
        return fn

    return register


def available(kind: str) -> bool:
    return kind in METRIC_FUNCTIONS


# Result keys that describe how a number was computed rather than being a score.
SETTING_SUFFIXES = ("features", "extractor", "weights_sha256", "reference", "samples", "reference_samples",
                    "parameters", "accuracy", "_total", "_real_floor", "_noise")


def is_setting(key: str, value) -> bool:
    """True for the facts recorded beside scores (extractor, weights hash, counts...)."""
    return isinstance(value, str) or key.endswith(SETTING_SUFFIXES) or isinstance(value, (dict, list))


def scores(results: dict) -> dict:
    """Only the numbers of a result dict that are scores."""
    return {k: v for k, v in results.items() if not is_setting(k, v)}


CONTEXT_SUFFIXES = ("_real_floor", "_noise")


def shown(results: dict) -> dict:
    """Scores with their context (real-vs-real floor, pure-noise value), for people to read."""
    return {k: v for k, v in results.items() if not is_setting(k, v) or
            (k.endswith(CONTEXT_SUFFIXES) and isinstance(v, (int, float)))}


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
