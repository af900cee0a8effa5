"""Layers of the generator and critic: parameters, static shape inference, weight counts.

Shapes exclude the batch axis; images are (height, width, channels). Each layer
answers `output_shape(shape)` and `weights(shape) -> (trainable, non_trainable)`
without TensorFlow, so `validate` and `explain` can check a network statically.
Counts follow Keras 3's own layers so they can be compared with built models.
"""

from __future__ import annotations

import math
from typing import Annotated, ClassVar, Literal, Optional, Union

from pydantic import Field, field_validator

from ganspec.ir.base import Component, Registry
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
        return math.ceil(n / stride)
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
    `weights_init_normal` draw the scale from normal(1, 0.02)."""

    kind: Literal["batchnorm"] = "batchnorm"
    momentum: float = Field(0.99, ge=0, lt=1)
    epsilon: float = Field(1e-3, gt=0)
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


# ---- blocks: layers that hold a stack of layers ------------------------------------------

WRAPPERS = Registry("block")


class Block(Layer):
    layers: tuple["AnyLayer", ...] = ()

    def flat(self):
        return self.layers


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
    """`residual { ... }`: x + body(x) (He et al. 2016); a 1x1 projection when shapes differ."""

    kind: Literal["residual"] = "residual"

    def projection(self, shape: Shape, out: Shape) -> Layer | None:
        if out == shape:
            return None
        if len(shape) == 3 and len(out) == 3:
            for stride in range(1, shape[0] + 1):
                if math.ceil(shape[0] / stride) == out[0] and math.ceil(shape[1] / stride) == out[1]:
                    return Conv(filters=out[2], kernel=1, stride=stride)
            raise ShapeError(f"residual block changes {_fmt(shape)} to {_fmt(out)}: no strided 1x1 projection fits")
        if len(shape) == 1 and len(out) == 1:
            return Dense(units=out[0])
        raise ShapeError(f"residual block changes rank: {_fmt(shape)} -> {_fmt(out)}")


@WRAPPERS.register
class SpectralNormBlock(Block):
    """`spectral_norm { ... }`: every weight layer inside divided by its spectral norm (Miyato et al. 2018)."""

    kind: Literal["spectral_norm"] = "spectral_norm"
    power_iterations: int = Field(1, ge=1)
    positional: ClassVar = ("power_iterations",)


AnyLayer = Annotated[
    Union[tuple(LAYERS.items.values()) + tuple(WRAPPERS.items.values())],  # type: ignore[misc]
    Field(discriminator="kind"),
]
for _cls in WRAPPERS.items.values():
    _cls.model_rebuild()


# ---- walking a stack -----------------------------------------------------------------------


class Row:
    """One line of a network table: a layer, its input and output shape, its weights."""

    __slots__ = ("layer", "depth", "in_shape", "out_shape", "trainable", "non_trainable", "note")

    def __init__(self, layer, depth, in_shape, out_shape, trainable=0, non_trainable=0, note=""):
        self.layer, self.depth, self.in_shape, self.out_shape = layer, depth, in_shape, out_shape
        self.trainable, self.non_trainable, self.note = trainable, non_trainable, note


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
            out = shape
            for _ in range(layer.count if isinstance(layer, Repeat) else 1):
                out, inner = walk(layer.layers, out, inner_sn, depth + 1)
                rows.extend(inner)
            note = ""
            if isinstance(layer, Residual):
                try:
                    projection = layer.projection(shape, out)
                except ShapeError as exc:
                    raise StackShapeError(str(exc), layer, shape) from None
                if projection is not None:
                    t, n = projection.weights(shape)
                    if inner_sn:
                        n += projection.out_units(shape)
                    rows.append(Row(projection, depth + 1, shape, out, t, n, "projection"))
            rows[start] = Row(layer, depth, shape, out, 0, 0, note)
            shape = out
            continue
        try:
            out = layer.output_shape(shape)
        except StackShapeError:
            raise
        except ShapeError as exc:
            raise StackShapeError(str(exc), layer, shape, exc.hint) from None
        trainable, non_trainable = layer.weights(shape)
        if spectral_norm and layer.has_weights:
            non_trainable += layer.out_units(shape)
        rows.append(Row(layer, depth, shape, out, trainable, non_trainable))
        shape = out
    return shape, rows


def totals(rows) -> tuple[int, int]:
    return sum(r.trainable for r in rows), sum(r.non_trainable for r in rows)


def iter_layers(layers):
    """Every layer in a stack, descending into blocks (each written layer once)."""
    for layer in layers:
        yield layer
        if isinstance(layer, Block):
            yield from iter_layers(layer.layers)


def last_layer(layers):
    """The last layer actually applied (looking inside trailing blocks)."""
    for layer in reversed(layers):
        if isinstance(layer, Block):
            inner = last_layer(layer.layers)
            if inner is not None:
                return inner
        else:
            return layer
    return None
