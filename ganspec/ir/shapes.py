"""The shapes a spec implies: one data sample, and what each network takes as input.

Every stage that needs one of these shapes (the checks, `explain`, the Keras
builders) asks these functions; none works it out again. Reading a sample shape
from a data file's header is `ganspec.ir.datashape`'s job; this module adds what
the spec does to it (`crop`, `resize`, PacGAN packing, label channels).
"""

from __future__ import annotations

from ganspec.ir.components import Source
from ganspec.ir.datashape import sample_shape
from ganspec.ir.spec import Spec

Shape = tuple[int, ...]


def fmt_shape(shape) -> str:
    """`(28, 28, 1)`, or `unknown` for None."""
    return "(" + ", ".join(str(s) for s in shape) + ")" if shape is not None else "unknown"


def generator_input_shape(spec: Spec) -> Shape:
    """The latent vector, with the one-hot label appended for a conditional GAN."""
    extra = spec.conditional.classes if spec.conditional else 0
    return (spec.latent.input_dim + extra,)


def critic_input_shape(spec: Spec, sample: Shape) -> Shape:
    """Data sample shape as the critic sees it: packed (PacGAN) and with label channels."""
    channels = sample[-1] * spec.critic.pack
    if spec.conditional:
        channels += spec.conditional.classes
    return tuple(sample[:-1]) + (channels,)


def preprocessed_shape(data, raw: Shape) -> Shape:
    """One image after the `data` section's `crop`, then `resize` (flips and noise keep the shape);
    other samples as they are. Whether the crop fits is `crop_problem`'s question."""
    if len(raw) != 3:
        return tuple(raw)
    shape = tuple(raw)
    if data.crop is not None:
        shape = tuple(data.crop) + shape[2:]
    if data.resize is not None:
        shape = tuple(data.resize) + shape[2:]
    return shape


def crop_problem(data, raw: Shape) -> str | None:
    """Why `data.crop` cannot be cut from images of shape `raw`, or None."""
    if data.crop is None or len(raw) != 3:
        return None
    if data.crop[0] > raw[0] or data.crop[1] > raw[1]:
        return (f"crop [{data.crop[0]}, {data.crop[1]}] is larger than the images, "
                f"{raw[0]}x{raw[1]} (height x width)")
    return None


def source_sample_shape(spec: Spec, source: Source, spec_dir) -> tuple[Shape | None, str | None]:
    """(shape, problem) of one sample of `source` after the spec's `data.crop` and `data.resize`."""
    shape, problem = sample_shape(source, spec_dir)
    if shape is not None:
        shape = preprocessed_shape(spec.data, shape)
    return shape, problem


def data_sample_shape(spec: Spec, spec_dir) -> tuple[Shape | None, str | None]:
    """(shape, problem) of one training sample, as the networks see it before packing."""
    return source_sample_shape(spec, spec.data.source, spec_dir)
