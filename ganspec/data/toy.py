"""Toy 2D data drawn in-process: the PacGAN/VEEGAN ring and grid, and a single Gaussian.

The exact protocol is shared/BENCHMARKS.md, section 1: the ring has `modes` distinct
modes at angles 2*pi*k/modes (not linspace(0, 2*pi, modes), which repeats one), and the
grid is side x side points centred at 0, e.g. {-4, -2, 0, 2, 4}^2 for side 5, spacing 2.
"""

from __future__ import annotations

import numpy as np

from ganspec.data.dataset import ToyDataset
from ganspec.data.registry import Request, register


def ring_modes(modes: int, radius: float) -> np.ndarray:
    """(modes, 2) centres on a circle, at angles 2*pi*k/modes."""
    angles = 2.0 * np.pi * np.arange(modes) / modes
    return radius * np.stack([np.cos(angles), np.sin(angles)], axis=1)


def grid_modes(side: int, spacing: float) -> np.ndarray:
    """(side**2, 2) centres of a side x side grid with the given spacing, centred at 0."""
    axis = (np.arange(side) - (side - 1) / 2.0) * spacing
    xs, ys = np.meshgrid(axis, axis, indexing="ij")
    return np.stack([xs.ravel(), ys.ravel()], axis=1)


def mixture(modes: np.ndarray, std: float):
    """A sampler of the equal-weight mixture of N(mode, std^2 I) over the modes."""

    def draw(rng: np.random.Generator, n: int) -> np.ndarray:
        which = rng.integers(len(modes), size=n)
        return modes[which] + std * rng.standard_normal((n, modes.shape[1]))

    return draw


@register("ring")
def load_ring(request: Request) -> ToyDataset:
    source = request.source
    modes = ring_modes(source.modes, source.radius)
    return ToyDataset(mixture(modes, source.std), (2,), modes, source.std)


@register("grid")
def load_grid(request: Request) -> ToyDataset:
    source = request.source
    modes = grid_modes(source.side, source.spacing)
    return ToyDataset(mixture(modes, source.std), (2,), modes, source.std)


@register("gaussian")
def load_gaussian(request: Request) -> ToyDataset:
    source = request.source
    mean = np.asarray(source.mean, dtype=np.float64)
    return ToyDataset(mixture(mean[None, :], source.std), (len(mean),), None, source.std)
