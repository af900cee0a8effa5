"""Weight initializers of dense and convolution layers: `init` and `bias_init`.

    generator(init: normal(0, 0.02)) { ... }         every weight layer of the network
    dense(128, init: orthogonal, bias_init: zeros)   one layer; wins over the network's

IR data only: `ganspec.networks` turns each into a seeded Keras initializer. Unset, a
layer keeps Keras' defaults (glorot_uniform kernel, zero bias), so a spec without `init`
builds as it always did.

fan_in and fan_out are PyTorch's (torch/nn/init.py, `_calculate_fan_in_and_fan_out`):
dense: inputs / units; conv: in_channels * k * k / filters * k * k; conv_transpose
(weight of shape [in, out, k, k], read at dim 1): filters * k * k / in_channels * k * k.
Keras' `compute_fans` gives the same numbers on its kernel layouts. The scaled normals
(glorot_normal, he_normal, lecun_normal) are untruncated, as in the papers and PyTorch
(`xavier_normal_`, `kaiming_normal_`); Keras' own defaults of those names truncate.
"""

from typing import ClassVar, Literal

from pydantic import Field, model_validator

from ganspec.ir.base import Component, Registry

INITIALIZERS = Registry("initializer")


class Initializer(Component):
    for_bias: ClassVar[bool] = True  # defined for a bias vector (fan-scaled and orthogonal ones need a kernel)


def kernel_only(init: Initializer | None) -> Initializer | None:
    """A field validator of `bias_init`: refuses initializers that need a kernel's shape."""
    if init is not None and not init.for_bias:
        usable = ", ".join(name for name, cls in INITIALIZERS.items.items() if cls.for_bias)
        raise ValueError(f"{init.kind} needs a kernel's shape, so it cannot initialize a bias (use {usable})")
    return init


@INITIALIZERS.register
class Normal(Initializer):
    """N(mean, std^2). Radford et al. 2016 (DCGAN), sec. 4: N(0, 0.02); compare_gan and PyTorch-GAN's
    `weights_init_normal` alike."""

    kind: Literal["normal"] = "normal"
    mean: float = 0.0
    std: float = Field(0.02, gt=0)
    positional: ClassVar = ("mean", "std")


@INITIALIZERS.register
class TruncatedNormal(Initializer):
    """N(mean, std^2) redrawn beyond 2 std (tf.random.truncated_normal; compare_gan's
    `truncated` weight init, compare_gan/architectures/arch_ops.py)."""

    kind: Literal["truncated_normal"] = "truncated_normal"
    mean: float = 0.0
    std: float = Field(0.02, gt=0)
    positional: ClassVar = ("mean", "std")


@INITIALIZERS.register
class Uniform(Initializer):
    """U(low, high) (torch.nn.init.uniform_, keras RandomUniform)."""

    kind: Literal["uniform"] = "uniform"
    low: float = -0.05
    high: float = 0.05
    positional: ClassVar = ("low", "high")

    @model_validator(mode="after")
    def _low_below_high(self):
        if not self.low < self.high:
            raise ValueError(f"needs low < high, got low {self.low:g}, high {self.high:g}")
        return self


@INITIALIZERS.register
class Orthogonal(Initializer):
    """gain * a (semi-)orthogonal matrix of shape (fan_in, units) (Saxe et al. 2014; BigGAN, Brock et
    al. 2019, `G_init`/`D_init` "ortho"; PyTorch-StudioGAN `init_weights(..., "ortho")`)."""

    kind: Literal["orthogonal"] = "orthogonal"
    for_bias: ClassVar = False
    gain: float = Field(1.0, gt=0)
    positional: ClassVar = ("gain",)


@INITIALIZERS.register
class GlorotUniform(Initializer):
    """U(-a, a), a = sqrt(6 / (fan_in + fan_out)) (Glorot & Bengio 2010, eq. 16; Keras' default kernel)."""

    kind: Literal["glorot_uniform"] = "glorot_uniform"
    for_bias: ClassVar = False


@INITIALIZERS.register
class GlorotNormal(Initializer):
    """N(0, 2 / (fan_in + fan_out)), untruncated (torch.nn.init.xavier_normal_)."""

    kind: Literal["glorot_normal"] = "glorot_normal"
    for_bias: ClassVar = False


@INITIALIZERS.register
class HeUniform(Initializer):
    """U(-a, a), a = sqrt(6 / fan_in) (He et al. 2015; torch.nn.init.kaiming_uniform_; the WGAN-GP code's
    `he` init)."""

    kind: Literal["he_uniform"] = "he_uniform"
    for_bias: ClassVar = False


@INITIALIZERS.register
class HeNormal(Initializer):
    """N(0, 2 / fan_in), untruncated (He et al. 2015, eq. 10; torch.nn.init.kaiming_normal_)."""

    kind: Literal["he_normal"] = "he_normal"
    for_bias: ClassVar = False


@INITIALIZERS.register
class LecunNormal(Initializer):
    """N(0, 1 / fan_in), untruncated (LeCun et al. 1998, "Efficient BackProp", sec. 4.6)."""

    kind: Literal["lecun_normal"] = "lecun_normal"
    for_bias: ClassVar = False


@INITIALIZERS.register
class Zeros(Initializer):
    """All zeros (Keras' default bias)."""

    kind: Literal["zeros"] = "zeros"


@INITIALIZERS.register
class Pytorch(Initializer):
    """PyTorch's default for Linear and Conv layers, kernel and bias alike: U(-1/sqrt(fan_in), 1/sqrt(fan_in))
    with the weight's fan_in (torch/nn/modules/linear.py and conv.py, `reset_parameters`: kaiming_uniform_
    with a = sqrt(5), and the bias bound 1/sqrt(fan_in))."""

    kind: Literal["pytorch"] = "pytorch"


InitializerField = INITIALIZERS.annotation()
