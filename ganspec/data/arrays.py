"""Readers of data files, numpy and Pillow only: IDX (MNIST layout), .npz archives, image folders."""

from __future__ import annotations

import gzip
import struct
import warnings
import zipfile
import zlib
from pathlib import Path

import numpy as np

from ganspec.data.dataset import ArrayDataset
from ganspec.data.errors import bad_data, unreadable
from ganspec.data.registry import Examples, Request, array_dataset, register
from ganspec.diagnostics import did_you_mean
from ganspec.ir.datashape import (
    MAX_DATA_BYTES_VARIABLE, NotAFile, check_regular_file, max_data_bytes, read_idx_header, read_npy_header,
)

GZIP_MAGIC = b"\x1f\x8b"
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
PIL_MODES = {1: "L", 3: "RGB", 4: "RGBA"}

# ---- IDX -----------------------------------------------------------------------------------


def read_idx(path: Path, request: Request, arg: str) -> np.ndarray:
    """The array in an IDX file (gzip or raw, told apart by magic bytes), in native byte order. The size its
    header declares is checked first, and no more than that is ever read or decompressed."""
    span = request.span(arg)
    try:
        dtype_name, dims = read_idx_header(path)
        dtype = np.dtype(dtype_name).newbyteorder(">")
        offset = 4 + 4 * len(dims)
        expected = offset + int(np.prod(dims, dtype=object)) * dtype.itemsize
        check_size(expected - offset, f"{path} declares {dtype_name} data of shape {dims}", span)
        raw = read_at_most(path, expected + 1)  # one byte more tells "longer than its header says"
    except NotAFile as exc:
        raise bad_data(str(exc), span, NOT_A_FILE_HINT) from None
    except ValueError:
        raise bad_data(f"{path} is not an IDX file (bad magic number)", span,
                       "IDX files start with two zero bytes, a type byte (0x08 = uint8) and the number "
                       "of dimensions, e.g. 00 00 08 03 for MNIST images") from None
    except (OSError, EOFError, struct.error, zlib.error) as exc:
        raise unreadable(f"cannot read {path}: {exc}", span) from None
    if len(raw) != expected:
        raise bad_data(f"{path} is {'truncated' if len(raw) < expected else 'longer than its header says'}: "
                       f"a header for {dtype_name} data of shape {dims} needs {expected} bytes, "
                       f"the file has {'more' if len(raw) > expected else len(raw)}", span)
    array = np.frombuffer(raw, dtype=dtype, offset=offset).reshape(dims)
    return array.astype(dtype.newbyteorder("="))


READ_CHUNK = 1 << 24


def read_at_most(path: Path, limit: int) -> bytearray:
    """Up to `limit` bytes of a file, decompressed when it is gzip (told by its magic bytes), read in chunks:
    a small file that expands to far more stops at `limit`."""
    with open(path, "rb") as fh:
        gzipped = fh.read(2) == GZIP_MAGIC
    if not gzipped:
        limit = min(limit, path.stat().st_size)
    buffer = bytearray(limit)
    view = memoryview(buffer)
    filled = 0
    with (gzip.open if gzipped else open)(path, "rb") as fh:
        while filled < limit:
            got = fh.readinto(view[filled:filled + READ_CHUNK])
            if not got:
                break
            filled += got
    view.release()
    del buffer[filled:]
    return buffer


NOT_A_FILE_HINT = "name a data file; a named pipe or a device is never read, as it may not end"


def check_size(nbytes: int, what: str, span) -> None:
    """A data error when `nbytes` of data would not fit the bound on data held in memory (`max_data_bytes`)."""
    limit = max_data_bytes()
    if nbytes > limit:
        raise bad_data(f"{what}: {_size(nbytes)}, more than the {_size(limit)} data may take in memory",
                       span, f"the bound is the memory available now; set ${MAX_DATA_BYTES_VARIABLE} (e.g. 16G) to "
                             "change it, or check the file: a damaged header can declare any size")


def _size(nbytes: int) -> str:
    for unit, scale in (("TiB", 1 << 40), ("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if nbytes >= scale:
            return f"{nbytes / scale:.1f} {unit}"
    return f"{nbytes} bytes"


@register("idx")
def load_idx(request: Request) -> ArrayDataset:
    images_path = request.find("images")
    images = read_idx(images_path, request, "images")
    if images.ndim == 3:
        images = images[..., None]
    if images.ndim not in (2, 4):
        raise bad_data(f"{images_path} holds an array of shape {images.shape}; expected images (N, H, W) "
                       "(idx3) or (N, H, W, C)", request.span("images"))
    labels = None
    if request.source.labels:
        labels_path = request.find("labels")
        labels = read_idx(labels_path, request, "labels")
        if labels.ndim != 1:
            raise bad_data(f"{labels_path} holds an array of shape {labels.shape}; expected one label per "
                           "image (idx1)", request.span("labels"))
        if len(labels) != len(images):
            raise bad_data(f"{images_path} holds {len(images)} images but {labels_path} holds "
                           f"{len(labels)} labels", request.span("labels"),
                           "images and labels must come from the same set (e.g. both t10k)")
    return array_dataset(request, Examples(images, labels), str(images_path))


# ---- npz -----------------------------------------------------------------------------------


def npz_array(archive, key: str, path: Path, request: Request, arg: str) -> np.ndarray:
    if key not in archive.files:
        hint = did_you_mean(key, archive.files) or f"it holds: {', '.join(archive.files) or 'nothing'}"
        raise bad_data(f"{path} has no array {key!r}", request.span(arg), hint)
    try:
        return archive[key]
    except (ValueError, EOFError, OSError, zipfile.BadZipFile, zlib.error) as exc:
        # object arrays need pickle, which is never enabled for data; a damaged member does not read
        raise bad_data(f"cannot read array {key!r} from {path}: {exc}", request.span(arg)) from None


def check_npz_sizes(archive, keys: dict[str, str], path: Path, request: Request) -> None:
    """The arrays `keys` ({argument: array name}) of an .npz archive, checked from their headers before any
    is loaded: their declared sizes must fit in memory together, and their members must hold that much."""
    total = 0
    for arg, key in keys.items():
        if key not in archive.files:
            continue  # npz_array says so, with the names it does hold
        try:
            shape, dtype, declared, stored = read_npy_header(archive.zip, key)
        except (ValueError, EOFError, OSError, KeyError, zipfile.BadZipFile, zlib.error) as exc:
            raise bad_data(f"cannot read the header of array {key!r} in {path}: {exc}", request.span(arg)) from None
        if dtype.hasobject:
            raise bad_data(f"array {key!r} of {path} holds Python objects, which are never unpickled from data "
                           "files", request.span(arg), "save numbers: numpy.savez(path, x=images.astype('uint8'))")
        total += declared
        check_size(total, f"array {key!r} of {path} declares {dtype} data of shape {shape}"
                   if total == declared else f"the arrays of {path} declare", request.span(arg))
        if declared > stored:
            raise bad_data(f"array {key!r} of {path} is truncated: its header declares {dtype} data of shape "
                           f"{shape} ({declared} bytes), its archive member holds {max(stored, 0)}",
                           request.span(arg))


@register("npz")
def load_npz(request: Request) -> ArrayDataset:
    source = request.source
    path = request.find("path")
    span = request.span("path")
    try:
        check_regular_file(path)
        if not zipfile.is_zipfile(path):
            with open(path, "rb") as fh:
                single = fh.read(6) == b"\x93NUMPY"
            if single:
                raise bad_data(f"{path} holds a single array (.npy); expected an .npz archive", span,
                               "save with numpy.savez(path, x=images, y=labels)")
            raise unreadable(f"cannot read {path} as a NumPy .npz archive: it is not a zip archive", span)
        archive = np.load(path, allow_pickle=False)
    except NotAFile as exc:
        raise bad_data(str(exc), span, NOT_A_FILE_HINT) from None
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise unreadable(f"cannot read {path} as a NumPy .npz archive: {exc}", span) from None
    with archive:
        keys = {"key": source.key, **({"labels_key": source.labels_key} if source.labels_key else {})}
        check_npz_sizes(archive, keys, path, request)
        images = npz_array(archive, source.key, path, request, "key")
        labels = npz_array(archive, source.labels_key, path, request, "labels_key") if source.labels_key else None
    if images.ndim == 3:
        images = images[..., None]
    if labels is not None and labels.ndim == 1 and len(labels) != len(images):
        raise bad_data(f"{path}: array {source.key!r} holds {len(images)} examples but {source.labels_key!r} "
                       f"holds {len(labels)} labels", request.span("labels_key"))
    return array_dataset(request, Examples(images, labels), f"{path} [{source.key!r}]")


# ---- image folders -------------------------------------------------------------------------


def image_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def read_image(path: Path, shape: tuple[int, int, int], request: Request) -> np.ndarray:
    """One image file as uint8 (H, W, C), converted to C channels and resized to (H, W) (bilinear)."""
    from PIL import Image, UnidentifiedImageError

    height, width, channels = shape
    try:
        with warnings.catch_warnings():
            # Pillow warns above Image.MAX_IMAGE_PIXELS and refuses at twice that; both are refused here,
            # from the size in the file's header, before its pixels are decoded.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(path)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise bad_data(f"image {path} is too large to read: {exc}", request.span("path"),
                       IMAGE_TOO_LARGE_HINT) from None
    except (OSError, UnidentifiedImageError, ValueError) as exc:
        raise unreadable(f"cannot read image {path}: {exc}", request.span("path")) from None
    try:
        with image:
            decoded = image.width * image.height * max(len(image.getbands()), channels)
            check_size(decoded, f"image {path} is {image.width} x {image.height} pixels", request.span("path"))
            image = image.convert(PIL_MODES[channels])
            if image.size != (width, height):
                image = image.resize((width, height), Image.Resampling.BILINEAR)
            pixels = np.asarray(image, dtype=np.uint8)
    except (OSError, UnidentifiedImageError, ValueError) as exc:
        raise unreadable(f"cannot read image {path}: {exc}", request.span("path")) from None
    return pixels.reshape(height, width, channels)


IMAGE_TOO_LARGE_HINT = "folder() images are decoded whole, then resized to the spec's shape: shrink the files first"


@register("folder")
def load_folder(request: Request) -> ArrayDataset:
    """Images directly in the folder (no labels), or in one sub-folder per class (sorted names)."""
    shape = tuple(request.source.shape)
    root = request.find("path")
    if not root.is_dir():
        raise bad_data(f"{root} is not a folder", request.span("path"),
                       "folder() reads a folder of PNG/JPEG images; use idx() or npz() for array files")
    if shape[2] not in PIL_MODES:
        raise bad_data(f"folder images need 1, 3 or 4 channels, not {shape[2]}", request.span("shape"))
    classes = sorted(d for d in root.iterdir() if d.is_dir() and not d.name.startswith(".") and image_files(d))
    loose = image_files(root)
    if classes and loose:
        raise bad_data(f"{root} mixes images ({loose[0].name}, ...) with class sub-folders "
                       f"({classes[0].name}, ...)", request.span("path"),
                       "put every image in a class sub-folder, or use a folder without sub-folders")
    if classes:
        files = [(f, label) for label, d in enumerate(classes) for f in image_files(d)]
    else:
        files = [(f, None) for f in loose]
    if not files:
        raise bad_data(f"{root} holds no PNG or JPEG images", request.span("path"))
    if request.data.limit is not None:
        files = files[:request.data.limit]
    check_size(len(files) * int(np.prod(shape)), f"{len(files)} images of shape {shape} in {root}",
               request.span("path"))
    images = np.stack([read_image(f, shape, request) for f, _ in files])
    labels = np.array([label for _, label in files], dtype=np.int32) if classes else None
    names = tuple(d.name for d in classes) if classes else None
    return array_dataset(request, Examples(images, labels, len(classes) or None, names), str(root))
