"""Schedules over generator iterations, backend-neutral: critic steps per iteration and
the instance-noise level. Learning-rate schedules live with the optimizers.

The critic-step schedule is plain Python (the data feed reads it without Keras); the
noise level is a `keras.ops` expression, so Keras is imported where it is computed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable


@dataclass(frozen=True)
class CriticSchedule:
    """Critic steps and real batches per generator iteration: `counts[choose(iteration)]` critic
    steps, each on its own real batch, or all on one (`share_real_batch`).

    Every iteration takes one of `counts`, so the distinct counts (one compiled step variant
    each) come from the same definition as the count of any one iteration.
    """

    counts: tuple[int, ...]
    choose: Callable[[int], int]  # generator iteration (from 0) -> index into `counts`
    share_real_batch: bool = False  # `steps.share_real_batch`: the k critic steps see one real batch

    def critic_steps(self, iteration: int) -> int:
        """Critic steps of generator iteration `iteration` (from 0)."""
        return self.counts[self.choose(iteration)]

    def real_batches_for(self, critic_steps: int) -> int:
        """Real batches an iteration of `critic_steps` critic steps consumes: one each, or one shared."""
        return 1 if self.share_real_batch else critic_steps

    def real_batches(self, iteration: int) -> int:
        """Real batches generator iteration `iteration` (from 0) consumes (the feed, the trainer's
        data position and the step all ask this)."""
        return self.real_batches_for(self.critic_steps(iteration))

    def distinct(self) -> list[int]:
        """The critic-step counts this schedule can give, ascending."""
        return sorted(set(self.counts))


def constant_critic_steps(critic_steps: int, share_real_batch: bool = False) -> CriticSchedule:
    """The declared `steps.critic` on every iteration."""
    return CriticSchedule((critic_steps,), lambda iteration: 0, share_real_batch)


def wgan_warmup_critic_steps(schedule, declared: int, share_real_batch: bool = False) -> CriticSchedule:
    """Arjovsky et al. 2017, reference code: `critic` steps for the first `first` generator
    iterations and on every `every`-th one (to keep the critic near optimal); `declared` otherwise."""
    def warming_up(iteration: int) -> int:
        return int(iteration < schedule.first or iteration % schedule.every == 0)

    return CriticSchedule((declared, schedule.critic), warming_up, share_real_batch)


STEP_SCHEDULES: dict[str, Callable] = {
    "wgan_warmup": wgan_warmup_critic_steps,
}


def critic_schedule(spec) -> CriticSchedule:
    """The critic-step schedule of a spec's `steps` block."""
    schedule, share = spec.steps.schedule, spec.steps.share_real_batch
    if schedule is None:
        return constant_critic_steps(spec.steps.critic, share)
    return STEP_SCHEDULES[schedule.kind](schedule, spec.steps.critic, share)


def critic_steps_at(spec, iteration: int) -> int:
    """How many critic updates generator iteration `iteration` (from 0) uses."""
    return critic_schedule(spec).critic_steps(iteration)


def real_batches_at(spec, iteration: int) -> int:
    """How many real batches generator iteration `iteration` (from 0) consumes."""
    return critic_schedule(spec).real_batches(iteration)


def critic_step_counts(spec) -> list[int]:
    """The distinct critic-step counts a run uses (one compiled step variant each)."""
    return critic_schedule(spec).distinct()


# Sonderby et al. 2017 (instance noise) and the lecture notes (seed 001): the noise level
# falls as training goes on, from `std` at the start; progress = iteration / steps.
EXPONENTIAL_END = 0.01  # exponential decay reaches 1% of the initial std at `steps`

NOISE_DECAYS: dict[str, Callable] = {
    "none": lambda ops, std, progress: std * ops.ones_like(progress),
    "linear": lambda ops, std, progress: std * ops.maximum(1.0 - progress, 0.0),
    "exponential": lambda ops, std, progress: std * ops.power(EXPONENTIAL_END, progress),
}


def instance_noise_std(spec, iteration):
    """The instance-noise standard deviation at a generator iteration (0 when the trick is off)."""
    noise = spec.tricks.instance_noise
    if noise is None:
        return 0.0
    from keras import ops  # here: importing Keras picks (and on TensorFlow imports) the backend

    steps = noise.steps or spec.train.iterations
    progress = ops.cast(iteration, "float32") / float(steps)
    return NOISE_DECAYS[noise.decay](ops, noise.std, progress)
