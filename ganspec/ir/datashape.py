"""The shape of one data sample, found without TensorFlow (file headers, known data sets),
and where data files are looked up. What the spec then does to that shape (`resize`,
packing, label channels) is in `ganspec.ir.shapes`."""

from __future__ import annotations

import gzip
import os
import struct
import sys
import zipfile
from pathlib import Path

from ganspec.ir.components import Source

IDX_DTYPES = {0x08: "uint8", 0x09: "int8", 0x0B: "int16", 0x0C: "int32", 0x0D: "float32", 0x0E: "float64"}


def data_roots(spec_dir: str | Path | None) -> list[Path]:
    """Folders searched for relative data paths, in order: the spec's folder, the $GANSPEC_DATA
    entries, the working folder, then the per-user data folder that `ganspec data get` fills."""
    roots = []
    if spec_dir is not None:
        roots.append(Path(spec_dir))
    for entry in os.environ.get("GANSPEC_DATA", "").split(os.pathsep):
        if entry:
            roots.append(Path(entry))
    roots.append(Path.cwd())
    user = user_data_dir()
    if user is not None:
        roots.append(user)
    return roots


def user_data_dir() -> Path | None:
    """The per-user data folder, which `ganspec data get` fills: $GANSPEC_DATA_HOME, else
    `ganspec/data` in the platform's place for a user's application data (Linux
    `$XDG_DATA_HOME` or `~/.local/share`, macOS `~/Library/Application Support`, Windows
    `%LOCALAPPDATA%`). None when there is no home folder to put it in."""
    chosen = os.environ.get("GANSPEC_DATA_HOME")
    if chosen:
        return Path(os.path.expanduser(chosen))
    base = _application_data_home()
    return base / "ganspec" / "data" if base is not None else None


def _application_data_home() -> Path | None:
    """Where the platform keeps a user's application data (what platformdirs calls user_data_dir)."""
    if sys.platform == "win32" and os.environ.get("LOCALAPPDATA"):
        return Path(os.environ["LOCALAPPDATA"])
    xdg = os.environ.get("XDG_DATA_HOME", "")
    if sys.platform not in ("win32", "darwin") and os.path.isabs(xdg):  # a relative one is invalid: ignored
        return Path(xdg)
    try:
        home = Path.home()
    except (RuntimeError, KeyError):  # no $HOME and no password entry (some containers)
        return None
    if sys.platform == "win32":
        return home / "AppData" / "Local"
    if sys.platform == "darwin":
        return home / "Library" / "Application Support"
    return home / ".local" / "share"


def find_data_file(path: str, spec_dir: str | Path | None) -> Path | None:
    """An existing file for a data path, or None."""
    p = Path(os.path.expanduser(path))
    if p.is_absolute():
        return p if p.exists() else None
    for root in data_roots(spec_dir):
        candidate = root / p
        if candidate.exists():
            return candidate
    return None


def read_idx_header(path: Path) -> tuple[str, tuple[int, ...]]:
    """(dtype, dims) from an IDX file header; gzip detected by its magic bytes."""
    with open(path, "rb") as fh:
        head = fh.read(2)
    opener = gzip.open if head == b"\x1f\x8b" else open
    with opener(path, "rb") as fh:
        magic = fh.read(4)
        if len(magic) < 4 or magic[0] != 0 or magic[1] != 0 or magic[2] not in IDX_DTYPES:
            raise ValueError(f"{path} is not an IDX file (bad magic number)")
        ndim = magic[3]
        dims = struct.unpack(">" + "I" * ndim, fh.read(4 * ndim))
    return IDX_DTYPES[magic[2]], tuple(dims)


def read_npz_shape(path: Path, key: str) -> tuple[int, ...]:
    """The shape of one array inside an .npz file, read from its header only."""
    import numpy as np

    with zipfile.ZipFile(path) as zf:
        with zf.open(key + ".npy") as fh:
            version = np.lib.format.read_magic(fh)
            read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            shape, _, _ = read(fh)
    return tuple(shape)


def image_shape(dims: tuple[int, ...]) -> tuple[int, ...]:
    """Per-sample shape of an image array (N, H, W[, C]) or a table (N, D)."""
    sample = tuple(dims[1:])
    if len(sample) == 2:
        return sample + (1,)
    return sample


def sample_shape(source: Source, spec_dir) -> tuple[tuple[int, ...] | None, str | None]:
    """(shape, problem): the sample shape when it can be known, and why not otherwise."""
    known = source.known_shape()
    if known is not None:
        return tuple(known), None
    if source.kind == "idx":
        found = find_data_file(source.images, spec_dir)
        if found is None:
            return None, f"data file not found: {source.images}"
        try:
            _, dims = read_idx_header(found)
        except (OSError, ValueError, struct.error, EOFError) as exc:
            return None, f"cannot read {found}: {exc}"
        return image_shape(dims), None
    if source.kind == "npz":
        found = find_data_file(source.path, spec_dir)
        if found is None:
            return None, f"data file not found: {source.path}"
        try:
            return image_shape(read_npz_shape(found, source.key)), None
        except (OSError, KeyError, ValueError, zipfile.BadZipFile) as exc:
            return None, f"cannot read array {source.key!r} from {found}: {exc}"
    if source.kind == "tfds":
        return None, f"the shape of tfds data set {source.name!r} is not known; give it as `shape: [h, w, c]`"
    return None, None
