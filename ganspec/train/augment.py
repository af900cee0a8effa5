"""DiffAugment (Zhao et al. 2020, "Differentiable Augmentation for Data-Efficient GAN Training"),
backend-neutral (`keras.ops`): the random transformation T that the critic sees real and fake
samples through, D(T(x)) and D(T(G(z))), in the critic's and in the generator's update. Every
operation is differentiable in the samples, so the generator's gradient flows through T.

The maths follows the authors' code (mit-han-lab/data-efficient-gans, DiffAugment_tf.py and
DiffAugment_pytorch.py at the repository root), on (N, H, W, C) images:

- color: brightness x + (u - 0.5); saturation (x - mean_C x) 2u + mean_C x; contrast
  (x - mean_HWC x)(u + 0.5) + mean_HWC x; one u ~ U(0, 1) per sample and operation;
- translation: a shift of whole pixels t ~ U{-s..s} per sample along height and along width,
  s = floor(ratio * size) (the root files' size // 8 for ratio 1/8); out[i] = x[i + t], zero where
  i + t leaves the image (the authors gather from the image padded by one zero pixel);
- cutout: a square of c = floor(ratio * size) pixels (size // 2 for ratio 1/2) centred at
  o ~ U{0 .. size - (c mod 2)} per sample, rows o - c // 2 .. o - c // 2 + c - 1 clipped to the
  image, is multiplied by 0 (the authors scatter zeros at the clipped indices: the same pixels).

Each policy draws its randomness first (`draw`, from the step's SeedGenerator, in the order
written) and then transforms (`apply`): a step that differentiates inside a pure function (JAX)
draws outside it and applies inside, and both backends draw the same numbers in the same order.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import keras
from keras import ops


def _per_sample_uniform(shape, seed):
    """U(0, 1), one per sample, shaped to broadcast over (N, H, W, C)."""
    return keras.random.uniform((shape[0], 1, 1, 1), seed=seed)


# ---- color ------------------------------------------------------------------------------------


def draw_color(policy, shape, seed):
    """(brightness, saturation, contrast) magnitudes u ~ U(0, 1) per sample, in this order."""
    return tuple(_per_sample_uniform(shape, seed) for _ in range(3))


def apply_color(policy, x, draws):
    """Zhao et al. 2020, rand_brightness, rand_saturation (rand_color), rand_contrast in turn."""
    brightness, saturation, contrast = (ops.cast(d, x.dtype) for d in draws)
    x = x + (brightness - 0.5)
    mean = ops.mean(x, axis=3, keepdims=True)
    x = (x - mean) * (saturation * 2.0) + mean
    mean = ops.mean(x, axis=(1, 2, 3), keepdims=True)
    return (x - mean) * (contrast + 0.5) + mean


# ---- translation ------------------------------------------------------------------------------


def translation_limits(policy, shape) -> tuple[int, int]:
    """The largest shift along height and width: floor(ratio * size)."""
    return math.floor(shape[1] * policy.ratio), math.floor(shape[2] * policy.ratio)


def draw_translation(policy, shape, seed):
    """(height shift, width shift) per sample, each uniform over -limit..limit."""
    limits = translation_limits(policy, shape)
    return tuple(keras.random.randint((shape[0],), -limit, limit + 1, seed=seed) for limit in limits)


def shift_axis(x, shift, axis: int):
    """out[.., i, ..] = x[.., i + shift, ..] along `axis` (1 or 2) per sample, zero outside the image."""
    size = x.shape[axis]
    padding = [[0, 0]] * 4
    padding[axis] = [1, 1]
    padded = ops.pad(x, padding)
    index = ops.clip(ops.arange(size, dtype="int32")[None, :] + ops.cast(shift, "int32")[:, None] + 1, 0, size + 1)
    index = ops.reshape(index, (-1, size, 1, 1) if axis == 1 else (-1, 1, size, 1))
    target = list(ops.shape(x))
    target[axis] = size
    return ops.take_along_axis(padded, ops.broadcast_to(index, target), axis=axis)


def apply_translation(policy, x, draws):
    """Zhao et al. 2020, rand_translation: zero-padded whole-pixel shifts."""
    height_shift, width_shift = draws
    return shift_axis(shift_axis(x, height_shift, axis=1), width_shift, axis=2)


# ---- cutout -----------------------------------------------------------------------------------


def cutout_size(policy, shape) -> tuple[int, int]:
    """The cut square's height and width: floor(ratio * size)."""
    return math.floor(shape[1] * policy.ratio), math.floor(shape[2] * policy.ratio)


def draw_cutout(policy, shape, seed):
    """(row, column) centres per sample, uniform over 0..size - (cut size mod 2)."""
    sizes = cutout_size(policy, shape)
    return tuple(keras.random.randint((shape[0],), 0, shape[axis] + 1 - sizes[axis - 1] % 2, seed=seed)
                 for axis in (1, 2))


def _inside(size: int, start, length: int):
    """[N, size]: whether each index lies in start .. start + length - 1 (per sample)."""
    index = ops.arange(size, dtype="int32")[None, :]
    start = ops.cast(start, "int32")[:, None]
    return ops.logical_and(index >= start, index < start + length)


def apply_cutout(policy, x, draws):
    """Zhao et al. 2020, rand_cutout: zero the square, clipped at the borders."""
    (rows, columns), (height, width) = draws, cutout_size(policy, x.shape)
    cut = ops.logical_and(_inside(x.shape[1], rows - height // 2, height)[:, :, None],
                          _inside(x.shape[2], columns - width // 2, width)[:, None, :])
    return x * ops.cast(ops.logical_not(cut), x.dtype)[..., None]


# ---- the policies ---------------------------------------------------------------------------


@dataclass(frozen=True)
class AugmentRule:
    """How one policy draws its randomness (policy, shape, seed) and transforms (policy, x, draws)."""

    draw: Callable
    apply: Callable


AUGMENT_RULES: dict[str, AugmentRule] = {
    "color": AugmentRule(draw_color, apply_color),
    "translation": AugmentRule(draw_translation, apply_translation),
    "cutout": AugmentRule(draw_cutout, apply_cutout),
}


def draw(policies, shape, seed) -> tuple:
    """The random draws of every policy for a batch of `shape` (N, H, W, C), in the order written."""
    return tuple(AUGMENT_RULES[p.kind].draw(p, tuple(shape), seed) for p in policies)


def apply(policies, x, draws):
    """T(x): every policy in the order written, with its draws."""
    for policy, drawn in zip(policies, draws):
        x = AUGMENT_RULES[policy.kind].apply(policy, x, drawn)
    return x


def diff_augment(policies, x, seed):
    """T(x) with fresh draws from `seed` (a SeedGenerator)."""
    return apply(policies, x, draw(policies, tuple(x.shape), seed))
