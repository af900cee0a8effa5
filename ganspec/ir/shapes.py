"""The shapes a spec implies: one data sample, and what each network takes as input.

Every stage that needs one of these shapes (the checks, `explain`, the Keras
builders) asks these functions; none works it out again. Reading a sample shape
from a data file's header is `ganspec.ir.datashape`'s job; this module adds what
the spec does to it (`resize`, PacGAN packing, label channels).
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


def source_sample_shape(spec: Spec, source: Source, spec_dir) -> tuple[Shape | None, str | None]:
    """(shape, problem) of one sample of `source` after the spec's `data.resize`."""
    shape, problem = sample_shape(source, spec_dir)
    if shape is not None and spec.data.resize is not None and len(shape) == 3:
        shape = tuple(spec.data.resize) + (shape[2],)
    return shape, problem


def data_sample_shape(spec: Spec, spec_dir) -> tuple[Shape | None, str | None]:
    """(shape, problem) of one training sample, as the networks see it before packing."""
    return source_sample_shape(spec, spec.data.source, spec_dir)
