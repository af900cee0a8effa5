"""Loaded data and its batches: toy streams and in-memory arrays, in numpy (no TensorFlow here).

Batch order is a pure function of (seed, batch position), so a resumed run that asks for
`start_batch=N` gets exactly the batches a fresh run gets after N batches. So are the random
changes to real images (`data.flip`, `data.dequantize`): they are drawn here, in numpy, from
(seed, batch position), and `tf_pipeline.tf_batches` serves the same batches, with the same
draws, as a `tf.data.Dataset`.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from itertools import count
from typing import Callable, Iterator

import numpy as np

from ganspec.ir.shapes import preprocessed_shape

# Independent random streams drawn from one seed: numpy hashes (seed, stream, index) into
# a generator state, so streams never overlap and any position is reachable directly.
BATCH_STREAM = 1  # toy batches: one generator per batch
ORDER_STREAM = 2  # array data: one permutation per epoch
SAMPLE_STREAM = 3  # `sample(n, seed)`: real samples for metrics
AUGMENT_STREAM = 4  # array data: the random flips and dequantization noise of one batch


def stream(seed: int, which: int, index: int) -> np.random.Generator:
    """The random generator for one position of one stream."""
    return np.random.default_rng((seed, which, index))


class Dataset(abc.ABC):
    """Real samples for training and metrics.

    sample_shape: one sample, no batch axis (images are (H, W, C)); num_classes: label count
    or None; size: examples, or None for an endless toy stream; modes: mode centres of a toy
    mixture; conditional: batches are (x, y) with int32 labels y.
    """

    sample_shape: tuple[int, ...]
    num_classes: int | None = None
    class_names: tuple[str, ...] | None = None
    size: int | None = None
    toy: bool = False
    modes: np.ndarray | None = None
    conditional: bool = False

    @abc.abstractmethod
    def numpy_batches(self, batch_size: int, seed: int, start_batch: int = 0) -> Iterator:
        """Endless float32 batches (x, or (x, y) when conditional), starting at batch `start_batch`."""

    @abc.abstractmethod
    def sample(self, n: int, seed: int, with_labels: bool = False):
        """n real samples (float32), for metrics; with labels as a second array when asked."""


class ToyDataset(Dataset):
    """An endless stream drawn in-process: batch b comes from its own generator (seed, b)."""

    toy = True

    def __init__(self, draw: Callable[[np.random.Generator, int], np.ndarray], sample_shape: tuple[int, ...],
                 modes: np.ndarray | None = None, std: float | None = None):
        self.draw = draw
        self.sample_shape = tuple(sample_shape)
        self.modes = modes
        self.std = std  # spread of each mode (the mode-coverage metric counts samples within 3 std)

    def numpy_batches(self, batch_size, seed, start_batch=0):
        for batch in count(start_batch):
            yield self.draw(stream(seed, BATCH_STREAM, batch), batch_size).astype(np.float32)

    def sample(self, n, seed, with_labels=False):
        if with_labels:
            raise ValueError("toy data has no labels")
        return self.draw(stream(seed, SAMPLE_STREAM, 0), n).astype(np.float32)


@dataclass(frozen=True)
class Preprocess:
    """Centre crop, pixel scaling and resizing, the same in numpy and in TensorFlow, in that order.

    Integer pixels in [0, 255] map linearly onto `scale` = (low, high): x / (255 / (high - low)) + low,
    i.e. x / 127.5 - 1 for [-1, 1] and x / 255 for [0, 1]. Float data is used as it is. With
    `dequantize` the pixels map as (pixel + u) / 256 does (Theis et al. 2016, sec. 3.1):
    x / (256 / (high - low)) + low here, and `RandomPreprocess` adds u one quantisation level wide.
    `crop` (height, width) is cut from the centre first: top = (H - height) // 2, left = (W - width) // 2.
    """

    scale: tuple[float, float] | None
    resize: tuple[int, int] | None
    pixels: bool  # the raw examples are uint8 pixels
    crop: tuple[int, int] | None = None
    dequantize: bool = False

    @property
    def divisor(self) -> float | None:
        if not self.pixels or self.scale is None:
            return None
        low, high = self.scale
        return (256.0 if self.dequantize else 255.0) / (high - low)

    @property
    def quantisation_step(self) -> float:
        """One pixel level on the output scale (1 when pixels are not scaled)."""
        return 1.0 / self.divisor if self.divisor is not None else 1.0

    def crop_box(self, raw_shape: tuple[int, ...]) -> tuple[int, int, int, int] | None:
        """(top, left, height, width) of the centre crop of images of `raw_shape` (H, W, C), or None."""
        if self.crop is None:
            return None
        height, width = self.crop
        return (raw_shape[0] - height) // 2, (raw_shape[1] - width) // 2, height, width

    def output_shape(self, raw_shape: tuple[int, ...]) -> tuple[int, ...]:
        return preprocessed_shape(self, raw_shape)  # the IR's answer: crop, then resize

    def numpy(self, x: np.ndarray) -> np.ndarray:
        box = self.crop_box(x.shape[1:])
        if box is not None:
            top, left, height, width = box
            x = x[:, top:top + height, left:left + width]
        x = x.astype(np.float32)
        if self.divisor is not None:
            x = x / np.float32(self.divisor) + np.float32(self.scale[0])
        if self.resize is not None and tuple(x.shape[1:3]) != tuple(self.resize):
            x = resize_bilinear(x, self.resize)
        return x


FLIP_AXES = {"horizontal": 2, "vertical": 1}  # axes of an (N, H, W, C) batch


@dataclass(frozen=True)
class RandomPreprocess:
    """The random part of preprocessing, after `Preprocess`: a mirror image of each sample with
    probability 1/2 (`flip`), then dequantization noise U[0, 1) * `noise_step` (Theis et al. 2016,
    sec. 3.1; `noise_step` is one quantisation level on the output scale).

    Each batch's draws come from numpy's generator for (seed, AUGMENT_STREAM, batch position), so
    any batch is reproducible on its own (a resumed run), and tf.data applies the very same draws
    (`tf_pipeline`): the flips select, the noise is one float32 addition on either side.
    Real samples for metrics (`Dataset.sample`) are not changed.
    """

    flip: str | None = None  # "horizontal" | "vertical"
    noise_step: float | None = None

    @property
    def active(self) -> bool:
        return self.flip is not None or self.noise_step is not None

    def draw(self, seed: int, position: int, size: int, sample_shape: tuple[int, ...]) -> dict[str, np.ndarray]:
        """The draws of batch number `position` of `size` samples: {"flip": bool [size], "noise": float32}."""
        rng = stream(seed, AUGMENT_STREAM, position)
        draws = {}
        if self.flip is not None:
            draws["flip"] = rng.random(size) < 0.5
        if self.noise_step is not None:
            draws["noise"] = rng.random((size, *sample_shape), dtype=np.float32) * np.float32(self.noise_step)
        return draws

    def numpy(self, x: np.ndarray, draws: dict[str, np.ndarray]) -> np.ndarray:
        if "flip" in draws:
            x = np.where(draws["flip"][:, None, None, None], np.flip(x, FLIP_AXES[self.flip]), x)
        if "noise" in draws:
            x = x + draws["noise"]
        return x


def resize_weights(in_size: int, out_size: int) -> np.ndarray:
    """(out, in) weights of bilinear resampling with antialiasing, half-pixel centres.

    The triangle kernel widens by in/out when shrinking, as in `tf.image.resize(...,
    antialias=True)` (TensorFlow's scale_and_translate) and Pillow's BILINEAR filter.
    """
    inv_scale = in_size / out_size
    kernel_scale = max(inv_scale, 1.0)
    centres = (np.arange(out_size) + 0.5) * inv_scale
    distance = (np.arange(in_size) + 0.5)[None, :] - centres[:, None]
    weights = np.maximum(0.0, 1.0 - np.abs(distance) / kernel_scale)
    totals = weights.sum(axis=1, keepdims=True)
    return (weights / np.where(totals > 0, totals, 1.0)).astype(np.float32)


def resize_bilinear(images: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize a float batch (N, H, W, C) to `size` (height, width); numpy twin of tf.image.resize."""
    rows = resize_weights(images.shape[1], size[0])
    cols = resize_weights(images.shape[2], size[1])
    out = np.einsum("oh,nhwc->nowc", rows, images, optimize=True)
    return np.einsum("pw,nowc->nopc", cols, out, optimize=True).astype(np.float32)


def buffered_order(size: int, buffer: int, rng: np.random.Generator) -> np.ndarray:
    """The order a shuffle buffer of `buffer` elements gives (tf.data.Dataset.shuffle semantics).

    The buffer fills with the first elements; each output is a uniformly chosen buffer slot,
    refilled with the next element, so no element moves more than `buffer - 1` places forward.
    """
    slots = list(range(min(buffer, size)))
    order = np.empty(size, dtype=np.int64)
    upcoming = len(slots)
    for position in range(size):
        pick = int(rng.integers(len(slots)))
        order[position] = slots[pick]
        if upcoming < size:
            slots[pick] = upcoming
            upcoming += 1
        else:
            slots[pick] = slots[-1]
            slots.pop()
    return order


def epoch_order(size: int, buffer: int, seed: int, epoch: int) -> np.ndarray:
    """Example order of one epoch: unshuffled, buffer-shuffled, or a full permutation."""
    if buffer <= 1:
        return np.arange(size, dtype=np.int64)
    rng = stream(seed, ORDER_STREAM, epoch)
    if buffer >= size:
        return rng.permutation(size).astype(np.int64)
    return buffered_order(size, buffer, rng)


class ArrayDataset(Dataset):
    """Finite examples held in memory; every epoch is a fresh order, batches never cross epochs.

    cache: keep the preprocessed (cropped, scaled, resized) float32 examples in memory, instead of
    preprocessing each batch from the raw examples; the batches are the same either way.
    augment: the random changes of each training batch (flips, dequantization noise), after that.
    """

    def __init__(self, examples: np.ndarray, labels: np.ndarray | None, preprocess: Preprocess, *,
                 shuffle: int = 10_000, cache: bool = True, conditional: bool = False,
                 num_classes: int | None = None, class_names: tuple[str, ...] | None = None,
                 augment: RandomPreprocess = RandomPreprocess()):
        if labels is not None and len(labels) != len(examples):
            raise ValueError(f"{len(examples)} examples but {len(labels)} labels")
        if conditional and labels is None:
            raise ValueError("conditional batches need labels")
        self.examples = examples
        self.labels = None if labels is None else labels.astype(np.int32)
        self.preprocess = preprocess
        self.augment = augment
        self.shuffle = shuffle
        self.cache = cache
        self.conditional = conditional
        self.num_classes = num_classes
        self.class_names = class_names
        self.size = len(examples)
        self.sample_shape = preprocess.output_shape(examples.shape[1:])
        self._table: np.ndarray | None = None
        self._order: tuple[tuple, np.ndarray] | None = None

    def batches_per_epoch(self, batch_size: int) -> int:
        batches = self.size // batch_size
        if batches == 0:
            raise ValueError(f"batch {batch_size} is larger than the data ({self.size} examples)")
        return batches

    def order(self, seed: int, epoch: int) -> np.ndarray:
        """Example order of one epoch (the latest one is kept)."""
        cached = self._order  # one read: tf.data may iterate from another thread
        if cached is None or cached[0] != (seed, epoch):
            cached = ((seed, epoch), epoch_order(self.size, self.shuffle, seed, epoch))
            self._order = cached
        return cached[1]

    def index_batches(self, batch_size: int, seed: int, start_batch: int = 0) -> Iterator[np.ndarray]:
        """Endless int64 index batches: batch b is slice b % per_epoch of epoch b // per_epoch."""
        per_epoch = self.batches_per_epoch(batch_size)
        epoch, offset = divmod(start_batch, per_epoch)
        for epoch in count(epoch):
            order = self.order(seed, epoch)
            for b in range(offset, per_epoch):
                yield order[b * batch_size:(b + 1) * batch_size]
            offset = 0

    def table(self) -> np.ndarray:
        """All examples, preprocessed once (float32)."""
        if self._table is None:
            chunk = 4096
            self._table = np.concatenate([self.preprocess.numpy(self.examples[i:i + chunk])
                                          for i in range(0, max(self.size, 1), chunk)])
        return self._table

    def take(self, indices: np.ndarray) -> np.ndarray:
        """Preprocessed examples at `indices`."""
        if self.cache:
            return self.table()[indices]
        return self.preprocess.numpy(self.examples[indices])

    def batch_plans(self, batch_size: int, seed: int, start_batch: int = 0) -> Iterator[dict[str, np.ndarray]]:
        """Endless {"indices", and the random draws of `augment`} per batch, from batch `start_batch`."""
        for position, indices in enumerate(self.index_batches(batch_size, seed, start_batch), start_batch):
            draws = self.augment.draw(seed, position, len(indices), self.sample_shape) if self.augment.active else {}
            yield {"indices": indices, **draws}

    def numpy_batches(self, batch_size, seed, start_batch=0):
        for plan in self.batch_plans(batch_size, seed, start_batch):
            indices = plan.pop("indices")
            x = self.take(indices)
            if plan:
                x = self.augment.numpy(x, plan)
            yield (x, self.labels[indices]) if self.conditional else x

    def sample(self, n, seed, with_labels=False):
        if n > self.size:
            raise ValueError(f"asked for {n} real samples, but the data has {self.size}")
        if with_labels and self.labels is None:
            raise ValueError("this data has no labels")
        indices = np.sort(stream(seed, SAMPLE_STREAM, 0).choice(self.size, n, replace=False))
        x = self.take(indices)
        return (x, self.labels[indices]) if with_labels else x


def num_classes_of(labels: np.ndarray | None) -> int | None:
    """Classes implied by integer labels 0..K-1."""
    if labels is None or len(labels) == 0:
        return None
    return int(labels.max()) + 1


def is_integer(array: np.ndarray) -> bool:
    return np.issubdtype(array.dtype, np.integer) or array.dtype == np.bool_


def pixels_as_uint8(array: np.ndarray) -> np.ndarray | None:
    """Integer images as uint8 when every value is a pixel in [0, 255]; None when they are not."""
    if array.dtype == np.uint8:
        return array
    if array.size and (array.min() < 0 or array.max() > 255):
        return None
    return array.astype(np.uint8)


__all__ = ["ArrayDataset", "Dataset", "Preprocess", "RandomPreprocess", "ToyDataset", "buffered_order", "epoch_order",
           "resize_bilinear", "resize_weights"]
