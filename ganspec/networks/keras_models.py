"""Keras 3 functional models from the typed spec: one small builder per layer kind.

Each builder takes the IR layer, the incoming Keras tensor and the build context, and
returns the outgoing tensor. Shapes and weight counts agree with the static inference
in `ganspec.ir.layers` (padding rules, bias flags, residual projections, the
spectral-norm vector u); `tests/build` checks this for every spec in `specs/`.
"""

from __future__ import annotations

import itertools
import math
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Callable

import keras
from keras import ops

from ganspec.ir.initializers import Initializer
from ganspec.networks.attention import SelfAttention2D
from ganspec.networks.initializers import keras_initializer
from ganspec.networks.spectral_norm import SpectralNormalization
from ganspec.ir.shapes import critic_input_shape, data_sample_shape, generator_input_shape
from ganspec.ir import layers as L
from ganspec.ir.spec import Spec

SEED_MODULUS = 2**31 - 1
BIAS_SEED_OFFSET = 2**30  # a bias's seed, from its layer's


@keras.saving.register_keras_serializable(package="ganspec")
class Maxout(keras.layers.Layer):
    """Maxout (Goodfellow et al. 2013): max over groups of `pieces` consecutive units of the last axis."""

    def __init__(self, pieces: int, **kwargs):
        super().__init__(**kwargs)
        self.pieces = pieces

    def call(self, inputs):
        shape = ops.shape(inputs)
        groups = ops.reshape(inputs, tuple(shape[:-1]) + (shape[-1] // self.pieces, self.pieces))
        return ops.max(groups, axis=-1)

    def compute_output_shape(self, input_shape):
        last = None if input_shape[-1] is None else input_shape[-1] // self.pieces
        return tuple(input_shape[:-1]) + (last,)

    def get_config(self):
        return {**super().get_config(), "pieces": self.pieces}


@keras.saving.register_keras_serializable(package="ganspec")
class GlobalSumPooling2D(keras.layers.Layer):
    """Sum over height and width (the SN-GAN/BigGAN critic's `torch.sum(h, dim=[2, 3])`)."""

    def call(self, inputs):
        return ops.sum(inputs, axis=(1, 2))

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[-1])


@keras.saving.register_keras_serializable(package="ganspec")
class ZeroUpsampling2D(keras.layers.Layer):
    """Each pixel followed by zeros: out[f i, f j] = x[i, j], zeros elsewhere (Dosovitskiy et al. 2015's
    unpooling; compare_gan's `resnet_ops.unpool` for f = 2)."""

    def __init__(self, factor: int = 2, **kwargs):
        super().__init__(**kwargs)
        self.factor = factor

    def call(self, inputs):
        h, w, c = inputs.shape[1:]
        f = self.factor
        x = ops.reshape(inputs, (-1, h, 1, w, 1, c))
        x = ops.pad(x, ((0, 0), (0, 0), (0, f - 1), (0, 0), (0, f - 1), (0, 0)))
        return ops.reshape(x, (-1, h * f, w * f, c))

    def compute_output_shape(self, input_shape):
        b, h, w, c = input_shape
        return (b, None if h is None else h * self.factor, None if w is None else w * self.factor, c)

    def get_config(self):
        return {**super().get_config(), "factor": self.factor}


@dataclass
class BuildContext:
    """What builders share: seeds for initializers and dropout, and spectral normalization."""

    seed: int
    spectral_norm: int | None = None  # power iterations when weight layers are normalized
    init: Initializer | None = None  # the network's `init` and `bias_init`
    bias_init: Initializer | None = None
    _counter: itertools.count = field(default_factory=itertools.count)

    def next_seed(self) -> int:
        return (self.seed * 1_000_003 + next(self._counter)) % SEED_MODULUS

    def initializers(self, layer: L.WeightLayer, shape: tuple[int, ...]) -> dict:
        """`kernel_initializer` (and `bias_initializer`) of a weight layer: the layer's own, else the
        network's, else Keras' defaults (glorot_uniform, zeros), seeded so that a spec seed fixes the
        initial weights. Each weight layer draws one seed whatever it declares (the bias's is derived
        from it), so declaring Keras' defaults builds the very weights of declaring nothing."""
        seed = self.next_seed()
        kernel = layer.init or self.init
        bias = layer.bias_init or self.bias_init
        fan_in = layer.fan_in(shape)
        chosen = {"kernel_initializer": keras.initializers.GlorotUniform(seed=seed) if kernel is None
                  else keras_initializer(kernel, fan_in, seed)}
        if bias is not None and layer.bias:
            chosen["bias_initializer"] = keras_initializer(bias, fan_in, (seed + BIAS_SEED_OFFSET) % SEED_MODULUS)
        return chosen

    def weighted(self, layer: keras.layers.Layer) -> keras.layers.Layer:
        """A weight layer, wrapped in spectral normalization where asked."""
        if self.spectral_norm:
            return SpectralNormalization(layer, power_iterations=self.spectral_norm)
        return layer

    def stack(self, layers, x):
        for layer in layers:
            x = LAYER_BUILDERS[layer.kind](layer, x, self)
        return x


Builder = Callable[[L.Layer, keras.KerasTensor, BuildContext], keras.KerasTensor]
LAYER_BUILDERS: dict[str, Builder] = {}


def builds(kind: str):
    """Register the builder of one IR layer kind."""

    def register(fn: Builder) -> Builder:
        LAYER_BUILDERS[kind] = fn
        return fn

    return register


# ---- weight layers -------------------------------------------------------------------------


@builds("dense")
def build_dense(layer: L.Dense, x, ctx):
    return ctx.weighted(keras.layers.Dense(layer.units, use_bias=layer.bias,
                                           **ctx.initializers(layer, tuple(x.shape[1:]))))(x)


@builds("conv")
def build_conv(layer: L.Conv, x, ctx):
    pads = L.explicit_padding(layer.padding)
    if pads is not None and any(pads):  # PyTorch's padding: zeros on every side, then a `valid` convolution
        x = keras.layers.ZeroPadding2D(pads)(x)
    return ctx.weighted(keras.layers.Conv2D(
        layer.filters, layer.kernel, strides=layer.stride, padding="valid" if pads is not None else layer.padding,
        use_bias=layer.bias, **ctx.initializers(layer, tuple(x.shape[1:]))))(x)


@builds("conv_transpose")
def build_conv_transpose(layer: L.ConvTranspose, x, ctx):
    pads = L.explicit_padding(layer.padding)
    if pads is None:
        return ctx.weighted(keras.layers.Conv2DTranspose(
            layer.filters, layer.kernel, strides=layer.stride, padding=layer.padding, use_bias=layer.bias,
            **ctx.initializers(layer, tuple(x.shape[1:]))))(x)
    # PyTorch's ConvTranspose2d: the full transposed convolution, (in - 1) * stride + kernel + output_padding
    # long (the extra at the bottom and right), less `padding` on every side.
    x = ctx.weighted(keras.layers.Conv2DTranspose(
        layer.filters, layer.kernel, strides=layer.stride, padding="valid", output_padding=layer.output_padding,
        use_bias=layer.bias, **ctx.initializers(layer, tuple(x.shape[1:]))))(x)
    return keras.layers.Cropping2D(pads)(x) if any(pads) else x


@builds("attention")
def build_attention(layer: L.Attention, x, ctx):
    """SAGAN self-attention; each of its four 1x1 convs draws its own seed (fan_in: its input channels)."""
    shape = tuple(x.shape[1:])
    kernel = layer.init or ctx.init
    initializers = []
    for fan_in, _ in layer.convs(shape):
        seed = ctx.next_seed()
        initializers.append(keras.initializers.GlorotUniform(seed=seed) if kernel is None
                            else keras_initializer(kernel, fan_in, seed))
    return SelfAttention2D(shape[-1], kernel_initializers=initializers, power_iterations=ctx.spectral_norm)(x)


@builds("batchnorm")
def build_batchnorm(layer: L.BatchNorm, x, ctx):
    # A seed is drawn only for a declared initializer, so specs without one keep their seeds.
    chosen = {f"{name}_initializer": keras_initializer(init, x.shape[-1], ctx.next_seed())
              for name, init in (("gamma", layer.gamma_init), ("beta", layer.beta_init)) if init is not None}
    return keras.layers.BatchNormalization(momentum=layer.momentum, epsilon=layer.epsilon, **chosen)(x)


@builds("layernorm")
def build_layernorm(layer: L.LayerNorm, x, ctx):
    return keras.layers.LayerNormalization(epsilon=layer.epsilon)(x)


# ---- shape layers --------------------------------------------------------------------------


@builds("upsample")
def build_upsample(layer: L.Upsample, x, ctx):
    if layer.interpolation == "zeros":
        return ZeroUpsampling2D(layer.factor)(x)
    return keras.layers.UpSampling2D(layer.factor, interpolation=layer.interpolation)(x)


@builds("pool")
def build_pool(layer: L.Pool, x, ctx):
    pooling = keras.layers.MaxPooling2D if layer.mode == "max" else keras.layers.AveragePooling2D
    return pooling(layer.size)(x)


@builds("global_pool")
def build_global_pool(layer: L.GlobalPool, x, ctx):
    pooling = {"max": keras.layers.GlobalMaxPooling2D, "avg": keras.layers.GlobalAveragePooling2D,
               "sum": GlobalSumPooling2D}[layer.mode]
    return pooling()(x)


@builds("pad")
def build_pad(layer: L.Pad, x, ctx):
    return keras.layers.ZeroPadding2D(layer.amount)(x)


@builds("crop")
def build_crop(layer: L.Crop, x, ctx):
    return keras.layers.Cropping2D(layer.amount)(x)


@builds("reshape")
def build_reshape(layer: L.Reshape, x, ctx):
    return keras.layers.Reshape(layer.shape)(x)


@builds("flatten")
def build_flatten(layer: L.Flatten, x, ctx):
    return keras.layers.Flatten()(x)


@builds("dropout")
def build_dropout(layer: L.Dropout, x, ctx):
    if layer.channels:  # one draw per sample and channel, broadcast over height and width
        return keras.layers.SpatialDropout2D(layer.rate, seed=ctx.next_seed())(x)
    return keras.layers.Dropout(layer.rate, seed=ctx.next_seed())(x)


# ---- activations ---------------------------------------------------------------------------


@builds("relu")
def build_relu(layer, x, ctx):
    return keras.layers.ReLU()(x)


@builds("leaky_relu")
def build_leaky_relu(layer: L.LeakyRelu, x, ctx):
    return keras.layers.LeakyReLU(negative_slope=layer.alpha)(x)


@builds("elu")
def build_elu(layer: L.Elu, x, ctx):
    return keras.layers.ELU(alpha=layer.alpha)(x)


@builds("gelu")
def build_gelu(layer, x, ctx):
    return keras.layers.Activation("gelu")(x)


@builds("tanh")
def build_tanh(layer, x, ctx):
    return keras.layers.Activation("tanh")(x)


@builds("sigmoid")
def build_sigmoid(layer, x, ctx):
    return keras.layers.Activation("sigmoid")(x)


@builds("maxout")
def build_maxout(layer: L.Maxout, x, ctx):
    return Maxout(layer.pieces)(x)


# ---- blocks --------------------------------------------------------------------------------


@builds("repeat")
def build_repeat(layer: L.Repeat, x, ctx):
    for _ in range(layer.count):
        x = ctx.stack(layer.layers, x)
    return x


@builds("residual")
def build_residual(layer: L.Residual, x, ctx):
    """x + body(x) (He et al. 2016), with the 1x1 (or dense) projection that `Residual.projection` names."""
    body = ctx.stack(layer.layers, x)
    projection = layer.projection(tuple(x.shape[1:]), tuple(body.shape[1:]))
    shortcut = x if projection is None else LAYER_BUILDERS[projection.kind](projection, x, ctx)
    return keras.layers.Add()([shortcut, body])


@builds("spectral_norm")
def build_spectral_norm_block(layer: L.SpectralNormBlock, x, ctx):
    outer = ctx.spectral_norm
    ctx.spectral_norm = layer.power_iterations
    try:
        return ctx.stack(layer.layers, x)
    finally:
        ctx.spectral_norm = outer


# ---- whole networks ------------------------------------------------------------------------

GENERATOR_SEED, CRITIC_SEED = 0, 1


@contextmanager
def precision(policy: str):
    """Build layers under a Keras dtype policy (mixed precision), restoring the global one."""
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(policy)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def _float32_output(x, spec: Spec):
    # Mixed precision: losses and penalties read the network output in float32.
    if spec.train.precision == "float32":
        return x
    return keras.layers.Activation("linear", dtype="float32", name="float32_output")(x)


def build_generator(spec: Spec) -> keras.Model:
    """z (and a one-hot label when conditional) -> one sample."""
    ctx = BuildContext(seed=spec.seed * 2 + GENERATOR_SEED, init=spec.generator.init,
                       bias_init=spec.generator.bias_init)
    with precision(spec.train.precision):
        z = keras.Input((spec.latent.input_dim,), name="z")
        inputs, x = z, z
        if spec.conditional:
            label = keras.Input((spec.conditional.classes,), name="label")
            inputs, x = [z, label], keras.layers.Concatenate()([z, label])
        x = ctx.stack(spec.generator.layers, x)
        return keras.Model(inputs, _float32_output(x, spec), name="generator")


def one_sample_shape(spec: Spec, spec_dir=None) -> tuple[int, ...]:
    """One data sample's shape: from the data source, else from the generator's output."""
    shape, _ = data_sample_shape(spec, spec_dir)
    if shape is None:
        shape, _ = L.walk(spec.generator.layers, generator_input_shape(spec))
    return tuple(shape)


def build_critic(spec: Spec, sample: tuple[int, ...] | None = None, spec_dir=None) -> keras.Model:
    """A packed, label-conditioned sample (see `critic_input`) -> one number (logit or score)."""
    sample = sample or one_sample_shape(spec, spec_dir)
    constraint = next((c for c in spec.constraints if c.kind == "spectral_norm"), None)
    ctx = BuildContext(seed=spec.seed * 2 + CRITIC_SEED,
                       spectral_norm=constraint.power_iterations if constraint else None,
                       init=spec.critic.init, bias_init=spec.critic.bias_init)
    with precision(spec.train.precision):
        inputs = keras.Input(critic_input_shape(spec, sample), name="sample")
        x = ctx.stack(spec.critic.layers, inputs)
        return keras.Model(inputs, _float32_output(x, spec), name="critic")


# ---- critic input: PacGAN packing and label channels -----------------------------------------


def pack_samples(x, pack: int):
    """PacGAN (Lin et al. 2018): [B, ..., C] -> [B / pack, ..., C * pack], samples side by side on the last axis."""
    if pack == 1:
        return x
    shape = tuple(x.shape)
    rest, channels = shape[1:-1], shape[-1]
    x = ops.reshape(x, (-1, pack) + rest + (channels,))
    x = ops.moveaxis(x, 1, -2)
    return ops.reshape(x, (-1,) + rest + (pack * channels,))


def pack_labels(one_hot, pack: int):
    """The label of a pack: the mean of its members' one-hot labels (one-hot when they share a class)."""
    if pack == 1:
        return one_hot
    return ops.mean(ops.reshape(one_hot, (-1, pack, one_hot.shape[-1])), axis=1)


def with_label_channels(x, labels):
    """Conditional GAN (Mirza & Osindero 2014): labels appended to the last axis, tiled over H, W for images."""
    labels = ops.cast(labels, x.dtype)
    for _ in range(len(x.shape) - 2):
        labels = ops.expand_dims(labels, 1)
    spatial = tuple(x.shape[1:-1])
    if spatial:
        labels = ops.tile(labels, (1,) + spatial + (1,))
    return ops.concatenate([x, labels], axis=-1)


def critic_input(x, labels=None, pack: int = 1):
    """Samples [B, ...] (and one-hot labels [B, classes]) -> the critic's input [B / pack, ...]."""
    packed = pack_samples(x, pack)
    if labels is None:
        return packed
    return with_label_channels(packed, pack_labels(labels, pack))


def count_weights(model: keras.Model) -> tuple[int, int]:
    """(trainable, non_trainable) parameter counts, as `ganspec explain` reports them."""
    def count(variables):
        return sum(math.prod(v.shape) for v in variables)
    return count(model.trainable_weights), count(model.non_trainable_weights)
