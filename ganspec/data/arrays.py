"""Readers of data files, numpy and Pillow only: IDX (MNIST layout), .npz archives, image folders."""

from __future__ import annotations

import gzip
import struct
import zipfile
import zlib
from pathlib import Path

import numpy as np

from ganspec.data.dataset import ArrayDataset
from ganspec.data.errors import bad_data, unreadable
from ganspec.data.registry import Examples, Request, array_dataset, register
from ganspec.diagnostics import did_you_mean
from ganspec.ir.datashape import read_idx_header

GZIP_MAGIC = b"\x1f\x8b"
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
PIL_MODES = {1: "L", 3: "RGB", 4: "RGBA"}

# ---- IDX -----------------------------------------------------------------------------------


def read_idx(path: Path, request: Request, arg: str) -> np.ndarray:
    """The array in an IDX file (gzip or raw, told apart by magic bytes), in native byte order."""
    span = request.span(arg)
    try:
        dtype_name, dims = read_idx_header(path)
        raw = path.read_bytes()
        if raw[:2] == GZIP_MAGIC:
            raw = gzip.decompress(raw)
    except ValueError:
        raise bad_data(f"{path} is not an IDX file (bad magic number)", span,
                       "IDX files start with two zero bytes, a type byte (0x08 = uint8) and the number "
                       "of dimensions, e.g. 00 00 08 03 for MNIST images") from None
    except (OSError, EOFError, struct.error, zlib.error) as exc:
        raise unreadable(f"cannot read {path}: {exc}", span) from None
    dtype = np.dtype(dtype_name).newbyteorder(">")
    offset = 4 + 4 * len(dims)
    expected = offset + int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    if len(raw) != expected:
        raise bad_data(f"{path} is {'truncated' if len(raw) < expected else 'longer than its header says'}: "
                       f"a header for {dtype_name} data of shape {dims} needs {expected} bytes, "
                       f"the file has {len(raw)}", span)
    array = np.frombuffer(raw, dtype=dtype, offset=offset).reshape(dims)
    return array.astype(dtype.newbyteorder("="))


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
    except ValueError as exc:  # object arrays need pickle, which is never enabled for data
        raise bad_data(f"cannot read array {key!r} from {path}: {exc}", request.span(arg)) from None


@register("npz")
def load_npz(request: Request) -> ArrayDataset:
    source = request.source
    path = request.find("path")
    try:
        archive = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise unreadable(f"cannot read {path} as a NumPy .npz archive: {exc}", request.span("path")) from None
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise bad_data(f"{path} holds a single array (.npy); expected an .npz archive", request.span("path"),
                       "save with numpy.savez(path, x=images, y=labels)")
    with archive:
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
        with Image.open(path) as image:
            image = image.convert(PIL_MODES[channels])
            if image.size != (width, height):
                image = image.resize((width, height), Image.Resampling.BILINEAR)
            pixels = np.asarray(image, dtype=np.uint8)
    except (OSError, UnidentifiedImageError, ValueError) as exc:
        raise unreadable(f"cannot read image {path}: {exc}", request.span("path")) from None
    return pixels.reshape(height, width, channels)


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
    images = np.stack([read_image(f, shape, request) for f, _ in files])
    labels = np.array([label for _, label in files], dtype=np.int32) if classes else None
    names = tuple(d.name for d in classes) if classes else None
    return array_dataset(request, Examples(images, labels, len(classes) or None, names), str(root))
