"""The compiled TensorFlow iteration: runs for every objective, is seeded, resumes, and learns."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

from ganspec.load import load_text  # noqa: E402
from ganspec.ir.components import F_DIVERGENCES  # noqa: E402
from ganspec.train.schedules import critic_steps_at  # noqa: E402
from ganspec.train.tf_step import compile_training  # noqa: E402

TOY = """
experiment toy {
  seed %d
  data { source ring(8, 1.0, 0.05) }
  latent normal(4)
  generator { dense(16) relu dense(2) }
  critic { dense(16) relu dropout(0.1) dense(1) }
  train { batch 16 iterations 50 }
  %s
}
"""
BATCH = 16


def toy_step(settings: str, seed: int = 7):
    resolved = load_text(TOY % (seed, settings))
    assert resolved.spec is not None, resolved.diagnostics
    return compile_training(resolved.spec, sample=(2,))


def real_batches(critic_steps: int, seed: int = 0, batch: int = BATCH):
    return np.random.default_rng(seed).normal(size=(critic_steps, batch, 2)).astype("float32")


def run(step, iterations: int):
    metrics = []
    for iteration in range(iterations):
        critic_steps = critic_steps_at(step.spec, iteration)
        out = step(real_batches(critic_steps, seed=iteration), critic_steps=critic_steps)
        metrics.append({name: float(v) for name, v in out.items()})
    return metrics


OBJECTIVE_SETTINGS = [
    "objective minimax",
    "objective non_saturating\n tricks { label_smoothing 0.1 label_flip 0.05 label_noise 0.1 }",
    "objective wasserstein\n constraint gradient_penalty(weight: 10)\n steps.critic 3",
    "objective wasserstein\n constraint weight_clip(0.01)\n optimizer.critic rmsprop",
    "objective hinge\n constraint spectral_norm",
    "objective least_squares(a: -1, b: 1, c: 0)",
    "objective relativistic(standard)",
    "objective relativistic(least_squares, average: false)",
    "objective relativistic(hinge)",
] + [
    # Three divergences in the quick run (Lambert W, a log-domain activation, a bounded one); all when slow.
    pytest.param(f"objective f_divergence({name})",
                 marks=() if name in ("jeffrey", "gan", "total_variation") else pytest.mark.slow)
    for name in sorted(F_DIVERGENCES)
] + [
    "objective f_divergence(kl, activation: identity)",
]


@pytest.mark.parametrize("settings", OBJECTIVE_SETTINGS, ids=lambda s: s.split("\n")[0][10:])
def test_one_iteration_gives_finite_metrics(settings):
    metrics = run(toy_step(settings), 2)[-1]
    for name in ("critic_loss", "generator_loss", "penalty", "d_real", "d_fake",
                 "critic_grad_norm", "generator_grad_norm"):
        assert np.isfinite(metrics[name]), (name, metrics)
    assert metrics["critic_grad_norm"] > 0 and metrics["generator_grad_norm"] > 0
    if "wasserstein" in settings:
        assert metrics["wasserstein_estimate"] == pytest.approx(metrics["d_real"] - metrics["d_fake"], abs=1e-5)
    if "f_divergence" in settings:
        assert metrics["divergence_estimate"] == pytest.approx(-metrics["critic_loss"])


TRICK_SETTINGS = [
    "objective non_saturating\n tricks.unrolled 3",
    "objective minimax\n tricks.unrolled 2\n optimizer.critic sgd(lr: 0.1, momentum: 0.5)",
    "objective non_saturating\n tricks { instance_noise { std 0.5 decay exponential steps 10 } }",
    "objective non_saturating\n constraint r1(gamma: 1)\n constraint r2(gamma: 1, every: 2)",
    "objective wasserstein\n constraint gradient_penalty(at: perturbed_real)\n constraint consistency(weight: 2)",
    "objective hinge\n train.precision mixed_float16",
    "objective hinge\n train.precision mixed_bfloat16",
    pytest.param("objective wasserstein\n constraint gradient_penalty\n train.xla true", marks=pytest.mark.slow),
    "objective hinge\n ema { decay 0.9 }",
]


@pytest.mark.parametrize("settings", TRICK_SETTINGS, ids=lambda s: s.split("\n")[1].strip())
def test_tricks_run(settings):
    metrics = run(toy_step(settings), 2)[-1]
    assert all(np.isfinite(v) for v in metrics.values()), metrics


def test_same_seed_same_losses():
    settings = "objective wasserstein\n constraint gradient_penalty\n tricks.instance_noise { std 0.1 }"
    first = run(toy_step(settings), 3)
    assert run(toy_step(settings), 3) == first
    assert run(toy_step(settings, seed=8), 3) != first


def test_checkpoint_resumes_exactly(tmp_path):
    settings = "objective non_saturating\n tricks.label_noise 0.1\n ema { decay 0.9 }"
    first = toy_step(settings)
    run(first, 2)
    path = tf.train.Checkpoint(step=first).save(str(tmp_path / "ckpt"))
    continued = [float(first(real_batches(1, seed=9), critic_steps=1)["critic_loss"]) for _ in range(2)]
    resumed = toy_step(settings)
    tf.train.Checkpoint(step=resumed).restore(path).assert_existing_objects_matched()
    assert int(resumed.iteration.numpy()) == 2
    assert [float(resumed(real_batches(1, seed=9), critic_steps=1)["critic_loss"]) for _ in range(2)] == continued


def test_wgan_warmup_runs_more_critic_steps():
    """Arjovsky et al. 2017 (reference code): 100 critic steps early and every 500th iteration."""
    step = toy_step("objective wasserstein\n constraint weight_clip(0.01)\n steps { critic 2 "
                    "schedule wgan_warmup(critic: 5, first: 2, every: 4) }")
    assert [critic_steps_at(step.spec, i) for i in range(9)] == [5, 5, 2, 2, 5, 2, 2, 2, 5]
    run(step, 5)
    assert int(step.critic_updates.numpy()) == 5 + 5 + 2 + 2 + 5
    assert int(step.iteration.numpy()) == 5


def test_ema_generator_averages_weights():
    """Yazici et al. 2019: theta_ema <- decay * theta_ema + (1 - decay) * theta."""
    step = toy_step("objective hinge\n ema { decay 0.75 }")
    before = [w.numpy().copy() for w in step.ema_generator.weights]
    run(step, 1)
    for ema, old, new in zip(step.ema_generator.weights, before, step.generator.weights):
        np.testing.assert_allclose(ema.numpy(), 0.75 * old + 0.25 * new.numpy(), rtol=1e-5, atol=1e-7)


def test_instance_noise_is_reported_and_decays():
    step = toy_step("objective non_saturating\n tricks.instance_noise { std 0.2 decay linear steps 4 }")
    stds = [m["instance_noise_std"] for m in run(step, 5)]
    np.testing.assert_allclose(stds, [0.2, 0.15, 0.1, 0.05, 0.0], atol=1e-6)


CONDITIONAL_PACKED = """
experiment conditional_packed {
  data { source npz("unused.npz", labels_key: "y") }
  latent normal(4)
  conditional { classes 3 }
  generator { dense(16) relu dense(2) }
  critic(pack: 2) { dense(16) relu dense(1) }
  objective non_saturating
  constraint gradient_penalty
  train { batch 16 }
}
"""


def test_conditional_packed_step():
    step = compile_training(load_text(CONDITIONAL_PACKED).spec, sample=(2,))
    labels = np.random.default_rng(0).integers(0, 3, size=(1, BATCH))
    metrics = step(real_batches(1), labels, critic_steps=1)
    assert tuple(step.critic.input.shape) == (None, 2 * 2 + 3)
    assert all(np.isfinite(float(v)) for v in metrics.values())


# ---- learning ------------------------------------------------------------------------------

RING_WGAN_GP = """
experiment ring_wgan_gp {
  seed 0
  data { source ring(8, 1.0, 0.05) }
  latent normal(2)
  generator { dense(128) relu dense(128) relu dense(2) }
  critic { dense(128) relu dense(128) relu dense(1) }
  objective wasserstein
  constraint gradient_penalty(weight: 0.1)
  steps.critic 5
  optimizer.generator adam(lr: 1e-3, beta1: 0.5, beta2: 0.9)
  optimizer.critic adam(lr: 1e-3, beta1: 0.5, beta2: 0.9)
  train { batch 256 iterations 600 }
}
"""
MODES = np.stack([np.cos(2 * np.pi * np.arange(8) / 8), np.sin(2 * np.pi * np.arange(8) / 8)], 1)


def ring_samples(rng, n, std=0.05):
    return (MODES[rng.integers(0, 8, n)] + std * rng.normal(size=(n, 2))).astype("float32")


def mode_statistics(generator, rng):
    """Mean distance to the nearest mode, and modes holding at least 1% of 2000 samples within 3 std."""
    samples = generator(rng.normal(size=(2000, 2)).astype("float32"), training=False).numpy()
    distances = np.linalg.norm(samples[:, None] - MODES[None], axis=-1)
    nearest = distances.min(axis=1)
    covered = np.bincount(distances.argmin(axis=1)[nearest < 0.15], minlength=8)
    return nearest.mean(), int((covered >= 20).sum())


@pytest.mark.slow
def test_wgan_gp_learns_the_ring():
    spec = load_text(RING_WGAN_GP).spec
    step = compile_training(spec, sample=(2,))
    rng = np.random.default_rng(0)
    initial_distance, _ = mode_statistics(step.generator, rng)
    for iteration in range(spec.train.iterations):
        critic_steps = critic_steps_at(spec, iteration)
        step(ring_samples(rng, critic_steps * 256).reshape(critic_steps, 256, 2), critic_steps=critic_steps)
    distance, modes = mode_statistics(step.generator, rng)
    assert distance < 0.3 * initial_distance, (initial_distance, distance)
    assert modes >= 6, modes
