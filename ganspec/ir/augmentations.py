"""DiffAugment policies (`tricks.diffaugment [color, translation, cutout]`), a registry like the others.

Zhao et al. 2020, "Differentiable Augmentation for Data-Efficient GAN Training": one random,
differentiable transformation T is applied to real and fake samples before every critic call,
in the critic's and in the generator's update. The maths is in `ganspec.train.augment`; it
follows the authors' code (mit-han-lab/data-efficient-gans, DiffAugment_tf.py).
"""

from typing import ClassVar, Literal

from pydantic import Field

from ganspec.ir.base import Component, Registry

AUGMENTATIONS = Registry("augmentation")


class Augmentation(Component):
    """One DiffAugment policy; applied in the order written."""


@AUGMENTATIONS.register
class Color(Augmentation):
    """Per sample: brightness x + U(-0.5, 0.5), saturation (x - mean_c) U(0, 2) + mean_c about the
    channel mean, contrast (x - mean) U(0.5, 1.5) + mean about the image mean (Zhao et al. 2020)."""

    kind: Literal["color"] = "color"


@AUGMENTATIONS.register
class Translation(Augmentation):
    """Per sample, shift the image by whole pixels, up to floor(ratio * size) each way along height
    and width, zero-padded (Zhao et al. 2020: ratio 1/8)."""

    kind: Literal["translation"] = "translation"
    ratio: float = Field(0.125, gt=0, lt=1)
    positional: ClassVar = ("ratio",)


@AUGMENTATIONS.register
class Cutout(Augmentation):
    """Per sample, zero a square of floor(ratio * size) pixels at a random centre, clipped at the
    borders (Zhao et al. 2020, after DeVries & Taylor 2017: ratio 1/2)."""

    kind: Literal["cutout"] = "cutout"
    ratio: float = Field(0.5, gt=0, le=1)
    positional: ClassVar = ("ratio",)
