"""Hostile data files (issue 14): decompression bombs and headers that declare more than the machine holds are
refused from their headers, before the data is read; named pipes, devices and folders where a file belongs are
refused before they are opened. Each is a data error (E204, exit 2), never a hang, an OOM or an internal error."""

from __future__ import annotations

import gzip
import io
import os
import struct
import threading
import tracemalloc
import zipfile
import zlib

import numpy as np
import pytest
from PIL import Image

from ganspec.data import DataError, load_data
from ganspec.ir.datashape import parse_bytes, sample_shape
from tests.data.conftest import make_spec, write_idx

MiB = 1 << 20


def failure(spec, spec_dir):
    """The diagnostic of loading `spec`, run in a thread so that a read that blocks fails the test, not hangs it."""
    outcome = {}

    def load():
        try:
            load_data(spec, spec_dir)
            outcome["loaded"] = True
        except BaseException as exc:  # noqa: BLE001 - judged below
            outcome["error"] = exc

    worker = threading.Thread(target=load, daemon=True)
    worker.start()
    worker.join(timeout=60)
    assert not worker.is_alive(), "loading blocked"
    assert isinstance(outcome.get("error"), DataError), outcome
    return outcome["error"].diagnostic


def peak_memory_of(spec, spec_dir) -> tuple[int, object]:
    """(the peak of memory traced while loading, the diagnostic)."""
    tracemalloc.start()
    try:
        d = failure(spec, spec_dir)
        return tracemalloc.get_traced_memory()[1], d
    finally:
        tracemalloc.stop()


# ---- decompression bombs -------------------------------------------------------------------------


def test_a_gzip_idx_that_expands_far_beyond_its_header_is_refused_without_expanding_it(tmp_path):
    header = bytes([0, 0, 8, 3]) + struct.pack(">III", 10, 4, 4)
    member = gzip.compress(bytes(64 * MiB), compresslevel=1)  # 64 MiB of zeros in about 64 KiB
    (tmp_path / "bomb.gz").write_bytes(gzip.compress(header + bytes(160)) + member * 4)  # 256 MiB more
    assert (tmp_path / "bomb.gz").stat().st_size < 2 * MiB
    peak, d = peak_memory_of(make_spec('idx("bomb.gz")', (4, 4, 1)), tmp_path)
    assert d.code == "E204" and "longer than its header says" in d.message
    assert peak < 32 * MiB  # it stopped reading one byte past the declared data


def test_an_idx_header_declaring_more_than_memory_is_refused_before_reading(tmp_path):
    header = bytes([0, 0, 8, 3]) + struct.pack(">III", 4_000_000_000, 100_000, 100_000)
    (tmp_path / "huge.gz").write_bytes(gzip.compress(header + bytes(100)))
    d = failure(make_spec('idx("huge.gz")', (4, 4, 1)), tmp_path)
    assert d.code == "E204" and "declares uint8 data of shape (4000000000, 100000, 100000)" in d.message
    assert "more than the" in d.message and "GANSPEC_MAX_DATA_BYTES" in d.hint


def test_the_bound_on_data_in_memory_can_be_set(tmp_path, monkeypatch):
    write_idx(tmp_path / "img.gz", np.zeros((64, 8, 8), np.uint8), gz=True)
    spec = make_spec('idx("img.gz")', (8, 8, 1))
    monkeypatch.setenv("GANSPEC_MAX_DATA_BYTES", "2K")
    d = failure(spec, tmp_path)
    assert d.code == "E204" and "4.0 KiB, more than the 2.0 KiB" in d.message
    monkeypatch.setenv("GANSPEC_MAX_DATA_BYTES", "1M")
    assert load_data(spec, tmp_path).size == 64
    assert [parse_bytes(t) for t in ("123", "4G", "1.5k", "2MiB", "lots", "-1")] == \
        [123, 4 << 30, 1536, 2 * MiB, None, None]


def npz_with_header(path, shape, payload: bytes = b"", dtype="|u1"):
    """An .npz whose array `x` has a header declaring `shape`, followed by only `payload`."""
    member = io.BytesIO()
    np.lib.format.write_array_header_1_0(member, {"descr": dtype, "fortran_order": False, "shape": shape})
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("x.npy", member.getvalue() + payload)
    return path


def test_an_npz_array_declaring_more_than_memory_is_refused_from_its_header(tmp_path):
    npz_with_header(tmp_path / "huge.npz", (1 << 20, 1 << 20, 1 << 10), bytes(1000))
    d = failure(make_spec('npz("huge.npz")', (4, 4, 1)), tmp_path)
    assert d.code == "E204" and "array 'x'" in d.message and "more than the" in d.message


def test_an_npz_array_whose_member_holds_less_than_its_header_declares_is_truncated(tmp_path):
    npz_with_header(tmp_path / "short.npz", (100, 4, 4), bytes(10))
    d = failure(make_spec('npz("short.npz")', (4, 4, 1)), tmp_path)
    assert d.code == "E204" and "truncated" in d.message and "1600 bytes" in d.message


def test_an_npz_that_expands_beyond_the_bound_is_refused_before_it_is_expanded(tmp_path, monkeypatch):
    np.savez_compressed(tmp_path / "zeros.npz", x=np.zeros((256, 1024, 1024), np.uint8))  # 256 MiB
    assert (tmp_path / "zeros.npz").stat().st_size < 2 * MiB
    monkeypatch.setenv("GANSPEC_MAX_DATA_BYTES", "64M")
    peak, d = peak_memory_of(make_spec('npz("zeros.npz")', (1024, 1024, 1)), tmp_path)
    assert d.code == "E204" and "256.0 MiB, more than the 64.0 MiB" in d.message
    assert peak < 32 * MiB


def test_an_npz_of_python_objects_is_refused_from_its_header(tmp_path):
    npz_with_header(tmp_path / "objects.npz", (2,), bytes(64), dtype="|O")
    d = failure(make_spec('npz("objects.npz")', (4, 4, 1)), tmp_path)
    assert d.code == "E204" and "Python objects" in d.message


def png_header_only(path, width: int, height: int):
    """A PNG that declares width x height RGB pixels and holds a few bytes of image data."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(bytes(64)))
                     + chunk(b"IEND", b""))
    return path


@pytest.mark.parametrize("width, height", [(14_000, 13_000), (13_000, 13_000)])
def test_an_image_over_pillows_pixel_limits_is_refused_from_its_header(tmp_path, width, height):
    """Over Pillow's refusal (2 x MAX_IMAGE_PIXELS, 178 MP) and over its warning (89 MP) but under the refusal:
    both are refused before a pixel is decoded (the second holds far less data than it declares)."""
    (tmp_path / "imgs").mkdir()
    png_header_only(tmp_path / "imgs" / "big.png", width, height)
    peak, d = peak_memory_of(make_spec('folder("imgs", shape: [8, 8, 3])', (8, 8, 3)), tmp_path)
    assert d.code == "E204" and "too large to read" in d.message and "big.png" in d.message
    assert peak < 32 * MiB


def test_a_folder_of_images_bigger_than_the_bound_is_refused_before_decoding(tmp_path, monkeypatch):
    (tmp_path / "imgs").mkdir()
    for i in range(10):
        Image.new("RGB", (8, 8)).save(tmp_path / "imgs" / f"{i}.png")
    monkeypatch.setenv("GANSPEC_MAX_DATA_BYTES", "1K")
    d = failure(make_spec('folder("imgs", shape: [8, 8, 3])', (8, 8, 3)), tmp_path)
    assert d.code == "E204" and "10 images of shape (8, 8, 3)" in d.message


# ---- paths that are not regular files ------------------------------------------------------------


@pytest.fixture
def not_files(tmp_path):
    """A named pipe, a device and a folder, by the name a spec gives them."""
    os.mkfifo(tmp_path / "pipe")
    (tmp_path / "folder").mkdir()
    return {"pipe": ("pipe", "a named pipe (FIFO)"), "device": ("/dev/zero", "a device"),
            "folder": ("folder", "a folder")}


@pytest.mark.parametrize("which", ["pipe", "device", "folder"])
@pytest.mark.parametrize("source", ['idx("{path}")', 'idx("ok.gz", labels: "{path}")', 'npz("{path}")'])
def test_a_pipe_device_or_folder_named_as_a_data_file_is_refused_without_opening_it(tmp_path, not_files,
                                                                                     which, source):
    write_idx(tmp_path / "ok.gz", np.zeros((4, 4, 4), np.uint8), gz=True)
    path, what = not_files[which]
    d = failure(make_spec(source.format(path=path), (4, 4, 1)), tmp_path)
    assert d.code == "E204" and f"is {what}, not a data file" in d.message


def test_validate_reads_no_header_from_a_named_pipe(tmp_path, not_files):
    spec = make_spec('idx("pipe")', (4, 4, 1))
    shape, problem = sample_shape(spec.data.source, tmp_path)
    assert shape is None and "is a named pipe (FIFO), not a data file" in problem
