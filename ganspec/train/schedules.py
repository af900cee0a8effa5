"""Schedules over generator iterations, backend-neutral: critic steps per iteration and
the instance-noise level. Learning-rate schedules live with the optimizers."""

from __future__ import annotations

from typing import Callable

from keras import ops


def wgan_warmup_critic_steps(schedule, declared: int, iteration: int) -> int:
    """Arjovsky et al. 2017, reference code: `critic` steps for the first `first` generator
    iterations and on every `every`-th one (to keep the critic near optimal); `declared` otherwise."""
    if iteration < schedule.first or iteration % schedule.every == 0:
        return schedule.critic
    return declared


STEP_SCHEDULES: dict[str, Callable] = {
    "wgan_warmup": wgan_warmup_critic_steps,
}


def critic_steps_at(spec, iteration: int) -> int:
    """How many critic updates (and real batches) generator iteration `iteration` (from 0) uses."""
    schedule = spec.steps.schedule
    if schedule is None:
        return spec.steps.critic
    return STEP_SCHEDULES[schedule.kind](schedule, spec.steps.critic, iteration)


def critic_step_counts(spec) -> list[int]:
    """The distinct critic-step counts a run uses (one compiled step variant each)."""
    counts = {spec.steps.critic}
    if spec.steps.schedule is not None:
        counts.add(spec.steps.schedule.critic)
    return sorted(counts)


# Sonderby et al. 2017 (instance noise) and the lecture notes (seed 001): the noise level
# falls as training goes on, from `std` at the start; progress = iteration / steps.
EXPONENTIAL_END = 0.01  # exponential decay reaches 1% of the initial std at `steps`

NOISE_DECAYS: dict[str, Callable] = {
    "none": lambda std, progress: std * ops.ones_like(progress),
    "linear": lambda std, progress: std * ops.maximum(1.0 - progress, 0.0),
    "exponential": lambda std, progress: std * ops.power(EXPONENTIAL_END, progress),
}


def instance_noise_std(spec, iteration):
    """The instance-noise standard deviation at a generator iteration (0 when the trick is off)."""
    noise = spec.tricks.instance_noise
    if noise is None:
        return 0.0
    steps = noise.steps or spec.train.iterations
    progress = ops.cast(iteration, "float32") / float(steps)
    return NOISE_DECAYS[noise.decay](noise.std, progress)
