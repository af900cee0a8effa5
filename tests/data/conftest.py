"""Helpers for data-stage tests: specs around a data source, tiny IDX files, the real MNIST files."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest

from ganspec.load import load_text
from tests.conftest import DATA_ROOT, require_files

MNIST = DATA_ROOT / "mnist"
MNIST_FILES = {
    "test_images": "t10k-images-idx3-ubyte.gz",
    "test_labels": "t10k-labels-idx1-ubyte.gz",
    "train_images": "train5k-images-idx3-ubyte.gz",
    "train_labels": "train5k-labels-idx1-ubyte.gz",
}

SPEC = """experiment data_test {{
  data {{
    source {source}
    {data}
  }}
  latent normal(4)
  {conditional}
  generator {{ {generator} }}
  critic {{ {critic} }}
  objective non_saturating
  train {{ batch {batch} }}
}}
"""
SOURCE_LINE = 3  # the line of `source ...` in SPEC


def make_spec(source: str, shape=(2,), *, data: str = "", classes: int | None = None, batch: int = 4,
              generator: str | None = None):
    """A typed spec reading `source`, with networks that fit samples of `shape`."""
    if generator is None:
        if len(shape) == 1:
            generator = f"dense({shape[0]})"
        else:
            generator = f"dense({int(np.prod(shape))}) reshape({', '.join(map(str, shape))})"
    critic = "dense(8) relu dense(1)" if len(shape) == 1 else "flatten dense(1)"
    conditional = f"conditional {{ classes {classes} }}" if classes else ""
    text = SPEC.format(source=source, data=data, conditional=conditional, generator=generator,
                       critic=critic, batch=batch)
    resolved = load_text(text, file="spec.gan", checks=False)
    assert resolved.spec is not None, resolved.diagnostics
    return resolved.spec


def write_idx(path: Path, array: np.ndarray, *, gz: bool = False, type_byte: int = 0x08) -> Path:
    """An IDX file (MNIST layout): zero, zero, type byte, rank, big-endian dims, then the data."""
    array = np.asarray(array)
    header = bytes([0, 0, type_byte, array.ndim]) + struct.pack(">" + "I" * array.ndim, *array.shape)
    payload = header + array.astype(array.dtype.newbyteorder(">")).tobytes()
    path.write_bytes(gzip.compress(payload) if gz else payload)
    return path


@pytest.fixture
def mnist_files() -> dict[str, Path]:
    """Paths of the four real MNIST files in the data root's mnist/."""
    folder = require_files(MNIST, MNIST_FILES.values())
    return {key: folder / name for key, name in MNIST_FILES.items()}
