"""The real MNIST files in ../shared/data/mnist (skipped when absent; a failure under CI=true)."""

from __future__ import annotations

import numpy as np
import pytest

from ganspec.data import load_data
from tests.data.conftest import make_spec, require_files


def mnist_spec(images, labels, **kwargs):
    return make_spec(f'idx("{images}", labels: "{labels}")', (28, 28, 1), **kwargs)


def test_t10k_test_set(mnist_files):
    dataset = load_data(mnist_spec(mnist_files["test_images"], mnist_files["test_labels"], classes=10, batch=64), None)
    assert (dataset.size, dataset.sample_shape, dataset.num_classes) == (10_000, (28, 28, 1), 10)
    assert dataset.examples.dtype == np.uint8 and dataset.examples.max() == 255
    counts = np.bincount(dataset.labels, minlength=10)
    assert counts.sum() == 10_000 and counts.min() > 850  # every digit, roughly balanced
    x, y = next(dataset.numpy_batches(64, seed=0))
    assert x.shape == (64, 28, 28, 1) and y.shape == (64,)
    assert x.min() == -1.0 and x.max() == 1.0
    assert np.mean(x == -1.0) > 0.7  # mostly background


def test_train5k_is_sorted_by_class_with_500_each(mnist_files):
    spec = mnist_spec(mnist_files["train_images"], mnist_files["train_labels"], data="scale [0, 1]")
    dataset = load_data(spec, None)
    assert dataset.size == 5_000 and dataset.num_classes == 10
    assert np.array_equal(np.bincount(dataset.labels), [500] * 10)
    assert np.all(np.diff(dataset.labels) >= 0)  # sorted: a shuffle buffer matters here
    x = dataset.sample(100, seed=0)
    assert 0.0 <= x.min() and x.max() <= 1.0


def test_relative_paths_resolve_next_to_the_spec(mnist_files):
    folder = mnist_files["test_images"].parent
    spec = mnist_spec("mnist/t10k-images-idx3-ubyte.gz", "mnist/t10k-labels-idx1-ubyte.gz", data="limit 1000")
    dataset = load_data(spec, folder.parent)
    assert dataset.size == 1000


def test_a_resized_mnist_batch_in_tensorflow(mnist_files):
    from ganspec.data.tf_pipeline import tf_batches

    spec = make_spec(f'idx("{mnist_files["test_images"]}")', (32, 32, 1), data="resize [32, 32]\n limit 256")
    dataset = load_data(spec, None)
    tf_batch = next(tf_batches(dataset, 64, seed=0).as_numpy_iterator())
    np_batch = next(dataset.numpy_batches(64, seed=0))
    assert tf_batch.shape == (64, 32, 32, 1)
    np.testing.assert_allclose(tf_batch, np_batch, atol=2e-5)


def test_missing_real_data_fails_under_ci_and_skips_elsewhere(tmp_path, monkeypatch):
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="real MNIST data not found: t10k.gz missing"):
        require_files(tmp_path, ["t10k.gz"])
    monkeypatch.setenv("CI", "false")
    with pytest.raises(pytest.skip.Exception, match="set GANSPEC_DATA to the folder that holds mnist"):
        require_files(tmp_path, ["t10k.gz"])
