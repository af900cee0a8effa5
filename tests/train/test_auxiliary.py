"""Critic heads and auxiliary losses (AC-GAN, InfoGAN) and structured latents: each loss against a NumPy
reference, the priors' layout, the built heads against the static tables, exact resume with the
information optimizer, and small runs in which the class or the categorical code controls the mode."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ganspec import backend

backend.activate("tensorflow")

from ganspec.explain import network_tables  # noqa: E402
from ganspec.ir.auxiliary import AUXILIARY  # noqa: E402
from ganspec.load import load_text  # noqa: E402
from ganspec.networks import build_critic  # noqa: E402
from ganspec.run.sampling import latent_batch  # noqa: E402
from ganspec.train import tf_step  # noqa: E402
from ganspec.train.auxiliary import AUXILIARY_LOSSES  # noqa: E402
from ganspec.train.priors import sample_latent  # noqa: E402
from tests.run.test_run_command import assert_resumes_exactly  # noqa: E402

RNG = np.random.default_rng(0)


def _loss(text: str):
    spec = load_text(f"""experiment x {{ data {{ source ring(8) }} latent product(normal(2), categorical(4), uniform(3))
      conditional {{ classes 4 }} generator {{ dense(2) }} critic {{ dense(1) }} objective hinge
      auxiliary.losses {text} }}""", checks=False).spec
    return spec.auxiliary.losses[0]


def _log_softmax(logits):
    shifted = logits - logits.max(-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(-1, keepdims=True))


def test_every_auxiliary_loss_has_a_function():
    assert set(AUXILIARY.names()) == set(AUXILIARY_LOSSES)


@pytest.mark.parametrize("kind", ["class_cross_entropy", "code_cross_entropy(0)"])
def test_cross_entropies_match_numpy(kind):
    """Odena et al. 2017 eq. 2-3, Chen et al. 2016 eq. 4-5: -log softmax(l)_c, averaged over the batch."""
    logits = RNG.normal(size=(16, 4)).astype("float32") * 3
    one_hot = np.eye(4, dtype="float32")[RNG.integers(0, 4, 16)]
    loss = _loss(kind)
    expected = -(_log_softmax(logits.astype("float64")) * one_hot).sum(-1).mean()
    assert float(AUXILIARY_LOSSES[loss.kind](loss, logits, one_hot)) == pytest.approx(expected, rel=1e-5)


def test_code_gaussian_matches_numpy():
    """-log N(c; mu, std^2), summed over the code's dimensions, averaged over the batch."""
    mean, code = RNG.normal(size=(16, 3)).astype("float32"), RNG.uniform(-1, 1, (16, 3)).astype("float32")
    loss = _loss("code_gaussian(2, std: 0.7)")
    std = 0.7
    expected = (0.5 * ((code - mean) / std) ** 2 + math.log(std) + 0.5 * math.log(2 * math.pi)).sum(-1).mean()
    assert float(AUXILIARY_LOSSES[loss.kind](loss, mean, code)) == pytest.approx(expected, rel=1e-5)


def test_code_mse_matches_pytorch_gan():
    """torch.nn.MSELoss(): the mean over batch and dimensions."""
    prediction, code = RNG.normal(size=(16, 3)).astype("float32"), RNG.uniform(-1, 1, (16, 3)).astype("float32")
    loss = _loss("code_mse(2)")
    assert float(AUXILIARY_LOSSES[loss.kind](loss, prediction, code)) == pytest.approx(
        ((prediction - code) ** 2).mean(), rel=1e-5)


def test_product_latent_concatenates_its_factors_in_order():
    spec = load_text("""experiment x { data { source ring(8) }
      latent product(normal(3), categorical(5), uniform(2, low: 0))
      generator { dense(2) } critic { dense(1) } objective hinge }""").spec
    assert spec.latent.input_dim == 10 and spec.latent.columns(1) == (3, 8) and spec.latent.columns(2) == (8, 10)
    import keras

    for z in (np.asarray(sample_latent(spec.latent, 500, keras.random.SeedGenerator(1))), latent_batch(spec, 500, 1)):
        assert z.shape == (500, 10)
        codes = z[:, 3:8]
        assert set(np.unique(codes)) == {0.0, 1.0} and (codes.sum(1) == 1).all()
        assert len(set(codes.argmax(1))) == 5  # every category drawn
        assert (z[:, 8:] >= 0).all() and (z[:, 8:] <= 1).all()
        assert abs(z[:, :3].std() - 1) < 0.15


def test_built_heads_match_the_static_table():
    """The critic returns [adversarial, heads in written order], each head as wide as its row says."""
    spec = load_text(INFOGAN % (1, "")).spec
    critic = build_critic(spec, sample=(2,))
    (table,) = [t for t in network_tables(spec) if t.role == "critic"]
    heads = [row for row in table.rows if row.layer.kind == "head"]
    shapes = [tuple(o.shape[1:]) for o in critic.outputs]
    assert shapes == [(1,)] + [row.out_shape for row in heads] == [(1,), (8,), (1,)]


INFOGAN = """experiment ring_infogan {
  seed 1
  data { source ring(8, 1.0, 0.02) }
  latent product(normal(2), categorical(8), uniform(1))
  generator { dense(128) relu dense(128) relu dense(2) }
  critic {
    dense(128) leaky_relu(0.2) dense(128) leaky_relu(0.2)
    head(code: 1) { dense(8) }
    head(code: 2) { dense(1) }
    dense(1)
  }
  objective non_saturating
  optimizer.generator adam(lr: 1e-3, beta1: 0.5)
  optimizer.critic adam(lr: 1e-3, beta1: 0.5)
  auxiliary {
    losses [code_cross_entropy(1, weight: %s), code_mse(2, weight: 0.1)]
    optimizer adam(lr: 1e-3, beta1: 0.5)
  }
  train { batch 128 iterations 1200 log_every 10 checkpoint_every 20 }
  %s
}
"""
CENTERS = np.stack([np.cos(2 * np.pi * np.arange(8) / 8), np.sin(2 * np.pi * np.arange(8) / 8)], 1)


def _ring(rng, n):
    k = rng.integers(0, 8, n)
    return (CENTERS[k] + 0.02 * rng.standard_normal((n, 2))).astype("float32"), k


def _modes(points):
    return np.argmin(((points[:, None] - CENTERS[None]) ** 2).sum(-1), 1)


def _train(spec, iterations, labelled=False):
    step = tf_step.compile_training(spec, (2,))
    rng = np.random.default_rng(0)
    for _ in range(iterations):
        x, k = _ring(rng, spec.train.batch)
        step(x[None], k[None] if labelled else None, critic_steps=1)
    return step


@pytest.mark.slow
def test_infogan_categorical_code_picks_the_mode():
    """Chen et al. 2016: maximizing L_I makes the categorical code carry information about the sample. On the
    8-mode ring, each of the 8 code values lands on one mode (purity, chance 1/8); with lambda 0 it does not."""
    def purity(weight):
        step = _train(load_text(INFOGAN % (weight, "")).spec, 1200)
        rng = np.random.default_rng(1)
        codes = np.repeat(np.arange(8), 250)
        z = np.concatenate([rng.standard_normal((2000, 2)), np.eye(8)[codes], rng.uniform(-1, 1, (2000, 1))], 1)
        modes = _modes(np.asarray(step.generator(z.astype("float32"), training=False)))
        table = np.zeros((8, 8))
        np.add.at(table, (codes, modes), 1)
        return table.max(1).sum() / 2000, len(set(table.argmax(1)))

    informed, distinct = purity(1)
    assert informed > 0.9 and distinct >= 7, (informed, distinct)
    uninformed, _ = purity(0)
    assert uninformed < 0.6, uninformed


ACGAN = """experiment ring_acgan {
  seed 1
  data { source npz("unused.npz", labels_key: "y") }
  latent normal(2)
  conditional { classes 8 }
  generator { dense(128) relu dense(128) relu dense(2) }
  critic {
    dense(128) leaky_relu(0.2) dense(128) leaky_relu(0.2)
    head(label) { dense(8) }
    dense(1)
  }
  objective non_saturating
  optimizer.generator adam(lr: 1e-3, beta1: 0.5)
  optimizer.critic adam(lr: 1e-3, beta1: 0.5)
  auxiliary.losses class_cross_entropy(generator: %s)
  train.batch 128
}
"""


@pytest.mark.slow
def test_acgan_class_picks_the_mode():
    """Odena et al. 2017: the critic sees no label, only predicts it; G maximizing L_C makes its class
    recognisable. The ring's mode is the class: accuracy of G's samples far above chance (1/8), and near
    chance when G's term has weight 0."""
    def accuracy(weight):
        step = _train(load_text(ACGAN % weight).spec, 1000, labelled=True)
        labels = np.repeat(np.arange(8), 250)
        z = np.random.default_rng(1).standard_normal((2000, 2)).astype("float32")
        points = np.asarray(step.generator([z, np.eye(8, dtype="float32")[labels]], training=False))
        return float((_modes(points) == labels).mean())

    assert accuracy(1) > 0.9
    assert accuracy(0) < 0.4


def test_resume_with_the_information_optimizer_is_exact(tmp_path):
    """The third optimizer's slots are in the checkpoint: 20 iterations then 20 more resumed give the
    numbers of 40 straight (generator_first, as PyTorch-GAN's InfoGAN)."""
    path = tmp_path / "info.gan"
    path.write_text(INFOGAN % (1, "steps.order generator_first\n train.iterations 40"))
    assert_resumes_exactly(tmp_path, path, keys=("critic_loss", "generator_loss", "information_loss"))
