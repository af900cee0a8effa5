"""BigGAN's hierarchical latent and shared class embedding (`generator(latent_chunks: N, shared_embedding: E)`,
`conditional_batchnorm(chunk: i)`): the built generator against a NumPy reference of StudioGAN's
Generator.forward (src/models/big_resnet.py), and its weight counts against the static ones."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from ganspec.explain import network_tables  # noqa: E402
from ganspec.load import load, load_text  # noqa: E402
from ganspec.networks import build_critic, build_generator, count_weights  # noqa: E402
from tests.conftest import ROOT  # noqa: E402
from tests.networks.test_conditioning import assert_reloads  # noqa: E402

SMALL = """
experiment small {
  data { source npz("unused.npz", labels_key: "y") }
  latent normal(6)
  conditional { classes 3 }
  generator(latent_chunks: 3, shared_embedding: 4) {
    dense(5) conditional_batchnorm(chunk: 1, epsilon: 1e-4) relu
    conditional_batchnorm(chunk: 2, epsilon: 1e-4) dense(2)
  }
  critic { dense(8) relu label_projection }
  objective hinge
}
"""


def _spec(text):
    resolved = load_text(text)
    assert resolved.spec is not None, [d.message for d in resolved.diagnostics]
    return resolved.spec


def _counts_agree(spec, sample):
    tables = {t.role: t for t in network_tables(spec)}
    generator, critic = build_generator(spec), build_critic(spec, sample=sample)
    assert count_weights(generator) == (tables["generator"].trainable, tables["generator"].non_trainable)
    assert count_weights(critic) == (tables["critic"].trainable, tables["critic"].non_trainable)
    return generator, tables


def test_static_counts_are_the_built_models():
    """The golden spec: spectral normalization over the generator, except its shared embedding."""
    resolved = load(ROOT / "tests" / "golden" / "ir" / "hierarchical_latent.gan")
    generator, tables = _counts_agree(resolved.spec, (32, 32, 3))
    rows = tables["generator"].rows
    assert [r.layer.label() for r in rows[:2]] == ["latent_chunks(3)", "shared_embedding(16)"]
    assert (rows[0].out_shape, rows[1].trainable, rows[1].non_trainable) == ((8,), 10 * 16, 0)
    # cBN tables read [shared(y), z_i]: 16 + 8 entries, two tables of 32 channels, each with one u of 32
    cbn = next(r for r in rows if r.layer.kind == "conditional_batchnorm")
    assert (cbn.trainable, cbn.non_trainable) == (2 * 24 * 32, 2 * 32 + 2 * 32)
    assert [tuple(i.shape[1:]) for i in generator.inputs] == [(24,), (10,)]


def test_forward_is_studiogans_generator():
    """z split into 3 chunks; chunk 0 into the stack; cBN i: x_hat * (1 + W_g c_i) + W_b c_i with
    c_i = [E y, z_i] (torch.cat([shared(y), z_i], 1)), batch statistics in training."""
    spec = _spec(SMALL)
    generator, _ = _counts_agree(spec, (2,))
    rng = np.random.default_rng(0)
    for variable in generator.trainable_variables:
        variable.assign(rng.normal(scale=0.5, size=variable.shape).astype("float32"))
    dense = [layer for layer in generator.layers if isinstance(layer, keras.layers.Dense)]
    shared = generator.get_layer("shared_embedding").kernel.numpy()
    first, last = (layer for layer in dense if layer.use_bias)
    tables = [layer.kernel.numpy() for layer in dense if not layer.use_bias and layer.name != "shared_embedding"]
    assert shared.shape == (3, 4) and [t.shape for t in tables] == [(6, 5)] * 4

    z = rng.normal(size=(8, 6)).astype("float32")
    y = rng.integers(0, 3, size=8)
    one_hot = np.eye(3, dtype="float32")[y]
    out = keras.ops.convert_to_numpy(generator([z, one_hot], training=True))

    def cbn(x, c, gain, bias):
        x_hat = (x - x.mean(axis=0)) / np.sqrt(x.var(axis=0) + 1e-4)
        return x_hat * (1 + c @ gain) + c @ bias

    chunks = np.split(z, 3, axis=1)
    embedded = shared[y]
    h = chunks[0] @ first.kernel.numpy() + first.bias.numpy()
    h = np.maximum(cbn(h, np.concatenate([embedded, chunks[1]], axis=1), tables[0], tables[1]), 0)
    h = cbn(h, np.concatenate([embedded, chunks[2]], axis=1), tables[2], tables[3])
    expected = h @ last.kernel.numpy() + last.bias.numpy()
    np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-4)


def test_unconditional_chunks_are_read_alone():
    """Without a label, cBN(chunk: i) reads z_i alone (StudioGAN's big_resnet with g_cond_mtd W/O)."""
    spec = _spec(SMALL.replace('labels_key: "y"', "").replace("conditional { classes 3 }", "")
                 .replace(", shared_embedding: 4", "").replace("label_projection", "dense(1)"))
    generator, tables = _counts_agree(spec, (2,))
    assert [tuple(i.shape[1:]) for i in generator.inputs] == [(6,)]
    cbn = [r for r in tables["generator"].rows if r.layer.kind == "conditional_batchnorm"]
    assert [(r.trainable, r.non_trainable) for r in cbn] == [(2 * 2 * 5, 2 * 5)] * 2


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # numpy 2 copy keyword, inside Keras' saving
def test_split_generator_saves_and_loads(tmp_path):
    assert_reloads(build_generator(_spec(SMALL)), tmp_path)
