"""Conditioning inside the networks: `join_label`, `conditional_batchnorm`, `label_projection` against
NumPy references of their definitions, their static weight counts against the built Keras layers, and
where the label enters a network (joined to z / label channels, or read by the network's own layers)."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from ganspec.explain import network_tables  # noqa: E402
from ganspec.ir import layers as L  # noqa: E402
from ganspec.ir.layers import LAYERS  # noqa: E402
from ganspec.ir.shapes import critic_input_shape, generator_input_shape, label_joined  # noqa: E402
from ganspec.load import load_text  # noqa: E402
from ganspec.networks import (  # noqa: E402
    LAYER_BUILDERS,
    build_critic,
    build_generator,
    count_weights,
    critic_input,
)
from ganspec.networks.keras_models import BuildContext  # noqa: E402

CLASSES = 10


def _label_layer(text: str, input_shape, classes: int = CLASSES, spectral_norm: int | None = None):
    """(IR layer, Keras model [x, one-hot label] -> layer output) of one label-reading layer in .gan."""
    from ganspec.resolve import parse_component

    layer, diagnostics = parse_component(text, LAYERS, "layer")
    assert layer is not None, diagnostics
    x, label = keras.Input(input_shape), keras.Input((classes,))
    with L.conditioning(classes):
        out = LAYER_BUILDERS[layer.kind](layer, x, BuildContext(seed=0, spectral_norm=spectral_norm,
                                                                 conditioning=label))
    return layer, keras.Model([x, label], out)


def _static(layer, shape, classes: int = CLASSES, spectral_norm: bool = False):
    with L.conditioning(classes):
        out, rows = L.walk([layer], shape, spectral_norm=spectral_norm)
    return out, L.totals(rows)


def _tables(model):
    """The label tables (Dense kernels read by the label) of a model, in build order."""
    return [layer.kernel.numpy() for layer in model.layers if isinstance(layer, keras.layers.Dense)
            and not layer.use_bias and layer.kernel.shape[0] == CLASSES]


def _data(shape, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, CLASSES, size=shape[0])
    return rng.normal(size=shape).astype("float32"), y, np.eye(CLASSES, dtype="float32")[y]


# ---- join_label -------------------------------------------------------------------------------


def test_join_label_one_hot_is_tiled_over_the_image():
    x, y, one_hot = _data((4, 3, 5, 2))
    layer, model = _label_layer("join_label", x.shape[1:])
    out = keras.ops.convert_to_numpy(model([x, one_hot]))
    expected = np.concatenate([x, np.broadcast_to(one_hot[:, None, None, :], (4, 3, 5, CLASSES))], axis=-1)
    np.testing.assert_array_equal(out, expected)
    assert _static(layer, x.shape[1:]) == ((3, 5, 2 + CLASSES), (0, 0)) == (out.shape[1:], count_weights(model))


def test_join_label_embedding_is_a_learned_table_row():
    """join_label(embed: 10): nn.Embedding(classes, 10)(y) appended (PyTorch-GAN's CGAN, after flatten in D)."""
    x, y, one_hot = _data((6, 1024))
    layer, model = _label_layer("join_label(embed: 10)", x.shape[1:])
    (table,) = _tables(model)
    out = keras.ops.convert_to_numpy(model([x, one_hot]))
    np.testing.assert_allclose(out, np.concatenate([x, table[y]], axis=-1), rtol=1e-6, atol=1e-6)
    assert _static(layer, (1024,)) == ((1034,), (100, 0))
    assert count_weights(model) == (100, 0) and out.shape[1:] == (1034,)


def test_join_label_pytorch_init_is_nn_embeddings_standard_normal():
    _, model = _label_layer("join_label(embed: 64, init: pytorch)", (3,))
    (table,) = _tables(model)
    assert abs(table.std() - 1.0) < 0.1 and abs(table.mean()) < 0.1
    _, model = _label_layer("join_label(embed: 64)", (3,))  # unset: Keras' Embedding, U(-0.05, 0.05)
    (table,) = _tables(model)
    assert np.abs(table).max() <= 0.05 and table.std() > 0.02


# ---- conditional_batchnorm --------------------------------------------------------------------


def _normalized(x, mean, var, eps):
    return (x - mean) / np.sqrt(var + eps)


def test_conditional_batchnorm_one_plus_is_studiogans():
    """gain = 1 + W_g[y], bias = W_b[y] on batch norm without affine; batch statistics in training,
    running ones (PyTorch momentum 0.1 = Keras 0.9) when sampling; counts 2 x 10 x 256 / 2 x 256."""
    x, y, one_hot = _data((8, 4, 4, 256), seed=1)
    layer, model = _label_layer("conditional_batchnorm(momentum: 0.9, epsilon: 1e-4)", x.shape[1:])
    rng = np.random.default_rng(2)
    for variable in model.trainable_variables:
        variable.assign(rng.normal(scale=0.3, size=variable.shape).astype("float32"))
    gain, bias = _tables(model)
    out = keras.ops.convert_to_numpy(model([x, one_hot], training=True))
    mean, var = x.mean(axis=(0, 1, 2)), x.var(axis=(0, 1, 2))
    expected = _normalized(x, mean, var, 1e-4) * (1 + gain[y])[:, None, None] + bias[y][:, None, None]
    np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-4)
    # one training call moved the running statistics from (0, 1) by (1 - momentum)
    running = keras.ops.convert_to_numpy(model([x, one_hot], training=False))
    r_mean, r_var = 0.1 * mean, 0.9 + 0.1 * var
    expected = _normalized(x, r_mean, r_var, 1e-4) * (1 + gain[y])[:, None, None] + bias[y][:, None, None]
    np.testing.assert_allclose(running, expected, rtol=1e-3, atol=1e-3)
    assert _static(layer, (4, 4, 256)) == ((4, 4, 256), (2 * 10 * 256, 2 * 256)) == ((4, 4, 256), count_weights(model))


def test_conditional_batchnorm_direct_is_tflibs():
    """gain = G[y], bias = B[y] with G starting at ones and B at zeros; always the batch's own statistics,
    no running averages (tflib's cond_batchnorm, eps 1e-5)."""
    x, y, one_hot = _data((8, 3, 3, 16), seed=3)
    layer, model = _label_layer("conditional_batchnorm(gain: direct, statistics: batch, epsilon: 1e-5)",
                                x.shape[1:])
    gain, bias = _tables(model)
    np.testing.assert_array_equal(gain, 1.0)
    np.testing.assert_array_equal(bias, 0.0)
    plain = _normalized(x, x.mean(axis=(0, 1, 2)), x.var(axis=(0, 1, 2)), 1e-5)
    for variable in model.trainable_variables:
        variable.assign(np.random.default_rng(4).normal(size=variable.shape).astype("float32"))
    gain, bias = _tables(model)
    for training in (True, False):  # sampling normalizes with the batch's statistics too
        out = keras.ops.convert_to_numpy(model([x, one_hot], training=training))
        np.testing.assert_allclose(out, plain * gain[y][:, None, None] + bias[y][:, None, None],
                                   rtol=1e-4, atol=1e-4)
    assert _static(layer, (3, 3, 16)) == ((3, 3, 16), (2 * 10 * 16, 0)) == ((3, 3, 16), count_weights(model))


def test_conditional_batchnorm_direct_refuses_an_init():
    from ganspec.resolve import parse_component

    layer, diagnostics = parse_component("conditional_batchnorm(gain: direct, init: orthogonal)", LAYERS, "layer")
    assert layer is None
    assert "starts its tables at ones" in diagnostics[0].message and "drop `init`" in diagnostics[0].message


# ---- label_projection -------------------------------------------------------------------------


def test_label_projection_adds_the_inner_product_with_the_class_embedding():
    """out = dense(1)(h) + <E[y], h> (Miyato & Koyama 2018, eq. 3): C + 1 + classes x C weights."""
    h, y, one_hot = _data((5, 32), seed=5)
    layer, model = _label_layer("label_projection", h.shape[1:])
    dense = next(lyr for lyr in model.layers if isinstance(lyr, keras.layers.Dense) and lyr.use_bias)
    dense.bias.assign([0.3])
    (table,) = _tables(model)
    out = keras.ops.convert_to_numpy(model([h, one_hot]))
    expected = h @ dense.kernel.numpy() + 0.3 + np.sum(table[y] * h, axis=1, keepdims=True)
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)
    assert _static(layer, (32,)) == ((1,), (32 + 1 + 10 * 32, 0)) == ((1,), count_weights(model))


def test_label_projection_is_spectrally_normalized_with_its_embedding():
    """Under spectral normalization the table is normalized too (StudioGAN's sn_embedding): one vector u
    for the dense(1) and one for the table; the output uses W / sigma(W) of both."""
    h, y, one_hot = _data((5, 32), seed=6)
    layer, model = _label_layer("label_projection(bias: false)", h.shape[1:], spectral_norm=5)
    assert _static(layer, (32,), spectral_norm=True) == ((1,), (32 + 10 * 32, 1 + 32)) == ((1,), count_weights(model))
    wrapped = [lyr for lyr in model.layers if hasattr(lyr, "power_iterations")]
    kernel, table = (w.layer.kernel.numpy() for w in wrapped)
    for _ in range(30):  # converge the power iterations
        model([h, one_hot], training=True)
    out = keras.ops.convert_to_numpy(model([h, one_hot], training=False))
    sigma = [np.linalg.svd(m, compute_uv=False)[0] for m in (kernel, table)]
    expected = h @ kernel / sigma[0] + np.sum((table / sigma[1])[y] * h, axis=1, keepdims=True)
    np.testing.assert_allclose(out, expected, rtol=1e-3, atol=1e-4)


def test_label_projection_needs_features():
    with pytest.raises(L.ShapeError, match="needs features"):
        _static(L.LabelProjection(), (4, 4, 8))


def test_label_layers_without_a_label_say_so():
    with pytest.raises(L.ShapeError, match="not conditional") as caught:
        L.walk([L.ConditionalBatchNorm()], (4,))
    assert "conditional { classes N }" in caught.value.hint


# ---- where the label enters -------------------------------------------------------------------

IN_NETWORK = """
experiment in_network {
  data { source npz("unused.npz", labels_key: "y") }
  latent normal(6)
  conditional { classes 3 }
  generator { dense(16) repeat 2 { residual { conditional_batchnorm relu dense(16) } } dense(4) }
  critic(pack: 2) { spectral_norm { dense(8) } leaky_relu(0.2) label_projection }
  objective hinge
}
"""


def _spec(text):
    resolved = load_text(text)
    assert resolved.spec is not None, [d.message for d in resolved.diagnostics]
    return resolved.spec


def test_networks_with_label_layers_take_the_label_as_an_input_of_their_own():
    """A label layer anywhere (here inside repeat/residual and spectral_norm blocks) replaces the join:
    z alone and samples without label channels; the label is a second input."""
    spec = _spec(IN_NETWORK)
    assert not label_joined(spec, spec.generator) and not label_joined(spec, spec.critic)
    assert generator_input_shape(spec) == (6,)
    assert critic_input_shape(spec, (4,)) == (8,)  # packed, no label channels
    generator, critic = build_generator(spec), build_critic(spec, sample=(4,))
    assert [tuple(i.shape[1:]) for i in generator.inputs] == [(6,), (3,)]
    assert [tuple(i.shape[1:]) for i in critic.inputs] == [(8,), (3,)]
    tables = {t.role: t for t in network_tables(spec)}
    assert count_weights(generator) == (tables["generator"].trainable, tables["generator"].non_trainable)
    assert count_weights(critic) == (tables["critic"].trainable, tables["critic"].non_trainable)
    # a network without label layers keeps today's join
    joined = _spec(IN_NETWORK.replace("label_projection", "dense(1)"))
    assert label_joined(joined, joined.critic) and critic_input_shape(joined, (4,)) == (8 + 3,)


def test_critic_input_gives_packed_labels_beside_the_samples():
    """With labels read inside, the critic's input is [packed samples, the packs' mean labels]."""
    x = np.arange(4 * 2, dtype="float32").reshape(4, 2)
    labels = np.eye(3, dtype="float32")[[0, 0, 1, 2]]
    samples, packed_labels = critic_input(x, labels, pack=2, label_input=True)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(samples), [[0, 1, 2, 3], [4, 5, 6, 7]])
    np.testing.assert_allclose(keras.ops.convert_to_numpy(packed_labels), [[1, 0, 0], [0, 0.5, 0.5]])
    assert critic_input(x, None, pack=2, label_input=True).shape == (2, 4)


def test_gradient_penalty_differentiates_the_samples_only():
    """critic_input_gradients of a critic that reads labels: the gradient has the samples' shape."""
    import tensorflow as tf

    from ganspec.train.tf_step import critic_input_gradients

    spec = _spec(IN_NETWORK)
    critic = build_critic(spec, sample=(4,))
    points = tf.random.normal((4, 4))
    labels = tf.one_hot([0, 1, 2, 0], 3)
    gradients, outputs = critic_input_gradients(critic, points, labels, pack=2, label_input=True)
    assert tuple(gradients.shape) == (4, 4) and tuple(outputs.shape) == (2, 1)
    assert float(tf.reduce_sum(tf.abs(gradients))) > 0


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # numpy 2 copy keyword, inside Keras' saving
def test_label_layers_save_and_load(tmp_path):
    spec = _spec(IN_NETWORK.replace("dense(16) repeat", "join_label(embed: 2) dense(16) conditional_batchnorm("
                                                       "gain: direct, statistics: batch) repeat"))
    assert_reloads(build_generator(spec), tmp_path)


def assert_reloads(generator, tmp_path):
    """A conditional generator of z [6] and 3 classes gives the same samples after saving and loading."""
    z = np.random.default_rng(7).normal(size=(4, 6)).astype("float32")
    labels = np.eye(3, dtype="float32")[[0, 1, 2, 1]]
    generator.save(tmp_path / "g.keras")
    loaded = keras.models.load_model(tmp_path / "g.keras")
    np.testing.assert_allclose(keras.ops.convert_to_numpy(loaded([z, labels])),
                               keras.ops.convert_to_numpy(generator([z, labels])), rtol=1e-6, atol=1e-6)
