"""The loader registry: one small function per data source kind, and what each receives.

A loader takes a `Request` and returns a `Dataset`. File readers return `Examples` and
finish with `array_dataset`, which applies the `data` section (limit, crop, scale, resize,
flip, dequantize, shuffle, cache) the same way for every kind.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from ganspec.data.dataset import (
    ArrayDataset, Dataset, Preprocess, RandomPreprocess, num_classes_of, pixels_as_uint8,
)
from ganspec.data.errors import bad_data, unreadable
from ganspec.diagnostics import Span
from ganspec.download import download_hint
from ganspec.ir.components import SOURCES, Source
from ganspec.ir.datashape import data_roots, find_data_file, user_data_dir
from ganspec.ir.shapes import crop_problem
from ganspec.ir.spec import Conditional, Data
from ganspec.plugins import Implementations

Loader = Callable[["Request"], Dataset]
LOADERS: dict[str, Loader] = Implementations(SOURCES)  # + plugins', lazily


def register(kind: str):
    """Decorator: the loader of data source `kind`."""

    def add(fn: Loader) -> Loader:
        if kind in LOADERS:
            raise ValueError(f"data loader {kind!r} registered twice")
        LOADERS[kind] = fn
        return fn

    return add


@dataclass(frozen=True)
class Request:
    """What a loader needs: the source, the `data` section, where the spec lives."""

    source: Source
    data: Data
    spec_dir: Path | None = None
    conditional: Conditional | None = None
    fallback_span: Span | None = None  # the spec's own span, for nodes written without positions

    def span(self, arg: str | None = None) -> Span | None:
        """Where the source (or one of its arguments) is written in the spec."""
        span = self.source.field_span(arg) if arg else self.source.span
        return span or self.data.span or self.fallback_span

    def find(self, arg: str) -> Path:
        """The file named by argument `arg`, or an E001 error pointing at it."""
        path = getattr(self.source, arg)
        found = find_data_file(path, self.spec_dir)
        if found is None:
            roots = ", ".join(str(r) for r in data_roots(self.spec_dir))
            hint = f"relative paths are looked up in: {roots} (add folders with $GANSPEC_DATA)"
            fetch, user = download_hint(path), user_data_dir()
            if fetch is not None:
                hint += f"; {fetch}" + (f" into {user}" if user is not None else "")
            raise unreadable(f"data file not found: {path}", self.span(arg), hint)
        return found


@dataclass
class Examples:
    """Raw examples as read from files: images (N, H, W, C) or rows (N, D), and labels (N,)."""

    images: np.ndarray
    labels: np.ndarray | None = None
    num_classes: int | None = None
    class_names: tuple[str, ...] | None = None


def array_dataset(request: Request, examples: Examples, what: str) -> ArrayDataset:
    """Apply the `data` section to examples read from `what` (a file name, for messages)."""
    data = request.data
    images, labels = examples.images, examples.labels
    if images.ndim not in (2, 4):
        raise bad_data(f"{what} holds an array of shape {tuple(images.shape)}; expected images "
                       "(N, H, W), (N, H, W, C) or rows (N, D)", request.span())
    if len(images) == 0:
        raise bad_data(f"{what} holds no examples", request.span())
    if labels is not None:
        labels = checked_labels(labels, len(images), request, what)
    if data.limit is not None:
        images = images[:data.limit]
        labels = None if labels is None else labels[:data.limit]
    pixels = False
    if np.issubdtype(images.dtype, np.integer):
        as_uint8 = pixels_as_uint8(images)
        if as_uint8 is None:
            raise bad_data(f"{what} holds integers outside 0..255; integer images must be 8-bit pixels",
                           request.span(), "store floats to use values as they are")
        images, pixels = as_uint8, True
    elif not np.issubdtype(images.dtype, np.floating):
        raise bad_data(f"{what} holds {images.dtype} values; expected uint8 pixels or floats", request.span())
    for name in IMAGE_SETTINGS:
        if getattr(data, name) and images.ndim != 4:
            raise bad_data(f"`{name}` applies to images, but {what} holds rows of shape {tuple(images.shape[1:])}",
                           data.field_span(name) or request.span())
    problem = crop_problem(data, tuple(images.shape[1:]))
    if problem is not None:
        raise bad_data(f"{what}: {problem}", data.field_span("crop") or request.span(),
                       f"crop at most [{images.shape[1]}, {images.shape[2]}]")
    if data.dequantize and not pixels:
        raise bad_data(f"`dequantize` adds noise to 8-bit pixels, but {what} holds {images.dtype} values",
                       data.field_span("dequantize") or request.span(), "drop `dequantize` for float data")
    preprocess = Preprocess(tuple(data.scale) if data.scale else None,
                            tuple(data.resize) if data.resize else None, pixels,
                            crop=tuple(data.crop) if data.crop else None, dequantize=data.dequantize)
    augment = RandomPreprocess(flip=data.flip,
                               noise_step=preprocess.quantisation_step if data.dequantize else None)
    return ArrayDataset(images, labels, preprocess, shuffle=data.shuffle, cache=data.cache,
                        conditional=request.conditional is not None and labels is not None,
                        num_classes=examples.num_classes or num_classes_of(labels),
                        class_names=examples.class_names, augment=augment)


# `data` settings that only images have (N, H, W, C), not rows (N, D).
IMAGE_SETTINGS = ("crop", "resize", "flip")


def checked_labels(labels: np.ndarray, count: int, request: Request, what: str) -> np.ndarray:
    """Labels must be one non-negative class index per example."""
    if labels.ndim != 1:
        hint = "store class indices, e.g. labels.argmax(axis=1)" if labels.ndim == 2 else None
        raise bad_data(f"labels in {what} have shape {tuple(labels.shape)}; expected one class index per "
                       "example, shape (N,)", request.span(), hint)
    if not np.issubdtype(labels.dtype, np.integer):
        raise bad_data(f"labels in {what} are {labels.dtype}; expected integer class indices", request.span())
    if len(labels) != count:
        raise bad_data(f"{what}: {count} examples but {len(labels)} labels", request.span())
    if len(labels) and labels.min() < 0:
        raise bad_data(f"labels in {what} include {int(labels.min())}; class indices start at 0", request.span())
    return labels.astype(np.int32)
