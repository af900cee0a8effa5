"""The shape of one data sample, found without TensorFlow (file headers, known data sets),
and where data files are looked up. What the spec then does to that shape (`resize`,
packing, label channels) is in `ganspec.ir.shapes`."""

from __future__ import annotations

import gzip
import os
import stat
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


class NotAFile(ValueError):
    """A data path that names something other than a regular file (a folder, a named pipe, a device)."""


# What a data file must not be, by `stat` type: reading a named pipe blocks until a writer comes, and a
# device such as /dev/zero never ends.
NOT_FILES = ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a named pipe (FIFO)"), (stat.S_ISCHR, "a device"),
             (stat.S_ISBLK, "a device"), (stat.S_ISSOCK, "a socket"))


def check_regular_file(path: Path) -> None:
    """Raise NotAFile unless `path` (links followed) is a regular file; checked with `stat`, before any
    `open`, which would block on a named pipe. OSError when it cannot be looked at."""
    mode = os.stat(path).st_mode
    if not stat.S_ISREG(mode):
        what = next((name for test, name in NOT_FILES if test(mode)), "not a regular file")
        raise NotAFile(f"{path} is {what}, not a data file")


# Data read into memory is bounded before it is read: a file's header declares its array's shape, and a small
# compressed file (gzip IDX, .npz, PNG) may declare, or expand to, far more than the machine holds.
MAX_DATA_BYTES_VARIABLE = "GANSPEC_MAX_DATA_BYTES"
DEFAULT_MAX_DATA_BYTES = 8 << 30  # when the available memory cannot be read


def max_data_bytes() -> int:
    """The most bytes of data a run reads into memory: $GANSPEC_MAX_DATA_BYTES (a number of bytes, or with a
    K, M, G or T suffix), else the memory available now (else 8 GiB)."""
    chosen = os.environ.get(MAX_DATA_BYTES_VARIABLE, "").strip()
    if chosen:
        parsed = parse_bytes(chosen)
        if parsed is not None:
            return parsed
    return available_memory() or DEFAULT_MAX_DATA_BYTES


def parse_bytes(text: str) -> int | None:
    """`123`, `512M`, `4G`, `1.5T` (powers of 1024) as bytes; None when it is not such a number."""
    units = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
    text = text.strip().upper().removesuffix("B").removesuffix("I")
    unit = text[-1:] if text[-1:] in units else ""
    try:
        value = float(text[:len(text) - len(unit)])
    except ValueError:
        return None
    return int(value * units[unit]) if value > 0 else None


def available_memory() -> int | None:
    """Bytes of memory available to a new allocation now (Linux MemAvailable, else free pages), or None."""
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def read_idx_header(path: Path) -> tuple[str, tuple[int, ...]]:
    """(dtype, dims) from an IDX file header; gzip detected by its magic bytes. NotAFile (a ValueError) for a
    folder, named pipe or device."""
    check_regular_file(path)
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
    check_regular_file(path)
    with zipfile.ZipFile(path) as zf:
        return read_npy_header(zf, key)[0]


def read_npy_header(archive: zipfile.ZipFile, key: str):
    """(shape, dtype, bytes of data the header declares, bytes the archive says the member holds) of array `key`
    of an open .npz archive, from the header of its `.npy` member only; KeyError when there is no such array."""
    import numpy as np

    info = archive.getinfo(key + ".npy")
    with archive.open(info) as fh:
        version = np.lib.format.read_magic(fh)
        read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, _, dtype = read(fh)
        header_end = fh.tell()
    count = 1
    for dim in shape:
        count *= int(dim)
    return tuple(shape), dtype, count * dtype.itemsize, info.file_size - header_end


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
        except (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile) as exc:
            return None, f"cannot read array {source.key!r} from {found}: {exc}"
    if source.kind == "tfds":
        return None, f"the shape of tfds data set {source.name!r} is not known; give it as `shape: [h, w, c]`"
    return None, None
