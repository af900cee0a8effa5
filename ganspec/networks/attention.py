"""SAGAN self-attention as a Keras layer (Zhang et al. 2019, "Self-Attention Generative Adversarial
Networks", sec. 3), written as PyTorch-StudioGAN's `SelfAttention` (src/utils/ops.py) and BigGAN's.

For feature maps x (h, w, C): theta = 1x1 conv to C/8, phi = 1x1 conv to C/8 then 2x2 max pooling,
g = 1x1 conv to C/2 then 2x2 max pooling; beta = softmax(theta phi^T) over the h*w/4 pooled
positions; o = 1x1 conv (C/2 -> C) of beta g; y = x + gamma * o, gamma a trainable scalar from 0
(so the layer starts as the identity). The four convs have no bias, as in StudioGAN, and are
spectrally normalized (one vector u each) when `power_iterations` is given.
Only `keras.ops`, so it runs on TensorFlow and JAX alike.
"""

from __future__ import annotations

import keras
from keras import ops

from ganspec.networks.spectral_norm import SpectralNormalization

CONVS = ("theta", "phi", "g", "output")


@keras.saving.register_keras_serializable(package="ganspec")
class SelfAttention2D(keras.layers.Layer):
    """y = x + gamma * o(softmax(theta(x) phi(x)^T) g(x)) on (batch, height, width, channels)."""

    def __init__(self, channels: int, kernel_initializers=None, power_iterations: int | None = None, **kwargs):
        super().__init__(**kwargs)
        if channels % 8:
            raise ValueError(f"attention needs channels divisible by 8, got {channels}")
        self.channels = channels
        self.power_iterations = power_iterations
        initializers = kernel_initializers or ["glorot_uniform"] * len(CONVS)
        self.kernel_initializers = [keras.initializers.get(i) for i in initializers]
        widths = (channels // 8, channels // 8, channels // 2, channels)
        self.convs = []
        for name, width, initializer in zip(CONVS, widths, self.kernel_initializers):
            conv = keras.layers.Conv2D(width, 1, use_bias=False, kernel_initializer=initializer,
                                       name=name, dtype=self.dtype_policy)
            if power_iterations:
                conv = SpectralNormalization(conv, power_iterations=power_iterations, name=f"sn_{name}",
                                             dtype=self.dtype_policy)
            self.convs.append(conv)
        self.theta, self.phi, self.g, self.output_conv = self.convs

    def build(self, input_shape):
        h, w, c = input_shape[1:]
        for conv in (self.theta, self.phi, self.g):
            conv.build((None, h, w, c))
        self.output_conv.build((None, h, w, c // 2))
        self.gamma = self.add_weight(name="gamma", shape=(1,), initializer="zeros", trainable=True)  # torch.zeros(1)
        self.built = True

    def _conv(self, conv, x, training):
        return conv(x, training=training) if self.power_iterations else conv(x)

    def call(self, inputs, training=None):
        h, w, c = inputs.shape[1:]
        positions, pooled = h * w, (h // 2) * (w // 2)
        theta = ops.reshape(self._conv(self.theta, inputs, training), (-1, positions, c // 8))
        phi = ops.max_pool(self._conv(self.phi, inputs, training), 2, 2, padding="valid")
        phi = ops.reshape(phi, (-1, pooled, c // 8))
        beta = ops.softmax(ops.matmul(theta, ops.transpose(phi, (0, 2, 1))), axis=-1)  # (B, hw, hw/4)
        g = ops.max_pool(self._conv(self.g, inputs, training), 2, 2, padding="valid")
        g = ops.reshape(g, (-1, pooled, c // 2))
        attended = ops.reshape(ops.matmul(beta, g), (-1, h, w, c // 2))
        o = self._conv(self.output_conv, attended, training)
        return inputs + ops.cast(self.gamma, inputs.dtype) * o

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "channels": self.channels, "power_iterations": self.power_iterations,
                "kernel_initializers": [keras.initializers.serialize(i) for i in self.kernel_initializers]}
