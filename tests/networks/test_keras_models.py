"""Built Keras models agree with the static tables of `ganspec explain`; spectral norm is right."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from ganspec.networks import (  # noqa: E402
    LAYER_BUILDERS,
    SpectralNormalization,
    build_critic,
    build_generator,
    count_weights,
    critic_input,
    pack_samples,
)
from ganspec.diagnostics import has_errors  # noqa: E402
from ganspec.explain import network_tables  # noqa: E402
from ganspec.load import load, load_text  # noqa: E402
from ganspec.ir import layers as L  # noqa: E402
from ganspec.ir.layers import LAYERS, WRAPPERS  # noqa: E402
from ganspec.ir.shapes import label_joined  # noqa: E402
from tests.conftest import SPECS, all_spec_files  # noqa: E402

# Every layer kind and block, with the awkward cases: valid and explicit (PyTorch) padding, strided
# residual projections, nested spectral norm, packing and label channels, declared initializers.
EVERY_LAYER = """
experiment every_layer {
  data { source tfds("cifar10") }
  latent normal(16)
  conditional { classes 3 }
  generator {
    dense(4 * 4 * 8) elu(0.5) reshape(4, 4, 8) attention upsample(2, interpolation: zeros) pool(2)
    conv_transpose(8, kernel: 4, stride: 2, padding: valid) gelu
    crop(1) pad(1) crop(1)
    upsample(2, interpolation: bilinear) conv(6, kernel: 3)
    residual { conv(12, kernel: 3) layernorm relu }
    residual(shortcut: [upsample, conv(12, kernel: 1)]) { relu upsample conv(12) } pool(2)
    maxout(2) batchnorm
    spectral_norm(2) { conv_transpose(3, kernel: 5, stride: 2) residual { conv(3) } }
    upsample(2) pool(2, mode: avg) pool(1) tanh
  }
  critic(pack: 2, init: normal(0, 0.02), bias_init: pytorch) {
    spectral_norm { conv(16, kernel: 4, stride: 2, padding: valid, bias: false) }
    leaky_relu(0.2) dropout(0.1) dropout(0.2, channels: true)
    conv(16, kernel: 3, stride: 2, padding: 1, init: orthogonal) attention(init: orthogonal)
    conv(16, kernel: 4, padding: [1, 2])
    spectral_norm { conv_transpose(16, kernel: 3, stride: 2, padding: 1, output_padding: 1, init: he_normal) }
    conv_transpose(16, kernel: 4, stride: 2, padding: [2, 1], bias_init: zeros)
    conv(16, kernel: 3, stride: 4, padding: 1)
    repeat 2 { residual { conv(16, stride: 2) sigmoid } }
    residual(shortcut: [conv(16)]) { relu conv(16) } residual(shortcut: []) { relu }
    pool(2, mode: max) global_pool(sum)
    residual { dense(32) relu }
    flatten
    residual { dense(8) }
    dense(1)
  }
  objective hinge
  constraint spectral_norm(power_iterations: 3)
}
"""


# Every label-reading layer, inside repeat, residual and spectral_norm blocks, with and without spectral
# normalization of its tables, in a generator and a packed critic.
EVERY_LABEL_LAYER = """
experiment every_label_layer {
  data { source tfds("cifar10") }
  latent normal(16)
  conditional { classes 3 }
  generator(init: pytorch) {
    join_label(embed: 5) dense(4 * 4 * 8) reshape(4, 4, 8)
    repeat 2 { residual { conditional_batchnorm relu conv(8) conditional_batchnorm(gain: direct, statistics: batch) } }
    join_label upsample(2) conv(3)
    spectral_norm { conv(3) conditional_batchnorm(init: orthogonal) } upsample(4) tanh
  }
  critic(pack: 2) {
    spectral_norm { conv(8, stride: 2) join_label(embed: 4) conv(8, stride: 2) }
    leaky_relu(0.2) global_pool(sum) label_projection
  }
  objective hinge
  constraint spectral_norm
}
"""


def _spec_cases():
    cases = [pytest.param(path, id=str(path.relative_to(SPECS))) for path in all_spec_files()]
    return cases + [pytest.param(None, id="every_layer"), pytest.param("labels", id="every_label_layer")]


def _load(path):
    if path == "labels":
        resolved = load_text(EVERY_LABEL_LAYER)
        path = None
    else:
        resolved = load(path) if path is not None else load_text(EVERY_LAYER)
    if resolved.spec is None or has_errors(resolved.diagnostics):
        pytest.skip(f"{path} has errors: {resolved.diagnostics[:1]}")
    return resolved.spec, (path.parent if path is not None else None)


def test_every_layer_kind_has_a_builder():
    assert set(LAYERS.names()) | set(WRAPPERS.names()) <= set(LAYER_BUILDERS)


@pytest.mark.parametrize("path", _spec_cases())
def test_built_models_match_static_tables(path):
    spec, spec_dir = _load(path)
    tables = {t.role: t for t in network_tables(spec, spec_dir)}
    generator = build_generator(spec)
    critic = build_critic(spec, spec_dir=spec_dir)
    for model, table, network in ((generator, tables["generator"], spec.generator),
                                  (critic, tables["critic"], spec.critic)):
        assert table.problem is None
        assert model.name == table.role
        assert count_weights(model) == (table.trainable, table.non_trainable), table.role
        assert tuple(model.outputs[0].shape[1:]) == table.output_shape  # [adversarial, heads...] with heads
        # the label is joined to the first input, or a second input that the network's label layers read
        joined = model.inputs[:1] if len(model.inputs) > 1 and not label_joined(spec, network) else model.inputs
        assert sum(i.shape[-1] for i in joined) == table.input_shape[-1]
        assert tuple(model.inputs[0].shape[1:-1]) == tuple(table.input_shape[:-1])


def test_forward_pass_shapes_with_packing_and_labels():
    spec, _ = _load(None)
    generator, critic = build_generator(spec), build_critic(spec)
    z = np.random.default_rng(0).normal(size=(4, 16)).astype("float32")
    labels = np.eye(3, dtype="float32")[[0, 1, 2, 2]]
    samples = generator([z, labels], training=False)
    assert tuple(samples.shape) == (4, 32, 32, 3)
    scores = critic(critic_input(samples, labels, pack=2), training=False)
    assert tuple(scores.shape) == (2, 1)


def test_pack_samples_puts_pack_members_side_by_side():
    x = np.arange(4 * 2 * 3, dtype="float32").reshape(4, 2, 3)
    packed = keras.ops.convert_to_numpy(pack_samples(x, 2))
    assert packed.shape == (2, 2, 6)
    np.testing.assert_array_equal(packed[1], np.concatenate([x[2], x[3]], axis=-1))


def test_critic_input_tiles_pack_labels_over_the_image():
    x = np.zeros((4, 5, 5, 1), "float32")
    labels = np.eye(3, dtype="float32")[[0, 0, 1, 2]]
    out = keras.ops.convert_to_numpy(critic_input(x, labels, pack=2))
    assert out.shape == (2, 5, 5, 2 + 3)
    np.testing.assert_allclose(out[0, 3, 4, 2:], [1, 0, 0])
    np.testing.assert_allclose(out[1, 0, 0, 2:], [0, 0.5, 0.5])


@pytest.mark.parametrize("layer, input_shape, as_matrix", [
    (keras.layers.Dense(5, use_bias=False), (7,), lambda k: k),
    (keras.layers.Conv2D(4, 3), (6, 6, 2), lambda k: k.reshape(-1, 4)),
    (keras.layers.Conv2DTranspose(4, 3), (6, 6, 2), lambda k: np.moveaxis(k, -2, -1).reshape(-1, 4)),
])
def test_spectral_norm_matches_largest_singular_value(layer, input_shape, as_matrix):
    """Miyato et al. 2018: after enough power iterations, sigma is the top singular value."""
    wrapped = SpectralNormalization(layer, power_iterations=1)
    x = np.random.default_rng(1).normal(size=(2,) + input_shape).astype("float32")
    wrapped(x)
    assert tuple(wrapped.u.shape) == (1, 4 if len(input_shape) == 3 else 5)
    kernel_before = layer.kernel.numpy().copy()
    for _ in range(100):
        wrapped(x, training=True)
    matrix = as_matrix(layer.kernel.numpy())
    sigma, _ = wrapped.power_iteration(wrapped.kernel_matrix(layer.kernel))
    assert float(sigma) == pytest.approx(np.linalg.svd(matrix, compute_uv=False)[0], rel=1e-4)
    # A reparameterization: the trainable kernel itself is left as it is.
    np.testing.assert_array_equal(layer.kernel.numpy(), kernel_before)


def test_spectral_norm_output_is_the_normalized_layer():
    dense = keras.layers.Dense(3, use_bias=False)
    wrapped = SpectralNormalization(dense, power_iterations=50)
    identity = np.eye(6, dtype="float32")
    normalized = keras.ops.convert_to_numpy(wrapped(identity, training=True))  # rows of W / sigma
    assert np.linalg.svd(normalized, compute_uv=False)[0] == pytest.approx(1.0, rel=1e-4)


def test_spectral_norm_gradient_flows_through_sigma():
    """d/dW of ||(W / sigma(W)) x|| is not the gradient of ||W x|| scaled: sigma depends on W."""
    import tensorflow as tf

    dense = keras.layers.Dense(1, use_bias=False)
    wrapped = SpectralNormalization(dense, power_iterations=20)
    x = np.ones((1, 2), "float32")
    wrapped(x, training=True)
    dense.kernel.assign([[3.0], [4.0]])
    for _ in range(5):
        wrapped(x, training=True)
    with tf.GradientTape() as tape:
        y = wrapped(x)  # = (3 + 4) / 5
    (gradient,) = tape.gradient(y, [dense.kernel])
    w = np.array([3.0, 4.0])
    expected = np.ones(2) / 5.0 - 7.0 * w / 125.0  # d/dw (w . 1 / ||w||)
    np.testing.assert_allclose(gradient.numpy().ravel(), expected, rtol=1e-4)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # numpy 2 copy keyword, inside Keras' saving
def test_keras_round_trip_keeps_outputs(tmp_path):
    spec, _ = _load(None)
    rng = np.random.default_rng(2)
    generator, critic = build_generator(spec), build_critic(spec)
    z = rng.normal(size=(4, 16)).astype("float32")
    labels = np.eye(3, dtype="float32")[[0, 1, 2, 0]]
    x = rng.normal(size=(2, 32, 32, 9)).astype("float32")
    critic(x, training=True)  # move u away from its initial value
    for model, inputs in ((generator, [z, labels]), (critic, x)):
        path = tmp_path / f"{model.name}.keras"
        model.save(path)
        loaded = keras.saving.load_model(path)
        np.testing.assert_array_equal(
            keras.ops.convert_to_numpy(model(inputs, training=False)),
            keras.ops.convert_to_numpy(loaded(inputs, training=False)),
        )
        assert count_weights(loaded) == count_weights(model)


def test_same_seed_same_initial_weights():
    spec, _ = _load(None)
    first, second = build_critic(spec), build_critic(spec)
    for a, b in zip(first.weights, second.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def _layer_model(text: str, input_shape):
    """A one-layer Keras model of a layer written in .gan: (IR layer, model)."""
    from ganspec.networks.keras_models import BuildContext
    from ganspec.resolve import parse_component

    layer, diagnostics = parse_component(text, LAYERS, "layer")
    assert layer is not None, diagnostics
    x = keras.Input(input_shape)
    return layer, keras.Model(x, LAYER_BUILDERS[layer.kind](layer, x, BuildContext(seed=0)))


def _single_layer(text: str, input_shape):
    """A one-layer Keras model of a weight layer written in .gan, and its (kernel, bias); the bias random."""
    layer, model = _layer_model(text, input_shape)
    weight_layer = next(lyr for lyr in model.layers if hasattr(lyr, "kernel"))
    weight_layer.bias.assign(np.random.default_rng(4).normal(size=weight_layer.bias.shape).astype("float32"))
    return layer, model, weight_layer.kernel.numpy(), weight_layer.bias.numpy()


def _torch_conv(x, kernel, bias, stride, pads):
    """torch.nn.Conv2d's definition: zero padding, then a strided cross-correlation."""
    x = np.pad(x, ((0, 0), (pads[0],) * 2, (pads[1],) * 2, (0, 0)))
    k = kernel.shape[0]
    oh, ow = (x.shape[1] - k) // stride + 1, (x.shape[2] - k) // stride + 1
    out = np.zeros((x.shape[0], oh, ow, kernel.shape[-1]))
    for i in range(oh):
        for j in range(ow):
            patch = x[:, i * stride:i * stride + k, j * stride:j * stride + k, :]
            out[:, i, j] = np.tensordot(patch, kernel, axes=([1, 2, 3], [0, 1, 2]))
    return out + bias


def _torch_conv_transpose(x, kernel, bias, stride, pads, output_padding):
    """torch.nn.ConvTranspose2d's definition: every input pixel scatters kernel * x; the full
    output, with `output_padding` more rows and columns at the end, less `padding` on every side."""
    k = kernel.shape[0]  # Keras' transposed kernel: (k, k, filters, in_channels)
    n, h, w, _ = x.shape
    full = np.zeros((n, (h - 1) * stride + k + output_padding, (w - 1) * stride + k + output_padding,
                     kernel.shape[2]))
    for i in range(h):
        for j in range(w):
            full[:, i * stride:i * stride + k, j * stride:j * stride + k] += np.einsum(
                "nc,abfc->nabf", x[:, i, j], kernel)
    ph, pw = pads
    return full[:, ph:full.shape[1] - ph, pw:full.shape[2] - pw] + bias


@pytest.mark.parametrize("text, input_shape", [
    ("conv(4, kernel: 3, stride: 2, padding: 1)", (8, 8, 2)),
    ("conv(4, kernel: 3, stride: 2, padding: 1)", (7, 7, 2)),
    ("conv(3, kernel: 4, stride: 2, padding: [1, 2])", (9, 6, 2)),
    ("conv(3, kernel: 3, padding: 0)", (5, 5, 1)),
    ("conv_transpose(4, kernel: 4, stride: 2, padding: 1)", (4, 4, 3)),
    ("conv_transpose(4, kernel: 3, stride: 2, padding: 1, output_padding: 1)", (4, 5, 3)),
    ("conv_transpose(2, kernel: 5, stride: 3, padding: [2, 1], output_padding: 2)", (3, 3, 2)),
    ("conv_transpose(2, kernel: 2, stride: 3, padding: 0)", (3, 3, 2)),
])
def test_explicit_padding_is_pytorchs(text, input_shape):
    """`padding: N` computes torch.nn.Conv2d / ConvTranspose2d(padding=N, output_padding=M), and the
    static shapes and weight counts agree with the built layer."""
    layer, model, kernel, bias = _single_layer(text, input_shape)
    x = np.random.default_rng(5).normal(size=(2,) + input_shape).astype("float32")
    pads = (layer.padding,) * 2 if isinstance(layer.padding, int) else layer.padding
    if layer.kind == "conv":
        expected = _torch_conv(x, kernel, bias, layer.stride, pads)
    else:
        expected = _torch_conv_transpose(x, kernel, bias, layer.stride, pads, layer.output_padding)
    actual = keras.ops.convert_to_numpy(model(x))
    np.testing.assert_allclose(actual, expected, rtol=1e-4, atol=1e-4)
    assert tuple(actual.shape[1:]) == layer.output_shape(input_shape)
    assert count_weights(model) == layer.weights(input_shape)


def test_global_sum_pool_and_channel_dropout():
    """global_pool(sum) is torch.sum(h, dim=[2, 3]); dropout(channels: true) is Dropout2d: whole
    feature maps dropped, the kept ones scaled by 1 / (1 - rate), nothing changed at inference."""
    x = np.random.default_rng(6).normal(size=(3, 5, 4, 6)).astype("float32")
    _, pool = _layer_model("global_pool(sum)", x.shape[1:])
    np.testing.assert_allclose(keras.ops.convert_to_numpy(pool(x)), x.sum(axis=(1, 2)), rtol=1e-5)
    _, dropout = _layer_model("dropout(0.5, channels: true)", x.shape[1:])
    kept = keras.ops.convert_to_numpy(dropout(np.ones((64, 5, 4, 6), "float32"), training=True))
    per_map = kept.reshape(64, 20, 6)
    assert np.all(per_map.min(axis=1) == per_map.max(axis=1)), "a feature map is kept or dropped whole"
    assert set(np.unique(per_map)) == {0.0, 2.0}
    assert 0.35 < (per_map[:, 0] == 0).mean() < 0.65
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(dropout(x, training=False)), x)


def _numpy_attention(x, theta, phi, g, out, gamma):
    """PyTorch-StudioGAN's SelfAttention.forward (src/utils/ops.py) in NumPy, channels last: 1x1 convs
    are matmuls over the channel axis, maxpool 2x2, softmax over the pooled positions."""
    b, h, w, c = x.shape

    def pool(t):
        return t.reshape(b, h // 2, 2, w // 2, 2, -1).max(axis=(2, 4)).reshape(b, h * w // 4, -1)

    th = (x @ theta).reshape(b, h * w, c // 8)
    ph = pool(x @ phi)
    logits = th @ ph.transpose(0, 2, 1)
    beta = np.exp(logits - logits.max(axis=-1, keepdims=True))
    beta /= beta.sum(axis=-1, keepdims=True)
    attended = (beta @ pool(x @ g)).reshape(b, h, w, c // 2)
    return x + gamma * (attended @ out)


def test_attention_is_studiogans_self_attention():
    """`attention`: the identity at init (gamma = 0), StudioGAN's forward pass with random weights,
    and the static shape and weight count (no biases, one gamma) equal to the built layer's."""
    shape = (6, 4, 16)
    x = np.random.default_rng(7).normal(size=(2,) + shape).astype("float32")
    layer, model = _layer_model("attention", shape)
    assert count_weights(model) == layer.weights(shape) == (16 * 2 * 2 + 16 * 8 + 8 * 16 + 1, 0)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(model(x)), x)
    attention = model.layers[-1]
    rng = np.random.default_rng(8)
    kernels = []
    for conv in attention.convs:
        kernel = rng.normal(size=conv.kernel.shape).astype("float32") * 0.5
        conv.kernel.assign(kernel)
        kernels.append(kernel[0, 0])
    attention.gamma.assign([0.7])
    actual = keras.ops.convert_to_numpy(model(x))
    np.testing.assert_allclose(actual, _numpy_attention(x, *kernels, 0.7), rtol=1e-4, atol=1e-4)
    assert tuple(actual.shape[1:]) == layer.output_shape(shape)


def test_attention_under_spectral_norm_and_saving(tmp_path):
    """Inside `spectral_norm { }` each of the four convs keeps a vector u (C/8 + C/8 + C/2 + C), as the
    static count says; the layer saves and loads."""
    from ganspec.networks.keras_models import BuildContext

    shape = (4, 4, 16)
    layer, _ = _layer_model("attention", shape)
    x = keras.Input(shape)
    model = keras.Model(x, LAYER_BUILDERS["attention"](layer, x, BuildContext(seed=0, spectral_norm=1)))
    _, rows = L.walk([layer], shape, spectral_norm=True)
    assert count_weights(model) == L.totals(rows) == (layer.weights(shape)[0], 2 + 2 + 8 + 16)
    model.save(tmp_path / "attention.keras")
    loaded = keras.models.load_model(tmp_path / "attention.keras")
    sample = np.random.default_rng(9).normal(size=(2,) + shape).astype("float32")
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(loaded(sample)), sample)


def test_zero_upsampling_is_unpooling():
    """upsample(f, interpolation: zeros): out[f i, f j] = x[i, j], zeros elsewhere (compare_gan's unpool)."""
    x = np.random.default_rng(10).normal(size=(2, 3, 5, 4)).astype("float32")
    for factor in (2, 3):
        layer, model = _layer_model(f"upsample({factor}, interpolation: zeros)", x.shape[1:])
        expected = np.zeros((2, 3 * factor, 5 * factor, 4), "float32")
        expected[:, ::factor, ::factor] = x
        actual = keras.ops.convert_to_numpy(model(x))
        np.testing.assert_array_equal(actual, expected)
        assert tuple(actual.shape[1:]) == layer.output_shape(x.shape[1:])


def test_batchnorm_initializers():
    """batchnorm(gamma_init: normal(1, 0.02), beta_init: zeros): PyTorch-GAN's `weights_init_normal`;
    unset, ones and zeros as before."""
    layer, model = _layer_model("batchnorm(gamma_init: normal(1, 0.02), beta_init: uniform(-0.1, 0.1))", (4, 4, 256))
    norm = model.layers[-1]
    gamma, beta = norm.gamma.numpy(), norm.beta.numpy()
    assert abs(gamma.mean() - 1) < 0.01 and 0.01 < gamma.std() < 0.03
    assert np.all(np.abs(beta) <= 0.1) and beta.std() > 0.03
    assert count_weights(model) == layer.weights((4, 4, 256))
    _, plain = _layer_model("batchnorm", (4, 4, 8))
    np.testing.assert_array_equal(plain.layers[-1].gamma.numpy(), np.ones(8))
