"""Layers of published configurations, statically (ganspec.ir.layers, ganspec.ir.initializers):
PyTorch's explicit padding, output_padding, sum pooling, channel dropout, and the initializer
registry. No TensorFlow: tests/networks checks the built layers against these numbers."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from ganspec.ir import layers as L
from ganspec.ir.initializers import INITIALIZERS, Orthogonal, Pytorch
from ganspec.ir.spec import Network


def _torch_conv_length(n, kernel, stride, padding):
    """torch.nn.Conv2d docs: floor((n + 2 * padding - kernel) / stride + 1)."""
    return (n + 2 * padding - kernel) // stride + 1


def _torch_conv_transpose_length(n, kernel, stride, padding, output_padding):
    """torch.nn.ConvTranspose2d docs: (n - 1) * stride - 2 * padding + kernel + output_padding."""
    return (n - 1) * stride - 2 * padding + kernel + output_padding


@pytest.mark.parametrize("n, kernel, stride, padding", [
    (32, 3, 2, 1), (31, 3, 2, 1), (32, 4, 2, 1), (8, 3, 1, 1), (7, 5, 1, 2), (6, 3, 3, 0), (4, 4, 1, 3),
])
def test_conv_padding_is_pytorchs(n, kernel, stride, padding):
    layer = L.Conv(filters=5, kernel=kernel, stride=stride, padding=padding)
    side = _torch_conv_length(n, kernel, stride, padding)
    assert layer.output_shape((n, n, 2)) == (side, side, 5)
    assert layer.weights((n, n, 2)) == (kernel * kernel * 2 * 5 + 5, 0)  # padding adds no weights


def test_conv_padding_per_axis():
    layer = L.Conv(filters=4, kernel=4, stride=2, padding=[1, 2])
    assert layer.padding == (1, 2)
    assert layer.output_shape((16, 16, 3)) == (8, 9, 4)
    assert L.Conv(filters=4, padding=[1, 1]).padding == 1, "[p, p] means padding: p, so diff sees no change"
    assert L.Conv(filters=4, padding=[1, 1]) == L.Conv(filters=4, padding=1)


@pytest.mark.parametrize("n, kernel, stride, padding, output_padding", [
    (4, 4, 2, 1, 0), (4, 3, 2, 1, 1), (5, 5, 3, 2, 2), (3, 2, 3, 0, 0), (8, 4, 1, 0, 0),
])
def test_conv_transpose_padding_is_pytorchs(n, kernel, stride, padding, output_padding):
    layer = L.ConvTranspose(filters=3, kernel=kernel, stride=stride, padding=padding, output_padding=output_padding)
    side = _torch_conv_transpose_length(n, kernel, stride, padding, output_padding)
    assert layer.output_shape((n, n, 2)) == (side, side, 3)


def test_same_and_valid_are_unchanged():
    assert L.Conv(filters=2, stride=2).output_shape((7, 7, 1)) == (4, 4, 2)
    assert L.Conv(filters=2, kernel=3, padding="valid").output_shape((7, 7, 1)) == (5, 5, 2)
    assert L.ConvTranspose(filters=2, kernel=5, stride=2, padding="valid").output_shape((7, 7, 1)) == (17, 17, 2)


@pytest.mark.parametrize("arguments, message", [
    ({"padding": "sme"}, "must be same, valid"),
    ({"padding": -1}, "must be same, valid"),
    ({"padding": [1, 2, 3]}, "must be same, valid"),
    ({"padding": True}, "must be same, valid"),
    ({"stride": 2, "output_padding": 1}, "needs an explicit padding"),
    ({"stride": 2, "padding": 1, "output_padding": 2}, "smaller than the stride"),
])
def test_bad_padding_is_one_clear_error(arguments, message):
    with pytest.raises(ValidationError) as info:
        L.ConvTranspose(filters=2, **arguments)
    (error,) = info.value.errors()
    assert message in error["msg"]


def test_conv_transpose_padding_that_removes_everything_is_a_shape_error():
    with pytest.raises(L.ShapeError, match="removes the whole output"):
        L.ConvTranspose(filters=2, kernel=2, stride=1, padding=1).output_shape((1, 1, 3))


def test_sum_pool_and_channel_dropout_shapes():
    assert L.GlobalPool(mode="sum").output_shape((4, 4, 7)) == (7,)
    assert L.Dropout(rate=0.3, channels=True).output_shape((4, 4, 7)) == (4, 4, 7)
    with pytest.raises(L.ShapeError, match="needs an image"):
        L.Dropout(rate=0.3, channels=True).output_shape((16,))
    assert L.Dropout(rate=0.3).output_shape((16,)) == (16,)


def test_attention_weights_are_studiogans():
    """PyTorch-StudioGAN's SelfAttention (src/utils/ops.py): four bias-free 1x1 convs, C -> C/8, C/8,
    C/2 and C/2 -> C, plus the scalar gamma: 5 C^2 / 4 + 1 weights; under spectral norm one u per conv.
    Its CIFAR-10 BigGAN puts one in G at C = 384 and one in D at C = 192."""
    attention = L.Attention()
    assert attention.weights((16, 16, 384)) == (184_321, 0)
    assert attention.weights((16, 16, 192)) == (46_081, 0)
    assert attention.output_shape((16, 16, 192)) == (16, 16, 192)
    _, rows = L.walk([L.SpectralNormBlock(layers=(attention,))], (8, 8, 64), spectral_norm=False)
    assert L.totals(rows) == (5 * 64 * 64 // 4 + 1, 8 + 8 + 32 + 64)


@pytest.mark.parametrize("shape, message, hint", [
    ((8, 8, 12), "divisible by 8", "such as 16"),
    ((7, 8, 16), "even height and width", "even size"),
    ((64,), "needs an image input", "reshape"),
])
def test_attention_shape_errors_have_hints(shape, message, hint):
    with pytest.raises(L.ShapeError, match=message) as caught:
        L.Attention().output_shape(shape)
    assert hint in caught.value.hint


def test_batchnorm_initializers_are_vector_ones():
    assert L.BatchNorm(gamma_init={"kind": "normal", "mean": 1, "std": 0.02}).gamma_init.mean == 1
    for kind in ("he_normal", "orthogonal", "pytorch"):
        with pytest.raises(ValidationError, match="batchnorm's scale and offset are vectors"):
            L.BatchNorm(beta_init={"kind": kind})


def test_zero_upsampling_shape():
    assert L.Upsample(factor=3, interpolation="zeros").output_shape((4, 5, 2)) == (12, 15, 2)
    assert L.Upsample(interpolation="zeros").weights((4, 5, 2)) == (0, 0)


def test_fan_in_is_pytorchs():
    """torch/nn/init.py `_calculate_fan_in_and_fan_out`: weight.size(1) * k * k; a ConvTranspose2d
    weight is [in, out, k, k], so its fan_in counts the output filters."""
    assert L.Dense(units=8).fan_in((5,)) == 5
    assert L.Conv(filters=8, kernel=3).fan_in((6, 6, 4)) == 4 * 9
    assert L.ConvTranspose(filters=8, kernel=4).fan_in((6, 6, 4)) == 8 * 16


def test_initializer_registry():
    assert INITIALIZERS.names() == sorted([
        "normal", "truncated_normal", "uniform", "orthogonal", "glorot_uniform", "glorot_normal", "he_uniform",
        "he_normal", "lecun_normal", "zeros", "pytorch"])
    for name in INITIALIZERS.names():
        assert INITIALIZERS[name].__doc__, f"{name} cites its source"
    normal = INITIALIZERS["normal"]()
    assert (normal.mean, normal.std) == (0.0, 0.02)  # DCGAN's N(0, 0.02)
    with pytest.raises(ValidationError):
        INITIALIZERS["uniform"](low=1, high=0)


def test_bias_takes_only_initializers_defined_for_a_vector():
    assert L.Dense(units=2, bias_init=Pytorch()).bias_init == Pytorch()
    for owner in (lambda init: L.Conv(filters=2, bias_init=init),
                  lambda init: Network(layers=(L.Dense(units=1),), bias_init=init)):
        with pytest.raises(ValidationError, match="cannot initialize a bias"):
            owner(Orthogonal())
    assert L.Dense(units=2, init=Orthogonal()).init.gain == 1.0


def test_initializers_show_in_layer_text():
    layer = L.Conv(filters=8, stride=2, padding=1, init=Orthogonal(gain=2), bias_init=Pytorch())
    assert layer.text() == "conv(8, stride: 2, padding: 1, init: orthogonal(gain: 2), bias_init: pytorch)"
    assert L.Conv(filters=8).text() == "conv(8)"


# ---- conditioning inside the networks ----------------------------------------------------------


def _conditioned(layers, shape, classes=10, spectral_norm=False):
    with L.conditioning(classes):
        out, rows = L.walk(layers, shape, spectral_norm=spectral_norm)
    return out, L.totals(rows)


def test_conditional_batchnorm_counts_are_studiogans_and_tflibs():
    """StudioGAN's SNGAN block cBN at 256 channels, 10 classes: gain and bias embeddings without bias
    (2 x 10 x 256) and running mean and variance (2 x 256); tflib's keeps no running statistics."""
    studiogan = L.ConditionalBatchNorm(momentum=0.9, epsilon=1e-4)
    assert _conditioned([studiogan], (8, 8, 256)) == ((8, 8, 256), (2 * 10 * 256, 2 * 256))
    tflib = L.ConditionalBatchNorm(gain="direct", statistics="batch", epsilon=1e-5)
    assert _conditioned([tflib], (8, 8, 128)) == ((8, 8, 128), (2 * 10 * 128, 0))
    # spectral normalization adds one vector per table (BigGAN's snlinear gains and biases)
    assert _conditioned([studiogan], (8, 8, 256), spectral_norm=True)[1] == (2 * 10 * 256, 2 * 256 + 2 * 256)


def test_label_projection_and_join_label_counts():
    """Projection: C + 1 + classes x C (StudioGAN's linear1 and embedding), under SN one vector each;
    join_label: the table only (PyTorch-GAN's CGAN: 10 x 10), one-hot: nothing, tiled over images."""
    assert _conditioned([L.LabelProjection()], (128,)) == ((1,), (128 + 1 + 10 * 128, 0))
    assert _conditioned([L.LabelProjection()], (128,), spectral_norm=True) == ((1,), (128 + 1 + 10 * 128, 1 + 128))
    assert _conditioned([L.JoinLabel(embed=10)], (100,)) == ((110,), (100, 0))
    assert _conditioned([L.JoinLabel()], (32, 32, 1)) == ((32, 32, 11), (0, 0))
    assert _conditioned([L.JoinLabel()], (32, 32, 1), spectral_norm=True) == ((32, 32, 11), (0, 0))


def test_label_layers_need_a_conditional_experiment():
    for layer in (L.JoinLabel(), L.JoinLabel(embed=4), L.ConditionalBatchNorm(), L.LabelProjection()):
        with pytest.raises(L.StackShapeError, match="reads the class label, but the experiment is not conditional"):
            L.walk([L.Repeat(count=2, layers=(L.Dense(units=4), layer))], (4,))


def test_conditional_batchnorm_direct_takes_no_init():
    with pytest.raises(ValidationError, match="starts its tables at ones"):
        L.ConditionalBatchNorm(gain="direct", init=Orthogonal())
    assert L.ConditionalBatchNorm(init=Orthogonal()).init == Orthogonal()
