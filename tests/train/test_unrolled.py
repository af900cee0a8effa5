"""Unrolled GANs (Metz et al. 2017) against independent references: the unrolled update rules continue
the critic's optimizer from its state, as the Keras optimizer itself would; and one simultaneous
iteration (the unrolled_gan notebook's order) gives the generator the gradient of f(theta_G,
theta_D^K(theta_G)) computed here in NumPy (float64, central differences through K hand-written SGD
steps), with the data term for a saddle objective and without it for the non-saturating loss.
TF/JAX parity of the same steps: tests/backends/parity_worker.py (unrolled_*)."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

from ganspec.ir.components import OPTIMIZERS  # noqa: E402
from ganspec.load import load_text  # noqa: E402
from ganspec.train.optimizers import make_optimizer, optimizer_state, unrolled_updates  # noqa: E402
from ganspec.train.tf_step import compile_training  # noqa: E402

# ---- the rules continue the optimizer's own steps ------------------------------------------


@pytest.mark.parametrize("kind, settings", [
    ("sgd", {"momentum": 0.5}),
    ("sgd", {"momentum": 0.9, "nesterov": True}),
    ("sgd", {}),
    ("rmsprop", {"momentum": 0.5}),
    ("rmsprop", {}),
    ("adam", {"beta1": 0.5, "beta2": 0.9}),
])
def test_unrolled_steps_continue_the_optimizer(kind, settings):
    """K unrolled updates from an optimizer that has already taken steps equal K more of its own steps."""
    ir = OPTIMIZERS[kind](lr=0.05, **settings)
    target = np.array([1.0, -2.0, 0.5], "float32")
    variable = keras.Variable(np.array([0.3, 0.3, 0.3], "float32"))
    optimizer = make_optimizer(ir, 10)
    optimizer.build([variable])

    def step():
        optimizer.apply_gradients([(2 * (variable.value - target) ** 3, variable)])

    for _ in range(4):  # moments and step count away from their fresh values
        step()
    iterations, slots = optimizer_state(optimizer, kind, [variable])
    slots = [tuple(None if s is None else tf.constant(s.numpy()) for s in slot) for slot in slots]
    iterations = tf.constant(iterations.numpy())

    def gradients(weights):
        return [2 * (weights[0] - target) ** 3]

    unrolled = unrolled_updates(ir, 0.05, [tf.constant(variable.numpy())], gradients, 3, slots, iterations)
    for _ in range(3):
        step()
    np.testing.assert_allclose(unrolled[0].numpy(), variable.numpy(), rtol=1e-5, atol=1e-6)
    fresh_slots = [tuple(None if s is None else tf.zeros_like(s) for s in slot) for slot in slots]
    fresh = unrolled_updates(ir, 0.05, [tf.constant(variable.numpy())], gradients, 3, fresh_slots, 0)
    if kind != "sgd" or settings:  # the state matters wherever the optimizer keeps one
        assert not np.allclose(fresh[0].numpy(), variable.numpy(), rtol=1e-5, atol=1e-6)


# ---- the generator's gradient through K critic updates -------------------------------------

SPEC = """
experiment unrolled {
  seed 3
  data { source ring(8, 1.0, 0.05) }
  latent normal(2)
  generator(init: zeros, bias_init: zeros) { dense(2) }
  critic { dense(4) tanh dense(1) }
  objective %s
  optimizer.generator sgd(lr: 1.0)
  optimizer.critic sgd(lr: 0.5)
  steps.order simultaneous
  tricks.unrolled %d
  train { batch 8 iterations 10 }
}
"""


def softplus(x):
    return np.logaddexp(0.0, x)


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def critic(params, x):
    kernel, bias, out_kernel, out_bias = params
    return (np.tanh(x @ kernel + bias) @ out_kernel + out_bias)[:, 0]


def critic_loss_gradients(params, real, fake):
    """d/dtheta of E[softplus(-D(x))] + E[softplus(D(G(z)))] (Goodfellow et al. 2014, eq. 1), by hand."""
    kernel, bias, out_kernel, out_bias = params
    inputs = np.concatenate([real, fake])
    hidden = np.tanh(inputs @ kernel + bias)
    scores = (hidden @ out_kernel + out_bias)[:, 0]
    n = len(real)
    d_scores = np.concatenate([-sigmoid(-scores[:n]) / n, sigmoid(scores[n:]) / len(fake)])[:, None]
    d_hidden = d_scores @ out_kernel.T * (1.0 - hidden ** 2)
    return [inputs.T @ d_hidden, d_hidden.sum(0), hidden.T @ d_scores, d_scores.sum(0)]


def unrolled_critic(params, real, fake, steps, lr):
    for _ in range(steps):
        params = [p - lr * g for p, g in zip(params, critic_loss_gradients(params, real, fake))]
    return params


def generator_objective(objective, params, real, point, steps, lr, batch):
    """The generator's loss when every sample sits at `point`: at the critic unrolled `steps` SGD steps."""
    fake = np.repeat(point[None, :], batch, axis=0)
    unrolled = unrolled_critic(params, real, fake, steps, lr)
    d_fake = critic(unrolled, fake)
    if objective == "non_saturating":
        return np.mean(softplus(-d_fake))
    data_term = -np.mean(softplus(-critic(unrolled, real))) if objective == "minimax" else 0.0
    return data_term - np.mean(softplus(d_fake))  # minimax: minus the critic's loss


def numeric_gradient(function, point, h=1e-5):
    return np.array([(function(point + h * e) - function(point - h * e)) / (2 * h) for e in np.eye(len(point))])


@pytest.mark.parametrize("objective, steps", [("minimax", 2), ("non_saturating", 2), ("minimax", 1)])
def test_generator_gradient_through_the_unrolled_critic(objective, steps):
    resolved = load_text(SPEC % (objective, steps))
    assert resolved.spec is not None, [d.message for d in resolved.diagnostics]
    step = compile_training(resolved.spec, sample=(2,))
    params = [np.asarray(w, "float64") for w in step.critic.get_weights()]
    real = np.random.default_rng(0).normal(size=(8, 2)) * 0.5 + 1.0
    step(real[None].astype("float32"), critic_steps=1)

    # The generator outputs its bias for every z (zero kernel), so its bias moves by -lr * the gradient
    # of the loss at all samples = bias (here 0).
    def loss(point):
        return generator_objective(objective, params, real, point, steps, 0.5, 8)

    expected = -1.0 * numeric_gradient(loss, np.zeros(2))
    np.testing.assert_allclose(step.generator.get_weights()[1], expected, rtol=2e-3, atol=1e-6)
    if objective == "minimax":  # the data term's share is not negligible: the test tells them apart
        without = -1.0 * numeric_gradient(lambda p: generator_objective("fake_term_only", params, real, p, steps,
                                                                        0.5, 8), np.zeros(2))
        assert not np.allclose(without, expected, rtol=0.05)
    # The critic's own update is the plain one, from the same forward pass (fakes at 0).
    fake = np.zeros((8, 2))
    critic_expected = [p - 0.5 * g for p, g in zip(params, critic_loss_gradients(params, real, fake))]
    for got, want in zip(step.critic.get_weights(), critic_expected):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("kind, settings", [("sgd", {"momentum": 0.5}), ("rmsprop", {}), ("adam", {})])
def test_unrolled_steps_default_to_a_fresh_optimizer(kind, settings):
    """Without a state, the rules take a new optimizer's first K steps."""
    ir = OPTIMIZERS[kind](lr=0.1, **settings)
    target = np.array([1.0, -2.0, 0.5], "float32")
    start = np.array([0.3, 0.3, 0.3], "float32")
    unrolled = unrolled_updates(ir, 0.1, [tf.constant(start)], lambda w: [2 * (w[0] - target)], 3)[0].numpy()
    variable = keras.Variable(start)
    optimizer = make_optimizer(ir, 10)
    for _ in range(3):
        optimizer.apply_gradients([(2 * (variable.value - target), variable)])
    np.testing.assert_allclose(unrolled, variable.numpy(), rtol=1e-5, atol=1e-6)
