"""Layers of the generator and critic: parameters, static shape inference, weight counts.

Shapes exclude the batch axis; images are (height, width, channels). Each layer
answers `output_shape(shape)` and `weights(shape) -> (trainable, non_trainable)`
without TensorFlow, so `validate` and `explain` can check a network statically.
Counts follow Keras 3's own layers so they can be compared with built models.
"""

import math
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Annotated, ClassVar, Literal, Optional, Union

from pydantic import Field, field_validator, model_validator

from ganspec.ir.base import Component, Registered, Registry
from ganspec.ir.initializers import INITIALIZERS, InitializerField, kernel_only

LAYERS = Registry("layer")
Shape = tuple[int, ...]


class ShapeError(ValueError):
    """A layer cannot take the shape it is given; `hint` suggests a fix where one is plain."""

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.hint = hint


class Layer(Component):
    has_weights: ClassVar[bool] = False  # spectral normalization wraps these
    is_activation: ClassVar[bool] = False

    def output_shape(self, shape: Shape) -> Shape:
        return shape

    def weights(self, shape: Shape) -> tuple[int, int]:
        return 0, 0

    def out_units(self, shape: Shape) -> int:
        """Size of the last axis of the kernel (for the spectral-norm vector u)."""
        return self.output_shape(shape)[-1]

    def label(self) -> str:
        return self.text()


def _image(shape: Shape, layer: str) -> Shape:
    if len(shape) != 3:
        raise ShapeError(f"{layer} needs an image input (height, width, channels), got {_fmt(shape)}")
    return shape


def _fmt(shape) -> str:
    return "(" + ", ".join(str(s) for s in shape) + ")"


def _conv_length(n: int, kernel: int, stride: int, padding: str) -> int:
    if padding == "same":
        return -(-n // stride)  # in integers: a float quotient overflows on absurd sizes
    return (n - kernel) // stride + 1


def _register(cls):
    return LAYERS.register(cls)


Pos = Annotated[int, Field(gt=0)]
NonNeg = Annotated[int, Field(ge=0)]
# Keras' `same` / `valid`, or PyTorch's explicit zero padding: pixels on every side, or
# [top_bottom, left_right] (torch.nn.Conv2d(padding=(h, w))).
Padding = Union[Literal["same", "valid"], NonNeg, tuple[NonNeg, NonNeg]]


def _check_padding(value):
    """One clear error for a bad padding (instead of one per member of the union)."""
    if value in ("same", "valid"):
        return value
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    if (isinstance(value, (list, tuple)) and len(value) == 2
            and all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in value)):
        return value[0] if value[0] == value[1] else tuple(value)  # [1, 1] means padding: 1
    raise ValueError("must be same, valid, pixels on every side (padding: 1) or [top_bottom, left_right]")


def explicit_padding(padding) -> tuple[int, int] | None:
    """(top_bottom, left_right) pixels of an explicit padding; None for `same` and `valid`."""
    if isinstance(padding, str):
        return None
    return (padding, padding) if isinstance(padding, int) else tuple(padding)


Init = Optional[InitializerField]  # none: the network's `init`, else Keras' default


class WeightLayer(Layer):
    """A layer with a kernel (and maybe a bias): `init` and `bias_init` choose their initializers."""

    has_weights: ClassVar = True

    _bias_init = field_validator("bias_init", check_fields=False)(kernel_only)

    def fan_in(self, shape: Shape) -> int:
        """Inputs per output unit of the kernel, as PyTorch counts them (torch/nn/init.py)."""
        raise NotImplementedError


@_register
class Dense(WeightLayer):
    """Fully connected layer on the last axis."""

    kind: Literal["dense"] = "dense"
    units: Pos
    bias: bool = True
    init: Init = None
    bias_init: Init = None
    positional: ClassVar = ("units",)

    def fan_in(self, shape):
        return shape[-1]

    def output_shape(self, shape):
        return shape[:-1] + (self.units,)

    def weights(self, shape):
        return shape[-1] * self.units + (self.units if self.bias else 0), 0


@_register
class Conv(WeightLayer):
    """2D convolution. `padding`: same, valid, or PyTorch's explicit zero padding, pixels on every side
    or [top_bottom, left_right], then a valid convolution (torch.nn.Conv2d(padding=...))."""

    kind: Literal["conv"] = "conv"
    filters: Pos
    kernel: Pos = 3
    stride: Pos = 1
    padding: Padding = "same"
    bias: bool = True
    init: Init = None
    bias_init: Init = None
    positional: ClassVar = ("filters",)

    _padding = field_validator("padding", mode="before")(_check_padding)

    def fan_in(self, shape):
        return self.kernel * self.kernel * shape[-1]

    def output_shape(self, shape):
        h, w, _ = _image(shape, "conv")
        pads = explicit_padding(self.padding)
        if pads is None:
            oh, ow = (_conv_length(n, self.kernel, self.stride, self.padding) for n in (h, w))
        else:  # zero padding, then a `valid` convolution (torch.nn.Conv2d)
            oh, ow = (_conv_length(n + 2 * pad, self.kernel, self.stride, "valid") for n, pad in zip((h, w), pads))
        if oh < 1 or ow < 1:
            raise ShapeError(f"conv kernel {self.kernel} is larger than its input {_fmt(shape)}")
        return (oh, ow, self.filters)

    def weights(self, shape):
        c = shape[-1]
        return self.kernel * self.kernel * c * self.filters + (self.filters if self.bias else 0), 0


@_register
class ConvTranspose(WeightLayer):
    """2D transposed convolution (fractionally strided). An explicit `padding` (pixels, or [top_bottom,
    left_right]) and `output_padding` are PyTorch's ConvTranspose2d: out = (in - 1) * stride - 2 * padding
    + kernel + output_padding."""

    kind: Literal["conv_transpose"] = "conv_transpose"
    filters: Pos
    kernel: Pos = 3
    stride: Pos = 1
    padding: Padding = "same"
    output_padding: NonNeg = 0  # PyTorch's: extra rows and columns at the bottom and right
    bias: bool = True
    init: Init = None
    bias_init: Init = None
    positional: ClassVar = ("filters",)

    _padding = field_validator("padding", mode="before")(_check_padding)

    @field_validator("output_padding")
    @classmethod
    def _output_padding(cls, value, info):
        if value and explicit_padding(info.data.get("padding", "same")) is None:
            raise ValueError("needs an explicit padding such as `padding: 1` (PyTorch's semantics)")
        if value >= info.data.get("stride", 1):
            raise ValueError(f"must be smaller than the stride ({info.data.get('stride', 1)}), as in PyTorch")
        return value

    def fan_in(self, shape):
        # PyTorch's ConvTranspose weight is [in, out, k, k] and fan_in reads dim 1: the output filters.
        return self.kernel * self.kernel * self.filters

    def output_shape(self, shape):
        h, w, _ = _image(shape, "conv_transpose")
        pads = explicit_padding(self.padding)
        if pads is not None:
            # torch.nn.ConvTranspose2d: out = (in - 1) * stride - 2 * padding + kernel + output_padding
            oh, ow = ((n - 1) * self.stride - 2 * pad + self.kernel + self.output_padding
                      for n, pad in zip((h, w), pads))
            if oh < 1 or ow < 1:
                raise ShapeError(f"conv_transpose padding {_fmt(pads)} removes the whole output of {_fmt(shape)}")
            return (oh, ow, self.filters)
        if self.padding == "same":
            return (h * self.stride, w * self.stride, self.filters)
        grow = max(self.kernel - self.stride, 0)
        return (h * self.stride + grow, w * self.stride + grow, self.filters)

    def weights(self, shape):
        c = shape[-1]
        return self.kernel * self.kernel * c * self.filters + (self.filters if self.bias else 0), 0


@_register
class Attention(WeightLayer):
    """SAGAN self-attention (Zhang et al. 2019, sec. 3), as PyTorch-StudioGAN's `SelfAttention`
    (src/utils/ops.py) and BigGAN: 1x1 convs without bias, theta and phi to C/8, g to C/2, phi and g
    max-pooled 2x2, softmax(theta phi^T) over the pooled positions, a 1x1 conv C/2 -> C, and
    y = x + gamma * o with a trainable scalar gamma starting at 0. `init` sets its four kernels."""

    kind: Literal["attention"] = "attention"
    init: Init = None
    bias: ClassVar = False  # StudioGAN's convs have bias=False

    def convs(self, shape: Shape) -> tuple[tuple[int, int], ...]:
        """(input channels, output channels) of its 1x1 convs: theta, phi, g, output."""
        c = shape[-1]
        return (c, c // 8), (c, c // 8), (c, c // 2), (c // 2, c)

    def fan_in(self, shape):
        return shape[-1]

    def output_shape(self, shape):
        if len(shape) != 3:
            raise ShapeError(f"attention needs an image input (height, width, channels), got {_fmt(shape)}",
                             "place it after a reshape to feature maps, between convolutions")
        h, w, c = shape
        if c % 8:
            raise ShapeError(f"attention needs channels divisible by 8 (theta and phi have C/8), got {_fmt(shape)}",
                             f"give the layer before it a multiple of 8 channels, such as {c // 8 * 8 + 8}")
        if h % 2 or w % 2:
            raise ShapeError(f"attention max-pools phi and g 2x2: it needs an even height and width, got {_fmt(shape)}",
                             "place it where the feature maps are an even size (SAGAN: 32x32 in G, 64x64 in D)")
        return shape

    def weights(self, shape):
        return sum(i * o for i, o in self.convs(shape)) + 1, 0  # + gamma

    def out_units(self, shape):
        # Spectral normalization keeps one vector u per conv, as long as that conv's outputs.
        return sum(o for _, o in self.convs(shape))


@_register
class Upsample(Layer):
    """Repeat pixels (nearest), interpolate (bilinear), or insert zeros (zeros: out[f i, f j] = x[i, j],
    zeros elsewhere; the "unpooling" of Dosovitskiy et al. 2015, compare_gan's `resnet_ops.unpool`)
    by an integer factor."""

    kind: Literal["upsample"] = "upsample"
    factor: Pos = 2
    interpolation: Literal["nearest", "bilinear", "zeros"] = "nearest"
    positional: ClassVar = ("factor",)

    def output_shape(self, shape):
        h, w, c = _image(shape, "upsample")
        return (h * self.factor, w * self.factor, c)


@_register
class Pool(Layer):
    """Max or average pooling with stride equal to the window."""

    kind: Literal["pool"] = "pool"
    size: Pos = 2
    mode: Literal["max", "avg"] = "max"
    positional: ClassVar = ("size",)

    def output_shape(self, shape):
        h, w, c = _image(shape, "pool")
        if h < self.size or w < self.size:
            raise ShapeError(f"pool window {self.size} is larger than its input {_fmt(shape)}")
        return (h // self.size, w // self.size, c)


@_register
class GlobalPool(Layer):
    """Average, max or sum over height and width; sum is the SN-GAN/BigGAN critic's
    `torch.sum(h, dim=[2, 3])` (Miyato et al. 2018 code; PyTorch-StudioGAN's resnet discriminators)."""

    kind: Literal["global_pool"] = "global_pool"
    mode: Literal["max", "avg", "sum"] = "avg"
    positional: ClassVar = ("mode",)

    def output_shape(self, shape):
        return (_image(shape, "global_pool")[2],)


@_register
class Pad(Layer):
    """Zero padding on every side of an image."""

    kind: Literal["pad"] = "pad"
    amount: Pos = 1
    positional: ClassVar = ("amount",)

    def output_shape(self, shape):
        h, w, c = _image(shape, "pad")
        return (h + 2 * self.amount, w + 2 * self.amount, c)


@_register
class Crop(Layer):
    """Remove `amount` pixels from every side of an image."""

    kind: Literal["crop"] = "crop"
    amount: Pos = 1
    positional: ClassVar = ("amount",)

    def output_shape(self, shape):
        h, w, c = _image(shape, "crop")
        if h <= 2 * self.amount or w <= 2 * self.amount:
            raise ShapeError(f"crop({self.amount}) removes the whole input {_fmt(shape)}")
        return (h - 2 * self.amount, w - 2 * self.amount, c)


@_register
class Reshape(Layer):
    """Reshape to the given dimensions; one of them may be -1."""

    kind: Literal["reshape"] = "reshape"
    shape: tuple[int, ...] = Field(min_length=1)
    varargs: ClassVar = "shape"

    def output_shape(self, shape):
        size = math.prod(shape)
        target = list(self.shape)
        if target.count(-1) > 1 or any(d == 0 or d < -1 for d in target):
            raise ShapeError(f"reshape{_fmt(target)}: dimensions must be positive, with at most one -1")
        if -1 in target:
            known = math.prod(d for d in target if d != -1)
            if size % known:
                raise ShapeError(f"cannot reshape {_fmt(shape)} ({size} values) to {_fmt(target)}")
            target[target.index(-1)] = size // known
        elif math.prod(target) != size:
            raise ShapeError(
                f"cannot reshape {_fmt(shape)} ({size} values) to {_fmt(target)} ({math.prod(target)} values)"
            )
        return tuple(target)


@_register
class Flatten(Layer):
    """Flatten to one axis."""

    kind: Literal["flatten"] = "flatten"

    def output_shape(self, shape):
        return (math.prod(shape),)


@_register
class BatchNorm(Layer):
    """Batch normalization (Ioffe & Szegedy 2015); Keras defaults. `gamma_init` and `beta_init` set the
    scale and offset (unset: ones and zeros); PyTorch-GAN's and the PyTorch DCGAN tutorial's
    `weights_init_normal` draw the scale from normal(1, 0.02). `sync`: in a data-parallel run
    (`ganspec run --devices N`), the batch statistics over the global batch, all-reduced across the
    replicas (Keras's `synchronized=True`), instead of each replica's own slice, which is how the papers
    ran on several GPUs and the default; one device computes the same either way."""

    kind: Literal["batchnorm"] = "batchnorm"
    momentum: float = Field(0.99, ge=0, lt=1)
    epsilon: float = Field(1e-3, gt=0)
    sync: bool = False
    gamma_init: Init = None
    beta_init: Init = None

    @field_validator("gamma_init", "beta_init")
    @classmethod
    def _vector_init(cls, init):
        if init is not None and (init.kind == "pytorch" or not init.for_bias):
            usable = ", ".join(name for name, c in INITIALIZERS.items.items() if c.for_bias and name != "pytorch")
            raise ValueError(f"{init.kind} initializes a kernel; batchnorm's scale and offset are vectors "
                             f"(use {usable}; unset, ones and zeros)")
        return init

    def weights(self, shape):
        return 2 * shape[-1], 2 * shape[-1]


@_register
class LayerNorm(Layer):
    """Layer normalization (Ba et al. 2016); the WGAN-GP paper's choice for critics."""

    kind: Literal["layernorm"] = "layernorm"
    epsilon: float = Field(1e-3, gt=0)

    def weights(self, shape):
        return 2 * shape[-1], 0


@_register
class Dropout(Layer):
    """Dropout with the given rate (active in training only); `channels: true` drops whole feature
    maps of an image (PyTorch's Dropout2d, Tompson et al. 2015), scaling the kept ones by 1 / (1 - rate)."""

    kind: Literal["dropout"] = "dropout"
    rate: float = Field(ge=0, lt=1)
    channels: bool = False
    positional: ClassVar = ("rate",)

    def output_shape(self, shape):
        if self.channels:
            _image(shape, "dropout(channels: true)")
        return shape


@_register
class Relu(Layer):
    """max(0, x)."""

    kind: Literal["relu"] = "relu"
    is_activation: ClassVar = True


@_register
class LeakyRelu(Layer):
    """max(alpha * x, x)."""

    kind: Literal["leaky_relu"] = "leaky_relu"
    alpha: float = Field(0.2, ge=0)
    positional: ClassVar = ("alpha",)
    is_activation: ClassVar = True


@_register
class Elu(Layer):
    """Exponential linear unit."""

    kind: Literal["elu"] = "elu"
    alpha: float = Field(1.0, gt=0)
    positional: ClassVar = ("alpha",)
    is_activation: ClassVar = True


@_register
class Gelu(Layer):
    """Gaussian error linear unit."""

    kind: Literal["gelu"] = "gelu"
    is_activation: ClassVar = True


@_register
class Tanh(Layer):
    """tanh: output in (-1, 1)."""

    kind: Literal["tanh"] = "tanh"
    is_activation: ClassVar = True


@_register
class Sigmoid(Layer):
    """Logistic sigmoid: output in (0, 1)."""

    kind: Literal["sigmoid"] = "sigmoid"
    is_activation: ClassVar = True


@_register
class Maxout(Layer):
    """Maxout (Goodfellow et al. 2013): max over groups of `pieces` units of the last axis."""

    kind: Literal["maxout"] = "maxout"
    pieces: int = Field(gt=1)
    positional: ClassVar = ("pieces",)
    is_activation: ClassVar = True

    def output_shape(self, shape):
        if shape[-1] % self.pieces:
            raise ShapeError(f"maxout({self.pieces}) needs a last axis divisible by {self.pieces}, got {_fmt(shape)}")
        return shape[:-1] + (shape[-1] // self.pieces,)


# ---- conditioning: layers that read the class label -----------------------------------------
# A network holding any of these receives the label only through them (`ganspec.ir.shapes.reads_label`);
# one without keeps the plain join (one-hot label appended to z, label channels on the critic input).
# They read "the conditioning vector": the one-hot label [classes], or the generator's shared embedding of
# it (`generator(shared_embedding: N)`, BigGAN); `conditional_batchnorm(chunk: i)` reads that joined with
# chunk i of z (`generator(latent_chunks: N)`, BigGAN's hierarchical latent).


@dataclass(frozen=True)
class ConditioningVector:
    """What the label-reading layers of one network read: `label` entries for the label (None: no label),
    and z split into `chunks` chunks of `chunk` entries (0: z is not split, or not this network's)."""

    label: int | None = None
    chunk: int = 0
    chunks: int = 0


_CONDITIONING: ContextVar[ConditioningVector] = ContextVar("conditioning", default=ConditioningVector())


@contextmanager
def conditioning(label: int | None, chunk: int = 0, chunks: int = 0):
    """Shape inference inside this block sees a label of `label` entries (None: the experiment has no
    label) and z in `chunks` chunks of `chunk` entries. `ganspec.ir.shapes.walk_network` sets them from the spec."""
    token = _CONDITIONING.set(ConditioningVector(label, chunk, chunks))
    try:
        yield
    finally:
        _CONDITIONING.reset(token)


class LabelLayer(WeightLayer):
    """A layer that reads the conditioning vector besides its input."""

    def conditioning_size(self) -> int:
        size = _CONDITIONING.get().label
        if size is None:
            raise ShapeError(f"{self.kind} reads the class label, but the experiment is not conditional",
                             "add `conditional { classes N }` (and labelled data), or remove the layer")
        return size

    def fan_in(self, shape):
        return self.conditioning_size()


@_register
class JoinLabel(LabelLayer):
    """The class label joined to the last axis where the author joins it, tiled over height and width for
    images (Mirza & Osindero 2014): one-hot, or with `embed: N` a learned classes x N table
    (torch.nn.Embedding; PyTorch-GAN's CGAN joins a 10 x 10 embedding to z in G and to the flattened image
    in D). `init` draws the table (`pytorch`: N(0, 1), nn.Embedding's default; unset: U(-0.05, 0.05),
    Keras' Embedding's); fan-scaled initializers count it as a dense kernel from the label (fan_in: classes)."""

    kind: Literal["join_label"] = "join_label"
    bias: ClassVar = False  # its tables map the label; no bias
    embed: Optional[Pos] = None
    init: Init = None

    def output_shape(self, shape):
        classes = self.conditioning_size()
        return shape[:-1] + (shape[-1] + (self.embed or classes),)

    def weights(self, shape):
        return (self.conditioning_size() * self.embed if self.embed else 0), 0

    def out_units(self, shape):
        return self.embed or 0  # the one-hot join has no table to normalize


@_register
class ConditionalBatchNorm(LabelLayer):
    """Class-conditional batch norm (de Vries et al. 2017; Miyato & Koyama 2018): batch norm without its own
    scale and offset, then out = x_hat * gain + bias with gain and bias linear in the conditioning vector c
    (for a one-hot label, one row of a classes x C table each).
    - `gain: one_plus`: gain = 1 + W_g c, bias = W_b c, W_g and W_b drawn by `init` (the network's; Keras'
      glorot_uniform when unset): PyTorch-StudioGAN's `ConditionalBatchNorm2d` (src/models/resnet.py).
    - `gain: direct`: gain = W_g c, bias = W_b c with W_g starting at ones and W_b at zeros, per-class scale
      and offset tables: tflib's `cond_batchnorm.Batchnorm` (improved_wgan_training, gan_cifar_resnet.py).
    `statistics: running` keeps moving averages for sampling, as `batchnorm` (StudioGAN); `batch` always
    normalizes with the batch's own statistics and keeps none (tflib).
    `chunk: i` (generator, with `generator(latent_chunks: N)`): c is the label's vector (one-hot, or the
    `shared_embedding`) joined with chunk i of z, 1 <= i < N, or chunk i alone without a label: BigGAN's
    hierarchical latent (Brock et al. 2019, sec. 3; StudioGAN's big_resnet.py: concat(shared(y), z_i))."""

    kind: Literal["conditional_batchnorm"] = "conditional_batchnorm"
    bias: ClassVar = False  # its tables map the label; no bias
    gain: Literal["one_plus", "direct"] = "one_plus"
    statistics: Literal["running", "batch"] = "running"
    momentum: float = Field(0.99, ge=0, lt=1)
    epsilon: float = Field(1e-3, gt=0)
    init: Init = None
    chunk: Optional[NonNeg] = None

    @field_validator("init")
    @classmethod
    def _init_needs_one_plus(cls, init, info):
        if init is not None and info.data.get("gain") == "direct":
            raise ValueError("gain: direct starts its tables at ones (gain) and zeros (bias), as tflib; "
                             "drop `init`, or draw the tables of gain: one_plus with it")
        return init

    def conditioning_size(self):
        if self.chunk is None:
            return super().conditioning_size()
        vector = _CONDITIONING.get()
        if not vector.chunks:
            raise ShapeError(f"conditional_batchnorm(chunk: {self.chunk}) reads chunk {self.chunk} of z, but this "
                             "network does not split z into chunks",
                             "declare them on the generator: generator(latent_chunks: N) { ... }")
        if not 1 <= self.chunk < vector.chunks:
            raise ShapeError(f"conditional_batchnorm(chunk: {self.chunk}) reads a chunk of z that the layers cannot "
                             f"read: z is split into {vector.chunks} chunks, 0 to {vector.chunks - 1}, and chunk 0 "
                             "feeds the generator's first layer",
                             f"name a chunk from 1 to {vector.chunks - 1}")
        return (vector.label or 0) + vector.chunk

    def output_shape(self, shape):
        self.conditioning_size()
        return shape

    def weights(self, shape):
        channels = shape[-1]
        return 2 * self.conditioning_size() * channels, (2 * channels if self.statistics == "running" else 0)

    def out_units(self, shape):
        return 2 * shape[-1]  # W_g and W_b: one power-iteration vector each


@_register
class LabelProjection(LabelLayer):
    """The projection discriminator's output (Miyato & Koyama 2018, eq. 3): on features h [C],
    dense(1)(h) + <E c, h>, E a classes x C table (PyTorch-StudioGAN's `linear1` and `embedding`,
    src/models/resnet.py). Under spectral normalization the table is normalized too (StudioGAN's
    `sn_embedding`). `init` draws the dense kernel and the table (`pytorch`: nn.Linear's and nn.Embedding's
    defaults; unset: Keras' glorot_uniform and U(-0.05, 0.05)); `bias_init` the dense bias."""

    kind: Literal["label_projection"] = "label_projection"
    bias: bool = True
    init: Init = None
    bias_init: Init = None

    def fan_in(self, shape):
        return shape[-1]  # of the dense(1); the table's is the label's

    def output_shape(self, shape):
        if len(shape) != 1:
            raise ShapeError(f"label_projection needs features (C,), got {_fmt(shape)}",
                             "place it after global_pool(sum) or flatten")
        self.conditioning_size()
        return (1,)

    def weights(self, shape):
        channels = shape[0]
        return channels + (1 if self.bias else 0) + self.conditioning_size() * channels, 0

    def out_units(self, shape):
        return 1 + shape[0]  # the dense(1)'s vector and the table's


# Not written in a stack (and not registered): the generator's options `latent_chunks` and
# `shared_embedding` (`ganspec.ir.spec.Network`), shown as the first rows of its `explain` table.


class LatentChunks(Layer):
    """z [D] split into `chunks` equal chunks of D / chunks; chunk 0 goes on into the stack."""

    kind: Literal["latent_chunks"] = "latent_chunks"
    chunks: int
    positional: ClassVar = ("chunks",)

    def output_shape(self, shape):
        return (shape[-1] // self.chunks,)


class SharedEmbedding(Layer):
    """The label's classes x `units` table that every label-reading layer of the generator reads instead of
    the one-hot label (BigGAN's `shared`, an nn.Embedding; not spectrally normalized, as in StudioGAN)."""

    kind: Literal["shared_embedding"] = "shared_embedding"
    units: int
    positional: ClassVar = ("units",)

    def output_shape(self, shape):
        return (self.units,)

    def weights(self, shape):
        return shape[-1] * self.units, 0


# ---- several outputs: heads of the critic and what they end in ----------------------------


@_register
class Softmax(Layer):
    """softmax over the last axis: outputs in (0, 1) summing to 1 (PyTorch-GAN's InfoGAN and AC-GAN class
    heads end in nn.Softmax)."""

    kind: Literal["softmax"] = "softmax"
    is_activation: ClassVar = True


# ---- blocks: layers that hold a stack of layers ------------------------------------------

WRAPPERS = Registry("block")
# Any layer or block registered when a spec is validated, plugins' included (`ganspec.ir.base.Registered`).
# Defined before the blocks that hold layer stacks, so that their fields are complete when they are
# defined: no `model_rebuild`, and each block's validator is built only when a spec first uses it.
AnyLayer = Annotated[Layer, Registered(LAYERS, WRAPPERS)]


class Block(Layer):
    layers: tuple[AnyLayer, ...] = ()

    def flat(self):
        return self.layers

    def stacks(self) -> tuple[tuple, ...]:
        """Every layer stack this block holds (the body; a residual's declared shortcut too)."""
        return (self.layers,)

    def after(self, shape: Shape, out: Shape) -> Shape:
        """The shape the stack goes on with, from the block's input and its body's output (a head's: its input)."""
        return out


@WRAPPERS.register
class Repeat(Block):
    """`repeat N { ... }`: the body N times, each copy with its own weights."""

    kind: Literal["repeat"] = "repeat"
    count: int = Field(gt=0)
    positional: ClassVar = ("count",)

    def flat(self):
        return self.layers * self.count


@WRAPPERS.register
class Residual(Block):
    """`residual { ... }`: shortcut(x) + body(x) (He et al. 2016). The shortcut is the identity when the
    body keeps the shape, else a 1x1 projection (strided to match a smaller image); or the stack declared
    in `shortcut`: `[upsample, conv(c, kernel: 1)]` (SN-GAN and BigGAN generator blocks),
    `[conv(c, kernel: 1), pool(2, mode: avg)]` (their critic blocks), `[conv(c)]` (compare_gan's learned
    3x3), `[]` (the identity, required)."""

    kind: Literal["residual"] = "residual"
    shortcut: Optional[tuple[AnyLayer, ...]] = None

    def stacks(self):
        return (self.layers,) if self.shortcut is None else (self.layers, self.shortcut)

    def text(self, full: bool = False) -> str:
        if self.shortcut is None:
            return self.kind
        return f"{self.kind}(shortcut: [{', '.join(layer.text(full) for layer in self.shortcut)}])"

    def projection(self, shape: Shape, out: Shape) -> Layer | None:
        """The automatic shortcut (when none is declared): None for the identity."""
        if out == shape:
            return None
        if len(shape) == 3 and len(out) == 3:
            stride = _projection_stride(shape, out)
            if stride is not None:
                return Conv(filters=out[2], kernel=1, stride=stride)
            hint = ("declare the shortcut, such as `residual(shortcut: [upsample, conv(%d, kernel: 1)])`" % out[2]
                    if out[0] > shape[0] else None)
            raise ShapeError(f"residual block changes {_fmt(shape)} to {_fmt(out)}: no strided 1x1 projection fits",
                             hint)
        if len(shape) == 1 and len(out) == 1:
            return Dense(units=out[0])
        raise ShapeError(f"residual block changes rank: {_fmt(shape)} -> {_fmt(out)}")


def _projection_stride(shape: Shape, out: Shape) -> int | None:
    """The smallest stride s with ceil(n / s) == o for both the height and the width, or None. The strides
    that make o of n are those with n / o <= s < n / (o - 1): found by arithmetic, not by trying each."""
    low, high = 1, shape[0]
    for n, o in ((shape[0], out[0]), (shape[1], out[1])):
        if o < 1:
            return None
        low = max(low, -(-n // o))
        if o > 1:
            high = min(high, (n - 1) // (o - 1))
    return low if low <= high else None


@WRAPPERS.register
class SpectralNormBlock(Block):
    """`spectral_norm { ... }`: every weight layer inside divided by its spectral norm (Miyato et al. 2018)."""

    kind: Literal["spectral_norm"] = "spectral_norm"
    power_iterations: int = Field(1, ge=1)
    positional: ClassVar = ("power_iterations",)


@WRAPPERS.register
class Head(Block):
    """`head(label) { dense(10) }`, `head(code: 1) { dense(10) }`: another output of the critic, branching off
    its features where it is written; the body reads those features, the stack goes on from them, and the
    stack's last layer stays the adversarial output. `label` predicts the class (AC-GAN's classifier,
    Odena et al. 2017), `code: i` factor i of a `product` latent (InfoGAN's Q, Chen et al. 2016); the
    `auxiliary` section's losses read them. Built, the critic returns [adversarial, heads in written order]."""

    kind: Literal["head"] = "head"
    target: Literal["label", "code"]
    code: Optional[NonNeg] = None
    positional: ClassVar = ("target",)

    @model_validator(mode="before")
    @classmethod
    def _code_names_target(cls, data):
        if isinstance(data, dict) and data.get("code") is not None and "target" not in data:
            return {**data, "target": "code"}  # `head(code: 1)`
        return data

    @model_validator(mode="after")
    def _code_with_target(self):
        if (self.target == "code") != (self.code is not None):
            raise ValueError("write head(label) for the class, or head(code: N) for factor N of the latent")
        return self

    def key(self) -> str:
        """What it predicts: `label`, or `code N` (the key `ganspec.ir.auxiliary` losses name)."""
        return self.target if self.code is None else f"code {self.code}"

    def text(self, full: bool = False) -> str:
        return f"{self.kind}(label)" if self.code is None else f"{self.kind}(code: {self.code})"

    def after(self, shape, out):
        return shape  # the stack goes on from the features the head read


# ---- walking a stack -----------------------------------------------------------------------


class Row:
    """One line of a network table: a layer, its input and output shape, its weights."""

    __slots__ = ("layer", "depth", "in_shape", "out_shape", "trainable", "non_trainable", "note", "copies")

    def __init__(self, layer, depth, in_shape, out_shape, trainable=0, non_trainable=0, note="", copies=1):
        self.layer, self.depth, self.in_shape, self.out_shape = layer, depth, in_shape, out_shape
        self.trainable, self.non_trainable, self.note = trainable, non_trainable, note
        self.copies = copies  # the copies of a repeat's body this row stands for (`walk`)


class StackShapeError(ShapeError):
    """A shape error, with the layer where the shapes broke."""

    def __init__(self, message: str, layer: Layer, shape: Shape, hint: str | None = None):
        super().__init__(message, hint)
        self.layer = layer
        self.shape = shape


def walk(layers, shape: Shape, spectral_norm: bool = False, depth: int = 0) -> tuple[Shape, list[Row]]:
    """Infer shapes through a stack; returns the output shape and one Row per layer.

    `spectral_norm` adds the non-trainable power-iteration vector u to weight layers.
    """
    rows: list[Row] = []
    for layer in layers:
        if isinstance(layer, Block):
            inner_sn = spectral_norm or isinstance(layer, SpectralNormBlock)
            start = len(rows)
            rows.append(None)  # placeholder for the block's own row
            if isinstance(layer, Repeat):
                out, inner = _repeat_rows(layer, shape, inner_sn, depth + 1)
            else:
                out, inner = walk(layer.layers, shape, inner_sn, depth + 1)
            rows.extend(inner)
            note = ""
            if isinstance(layer, Residual) and layer.shortcut is not None:
                short, inner = walk(layer.shortcut, shape, inner_sn, depth + 1)
                for row in inner:
                    row.note = row.note or "shortcut"
                rows.extend(inner)
                if short != out:
                    raise StackShapeError(
                        f"residual shortcut gives {_fmt(short)} but the body gives {_fmt(out)}: they are added, "
                        "so they must agree", layer, shape,
                        "make the shortcut change the shape as the body does (up- or down-sampling, channels)")
            elif isinstance(layer, Residual):
                try:
                    projection = layer.projection(shape, out)
                except ShapeError as exc:
                    raise StackShapeError(str(exc), layer, shape, exc.hint) from None
                if projection is not None:
                    t, n = projection.weights(shape)
                    if inner_sn:
                        n += projection.out_units(shape)
                    rows.append(Row(projection, depth + 1, shape, out, t, n, "projection"))
            rows[start] = Row(layer, depth, shape, out, 0, 0, note)
            shape = layer.after(shape, out)
            continue
        try:
            out = layer.output_shape(shape)
        except StackShapeError:
            raise
        except ShapeError as exc:
            raise StackShapeError(str(exc), layer, shape, exc.hint) from None
        if math.prod(out) > MAX_VALUES:
            raise StackShapeError(f"{layer.label()} gives {_fmt(out)}: more than 2**53 values per sample",
                                  layer, shape)
        trainable, non_trainable = layer.weights(shape)
        if spectral_norm and layer.has_weights:
            non_trainable += layer.out_units(shape)
        rows.append(Row(layer, depth, shape, out, trainable, non_trainable))
        shape = out
    return shape, rows


MAX_VALUES = 2**53  # values in one sample's tensor: beyond any machine, and the limit of exact floats


def _repeat_rows(layer: Repeat, shape: Shape, spectral_norm: bool, depth: int) -> tuple[Shape, list[Row]]:
    """The rows of a repeat's copies, one walk per copy until a copy gives back its input shape: every
    later copy then gives the same rows (a layer's shapes and weights depend only on its input shape),
    so that copy's rows stand for it and all the rest (`Row.copies`), and a long repeat costs no more
    than a short one."""
    rows: list[Row] = []
    out = shape
    for done in range(layer.count):
        start = out
        out, inner = walk(layer.layers, start, spectral_norm, depth)
        if out == start:
            for row in inner:
                row.copies *= layer.count - done
            rows.extend(inner)
            break
        rows.extend(inner)
    return out, rows


def totals(rows) -> tuple[int, int]:
    """(trainable, non-trainable) weights of the rows, each counted for the copies it stands for."""
    return sum(r.trainable * r.copies for r in rows), sum(r.non_trainable * r.copies for r in rows)


def iter_layers(layers):
    """Every layer in a stack, descending into blocks (each written layer once)."""
    for layer in layers:
        yield layer
        if isinstance(layer, Block):
            for stack in layer.stacks():
                yield from iter_layers(stack)


def last_layer(layers):
    """The last layer actually applied (looking inside trailing blocks)."""
    for layer in reversed(layers):
        if isinstance(layer, Head):
            continue  # another output: the stack's own goes on after it
        if isinstance(layer, Block):
            inner = last_layer(layer.layers)
            if inner is not None:
                return inner
        else:
            return layer
    return None
