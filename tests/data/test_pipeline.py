"""Batch order: a function of (seed, position), epochs never mixed; tf.data and numpy agree."""

from __future__ import annotations

import subprocess
import sys
from itertools import islice
from pathlib import Path

import numpy as np
import pytest

from ganspec.data import load_data
from ganspec.data.dataset import ArrayDataset, Preprocess, buffered_order, epoch_order, resize_bilinear
from tests.data.conftest import make_spec


def counting_dataset(n=10, *, shuffle=10_000, cache=True, conditional=True, resize=None, scale=(-1.0, 1.0)):
    """Example i is an image filled with pixel i; its label is i % 3 (so alignment is checkable)."""
    images = np.broadcast_to(np.arange(n, dtype=np.uint8)[:, None, None, None], (n, 4, 4, 1)).copy()
    images[:, 0, 0, 0] = 255  # not flat, so resizing does something
    return ArrayDataset(images, np.arange(n) % 3, Preprocess(scale, resize, True), shuffle=shuffle, cache=cache,
                        conditional=conditional)


def ids(x):
    """The example index behind each image of a counting_dataset batch, scaled to [-1, 1]."""
    return np.rint((x[:, 1, 1, 0] + 1) * 127.5).astype(int)


def take(dataset, batch, seed, count, start=0):
    return list(islice(dataset.numpy_batches(batch, seed, start_batch=start), count))


def test_every_epoch_is_a_fresh_permutation_with_the_remainder_dropped():
    dataset = counting_dataset(10)
    batches = take(dataset, 3, seed=0, count=9)  # 3 batches per epoch, 1 example dropped per epoch
    epochs = [np.concatenate([ids(x) for x, _ in batches[e * 3:(e + 1) * 3]]) for e in range(3)]
    for seen in epochs:
        assert len(seen) == 9 and len(set(seen)) == 9
    assert not np.array_equal(epochs[0], epochs[1])
    for x, y in batches:
        assert x.shape == (3, 4, 4, 1) and x.dtype == np.float32 and y.dtype == np.int32
        np.testing.assert_array_equal(y, ids(x) % 3)  # labels travel with their images


def test_order_depends_on_seed_only():
    dataset = counting_dataset(50)
    a = [ids(x) for x, _ in take(dataset, 10, seed=1, count=7)]
    b = [ids(x) for x, _ in take(counting_dataset(50), 10, seed=1, count=7)]
    c = [ids(x) for x, _ in take(dataset, 10, seed=2, count=7)]
    assert all(np.array_equal(p, q) for p, q in zip(a, b))
    assert not all(np.array_equal(p, q) for p, q in zip(a, c))


@pytest.mark.parametrize("start", [0, 1, 4, 5, 13])
def test_start_batch_equals_skipping_batches(start):
    dataset = counting_dataset(23)  # 4 batches of 5 per epoch: resumes land mid-epoch and on boundaries
    fresh = take(dataset, 5, seed=9, count=start + 6)
    resumed = take(counting_dataset(23), 5, seed=9, count=6, start=start)
    for (x1, y1), (x2, y2) in zip(fresh[start:], resumed):
        np.testing.assert_array_equal(x1, x2)
        np.testing.assert_array_equal(y1, y2)


def test_no_shuffle_keeps_file_order():
    batches = take(counting_dataset(6, shuffle=0), 3, seed=5, count=4)
    assert [ids(x).tolist() for x, _ in batches] == [[0, 1, 2], [3, 4, 5], [0, 1, 2], [3, 4, 5]]


def test_shuffle_buffer_bounds_how_far_an_example_moves():
    rng = np.random.default_rng(0)
    for size, buffer in [(100, 1), (100, 7), (50, 49), (10, 10), (10, 30)]:
        order = buffered_order(size, buffer, rng)
        assert sorted(order.tolist()) == list(range(size))
        assert (order <= np.arange(size) + buffer - 1).all()  # never ahead of what the buffer could hold
    small = epoch_order(1000, 10, seed=0, epoch=0)
    assert (small <= np.arange(1000) + 9).all() and not np.array_equal(small, np.arange(1000))
    assert np.array_equal(epoch_order(5, 0, seed=0, epoch=3), np.arange(5))


def test_sample_for_metrics():
    dataset = counting_dataset(20)
    x = dataset.sample(8, seed=4)
    assert x.shape == (8, 4, 4, 1) and len(set(ids(x))) == 8
    np.testing.assert_array_equal(x, dataset.sample(8, seed=4))
    x, y = dataset.sample(5, seed=4, with_labels=True)
    np.testing.assert_array_equal(y, ids(x) % 3)
    with pytest.raises(ValueError, match="asked for 21 real samples, but the data has 20"):
        dataset.sample(21, seed=0)


def test_cache_does_not_change_batches():
    cached = take(counting_dataset(12, cache=True, resize=(3, 5)), 4, seed=0, count=5)
    fresh = take(counting_dataset(12, cache=False, resize=(3, 5)), 4, seed=0, count=5)
    for (a, _), (b, _) in zip(cached, fresh):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("cache", [True, False])
@pytest.mark.parametrize("conditional", [True, False])
def test_tf_batches_are_the_numpy_batches(cache, conditional):
    from ganspec.data.tf_pipeline import tf_batches

    dataset = counting_dataset(17, cache=cache, conditional=conditional)
    np_batches = take(dataset, 4, seed=3, count=9, start=2)
    served = list(tf_batches(dataset, 4, seed=3, start_batch=2).take(9).as_numpy_iterator())
    assert len(served) == 9
    for a, b in zip(np_batches, served):
        if conditional:
            np.testing.assert_array_equal(a[0], b[0])
            np.testing.assert_array_equal(a[1], b[1])
            assert b[0].dtype == np.float32 and b[1].dtype == np.int32
        else:
            np.testing.assert_array_equal(a, b)


def test_tf_start_batch_equals_skip():
    from ganspec.data.tf_pipeline import tf_batches

    dataset = counting_dataset(11, conditional=False)
    skipped = list(tf_batches(dataset, 3, seed=1).skip(7).take(4).as_numpy_iterator())
    resumed = list(tf_batches(dataset, 3, seed=1, start_batch=7).take(4).as_numpy_iterator())
    assert all(np.array_equal(a, b) for a, b in zip(skipped, resumed))


@pytest.mark.parametrize("size", [(32, 32), (14, 14), (9, 40), (28, 28)])
def test_numpy_resize_matches_tf_image_resize(size):
    import tensorflow as tf

    images = np.random.default_rng(0).uniform(-1, 1, (3, 28, 28, 2)).astype(np.float32)
    expected = tf.image.resize(images, size, method="bilinear", antialias=True).numpy()
    np.testing.assert_allclose(resize_bilinear(images, size), expected, atol=2e-5)


def test_tf_and_numpy_paths_agree_with_resize():
    from ganspec.data.tf_pipeline import tf_batches

    dataset = counting_dataset(8, conditional=False, resize=(6, 5))
    np_batch = take(dataset, 4, seed=0, count=1)[0]
    tf_batch = next(tf_batches(dataset, 4, seed=0).as_numpy_iterator())
    assert np_batch.shape == tf_batch.shape == (4, 6, 5, 1)
    np.testing.assert_allclose(np_batch, tf_batch, atol=2e-5)


def test_numpy_batches_never_import_tensorflow(tmp_path):
    """Nor does the NumPy feed of an iteration (the JAX backend's), which asks the step schedule."""
    np.savez(tmp_path / "d.npz", x=np.zeros((8, 2, 2), np.uint8), y=np.arange(8) % 2)
    code = f"""
import sys
from tests.data.conftest import make_spec
from ganspec.data import load_data
from ganspec.data.feed import iteration_feed
for source, shape in [('npz("d.npz", labels_key: "y")', (2, 2, 1)), ("grid", (2,))]:
    spec = make_spec(source, shape)
    dataset = load_data(spec, {str(tmp_path)!r})
    next(dataset.numpy_batches(4, seed=0))
    dataset.sample(4, seed=0)
    real, labels, critic_steps = next(iteration_feed(dataset, spec, 0, 0, "jax"))
    assert real.shape == (critic_steps, 4) + shape and labels is None
assert "tensorflow" not in sys.modules, "TensorFlow was imported"
assert "keras" not in sys.modules, "Keras was imported"
"""
    root = str(Path(__file__).resolve().parents[2])
    result = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


def test_spec_batches_end_to_end(tmp_path):
    from ganspec.data.tf_pipeline import tf_batches

    np.savez(tmp_path / "d.npz", x=np.arange(40, dtype=np.uint8).reshape(10, 2, 2))
    dataset = load_data(make_spec('npz("d.npz")', (2, 2, 1), data="shuffle 4\n cache false"), tmp_path)
    assert dataset.shuffle == 4 and dataset.cache is False and dataset.size == 10
    batch = next(tf_batches(dataset, 5, seed=0).as_numpy_iterator())
    assert batch.shape == (5, 2, 2, 1)
