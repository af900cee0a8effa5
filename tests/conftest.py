"""Shared test fixtures: paths, real-data lookup, golden-file updating."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SPECS = ROOT / "specs"
SHARED_DATA = (ROOT.parent / "shared" / "data").resolve()

# Specs name data relative to a data root; the project's real MNIST lives in ../shared/data.
if SHARED_DATA.exists():
    os.environ.setdefault("GANSPEC_DATA", str(SHARED_DATA))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


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
    message = f"real MNIST data not found: {', '.join(missing)} missing in {folder} (see shared/data/README.md)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message)
    pytest.skip(message)


def require_mnist() -> Path:
    """The real MNIST folder; fails under CI=true when missing, skips elsewhere."""
    return require_files(SHARED_DATA / "mnist")


@pytest.fixture
def mnist_dir() -> Path:
    return require_mnist()


def all_spec_files() -> list[Path]:
    return sorted(SPECS.rglob("*.gan"))
