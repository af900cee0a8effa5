"""Shared test fixtures: paths, real-data lookup, golden-file updating."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SPECS = ROOT / "specs"


def _data_root() -> Path:
    """The folder holding `mnist/`: the first $GANSPEC_DATA entry (as the specs search it), else the
    workspace's ../shared/data beside the checkout."""
    for entry in os.environ.get("GANSPEC_DATA", "").split(os.pathsep):
        if entry:
            return Path(entry).expanduser().resolve()
    return (ROOT.parent / "shared" / "data").resolve()


DATA_ROOT = _data_root()
# Specs name data relative to a data root; point the specs (and subprocesses) at the same one.
if DATA_ROOT.exists():
    os.environ.setdefault("GANSPEC_DATA", str(DATA_ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# The per-user data folder (`ganspec data get`) is searched too: the tests see an empty one of their own, so
# that data a developer downloaded cannot change what they find.
# It is removed when the process that made it exits (one per pytest process; subprocesses use their parent's).
os.environ["GANSPEC_DATA_HOME"] = tempfile.mkdtemp(prefix="ganspec-test-data-home-")
atexit.register(shutil.rmtree, os.environ["GANSPEC_DATA_HOME"], ignore_errors=True)


def pytest_addoption(parser):
    parser.addoption("--update-golden", action="store_true", help="rewrite golden files from current output")


@pytest.fixture
def update_golden(request) -> bool:
    return request.config.getoption("--update-golden")


MNIST_FILES = ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz",
               "train5k-images-idx3-ubyte.gz", "train5k-labels-idx1-ubyte.gz")


def require_files(folder: Path, names=MNIST_FILES) -> Path:
    """The folder, when it holds every file; a failure under CI=true, a skip elsewhere, when not."""
    missing = [n for n in names if not (folder / n).exists()]
    if not missing:
        return folder
    message = (f"real MNIST data not found: {', '.join(missing)} missing in {folder}; "
               "set GANSPEC_DATA to the folder that holds mnist/ (these tests fail instead of skipping under CI=true)")
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message)
    pytest.skip(message)


def mnist_available() -> bool:
    """Whether the real MNIST files are in the data root."""
    return all((DATA_ROOT / "mnist" / n).exists() for n in MNIST_FILES)


def require_mnist() -> Path:
    """The real MNIST folder; fails under CI=true when missing, skips elsewhere."""
    return require_files(DATA_ROOT / "mnist")


@pytest.fixture
def mnist_dir() -> Path:
    return require_mnist()


def all_spec_files() -> list[Path]:
    return sorted(SPECS.rglob("*.gan"))


def free_ports(count: int = 1) -> list[int]:
    """`count` distinct TCP ports on 127.0.0.1 that were free a moment ago (for worker processes)."""
    import socket

    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports
