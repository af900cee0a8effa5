"""Spectral normalization as a Keras wrapper layer (Miyato et al. 2018, "Spectral
Normalization for Generative Adversarial Networks", Algorithm 1).

The wrapped layer keeps its trainable kernel W; every call uses W / sigma(W), with
sigma estimated by power iteration from a persistent vector u (one entry per output
unit, non-trainable). u is updated only in training. Unlike `keras.layers.SpectralNormalization`,
which overwrites the kernel with its normalized value, this is the paper's
reparameterization: gradients flow through sigma(W) (with u and v held constant).
"""

from __future__ import annotations

import keras
from keras import ops


def _l2_normalize(x, epsilon=1e-12):
    return x / (ops.sqrt(ops.sum(ops.square(x))) + epsilon)


@keras.saving.register_keras_serializable(package="ganspec")
class SpectralNormalization(keras.layers.Wrapper):
    """W -> W / sigma(W) for a layer with a `kernel` (Dense, Conv2D, Conv2DTranspose)."""

    def __init__(self, layer, power_iterations: int = 1, **kwargs):
        super().__init__(layer, **kwargs)
        if power_iterations < 1:
            raise ValueError(f"power_iterations must be at least 1, got {power_iterations}")
        self.power_iterations = power_iterations

    def build(self, input_shape):
        super().build(input_shape)
        kernel = self.layer.kernel
        # Conv2DTranspose keeps its output filters on the second-to-last kernel axis.
        self.output_axis = -2 if isinstance(self.layer, keras.layers.Conv2DTranspose) else -1
        self.u = self.add_weight(
            name="u",
            shape=(1, kernel.shape[self.output_axis]),
            initializer=keras.initializers.RandomNormal(seed=0),
            trainable=False,
            dtype="float32",
        )
        self.built = True

    def kernel_matrix(self, kernel):
        """The kernel as a matrix (inputs, output units), computed in float32."""
        kernel = ops.cast(kernel, "float32")
        if self.output_axis != -1:
            kernel = ops.moveaxis(kernel, self.output_axis, -1)
        return ops.reshape(kernel, (-1, ops.shape(kernel)[-1]))

    def power_iteration(self, matrix):
        """Algorithm 1: v <- normalize(u W^T), u <- normalize(v W); sigma = v W u^T."""
        u = self.u.value
        v = None
        for _ in range(self.power_iterations):
            v = _l2_normalize(ops.matmul(u, ops.transpose(matrix)))
            u = _l2_normalize(ops.matmul(v, matrix))
        u, v = ops.stop_gradient(u), ops.stop_gradient(v)
        sigma = ops.sum(ops.matmul(v, matrix) * u)
        return sigma, u

    def call(self, inputs, training=None):
        kernel = self.layer.kernel
        sigma, u = self.power_iteration(self.kernel_matrix(kernel))
        if training:
            self.u.assign(u)
        normalized = ops.cast(kernel, "float32") / sigma
        values = [normalized if v is kernel else v.value for v in self.layer.trainable_variables]
        outputs, _ = self.layer.stateless_call(
            [ops.cast(v, w.dtype) for v, w in zip(values, self.layer.trainable_variables)],
            [v.value for v in self.layer.non_trainable_variables],
            inputs,
        )
        return outputs

    def compute_output_shape(self, input_shape):
        return self.layer.compute_output_shape(input_shape)

    def get_config(self):
        return {**super().get_config(), "power_iterations": self.power_iterations}
