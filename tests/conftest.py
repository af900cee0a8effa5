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


def require_mnist() -> Path:
    """The real MNIST folder; fails under CI=true when missing, skips elsewhere."""
    mnist = SHARED_DATA / "mnist"
    if (mnist / "t10k-images-idx3-ubyte.gz").exists():
        return mnist
    message = f"real MNIST data not found at {mnist} (see shared/data/README.md)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture
def mnist_dir() -> Path:
    return require_mnist()


def all_spec_files() -> list[Path]:
    return sorted(SPECS.rglob("*.gan"))
