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
from ganspec.ir.shapes import (
    critic_input_shape, data_sample_shape, generator_input_shape, label_joined, network_conditioning, reads_label,
    walk_network,
)
from ganspec.ir import layers as L
from ganspec.ir.spec import Spec
from ganspec.plugins import Implementations

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
    """What builders share: seeds for initializers and dropout, spectral normalization, the label."""

    seed: int
    spectral_norm: int | None = None  # power iterations when weight layers are normalized
    init: Initializer | None = None  # the network's `init` and `bias_init`
    bias_init: Initializer | None = None
    # The conditioning vector label-reading layers read (the one-hot label input), when the network
    # reads the label through its own layers (`ganspec.ir.shapes.label_joined` is false); the generator's
    # shared embedding of it where it declares one.
    conditioning: keras.KerasTensor | None = None
    latent_chunks: list | None = None  # z's chunks (`generator(latent_chunks: N)`), read by cBN(chunk: i)
    heads: list = field(default_factory=list)  # the outputs of the critic's heads, in written order
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

    def kernel_initializer(self, init: Initializer | None, fan_in: int) -> keras.initializers.Initializer:
        """A kernel's initializer with a fresh seed: `init` (a layer's own), else the network's, else
        Keras' glorot_uniform."""
        init, seed = init or self.init, self.next_seed()
        return keras.initializers.GlorotUniform(seed=seed) if init is None else keras_initializer(init, fan_in, seed)

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
LAYER_BUILDERS: dict[str, Builder] = Implementations((L.LAYERS, L.WRAPPERS))  # + plugins', lazily


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
    if layer.sync:  # all-reduced moments under a tf.distribute strategy; the same layer elsewhere
        chosen["synchronized"] = True
    return keras.layers.BatchNormalization(momentum=layer.momentum, epsilon=layer.epsilon, **chosen)(x)


@builds("layernorm")
def build_layernorm(layer: L.LayerNorm, x, ctx):
    return keras.layers.LayerNormalization(epsilon=layer.epsilon)(x)


# ---- conditioning: layers that read the label (`BuildContext.conditioning`) ------------------


@keras.saving.register_keras_serializable(package="ganspec")
class LabelJoin(keras.layers.Layer):
    """[x, c] -> x with the conditioning vector c appended to the last axis, tiled over H, W for images."""

    def call(self, inputs):
        x, conditioning = inputs
        return with_label_channels(x, conditioning)

    def compute_output_shape(self, input_shapes):
        x, conditioning = input_shapes
        return tuple(x[:-1]) + (x[-1] + conditioning[-1],)


@keras.saving.register_keras_serializable(package="ganspec")
class LatentChunks(keras.layers.Layer):
    """z [B, D] -> `chunks` equal chunks [B, D / chunks] (BigGAN's torch.split(z, chunk_size, 1))."""

    def __init__(self, chunks: int, **kwargs):
        super().__init__(**kwargs)
        self.chunks = chunks

    def call(self, z):
        return ops.split(z, self.chunks, axis=-1)

    def compute_output_shape(self, input_shape):
        return [tuple(input_shape[:-1]) + (input_shape[-1] // self.chunks,)] * self.chunks

    def get_config(self):
        return {**super().get_config(), "chunks": self.chunks}


@keras.saving.register_keras_serializable(package="ganspec")
class BatchStatisticsNormalization(keras.layers.Layer):
    """(x - mean) / sqrt(var + epsilon) with the batch's own moments over all axes but the last, in training
    and sampling alike, keeping no moving averages (tflib's `cond_batchnorm.Batchnorm`)."""

    def __init__(self, epsilon: float = 1e-3, **kwargs):
        super().__init__(**kwargs)
        self.epsilon = epsilon

    def call(self, inputs):
        mean, variance = ops.moments(inputs, axes=tuple(range(len(inputs.shape) - 1)), keepdims=True)
        return (inputs - mean) * ops.rsqrt(variance + self.epsilon)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "epsilon": self.epsilon}


@keras.saving.register_keras_serializable(package="ganspec")
class ConditionalAffine(keras.layers.Layer):
    """[x_hat, g, b] -> x_hat * (1 + g) + b (`one_plus`) or x_hat * g + b; g, b [B, C] broadcast over H, W."""

    def __init__(self, one_plus: bool = True, **kwargs):
        super().__init__(**kwargs)
        self.one_plus = one_plus

    def call(self, inputs):
        x, gain, bias = inputs
        for _ in range(len(x.shape) - 2):
            gain, bias = ops.expand_dims(gain, 1), ops.expand_dims(bias, 1)
        return x * (1.0 + gain if self.one_plus else gain) + bias

    def compute_output_shape(self, input_shapes):
        return input_shapes[0]

    def get_config(self):
        return {**super().get_config(), "one_plus": self.one_plus}


@keras.saving.register_keras_serializable(package="ganspec")
class ProjectionSum(keras.layers.Layer):
    """[psi(h), E c, h] -> psi(h) + <E c, h> (Miyato & Koyama 2018, eq. 3)."""

    def call(self, inputs):
        score, embedded, features = inputs
        return score + ops.sum(embedded * features, axis=-1, keepdims=True)

    def compute_output_shape(self, input_shapes):
        return input_shapes[0]


def _table_initializer(init, fan_in: int, seed: int) -> keras.initializers.Initializer:
    """A label table's initializer: `pytorch` is nn.Embedding's N(0, 1), unset Keras' Embedding U(-0.05, 0.05)."""
    if init is None:
        return keras.initializers.RandomUniform(-0.05, 0.05, seed=seed)
    if init.kind == "pytorch":
        return keras.initializers.RandomNormal(0.0, 1.0, seed=seed)
    return keras_initializer(init, fan_in, seed)


def _conditioning(layer: L.LabelLayer, ctx):
    """The conditioning vector `layer` reads: the label's (one-hot, or the shared embedding), joined with
    z's chunk `layer.chunk` where it names one (StudioGAN's torch.cat([shared(y), z_i], 1)), or that alone."""
    chunk = getattr(layer, "chunk", None)
    if chunk is not None:
        if ctx.latent_chunks is None:
            raise ValueError(f"{layer.kind}(chunk: {chunk}) reads a chunk of z, but this network does not split z")
        z_chunk = ctx.latent_chunks[chunk]
        return z_chunk if ctx.conditioning is None else keras.layers.Concatenate()([ctx.conditioning, z_chunk])
    if ctx.conditioning is None:
        raise ValueError(f"{layer.kind} reads the class label, but this network was built without one")
    return ctx.conditioning


def _label_table(vector, ctx, units: int, initializer):
    """W c: a (conditioning size) x units table read by the conditioning vector c, a row per class for a
    one-hot label (torch.nn.Embedding); spectrally normalized where weight layers are."""
    table = keras.layers.Dense(units, use_bias=False, kernel_initializer=initializer)
    return ctx.weighted(table)(vector)


@builds("join_label")
def build_join_label(layer: L.JoinLabel, x, ctx):
    if not layer.embed:
        return LabelJoin()([x, _conditioning(layer, ctx)])
    initializer = _table_initializer(layer.init or ctx.init, layer.conditioning_size(), ctx.next_seed())
    return LabelJoin()([x, _label_table(_conditioning(layer, ctx), ctx, layer.embed, initializer)])


@builds("conditional_batchnorm")
def build_conditional_batchnorm(layer: L.ConditionalBatchNorm, x, ctx):
    """Batch norm without scale and offset, then gain and bias from the conditioning vector; W_g draws its
    seed before W_b."""
    if layer.statistics == "running":
        normalized = keras.layers.BatchNormalization(momentum=layer.momentum, epsilon=layer.epsilon,
                                                     center=False, scale=False)(x)
    else:
        normalized = BatchStatisticsNormalization(layer.epsilon)(x)
    if layer.gain == "one_plus":
        fan_in = layer.conditioning_size()
        gain_init, bias_init = (ctx.kernel_initializer(layer.init, fan_in) for _ in range(2))
    else:  # tflib: per-class scale starting at ones, offset at zeros
        gain_init, bias_init = keras.initializers.Ones(), keras.initializers.Zeros()
    vector = _conditioning(layer, ctx)
    gain = _label_table(vector, ctx, x.shape[-1], gain_init)
    bias = _label_table(vector, ctx, x.shape[-1], bias_init)
    return ConditionalAffine(one_plus=layer.gain == "one_plus")([normalized, gain, bias])


@builds("label_projection")
def build_label_projection(layer: L.LabelProjection, x, ctx):
    """psi(h) = dense(1)(h) draws its seed before the table E."""
    score = ctx.weighted(keras.layers.Dense(1, use_bias=layer.bias, **ctx.initializers(layer, tuple(x.shape[1:]))))(x)
    initializer = _table_initializer(layer.init or ctx.init, layer.conditioning_size(), ctx.next_seed())
    embedded = _label_table(_conditioning(layer, ctx), ctx, x.shape[-1], initializer)
    return ProjectionSum()([score, embedded, x])


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
    """shortcut(x) + body(x) (He et al. 2016): the declared shortcut stack, else the identity or the 1x1
    (or dense) projection that `Residual.projection` names. The body is built first, so its seeds come first."""
    body = ctx.stack(layer.layers, x)
    if layer.shortcut is not None:
        shortcut = ctx.stack(layer.shortcut, x)
    else:
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


# ---- several outputs: the critic's heads ------------------------------------------------------


@builds("softmax")
def build_softmax(layer, x, ctx):
    return keras.layers.Softmax()(x)


@builds("head")
def build_head(layer: L.Head, x, ctx):
    """The head's body on the current features, kept as another output; the stack goes on from `x`. Its
    slot is taken before the body is built, so nested heads come in written order, as `iter_layers`."""
    index = len(ctx.heads)
    ctx.heads.append(None)
    ctx.heads[index] = ctx.stack(layer.layers, x)
    return x


def critic_outputs(x, ctx, spec: Spec):
    """The critic's output: the adversarial one alone, or [adversarial, heads...] when it has heads."""
    if not ctx.heads:
        return _float32_output(x, spec)
    if spec.train.precision == "float32":
        return [x, *ctx.heads]
    return [_float32_output(x, spec), *(keras.layers.Activation("linear", dtype="float32")(h) for h in ctx.heads)]


def critic_features(critic: keras.Model) -> keras.Model:
    """The critic's adversarial output and its second-to-last layer's activations D_ (CT-GAN, Wei et al.
    2018, sec. 3), as a model sharing the critic's layers: D_ is the input of the last layer with trainable
    weights on the adversarial output's path (the final dense, its spectral-norm wrapper, a projection),
    found by walking back from the output over parameterless layers (activations, the float32 cast)."""
    outputs = critic.outputs
    adversarial_output = outputs[0]
    producers = {}
    for layer in critic.layers:
        for tensor in _as_list(layer.output):
            producers[id(tensor)] = layer
    tensor = adversarial_output
    while id(tensor) in producers:
        layer = producers[id(tensor)]
        if isinstance(layer, keras.layers.InputLayer):
            break
        inputs = _as_list(layer.input)
        if layer.trainable_weights:
            tensor = inputs[0]
            break
        tensor = inputs[0]
    return keras.Model(critic.input, [adversarial_output, tensor], name="critic_features")


def _as_list(tensors) -> list:
    return list(tensors) if isinstance(tensors, (list, tuple)) else [tensors]


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
    """z (and a one-hot label when conditional: joined to z, or read by the network's own label layers)
    -> one sample."""
    network = spec.generator
    ctx = BuildContext(seed=spec.seed * 2 + GENERATOR_SEED, init=network.init, bias_init=network.bias_init)
    vector = network_conditioning(spec, network)
    with precision(spec.train.precision), L.conditioning(vector.label, vector.chunk, vector.chunks):
        z = keras.Input((spec.latent.input_dim,), name="z")
        inputs, x = z, z
        if network.latent_chunks:  # BigGAN: chunk 0 into the stack, the others to cBN(chunk: i)
            ctx.latent_chunks = LatentChunks(network.latent_chunks)(z)
            x = ctx.latent_chunks[0]
        if spec.conditional:
            label = keras.Input((spec.conditional.classes,), name="label")
            inputs = [z, label]
            if label_joined(spec, network):
                x = keras.layers.Concatenate()([z, label])
            else:
                ctx.conditioning = label if not network.shared_embedding else shared_embedding(network, label, ctx)
        x = ctx.stack(network.layers, x)
        return keras.Model(inputs, _float32_output(x, spec), name="generator")


def shared_embedding(network, label, ctx):
    """BigGAN's shared class embedding: one classes x E table (drawn by the network's `init`), never
    spectrally normalized (StudioGAN's `ops.embedding`, even under apply_g_sn)."""
    initializer = _table_initializer(network.init, label.shape[-1], ctx.next_seed())
    return keras.layers.Dense(network.shared_embedding, use_bias=False, kernel_initializer=initializer,
                              name="shared_embedding")(label)


def one_sample_shape(spec: Spec, spec_dir=None) -> tuple[int, ...]:
    """One data sample's shape: from the data source, else from the generator's output."""
    shape, _ = data_sample_shape(spec, spec_dir)
    if shape is None:
        shape, _ = walk_network(spec, spec.generator, generator_input_shape(spec))
    return tuple(shape)


def build_critic(spec: Spec, sample: tuple[int, ...] | None = None, spec_dir=None) -> keras.Model:
    """A packed, label-conditioned sample (see `critic_input`: label channels, or a second input that
    the critic's label layers read) -> one number (logit or score)."""
    sample = sample or one_sample_shape(spec, spec_dir)
    constraint = next((c for c in spec.constraints if c.kind == "spectral_norm"), None)
    ctx = BuildContext(seed=spec.seed * 2 + CRITIC_SEED,
                       spectral_norm=constraint.power_iterations if constraint else None,
                       init=spec.critic.init, bias_init=spec.critic.bias_init)
    vector = network_conditioning(spec, spec.critic)
    with precision(spec.train.precision), L.conditioning(vector.label, vector.chunk, vector.chunks):
        inputs = x = keras.Input(critic_input_shape(spec, sample), name="sample")
        if spec.conditional and reads_label(spec.critic):
            ctx.conditioning = keras.Input((spec.conditional.classes,), name="label")
            inputs = [x, ctx.conditioning]
        x = ctx.stack(spec.critic.layers, x)
        return keras.Model(inputs, critic_outputs(x, ctx, spec), name="critic")


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


def critic_input(x, labels=None, pack: int = 1, label_input: bool = False):
    """Samples [B, ...] (and one-hot labels [B, classes]) -> the critic's input for B / pack decisions: the
    packed samples, with the pack's labels as channels, or beside them as the second input [samples, labels]
    of a critic that reads labels with its own layers (`label_input`: `ganspec.ir.shapes.reads_label`)."""
    packed = pack_samples(x, pack)
    if labels is None:
        return packed
    if label_input:
        return [packed, pack_labels(labels, pack)]
    return with_label_channels(packed, pack_labels(labels, pack))


def count_weights(model: keras.Model) -> tuple[int, int]:
    """(trainable, non_trainable) parameter counts, as `ganspec explain` reports them."""
    def count(variables):
        return sum(math.prod(v.shape) for v in variables)
    return count(model.trainable_weights), count(model.non_trainable_weights)
