"""The TFDS loader runs its real code path (tfds.builder, download_and_prepare, as_dataset) without
a network: on `tfds.testing.mock_data`, and on a tiny builder prepared in a temporary folder."""

from __future__ import annotations

import numpy as np
import pytest

from ganspec.data import DataError, load_data
from ganspec.diagnostics import Diagnostic
from tests.data.conftest import make_spec

tfds = pytest.importorskip("tensorflow_datasets")


class GanspecTinyDigits(tfds.core.GeneratorBasedBuilder):
    """12 train and 6 test images; image i is filled with pixel 10 * i and labelled i % 3."""

    VERSION = tfds.core.Version("1.0.0")
    code_path = None  # no checksums file; also spares TFDS a lookup that needs `importlib_resources`

    def _info(self):
        features = {"image": tfds.features.Image(shape=(8, 8, 1)), "label": tfds.features.ClassLabel(num_classes=3)}
        return tfds.core.DatasetInfo(builder=self, features=tfds.features.FeaturesDict(features))

    def _split_generators(self, dl_manager):
        return {"train": self._generate_examples(12), "test": self._generate_examples(6)}

    def _generate_examples(self, count):
        for i in range(count):
            yield i, {"image": np.full((8, 8, 1), 10 * i, np.uint8), "label": i % 3}


class GanspecTinyPhotos(tfds.core.GeneratorBasedBuilder):
    """4 flat RGB images of different sizes, no labels."""

    VERSION = tfds.core.Version("1.0.0")
    code_path = None

    def _info(self):
        features = {"image": tfds.features.Image(shape=(None, None, 3))}
        return tfds.core.DatasetInfo(builder=self, features=tfds.features.FeaturesDict(features))

    def _split_generators(self, dl_manager):
        return {"train": self._generate_examples()}

    def _generate_examples(self):
        for i in range(4):
            yield i, {"image": np.full((5 + i, 9 - i, 3), 40 * i, np.uint8)}


@pytest.fixture(scope="module")
def tiny_builders(tmp_path_factory):
    """The tiny builders, prepared once in a temporary TFDS data folder."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(tfds.core.constants, "DATA_DIR", str(tmp_path_factory.mktemp("tfds")))
        config = tfds.download.DownloadConfig(compute_stats=tfds.download.ComputeStatsMode.SKIP)
        for name in ("ganspec_tiny_digits", "ganspec_tiny_photos"):
            tfds.builder(name).download_and_prepare(download_config=config)
        yield


@pytest.fixture
def mock_mnist():
    with tfds.testing.mock_data(num_examples=40):
        yield


def failure(spec) -> Diagnostic:
    with pytest.raises(DataError) as caught:
        load_data(spec, None)
    return caught.value.diagnostic


def test_mnist_through_tfds(mock_mnist):
    from ganspec.data.tf_pipeline import tf_batches

    dataset = load_data(make_spec('tfds("mnist", split: "train")', (28, 28, 1), classes=10, batch=8), None)
    assert (dataset.size, dataset.sample_shape, dataset.num_classes) == (40, (28, 28, 1), 10)
    assert dataset.class_names == tuple(str(i) for i in range(10))
    assert dataset.examples.dtype == np.uint8 and 0 <= dataset.labels.min() and dataset.labels.max() < 10
    x, y = next(tf_batches(dataset, 8, seed=0).as_numpy_iterator())
    assert x.shape == (8, 28, 28, 1) and x.dtype == np.float32 and y.dtype == np.int32
    assert -1.0 <= x.min() and x.max() <= 1.0
    nx, ny = next(dataset.numpy_batches(8, seed=0))
    np.testing.assert_array_equal(x, nx)
    np.testing.assert_array_equal(y, ny)


def test_limit_and_resize(mock_mnist):
    dataset = load_data(make_spec('tfds("mnist", "test")', (16, 16, 1), data="limit 12\n resize [16, 16]"), None)
    assert dataset.size == 12 and dataset.sample_shape == (16, 16, 1)


@pytest.mark.parametrize("source, arg, text", [
    ('tfds("mnist", image_key: "img")', "image_key", "has no feature 'img'"),
    ('tfds("mnist", shape: [32, 32, 1])', "shape", "have shape (28, 28, 1), but `shape` says (32, 32, 1)"),
])
def test_bad_arguments_point_at_themselves(mock_mnist, source, arg, text):
    spec = make_spec(source, (28, 28, 1))
    d = failure(spec)
    assert d.code == "E204" and text in d.message
    assert d.span == spec.data.source.field_span(arg)


def test_prepared_builder_with_split_slicing(tiny_builders):
    from ganspec.data.tf_pipeline import tf_batches

    spec = make_spec('tfds("ganspec_tiny_digits", split: "train[:9]+test[:2]")', (8, 8, 1),
                     data="scale [0, 1]", classes=3, batch=11)
    dataset = load_data(spec, None)
    assert (dataset.size, dataset.num_classes, dataset.sample_shape) == (11, 3, (8, 8, 1))
    pixels = dataset.examples[:, 0, 0, 0].astype(int)
    train, test = pixels[:9], pixels[9:]  # TFDS slices its stored (shuffled) order, not generation order
    assert len(set(train)) == 9 and set(train) <= set(range(0, 120, 10)) and set(test) <= set(range(0, 60, 10))
    np.testing.assert_array_equal(dataset.labels, (pixels // 10) % 3)
    x, y = next(tf_batches(dataset, 11, seed=0).as_numpy_iterator())
    np.testing.assert_array_equal(y, np.rint(x[:, 0, 0, 0] * 25.5).astype(int) % 3)


def test_unknown_split_suggests_the_nearest(tiny_builders):
    spec = make_spec('tfds("ganspec_tiny_digits", split: "trian")', (8, 8, 1))
    d = failure(spec)
    assert d.code == "E204" and d.message == "TFDS data set 'ganspec_tiny_digits' has no split 'trian'"
    assert d.hint == "did you mean 'train'?" and d.span == spec.data.source.field_span("split")


def test_unknown_data_set_name():
    spec = make_spec('tfds("ganspec_no_such_set")', (8, 8, 1))
    d = failure(spec)
    assert d.code == "E204" and d.message == "unknown TFDS data set 'ganspec_no_such_set'"
    assert d.span == spec.data.source.field_span("name")


def test_images_of_varying_size_are_resized_to_shape(tiny_builders):
    spec = make_spec('tfds("ganspec_tiny_photos", shape: [6, 6, 3])', (6, 6, 3), data="scale none\n shuffle 0")
    dataset = load_data(spec, None)
    assert dataset.sample_shape == (6, 6, 3) and dataset.labels is None and dataset.examples.dtype == np.uint8
    assert sorted(np.unique(dataset.examples).tolist()) == [0, 40, 80, 120]  # flat images stay flat
    d = failure(make_spec('tfds("ganspec_tiny_photos")', (6, 6, 3)))
    assert d.code == "E204" and "vary in size" in d.message and "shape" in d.hint
    d = failure(make_spec('tfds("ganspec_tiny_photos", shape: [6, 6, 1])', (6, 6, 1)))
    assert d.code == "E204" and "3 channels" in d.message


def test_conditional_needs_a_label_feature(tiny_builders):
    d = failure(make_spec('tfds("ganspec_tiny_photos", shape: [6, 6, 3])', (6, 6, 3), classes=2))
    assert d.code == "E305"
