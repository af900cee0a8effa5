"""IR initializers (ganspec.ir.initializers) -> seeded Keras initializers, one small function each.

Each takes the IR initializer, the weight layer's fan_in (PyTorch's count, `WeightLayer.fan_in`)
and a seed drawn from the spec's seed, so a spec fixes its initial weights on each backend.
Keras' `compute_fans` counts fans as PyTorch does for dense, conv and conv_transpose kernels,
so the fan-scaled initializers are Keras' `VarianceScaling`.
"""

from __future__ import annotations

import math
from typing import Callable

import keras

from ganspec.ir import initializers as I
from ganspec.plugins import Implementations

InitializerBuilder = Callable[[I.Initializer, int, int], keras.initializers.Initializer]
INITIALIZER_BUILDERS: dict[str, InitializerBuilder] = Implementations(I.INITIALIZERS)  # + plugins', lazily


def initializes(kind: str):
    """Register the builder of one IR initializer kind."""

    def register(fn: InitializerBuilder) -> InitializerBuilder:
        INITIALIZER_BUILDERS[kind] = fn
        return fn

    return register


def keras_initializer(init: I.Initializer, fan_in: int, seed: int) -> keras.initializers.Initializer:
    """The Keras initializer of an IR initializer, for a weight whose layer has `fan_in` inputs per unit."""
    return INITIALIZER_BUILDERS[init.kind](init, fan_in, seed)


@initializes("normal")
def _normal(init: I.Normal, fan_in, seed):
    return keras.initializers.RandomNormal(mean=init.mean, stddev=init.std, seed=seed)


@initializes("truncated_normal")
def _truncated_normal(init: I.TruncatedNormal, fan_in, seed):
    return keras.initializers.TruncatedNormal(mean=init.mean, stddev=init.std, seed=seed)


@initializes("uniform")
def _uniform(init: I.Uniform, fan_in, seed):
    return keras.initializers.RandomUniform(minval=init.low, maxval=init.high, seed=seed)


@initializes("orthogonal")
def _orthogonal(init: I.Orthogonal, fan_in, seed):
    return keras.initializers.Orthogonal(gain=init.gain, seed=seed)


def _scaled(scale: float, mode: str, distribution: str) -> InitializerBuilder:
    def build(init, fan_in, seed):
        return keras.initializers.VarianceScaling(scale=scale, mode=mode, distribution=distribution, seed=seed)

    return build


initializes("glorot_uniform")(_scaled(1.0, "fan_avg", "uniform"))
initializes("glorot_normal")(_scaled(1.0, "fan_avg", "untruncated_normal"))
initializes("he_uniform")(_scaled(2.0, "fan_in", "uniform"))
initializes("he_normal")(_scaled(2.0, "fan_in", "untruncated_normal"))
initializes("lecun_normal")(_scaled(1.0, "fan_in", "untruncated_normal"))


@initializes("zeros")
def _zeros(init, fan_in, seed):
    return keras.initializers.Zeros()


@initializes("pytorch")
def _pytorch(init, fan_in, seed):
    # kaiming_uniform_(a=sqrt(5)): gain sqrt(2 / (1 + 5)), bound gain * sqrt(3 / fan_in) = 1 / sqrt(fan_in);
    # the bias bound is 1 / sqrt(fan_in) too (torch/nn/modules/conv.py, _ConvNd.reset_parameters).
    bound = 1.0 / math.sqrt(fan_in)
    return keras.initializers.RandomUniform(minval=-bound, maxval=bound, seed=seed)
