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
from ganspec.ir.layers import LAYERS, WRAPPERS  # noqa: E402
from tests.conftest import SPECS, all_spec_files  # noqa: E402

# Every layer kind and block, with the awkward cases: valid padding, strided residual
# projections, nested spectral norm, packing and label channels.
EVERY_LAYER = """
experiment every_layer {
  data { source tfds("cifar10") }
  latent normal(16)
  conditional { classes 3 }
  generator {
    dense(4 * 4 * 8) elu(0.5) reshape(4, 4, 8)
    conv_transpose(8, kernel: 4, stride: 2, padding: valid) gelu
    crop(1) pad(1) crop(1)
    upsample(2, interpolation: bilinear) conv(6, kernel: 3)
    residual { conv(12, kernel: 3) layernorm relu }
    maxout(2) batchnorm
    spectral_norm(2) { conv_transpose(3, kernel: 5, stride: 2) residual { conv(3) } }
    upsample(2) pool(2, mode: avg) pool(1) tanh
  }
  critic(pack: 2) {
    spectral_norm { conv(16, kernel: 4, stride: 2, padding: valid, bias: false) }
    leaky_relu(0.2) dropout(0.1)
    repeat 2 { residual { conv(16, stride: 2) sigmoid } }
    pool(2, mode: max) global_pool(max)
    residual { dense(32) relu }
    flatten
    residual { dense(8) }
    dense(1)
  }
  objective hinge
  constraint spectral_norm(power_iterations: 3)
}
"""


def _spec_cases():
    cases = [pytest.param(path, id=str(path.relative_to(SPECS))) for path in all_spec_files()]
    return cases + [pytest.param(None, id="every_layer")]


def _load(path):
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
    for model, table in ((generator, tables["generator"]), (critic, tables["critic"])):
        assert table.problem is None
        assert model.name == table.role
        assert count_weights(model) == (table.trainable, table.non_trainable), table.role
        assert tuple(model.output.shape[1:]) == table.output_shape
        assert sum(i.shape[-1] for i in model.inputs) == table.input_shape[-1]
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
