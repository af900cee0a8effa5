"""Penalties against closed forms: a linear critic D(x) = w.x + b has grad_x D = w everywhere."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402
from keras import ops  # noqa: E402

from ganspec.networks import pack_samples  # noqa: E402
from ganspec.load import load_text  # noqa: E402
from ganspec.ir.components import CONSTRAINTS  # noqa: E402
from ganspec.train import constraints  # noqa: E402
from ganspec.train.tf_step import compile_training, critic_input_gradients  # noqa: E402

W = np.array([0.3, -1.2, 2.0, 0.5], "float32")
RNG = np.random.default_rng(0)
REAL = RNG.normal(size=(16, 4)).astype("float32")
FAKE = RNG.normal(size=(16, 4)).astype("float32") + 3.0


def linear_critic(weights, bias=0.7):
    inputs = keras.Input((len(weights),))
    dense = keras.layers.Dense(1)
    model = keras.Model(inputs, dense(inputs))
    dense.kernel.assign(np.asarray(weights, "float32").reshape(-1, 1))
    dense.bias.assign([bias])
    return model


def penalty_of(kind, critic, pack=1, **params):
    """Through the TF gradient computation: penalty at points from the rule's sampler."""
    constraint = CONSTRAINTS[kind](**params)
    rule = constraints.constraint_rule(constraint)
    points = rule.points(constraint, tf.constant(REAL), tf.constant(FAKE), keras.random.SeedGenerator(1))
    gradients, _ = critic_input_gradients(critic, points, pack=pack)
    return float(rule.penalty(constraint, constraints.squared_norms(pack_samples(gradients, pack))))


def test_every_constraint_kind_has_a_rule():
    assert set(CONSTRAINTS.names()) == set(constraints.CONSTRAINT_RULES)


@pytest.mark.parametrize("at", ["interpolates", "real", "fake", "perturbed_real", "perturbed_real_uniform"])
def test_gradient_penalty_of_a_linear_critic(at):
    """Gulrajani et al. 2017, eq. 3: weight * (||w|| - 1)^2 wherever it is taken."""
    penalty = penalty_of("gradient_penalty", linear_critic(W), weight=10.0, at=at)
    assert penalty == pytest.approx(10.0 * (np.linalg.norm(W) - 1.0) ** 2, rel=1e-5)


def test_gradient_penalty_target():
    penalty = penalty_of("gradient_penalty", linear_critic(W), weight=2.0, target=3.0)
    assert penalty == pytest.approx(2.0 * (np.linalg.norm(W) - 3.0) ** 2, rel=1e-5)


def test_one_sided_gradient_penalty_ignores_small_gradients():
    small = W / np.linalg.norm(W) * 0.5
    assert penalty_of("gradient_penalty", linear_critic(small), one_sided=True) == pytest.approx(0.0, abs=1e-7)
    assert penalty_of("gradient_penalty", linear_critic(small), one_sided=False) == pytest.approx(10 * 0.25, rel=1e-4)
    big = W / np.linalg.norm(W) * 2.0
    assert penalty_of("gradient_penalty", linear_critic(big), one_sided=True) == pytest.approx(10.0, rel=1e-4)


@pytest.mark.parametrize("kind", ["r1", "r2"])
def test_zero_centered_penalties_of_a_linear_critic(kind):
    """Mescheder et al. 2018, eqs. 9-10: (gamma / 2) ||w||^2."""
    assert penalty_of(kind, linear_critic(W), gamma=4.0) == pytest.approx(2.0 * np.sum(W ** 2), rel=1e-5)


def test_gradient_penalty_of_a_packed_critic_uses_the_whole_pack():
    """PacGAN: one decision per pack of 2, so the gradient is w over both members' coordinates."""
    packed_w = np.concatenate([W, -W])
    penalty = penalty_of("gradient_penalty", linear_critic(packed_w), pack=2, weight=1.0)
    assert penalty == pytest.approx((np.linalg.norm(packed_w) - 1.0) ** 2, rel=1e-5)


def test_interpolates_lie_between_real_and_fake():
    constraint = CONSTRAINTS["gradient_penalty"]()
    points = ops.convert_to_numpy(constraints.interpolates(constraint, REAL, FAKE, keras.random.SeedGenerator(3)))
    alpha = (points - FAKE) / (REAL - FAKE)
    np.testing.assert_allclose(alpha, alpha[:, :1].repeat(4, axis=1), rtol=1e-3, atol=1e-4)  # one alpha per sample
    assert alpha.min() >= 0 and alpha.max() <= 1 and alpha[:, 0].std() > 0.1


def test_perturbed_real_points_are_gaussian_around_the_data():
    """DRAGAN, Kodali et al. 2017, sec. 5: x + delta, delta ~ N(0, c I), c = (noise * std(x))^2: symmetric."""
    real = np.random.default_rng(1).normal(2.0, 3.0, size=(4000, 8)).astype("float32")
    constraint = CONSTRAINTS["gradient_penalty"](at="perturbed_real", noise=0.5)
    points = ops.convert_to_numpy(constraints.perturbed_real(constraint, real, real, keras.random.SeedGenerator(3)))
    offset = (points - real).ravel()
    scale = 0.5 * real.std()
    assert abs(offset.mean()) < 0.02 * scale  # centred on the data
    assert offset.std() == pytest.approx(scale, rel=0.02)
    assert (offset < 0).mean() == pytest.approx(0.5, abs=0.02)  # as many below as above
    assert abs(np.mean(((offset / scale) ** 4)) - 3.0) < 0.15  # a normal's kurtosis, not a uniform's 1.8


def test_the_notebooks_perturbation_stays_on_one_side_of_the_data():
    """The DRAGAN authors' notebook: x + alpha * noise * std(x) * U[0, 1]."""
    constraint = CONSTRAINTS["gradient_penalty"](at="perturbed_real_uniform", noise=0.5)
    points = ops.convert_to_numpy(constraints.perturbed_real_uniform(constraint, REAL, FAKE,
                                                                     keras.random.SeedGenerator(3)))
    offset = points - REAL
    assert offset.min() >= 0 and offset.max() <= 0.5 * REAL.std() + 1e-6 and offset.max() > 0


def test_gradient_penalty_math_given_norms():
    constraint = CONSTRAINTS["gradient_penalty"](weight=3.0)
    squared = np.array([0.0, 4.0, 9.0], "float32")  # norms 0, 2, 3
    assert float(constraints.gradient_penalty(constraint, squared)) == pytest.approx(3.0 * (1 + 1 + 4) / 3, rel=1e-5)
    one_sided = CONSTRAINTS["gradient_penalty"](weight=3.0, one_sided=True)
    assert float(constraints.gradient_penalty(one_sided, squared)) == pytest.approx(3.0 * (0 + 1 + 4) / 3, rel=1e-5)


def test_consistency_term():
    """CT-GAN, Wei et al. 2018: weight * E[max(0, |D(x') - D(x'')| - margin)]."""
    constraint = CONSTRAINTS["consistency"](weight=2.0, margin=0.1)
    first = np.array([[0.0], [1.0], [0.5]], "float32")
    second = np.array([[0.05], [0.5], [1.5]], "float32")
    assert float(constraints.consistency_term(constraint, first, second)) == pytest.approx(2.0 * (0 + 0.4 + 0.9) / 3)


def test_consistency_term_with_the_second_to_last_layer():
    """CT-GAN, Wei et al. 2018, sec. 3: weight * E[max(0, d(D(x'), D(x'')) + 0.1 d(D_(x'), D_(x'')) - M')],
    d the metric (|.| for the output, Euclidean for D_), or the authors' code's squares (mean over D_)."""
    first, second = np.array([[0.0], [1.0]], "float32"), np.array([[0.5], [1.0]], "float32")
    h_first = np.array([[0.0, 0.0], [1.0, 1.0]], "float32")
    h_second = np.array([[3.0, 4.0], [1.0, 1.0]], "float32")  # distances 5 and 0
    paper = CONSTRAINTS["consistency"](weight=2.0, margin=0.2)
    assert paper.features == 0.1 and paper.distance == "metric"
    expected = 2.0 * (max(0.0, 0.5 + 0.1 * 5.0 - 0.2) + max(0.0, 0.0 + 0.0 - 0.2)) / 2
    got = constraints.consistency_term(paper, first, second, h_first, h_second)
    assert float(got) == pytest.approx(expected, rel=1e-6)
    code = CONSTRAINTS["consistency"](weight=2.0, distance="squared")
    expected = 2.0 * ((0.25 + 0.1 * (9 + 16) / 2) + 0.0) / 2
    assert float(constraints.consistency_term(code, first, second, h_first, h_second)) == pytest.approx(expected)
    without = CONSTRAINTS["consistency"](weight=2.0, margin=0.2, features=0)
    assert not constraints.uses_features(without) and constraints.uses_features(paper)
    assert float(constraints.consistency_term(without, first, second, h_first, h_second)) == pytest.approx(0.3)


CT_CRITIC = """
experiment ct {
  data { source ring(8, 1.0, 0.05) }
  latent normal(2)
  generator { dense(8) relu dense(2) }
  critic { %s }
  objective wasserstein
  constraint consistency(weight: 2)
  train { batch 16 }
}
"""


@pytest.mark.parametrize("critic, width", [
    ("dense(16) relu dropout(0.5) dense(8) leaky_relu(0.2) dropout(0.5) dense(1)", 8),
    ("dense(16) relu dropout(0.5) dense(1) tanh", 16),  # a parameterless layer after the last weight layer
    ("spectral_norm { dense(16) relu dropout(0.5) dense(12) relu dense(1) }", 12),
])
def test_critic_features_are_the_input_of_the_last_weight_layer(critic, width):
    """D_ (CT-GAN's second-to-last layer): the activations the critic's last weight layer reads."""
    from ganspec.networks.keras_models import build_critic, critic_features

    model = build_critic(load_text(CT_CRITIC % critic).spec, (2,))
    features = critic_features(model)
    score, hidden = features(REAL[:, :2], training=False)
    assert tuple(hidden.shape) == (16, width)
    np.testing.assert_allclose(score, model(REAL[:, :2], training=False), rtol=1e-6)
    last = [layer for layer in model.layers if layer.trainable_weights][-1]
    if isinstance(last, keras.layers.Dense):  # the score is that layer of D_ (then any activation)
        linear = hidden.numpy() @ last.kernel.numpy() + last.bias.numpy()
        expected = np.tanh(linear) if critic.endswith("tanh") else linear
        np.testing.assert_allclose(score, expected, rtol=1e-5, atol=1e-6)
    assert {id(v) for v in features.trainable_variables} <= {id(v) for v in model.trainable_variables}


def test_the_step_gives_consistency_both_passes_outputs_and_features():
    """The TF step's output term: two passes of the features model, outputs and D_ in order."""
    step = compile_training(load_text(CT_CRITIC % "dense(8) relu dropout(0.5) dense(1)").spec, sample=(2,))
    passes = iter([(np.array([[0.0], [1.0]], "float32"), np.array([[0.0, 0.0], [1.0, 1.0]], "float32")),
                   (np.array([[0.5], [1.0]], "float32"), np.array([[3.0, 4.0], [1.0, 1.0]], "float32"))])
    step.critic_features = lambda inputs, training: next(passes)
    (constraint, rule), = step.penalties
    term = step._output_term(constraint, rule, None, REAL[:2, :2], None, None)
    assert float(term) == pytest.approx(2.0 * (0.5 + 0.1 * 5.0 + 0.0) / 2)


def test_lazy_regularization_scales_every_nth_update():
    constraint = CONSTRAINTS["r1"](every=4)
    scales = [float(constraints.lazy_scale(constraint, tf.constant(step, tf.int64))) for step in range(9)]
    assert scales == [4, 0, 0, 0, 4, 0, 0, 0, 4]
    assert constraints.lazy_scale(CONSTRAINTS["r1"](), 5) == 1.0


TOY = """
experiment clip {
  data { source ring(8, 1.0, 0.05) }
  latent normal(2)
  generator { dense(8) relu dense(2) }
  critic { dense(16) relu dense(16) relu dense(1) }
  objective wasserstein
  %s
  optimizer.critic rmsprop(lr: 0.5)
  train { batch 16 }
}
"""


def test_weight_clipping_bounds_critic_weights():
    """Arjovsky et al. 2017, Algorithm 1: every critic weight stays in [-c, c] after each update."""
    step = compile_training(load_text(TOY % "constraint weight_clip(0.02)").spec, sample=(2,))
    for weight in step.critic.trainable_weights:  # clipped from the start
        assert np.abs(weight.numpy()).max() <= 0.02 + 1e-7
    step(RNG.normal(size=(3, 16, 2)).astype("float32") * 5, critic_steps=3)
    values = np.concatenate([w.numpy().ravel() for w in step.critic.trainable_weights])
    assert np.abs(values).max() <= 0.02 + 1e-7
    assert np.isclose(np.abs(values), 0.02).mean() > 0.5  # a large lr pushes weights to the box


def test_lazy_penalty_in_the_step():
    """With r1(every: 2) the penalty is applied on critic updates 0, 2, 4 ... scaled by 2."""
    spec = load_text(TOY % "constraint r1(gamma: 1, every: 2)\n steps.critic 1").spec
    step = compile_training(spec, sample=(2,))
    penalties = [float(step(RNG.normal(size=(1, 16, 2)).astype("float32"), critic_steps=1)["penalty"])
                 for _ in range(4)]
    assert penalties[0] > 0 and penalties[2] > 0
    assert penalties[1] == 0 and penalties[3] == 0
