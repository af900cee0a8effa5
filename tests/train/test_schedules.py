"""Step and noise schedules, optimizers and learning-rate schedules (unrolled update rules:
tests/train/test_unrolled.py)."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

from ganspec.load import load_text  # noqa: E402
from ganspec.ir.components import LR_SCHEDULES, OPTIMIZERS  # noqa: E402
from ganspec.train.optimizers import (  # noqa: E402
    LR_SCHEDULE_BUILDERS,
    OPTIMIZER_BUILDERS,
    UNROLLED_RULES,
    learning_rate,
    make_optimizer,
    make_optimizers,
)
from ganspec.train.schedules import critic_step_counts, critic_steps_at, instance_noise_std  # noqa: E402

SPEC = """
experiment s {
  data { source ring(8, 1.0, 0.05) }
  latent normal(2)
  generator { dense(2) }
  critic { dense(1) }
  objective wasserstein
  train { iterations 100 %s }
  %s
}
"""


def spec_with(settings: str = "", train: str = ""):
    resolved = load_text(SPEC % (train, settings))
    assert resolved.spec is not None, resolved.diagnostics
    return resolved.spec


def test_registries_cover_the_ir():
    assert set(OPTIMIZERS.names()) == set(OPTIMIZER_BUILDERS) == set(UNROLLED_RULES)
    assert set(LR_SCHEDULES.names()) == set(LR_SCHEDULE_BUILDERS)


def test_critic_steps_without_and_with_warmup():
    assert [critic_steps_at(spec_with("steps.critic 5"), i) for i in (0, 1, 500)] == [5, 5, 5]
    warm = spec_with("steps { critic 5 schedule wgan_warmup }")
    assert [critic_steps_at(warm, i) for i in (0, 24, 25, 26, 499, 500, 501)] == [100, 100, 5, 5, 5, 100, 5]


@pytest.mark.parametrize("steps, counts", [
    ("steps.critic 5", [5]),
    ("steps { critic 5 schedule wgan_warmup }", [5, 100]),
    ("steps { critic 2 schedule wgan_warmup(critic: 2) }", [2]),  # one count: one compiled variant
])
def test_distinct_critic_step_counts_are_the_counts_iterations_take(steps, counts):
    spec = spec_with(steps)
    assert critic_step_counts(spec) == counts
    assert {critic_steps_at(spec, i) for i in range(1100)} == set(counts)


@pytest.mark.parametrize("decay, expected", [
    ('"none"', [0.4, 0.4, 0.4]),  # quoted: a bare `none` is the language's null
    ("linear", [0.4, 0.2, 0.0]),
    ("exponential", [0.4, 0.04, 0.004]),
])
def test_instance_noise_decay(decay, expected):
    spec = spec_with(f"tricks.instance_noise {{ std 0.4 decay {decay} }}")
    got = [float(instance_noise_std(spec, i)) for i in (0, 50, 100)]
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-7)
    assert instance_noise_std(spec_with(), 10) == 0.0


@pytest.mark.parametrize("schedule, expected", [
    (LR_SCHEDULES["constant"](), [1.0, 1.0, 1.0]),
    (LR_SCHEDULES["linear"](end=0.1), [1.0, 0.55, 0.1]),
    (LR_SCHEDULES["cosine"](end=0.0), [1.0, 0.5, 0.0]),
    (LR_SCHEDULES["exponential"](rate=0.5, every=50), [1.0, 0.5, 0.25]),
], ids=lambda value: getattr(value, "kind", ""))
def test_learning_rate_schedules_over_the_run(schedule, expected):
    """Counted in generator iterations: here the critic's optimizer makes 5 updates per iteration."""
    optimizer = OPTIMIZERS["rmsprop"](lr=1.0, schedule=schedule)
    lr = learning_rate(optimizer, iterations=100, updates_per_iteration=5)
    got = [float(lr(step)) if callable(lr) else lr for step in (0, 250, 500)]
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


def test_optimizers_follow_the_spec():
    spec = spec_with("optimizer.generator adam(lr: 3e-4, beta1: 0.0, beta2: 0.99)\n"
                     "optimizer.critic sgd(lr: 0.1, momentum: 0.9, nesterov: true)")
    generator, critic = make_optimizers(spec)
    assert isinstance(generator, keras.optimizers.Adam) and generator.beta_1 == 0.0 and generator.beta_2 == 0.99
    assert float(generator.learning_rate) == pytest.approx(3e-4)
    assert isinstance(critic, keras.optimizers.SGD) and critic.nesterov and critic.momentum == 0.9
    scaled = make_optimizer(spec.optimizer.critic, 10, precision="mixed_float16")
    assert isinstance(scaled, keras.optimizers.LossScaleOptimizer)
