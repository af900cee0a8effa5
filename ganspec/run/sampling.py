"""Generating samples from a built generator with a fixed, seeded latent batch."""

from __future__ import annotations

import numpy as np

from ganspec.spec.ir import Spec


def latent_batch(spec: Spec, n: int, seed: int) -> np.ndarray:
    """The same z for the same (spec, n, seed), so sample grids compare over time."""
    rng = np.random.default_rng(seed)
    prior = spec.latent
    if prior.kind == "uniform":
        return rng.uniform(prior.low, prior.high, size=(n, prior.dim)).astype(np.float32)
    return (rng.standard_normal((n, prior.dim)) * prior.std).astype(np.float32)


def label_batch(spec: Spec, n: int) -> np.ndarray | None:
    """Class labels cycling 0..classes-1, so a grid shows every class in rows."""
    if spec.conditional is None:
        return None
    return np.arange(n) % spec.conditional.classes


def generate(spec: Spec, generator, n: int, seed: int, chunk: int = 1000) -> np.ndarray:
    z = latent_batch(spec, n, seed)
    labels = label_batch(spec, n)
    out = []
    for start in range(0, n, chunk):
        zb = z[start:start + chunk]
        if labels is not None:
            onehot = np.eye(spec.conditional.classes, dtype=np.float32)[labels[start:start + chunk]]
            x = generator([zb, onehot], training=False)
        else:
            x = generator(zb, training=False)
        out.append(np.asarray(x))
    return np.concatenate(out)
