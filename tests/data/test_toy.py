"""Toy mixtures follow the PacGAN/VEEGAN protocol exactly (shared/BENCHMARKS.md, section 1)."""

from __future__ import annotations

from itertools import islice

import numpy as np
import pytest

from ganspec.data import load_data
from ganspec.data.toy import grid_modes, ring_modes
from tests.data.conftest import make_spec


def batches(dataset, batch, seed, count, start=0):
    return list(islice(dataset.numpy_batches(batch, seed, start_batch=start), count))


def nearest(points, modes):
    distance = np.linalg.norm(points[:, None, :] - modes[None, :, :], axis=-1)
    return distance.argmin(axis=1), distance.min(axis=1)


def test_ring_has_eight_distinct_modes_at_multiples_of_45_degrees():
    dataset = load_data(make_spec("ring(modes: 8, radius: 1.0, std: 0.01)"), None)
    angles = 2 * np.pi * np.arange(8) / 8
    np.testing.assert_allclose(dataset.modes, np.stack([np.cos(angles), np.sin(angles)], 1), atol=1e-12)
    assert len(np.unique(dataset.modes.round(9), axis=0)) == 8
    assert dataset.toy and dataset.size is None and dataset.sample_shape == (2,) and dataset.std == 0.01
    np.testing.assert_allclose(ring_modes(4, 2.0), [[2, 0], [0, 2], [-2, 0], [0, -2]], atol=1e-12)


def test_grid_is_five_by_five_on_even_coordinates():
    dataset = load_data(make_spec("grid(side: 5, spacing: 2, std: 0.05)"), None)
    expected = {(x, y) for x in (-4, -2, 0, 2, 4) for y in (-4, -2, 0, 2, 4)}
    assert {tuple(p) for p in dataset.modes.tolist()} == expected
    assert len(dataset.modes) == 25
    assert {tuple(p) for p in grid_modes(2, 1.0).tolist()} == {(-0.5, -0.5), (-0.5, 0.5), (0.5, -0.5), (0.5, 0.5)}


@pytest.mark.parametrize("source, std", [("ring", 0.01), ("grid", 0.05), ("ring(modes: 5, radius: 3, std: 0.2)", 0.2)])
def test_samples_spread_by_std_around_uniformly_chosen_modes(source, std):
    dataset = load_data(make_spec(source), None)
    points = dataset.sample(20_000, seed=1)
    which, _ = nearest(points, dataset.modes)
    residual = points - dataset.modes[which]
    assert residual.std() == pytest.approx(std, rel=0.03)
    assert np.abs(residual.mean(axis=0)).max() < 5 * std / np.sqrt(len(points))
    counts = np.bincount(which, minlength=len(dataset.modes))
    expected = len(points) / len(dataset.modes)
    assert counts.min() > 0.8 * expected and counts.max() < 1.2 * expected


def test_gaussian_in_one_and_two_dimensions():
    one = load_data(make_spec("gaussian(mean: [3], std: 0.5)", (1,)), None)
    two = load_data(make_spec("gaussian(mean: [1, -2], std: 2)", (2,)), None)
    assert one.sample_shape == (1,) and two.sample_shape == (2,) and one.modes is None
    x = one.sample(20_000, seed=0)
    assert x.shape == (20_000, 1) and x.mean() == pytest.approx(3, abs=0.02) and x.std() == pytest.approx(0.5, rel=0.03)
    y = two.sample(20_000, seed=0)
    np.testing.assert_allclose(y.mean(axis=0), [1, -2], atol=0.08)
    np.testing.assert_allclose(y.std(axis=0), [2, 2], rtol=0.03)


def test_batches_are_float32_deterministic_and_seed_dependent():
    dataset = load_data(make_spec("ring"), None)
    first = batches(dataset, 64, seed=7, count=3)
    again = batches(dataset, 64, seed=7, count=3)
    other = batches(dataset, 64, seed=8, count=3)
    assert all(b.shape == (64, 2) and b.dtype == np.float32 for b in first)
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
    assert not np.array_equal(first[0], other[0])
    assert not np.array_equal(first[0], first[1])
    assert not np.array_equal(dataset.sample(64, seed=7), first[0])  # metrics draw from their own stream


def test_resume_gives_the_batches_a_fresh_run_gives_later():
    dataset = load_data(make_spec("grid"), None)
    fresh = batches(dataset, 32, seed=3, count=12)
    resumed = batches(dataset, 32, seed=3, count=5, start=7)
    assert all(np.array_equal(a, b) for a, b in zip(fresh[7:], resumed))


def test_toy_tf_batches_equal_numpy_batches():
    from ganspec.data.tf_pipeline import tf_batches

    dataset = load_data(make_spec("ring"), None)
    served = list(tf_batches(dataset, 16, seed=2, start_batch=5).take(3).as_numpy_iterator())
    np_batches = batches(dataset, 16, seed=2, count=3, start=5)
    assert all(np.array_equal(a, b) for a, b in zip(served, np_batches))
    assert served[0].dtype == np.float32
