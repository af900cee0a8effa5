"""The training half of the example plugin: a Keras builder for `fourier_features` and the losses of
`smooth_hinge`. Imported by ganspec only when a run needs them."""

from __future__ import annotations

import math

import keras
from keras import ops

from ganspec.train.objectives import ObjectiveLosses


@keras.saving.register_keras_serializable(package="ganspec_example_plugin")
class RandomFourierFeatures(keras.layers.Layer):
    """[sin(2 pi x B), cos(2 pi x B)] with a fixed, non-trainable B ~ N(0, scale^2)."""

    def __init__(self, units: int, scale: float = 1.0, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.units, self.scale, self.seed = units, scale, seed

    def build(self, input_shape):
        self.projection = self.add_weight(
            shape=(input_shape[-1], self.units), trainable=False, name="projection",
            initializer=keras.initializers.RandomNormal(stddev=self.scale, seed=self.seed))

    def call(self, inputs):
        z = 2.0 * math.pi * ops.matmul(inputs, self.projection)
        return ops.concatenate([ops.sin(z), ops.cos(z)], axis=-1)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (2 * self.units,)

    def get_config(self):
        return {**super().get_config(), "units": self.units, "scale": self.scale, "seed": self.seed}


def build_fourier_features(layer, x, ctx):
    """The builder of `fourier_features`: (IR layer, Keras tensor, BuildContext) -> Keras tensor."""
    return RandomFourierFeatures(layer.units, layer.scale, seed=ctx.next_seed())(x)


def smooth_hinge_critic(objective, d_real, d_fake, targets):
    return ops.mean(ops.softplus(objective.margin - d_real)) + ops.mean(ops.softplus(objective.margin + d_fake))


def smooth_hinge_generator(objective, d_real, d_fake):
    return -ops.mean(d_fake)


SMOOTH_HINGE = ObjectiveLosses(smooth_hinge_critic, smooth_hinge_generator)
