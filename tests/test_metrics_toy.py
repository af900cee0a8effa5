"""Toy metrics against answers known in closed form."""

from __future__ import annotations

import numpy as np

from ganspec.metrics import Reference, exact_w1, mode_statistics

RING = np.stack([np.cos(2 * np.pi * np.arange(8) / 8), np.sin(2 * np.pi * np.arange(8) / 8)], axis=1)


def test_perfect_samples_cover_every_mode():
    rng = np.random.default_rng(0)
    fake = RING[np.arange(2400) % 8] + rng.normal(0, 0.01, (2400, 2))
    stats = mode_statistics(fake, RING, 0.01)
    assert stats["modes_covered"] == 8
    assert stats["high_quality_percent"] > 97  # 3 std in 2D holds ~98.9%
    assert abs(stats["reverse_kl"]) < 1e-3  # nearly uniform histogram


def test_collapsed_samples():
    fake = np.repeat(RING[:1], 100, axis=0)
    stats = mode_statistics(np.concatenate([fake, [[5.0, 5.0]] * 100]), RING, 0.01)
    assert stats["modes_covered"] == 1 and stats["high_quality_percent"] == 50.0
    assert np.isclose(stats["reverse_kl"], np.log(8))  # all mass on one of 8 modes


def test_exact_w1_known_cases():
    a = np.zeros((50, 2))
    assert exact_w1(a, a + [3.0, 4.0]) == 5.0  # a shift moves every point by 5
    x = np.arange(10.0)[:, None]
    assert np.isclose(exact_w1(x, x[::-1]), 0.0)  # same set, other order
    assert np.isclose(exact_w1(x, x + 0.5), 0.5)


def test_reference_is_plain_data():
    ref = Reference(real=np.zeros((2, 2)), modes=RING, mode_std=0.01)
    assert ref.modes.shape == (8, 2)
