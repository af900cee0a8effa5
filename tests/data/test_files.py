"""File readers: IDX (gzip and raw), .npz, image folders; scaling, resizing and `limit`."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from ganspec.data import load_data, load_source
from ganspec.data.arrays import read_idx
from ganspec.data.registry import Request
from ganspec.ir.components import SOURCES
from tests.data.conftest import make_spec, write_idx


def first_batch(dataset, batch=None, seed=0):
    return next(dataset.numpy_batches(batch or dataset.size, seed))


def pixel_images(n=6, h=4, w=3):
    return (np.arange(n * h * w) % 256).astype(np.uint8).reshape(n, h, w)


@pytest.mark.parametrize("gz", [False, True])
def test_idx_images_and_labels(tmp_path, gz):
    images = pixel_images()
    suffix = ".gz" if gz else ""
    write_idx(tmp_path / f"img{suffix}", images, gz=gz)
    write_idx(tmp_path / f"lab{suffix}", np.array([0, 1, 2, 0, 1, 2], np.uint8), gz=gz)
    spec = make_spec(f'idx("img{suffix}", labels: "lab{suffix}")', (4, 3, 1),
                     data="scale [0, 1]\n shuffle 0", classes=3, batch=6)
    dataset = load_data(spec, tmp_path)
    assert (dataset.size, dataset.sample_shape, dataset.num_classes, dataset.conditional) == (6, (4, 3, 1), 3, True)
    x, y = first_batch(dataset)
    np.testing.assert_array_equal(x[..., 0], images / np.float32(255))
    np.testing.assert_array_equal(y, [0, 1, 2, 0, 1, 2])
    assert x.dtype == np.float32 and y.dtype == np.int32


def test_idx_reads_wider_types_big_endian(tmp_path):
    values = np.arange(12, dtype=np.float32).reshape(3, 4) / 3
    path = write_idx(tmp_path / "rows.idx", values, type_byte=0x0D)
    spec = make_spec('idx("rows.idx")', (4,))
    array = read_idx(path, Request(spec.data.source, spec.data), "images")
    np.testing.assert_array_equal(array, values)
    dataset = load_data(make_spec('idx("rows.idx")', (4,), data="shuffle 0", batch=3), tmp_path)
    np.testing.assert_array_equal(first_batch(dataset), values)  # floats are used as they are


@pytest.mark.parametrize("scale, low, high", [("[-1, 1]", -1.0, 1.0), ("[0, 1]", 0.0, 1.0), ("none", 0.0, 255.0)])
def test_pixel_scaling(tmp_path, scale, low, high):
    images = np.array([0, 51, 127, 128, 255], np.uint8).reshape(5, 1, 1)
    write_idx(tmp_path / "img", images)
    dataset = load_data(make_spec('idx("img")', (1, 1, 1), data=f"scale {scale}\n shuffle 0", batch=5), tmp_path)
    x = first_batch(dataset).ravel()
    assert x[0] == low and x[-1] == high
    np.testing.assert_allclose(x, low + images.ravel() / 255 * (high - low), rtol=1e-6, atol=1e-6)
    if scale == "[-1, 1]":
        np.testing.assert_array_equal(x, images.ravel().astype(np.float32) / np.float32(127.5) - 1)


def test_limit_keeps_the_first_examples(tmp_path):
    images = pixel_images(10)
    write_idx(tmp_path / "img", images)
    write_idx(tmp_path / "lab", np.arange(10, dtype=np.uint8) % 5)
    dataset = load_data(make_spec('idx("img", labels: "lab")', (4, 3, 1), data="limit 4\n shuffle 0\n scale none"),
                        tmp_path)
    assert dataset.size == 4
    np.testing.assert_array_equal(first_batch(dataset)[..., 0], images[:4])
    np.testing.assert_array_equal(dataset.labels, [0, 1, 2, 3])


def test_resize_changes_sample_shape(tmp_path):
    write_idx(tmp_path / "img", np.full((4, 8, 8), 200, np.uint8))
    dataset = load_data(make_spec('idx("img")', (4, 6, 1), data="resize [4, 6]\n scale [0, 1]"), tmp_path)
    assert dataset.sample_shape == (4, 6, 1)
    x = first_batch(dataset)
    assert x.shape == (4, 4, 6, 1)
    np.testing.assert_allclose(x, 200 / 255, rtol=1e-6)  # a flat image stays flat


def test_npz_images_labels_and_rows(tmp_path):
    images = pixel_images(8, 2, 2)[..., None].repeat(3, axis=-1)
    np.savez(tmp_path / "d.npz", pics=images, y=np.arange(8) % 4, rows=np.random.rand(8, 5))
    dataset = load_data(make_spec('npz("d.npz", "pics", labels_key: "y")', (2, 2, 3), data="shuffle 0",
                                  classes=4, batch=8), tmp_path)
    x, y = first_batch(dataset)
    assert dataset.sample_shape == (2, 2, 3) and dataset.num_classes == 4
    np.testing.assert_array_equal(x, images.astype(np.float32) / np.float32(127.5) - 1)
    np.testing.assert_array_equal(y, np.arange(8) % 4)
    rows = load_data(make_spec('npz("d.npz", "rows")', (5,)), tmp_path)
    assert rows.sample_shape == (5,) and rows.labels is None and not rows.conditional


def test_npz_grey_images_gain_a_channel_axis(tmp_path):
    np.savez(tmp_path / "d.npz", x=pixel_images(4, 3, 3))
    dataset = load_data(make_spec('npz("d.npz")', (3, 3, 1)), tmp_path)
    assert dataset.sample_shape == (3, 3, 1)


def write_png(path, colour, size=(16, 12), mode="RGB"):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, size, colour).save(path)


def test_folder_with_class_subfolders(tmp_path):
    for i in range(3):
        write_png(tmp_path / "imgs" / "zebra" / f"{i}.png", (0, 0, 255))
        write_png(tmp_path / "imgs" / "ant" / f"{i}.PNG", (255, 0, 0))
    (tmp_path / "imgs" / "empty").mkdir()
    (tmp_path / "imgs" / "ant" / "notes.txt").write_text("not an image")
    spec = make_spec('folder("imgs", shape: [6, 8, 3])', (6, 8, 3), data="scale [0, 1]\n shuffle 0",
                     classes=2, batch=6)
    dataset = load_data(spec, tmp_path)
    assert dataset.size == 6 and dataset.sample_shape == (6, 8, 3)
    assert dataset.class_names == ("ant", "zebra") and dataset.num_classes == 2
    x, y = first_batch(dataset)
    np.testing.assert_array_equal(y, [0, 0, 0, 1, 1, 1])
    np.testing.assert_array_equal(x[0, 0, 0], [1, 0, 0])
    np.testing.assert_array_equal(x[-1, -1, -1], [0, 0, 1])


def test_folder_without_subfolders_reads_jpeg_as_grey(tmp_path):
    for i in range(4):
        write_png(tmp_path / "flat" / f"{i}.jpg", 100 + 10 * i, size=(4, 4), mode="L")
    dataset = load_data(make_spec('folder("flat", shape: [4, 4, 1])', (4, 4, 1), data="scale none\n shuffle 0"),
                        tmp_path)
    assert dataset.labels is None and dataset.num_classes is None and dataset.sample_shape == (4, 4, 1)
    means = first_batch(dataset).mean(axis=(1, 2, 3))
    np.testing.assert_allclose(means, [100, 110, 120, 130], atol=2)  # JPEG is lossy


def test_folder_limit_reads_only_the_first_files(tmp_path):
    for i in range(5):
        write_png(tmp_path / "f" / f"{i}.png", (i, i, i), size=(2, 2))
    (tmp_path / "f" / "4.png").write_bytes(b"broken")  # never read, thanks to the limit
    dataset = load_data(make_spec('folder("f", shape: [2, 2, 3])', (2, 2, 3), data="limit 4"), tmp_path)
    assert dataset.size == 4


def test_load_source_without_a_spec(tmp_path):
    """A second data set (e.g. a held-out reference set for metrics) loads with the default preprocessing."""
    np.savez(tmp_path / "ref.npz", x=np.array([0, 255], np.uint8).reshape(2, 1, 1))
    dataset = load_source(SOURCES["npz"](path="ref.npz"), spec_dir=tmp_path)
    assert dataset.size == 2 and not dataset.conditional
    np.testing.assert_array_equal(np.sort(dataset.sample(2, seed=0).ravel()), [-1, 1])
