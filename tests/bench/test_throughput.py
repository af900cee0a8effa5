"""What makes the training step fast keeps it correct; the throughput benchmark compares equal models.

No timings here (bench/throughput.py measures them); these check that the faster paths compute
the same values as the textbook ones.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from itertools import islice

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

from ganspec.data.feed import iteration_feed  # noqa: E402
from ganspec.networks import build_critic  # noqa: E402
from ganspec.networks.keras_models import critic_input  # noqa: E402
from ganspec.load import load, load_text  # noqa: E402
from ganspec.run.trainer import Trainer  # noqa: E402
from ganspec.train.schedules import critic_steps_at  # noqa: E402
from ganspec.train.step_common import joins_critic_calls, per_sample  # noqa: E402
from ganspec.train.tf_step import compile_training, critic_input_gradients  # noqa: E402
from tests.conftest import ROOT, SPECS  # noqa: E402

CRITIC_SPEC = """
experiment critic_test {
  data { source ring(8, 1.0, 0.05) }
  latent normal(4)
  generator { dense(16) relu dense(2) }
  critic { %s }
  objective wasserstein
  constraint gradient_penalty
  train { batch 8 }
}
"""

CRITICS = {
    "relu": "dense(32) relu dense(32) relu dense(1)",
    "leaky_relu": "dense(32) leaky_relu(0.2) dense(32) leaky_relu(0.2) dense(1)",
    "elu_and_tanh": "dense(32) elu dense(32) tanh dense(1)",  # genuine second derivatives
    "spectral_norm": "spectral_norm { dense(32) leaky_relu(0.2) dense(1) }",
    "layernorm": "dense(32) layernorm relu dense(1)",
}


def penalty_gradients(critic, points, compiled: bool):
    """d/dtheta of the WGAN-GP penalty mean((||grad_x D|| - 1)^2), with the step's input gradient
    (compiled: inside tf.function, first-order activation gradients) or a plain nested tape (eager)."""
    state = [v.numpy() for v in critic.non_trainable_variables]

    def penalty_and_gradients(x):
        with tf.GradientTape() as tape:
            gradients, _ = critic_input_gradients(critic, x)
            norms = tf.sqrt(tf.reduce_sum(tf.square(gradients), axis=1) + 1e-12)
            penalty = tf.reduce_mean(tf.square(norms - 1.0))
        return penalty, tape.gradient(penalty, critic.trainable_variables)

    fn = tf.function(penalty_and_gradients, autograph=False) if compiled else penalty_and_gradients
    penalty, gradients = fn(points)
    for variable, value in zip(critic.non_trainable_variables, state):  # the same u for the next call
        variable.assign(value)
    return float(penalty), [None if g is None else g.numpy() for g in gradients]


@pytest.mark.parametrize("layers", CRITICS.values(), ids=CRITICS.keys())
def test_first_order_penalty_gradients_equal_the_nested_tape(layers):
    critic = build_critic(load_text(CRITIC_SPEC % layers).spec, sample=(2,))
    points = tf.constant(np.random.default_rng(0).normal(size=(8, 2)).astype("float32"))
    eager_penalty, eager = penalty_gradients(critic, points, compiled=False)
    compiled_penalty, compiled = penalty_gradients(critic, points, compiled=True)
    assert compiled_penalty == pytest.approx(eager_penalty, rel=1e-6)
    for variable, a, b in zip(critic.trainable_variables, eager, compiled):
        # The penalty does not depend on biases feeding a ReLU (they move only its kink): the tape
        # returns zeros there, the first-order path None.
        a = np.zeros(variable.shape) if a is None else a
        b = np.zeros(variable.shape) if b is None else b
        np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-6, err_msg=variable.path)


@pytest.mark.parametrize("activation", ["relu", "leaky_relu"])
def test_penalty_gradient_skips_the_zero_terms(activation):
    """The compiled penalty gradient builds no backprop through D(x_hat)'s forward pass: for this MLP
    critic 3 of the nested tape's 17 matrix products (zeros times activations) are gone."""
    critic = build_critic(load_text(CRITIC_SPEC % CRITICS[activation]).spec, sample=(2,))

    def matmuls(input_gradients):
        def penalty_gradients(x):
            with tf.GradientTape() as tape:
                penalty = tf.reduce_sum(tf.square(input_gradients(x)))
            return tape.gradient(penalty, critic.trainable_variables)

        graph = tf.function(penalty_gradients, autograph=False).get_concrete_function(tf.zeros((8, 2))).graph
        return sum(op.type == "MatMul" for op in graph.get_operations())

    def nested_tape(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            outputs = critic(x, training=True)
        return tape.gradient(outputs, x)

    assert matmuls(lambda x: critic_input_gradients(critic, x)[0]) == matmuls(nested_tape) - 3


def test_per_sample_critics_score_real_and_fake_in_one_call():
    step = compile_training(load_text(CRITIC_SPEC % CRITICS["relu"]).spec, sample=(2,))
    assert joins_critic_calls(step.critic, 8)
    rng = np.random.default_rng(1)
    real, fake = (tf.constant(rng.normal(size=(8, 2)).astype("float32")) for _ in range(2))
    d_real, d_fake, _ = step._critic_pair(real, fake, None)  # (no heads: no outputs beside the scores)
    np.testing.assert_allclose(d_real.numpy(), step._critic(real, None).numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(d_fake.numpy(), step._critic(fake, None).numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("layers", ["dense(32) batchnorm relu dense(1)", CRITICS["spectral_norm"]])
def test_batch_coupled_critics_are_called_per_batch(layers):
    critic = build_critic(load_text(CRITIC_SPEC % layers).spec, sample=(2,))
    assert not per_sample(critic)


STACKED = """
experiment stacked {
  seed 3
  data {
    source idx("mnist/t10k-images-idx3-ubyte.gz", labels: "mnist/t10k-labels-idx1-ubyte.gz")
    limit 60
  }
  latent normal(4)
  %s
  generator { dense(784) tanh reshape(28, 28, 1) }
  critic { flatten dense(1) }
  objective wasserstein
  constraint gradient_penalty
  steps { critic 3 %s }
  train { batch 4 }
}
"""


@pytest.mark.parametrize("conditional", [False, True])
@pytest.mark.parametrize("schedule", ["", "schedule wgan_warmup(critic: 5, first: 1, every: 3)"])
@pytest.mark.parametrize("start", [0, 7])
@pytest.mark.parametrize("feed_backend", ["tensorflow", "jax"])
def test_trainer_feeds_the_same_batches_in_order(mnist_dir, conditional, schedule, start, feed_backend):
    """tf.data (stacked ahead for a fixed k, one by one for a schedule) or the NumPy thread feed (the
    JAX backend's): iteration i gets the next k batches, k as the step schedule says."""
    spec = load_text(STACKED % ("conditional { classes 10 }" if conditional else "", schedule)).spec
    trainer = Trainer(spec, run=None, spec_dir=None, display=None)
    trainer.prepare()
    expected = list(islice(trainer.dataset.numpy_batches(4, spec.seed, start_batch=start), 40))
    position = 0
    feed = iteration_feed(trainer.dataset, spec, 0, start, feed_backend)
    for iteration, (real, labels, k) in zip(range(5), feed):
        assert k == critic_steps_at(spec, iteration)
        assert real.shape == (k, 4, 28, 28, 1)
        wanted = expected[position:position + k]
        position += k
        if conditional:
            np.testing.assert_array_equal(np.asarray(real), np.stack([x for x, _ in wanted]))
            np.testing.assert_array_equal(np.asarray(labels), np.stack([y for _, y in wanted]))
            assert np.asarray(labels).dtype == np.int32
        else:
            assert labels is None
            np.testing.assert_array_equal(np.asarray(real), np.stack(wanted))


def load_bench():
    spec = importlib.util.spec_from_file_location("bench_throughput", ROOT / "bench" / "throughput.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name, generator, critic", [
    ("wgan_gp", "keras_io_generator", "keras_io_critic"),
    ("dcgan", "tutorial_generator", "tutorial_discriminator"),
])
def test_hand_written_models_match_the_spec(name, generator, critic):
    """bench/throughput.py times the same networks: equal weight shapes and parameter counts."""
    from ganspec.networks import build_generator

    bench = load_bench()
    spec = load(SPECS / f"{name}.gan").spec
    ours_generator, ours_critic = build_generator(spec), build_critic(spec, sample=(28, 28, 1))
    theirs_generator = getattr(bench, generator)(spec.latent.dim)
    theirs_critic = getattr(bench, critic)()
    bench.same_architecture(ours_generator, theirs_generator)
    bench.same_architecture(ours_critic, theirs_critic)
    z = tf.random.normal((2, spec.latent.dim))
    np.testing.assert_allclose(theirs_generator(z, training=False).numpy(),
                               ours_generator(z, training=False).numpy(), rtol=1e-5, atol=1e-5)
    x = tf.random.normal((2, 28, 28, 1))
    np.testing.assert_allclose(theirs_critic(x, training=False).numpy(),
                               ours_critic(critic_input(x), training=False).numpy(), rtol=1e-4, atol=1e-5)
