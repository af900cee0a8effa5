"""Bad data stops `run` with a diagnostic that names the file and points at the spec line."""

from __future__ import annotations

import gzip

import numpy as np
import pytest
from PIL import Image

from ganspec.data import DataError, load_data
from ganspec.diagnostics import Diagnostic, SpecError
from tests.data.conftest import SOURCE_LINE, make_spec, write_idx


def failure(spec, spec_dir) -> Diagnostic:
    with pytest.raises(DataError) as caught:
        load_data(spec, spec_dir)
    assert isinstance(caught.value, SpecError)
    assert len(caught.value.diagnostics) >= 1
    return caught.value.diagnostic


def column_of(spec_text_fragment: str) -> int:
    """Column (from 1) of a fragment on the `source` line of the test spec."""
    return len("    source ") + 1 + spec_text_fragment


def images(tmp_path, n=6, name="img.gz"):
    return write_idx(tmp_path / name, np.zeros((n, 4, 4), np.uint8), gz=True)


def test_missing_file_is_e001_at_the_argument(tmp_path):
    source = 'idx("nowhere-images.gz")'
    d = failure(make_spec(source, (4, 4, 1)), tmp_path)
    assert d.code == "E001" and d.name == "unreadable-file"
    assert d.message == "data file not found: nowhere-images.gz"
    assert str(tmp_path) in d.hint
    assert (d.span.file, d.span.line, d.span.column) == ("spec.gan", SOURCE_LINE, column_of(source.index('"')))


def test_missing_labels_file_points_at_labels(tmp_path):
    images(tmp_path)
    source = 'idx("img.gz", labels: "gone.gz")'
    d = failure(make_spec(source, (4, 4, 1)), tmp_path)
    assert d.code == "E001" and "gone.gz" in d.message
    assert d.span.column == column_of(source.index('"gone'))


def test_bad_magic_is_e204_naming_the_file(tmp_path):
    (tmp_path / "img.gz").write_bytes(gzip.compress(b"\x89PNG\r\n\x1a\n" + bytes(100)))
    d = failure(make_spec('idx("img.gz")', (4, 4, 1)), tmp_path)
    assert d.code == "E204" and d.name == "bad-value"
    assert d.message == f"{tmp_path / 'img.gz'} is not an IDX file (bad magic number)"
    assert d.span.line == SOURCE_LINE and "00 00 08 03" in d.hint


def test_raw_file_with_bad_magic(tmp_path):
    (tmp_path / "img").write_bytes(b"\x00\x00\x07\x03" + bytes(20))
    assert "not an IDX file" in failure(make_spec('idx("img")', (4, 4, 1)), tmp_path).message


def test_truncated_idx(tmp_path):
    path = write_idx(tmp_path / "img", np.zeros((6, 4, 4), np.uint8))
    path.write_bytes(path.read_bytes()[:-5])
    d = failure(make_spec('idx("img")', (4, 4, 1)), tmp_path)
    assert d.code == "E204" and "is truncated" in d.message and "(6, 4, 4)" in d.message


def test_corrupt_gzip_is_unreadable(tmp_path):
    noise = np.random.default_rng(0).integers(0, 256, (6, 4, 4), dtype=np.uint8)
    path = write_idx(tmp_path / "img.gz", noise, gz=True)
    whole = path.read_bytes()
    path.write_bytes(whole[: len(whole) // 2])  # an interrupted download
    d = failure(make_spec('idx("img.gz")', (4, 4, 1)), tmp_path)
    assert d.code == "E001" and d.message.startswith(f"cannot read {path}:")
    path.write_bytes(whole[:-8] + bytes(8))  # damaged checksum
    assert failure(make_spec('idx("img.gz")', (4, 4, 1)), tmp_path).code == "E001"


def test_images_labels_count_mismatch(tmp_path):
    images(tmp_path)
    write_idx(tmp_path / "lab.gz", np.zeros(5, np.uint8), gz=True)
    source = 'idx("img.gz", labels: "lab.gz")'
    d = failure(make_spec(source, (4, 4, 1)), tmp_path)
    assert d.code == "E204"
    assert d.message == f"{tmp_path / 'img.gz'} holds 6 images but {tmp_path / 'lab.gz'} holds 5 labels"
    assert d.span.column == column_of(source.index('"lab'))


def test_labels_file_of_wrong_rank(tmp_path):
    images(tmp_path)
    write_idx(tmp_path / "lab.gz", np.zeros((6, 2), np.uint8), gz=True)
    d = failure(make_spec('idx("img.gz", labels: "lab.gz")', (4, 4, 1)), tmp_path)
    assert d.code == "E204" and "expected one label per image (idx1)" in d.message


def test_idx_of_wrong_rank(tmp_path):
    write_idx(tmp_path / "img", np.zeros(6, np.uint8))
    d = failure(make_spec('idx("img")', (4, 4, 1)), tmp_path)
    assert d.code == "E204" and "shape (6,)" in d.message and "(N, H, W)" in d.message


def test_npz_missing_key_suggests_the_nearest(tmp_path):
    np.savez(tmp_path / "d.npz", images=np.zeros((4, 2, 2), np.uint8))
    d = failure(make_spec('npz("d.npz", "image")', (2, 2, 1)), tmp_path)
    assert d.code == "E204" and d.message == f"{tmp_path / 'd.npz'} has no array 'image'"
    assert d.hint == "did you mean 'images'?"


def test_npz_one_hot_labels_and_count_mismatch(tmp_path):
    np.savez(tmp_path / "d.npz", x=np.zeros((4, 2, 2), np.uint8), onehot=np.eye(4), short=np.arange(3))
    d = failure(make_spec('npz("d.npz", labels_key: "onehot")', (2, 2, 1)), tmp_path)
    assert d.code == "E204" and "shape (4, 4)" in d.message and "argmax" in d.hint
    d = failure(make_spec('npz("d.npz", labels_key: "short")', (2, 2, 1)), tmp_path)
    assert d.code == "E204" and "4 examples but 'short' holds 3 labels" in d.message


def test_npz_not_an_archive(tmp_path):
    (tmp_path / "d.npz").write_bytes(b"plain text, not numpy")
    assert failure(make_spec('npz("d.npz")', (2, 2, 1)), tmp_path).code == "E001"
    np.save(tmp_path / "single.npy", np.zeros((4, 2, 2)))
    d = failure(make_spec('npz("single.npy")', (2, 2, 1)), tmp_path)
    assert d.code == "E204" and ".npy" in d.message


def test_integer_images_outside_pixel_range(tmp_path):
    np.savez(tmp_path / "d.npz", x=np.full((4, 2, 2), 300, np.int32))
    d = failure(make_spec('npz("d.npz")', (2, 2, 1)), tmp_path)
    assert d.code == "E204" and "outside 0..255" in d.message


def test_resize_of_rows(tmp_path):
    np.savez(tmp_path / "d.npz", x=np.zeros((4, 3), np.float32))
    d = failure(make_spec('npz("d.npz")', (3,), data="resize [2, 2]"), tmp_path)
    assert d.code == "E204" and d.message.startswith("`resize` applies to images") and d.span.line == SOURCE_LINE + 1


def test_scale_must_increase_is_caught_before_loading():
    from ganspec.load import load_text

    text = 'experiment t { data { source ring scale [1, 1] } latent normal(2) generator { dense(2) } ' \
           'critic { dense(1) } objective hinge }'
    (d,) = load_text(text).diagnostics
    assert d.code == "E204" and d.message == "data.scale must be [low, high] with low < high, got [1, 1]"


def test_folder_problems(tmp_path):
    assert failure(make_spec('folder("absent", shape: [2, 2, 3])', (2, 2, 3)), tmp_path).code == "E001"
    (tmp_path / "empty").mkdir()
    d = failure(make_spec('folder("empty", shape: [2, 2, 3])', (2, 2, 3)), tmp_path)
    assert d.code == "E204" and "holds no PNG or JPEG images" in d.message
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "x.png").write_bytes(b"not a png")
    d = failure(make_spec('folder("bad", shape: [2, 2, 3])', (2, 2, 3)), tmp_path)
    assert d.code == "E001" and str(tmp_path / "bad" / "x.png") in d.message
    (tmp_path / "mixed" / "cls").mkdir(parents=True)
    Image.new("RGB", (2, 2)).save(tmp_path / "mixed" / "a.png")
    Image.new("RGB", (2, 2)).save(tmp_path / "mixed" / "cls" / "b.png")
    assert "mixes images" in failure(make_spec('folder("mixed", shape: [2, 2, 3])', (2, 2, 3)), tmp_path).message


def test_conditional_without_labels_is_e305():
    d = failure(make_spec("ring", classes=3), None)
    assert d.code == "E305" and "needs labels" in d.message and d.span.line == SOURCE_LINE


def test_conditional_with_too_few_classes(tmp_path):
    images(tmp_path)
    write_idx(tmp_path / "lab.gz", np.arange(6, dtype=np.uint8), gz=True)
    d = failure(make_spec('idx("img.gz", labels: "lab.gz")', (4, 4, 1), classes=4), tmp_path)
    assert d.code == "E204" and "the data has 6 classes" in d.message and d.hint == "set `conditional { classes 6 }`"


def test_generator_output_must_match_the_real_data(tmp_path):
    d = failure(make_spec("ring", generator="dense(3)"), None)
    assert d.code == "E303" and "(3)" in d.message and "(2)" in d.message
    images(tmp_path)
    d = failure(make_spec('idx("img.gz")', (4, 4, 1), generator="dense(32) reshape(4, 4, 2)"), tmp_path)
    assert d.code == "E303" and d.hint == "set the last layer's filters to 1"


def test_batch_larger_than_the_data(tmp_path):
    images(tmp_path)
    d = failure(make_spec('idx("img.gz")', (4, 4, 1), batch=8), tmp_path)
    assert d.code == "E204" and d.message == "batch 8 is larger than the data (6 examples)"
