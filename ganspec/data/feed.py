"""The data feed of `ganspec run`: per generator iteration, the real batches of its critic steps.

    for real, labels, critic_steps in iteration_feed(dataset, spec, iteration, data_position, backend): ...

Generator iteration i takes the next batches, as many as the step schedule says it consumes
(`CriticSchedule.real_batches`: one per critic step, or one shared by all), stacked: real
[batches, batch, ...], labels [batches, batch] or None. The batches are `Dataset.numpy_batches`
in order on every backend, so a run resumes exactly, on either backend: tf.data serves them on TensorFlow, a background
thread stacks them in NumPy elsewhere. No TensorFlow is imported here unless the feed is tf.data.
"""

from __future__ import annotations

from itertools import count
from typing import Callable, Iterator

import numpy as np

from ganspec.data.dataset import Dataset
from ganspec.data.prefetch import prefetched
from ganspec.train.schedules import CriticSchedule, critic_schedule


def stacked_iterations(batches: Iterator, schedule: CriticSchedule, start_iteration: int, conditional: bool,
                       stack: Callable) -> Iterator[tuple]:
    """(real, labels or None, critic_steps) per generator iteration from `start_iteration`: the next
    `schedule.real_batches(iteration)` items of `batches` (x, or (x, y) when conditional), each joined
    by `stack`."""
    for iteration in count(start_iteration):
        critic_steps = schedule.critic_steps(iteration)
        items = [next(batches) for _ in range(schedule.real_batches(iteration))]
        if conditional:
            yield stack([x for x, _ in items]), stack([y for _, y in items]), critic_steps
        else:
            yield stack(items), None, critic_steps


def numpy_feed(dataset: Dataset, spec, schedule: CriticSchedule, start_iteration: int,
               start_batch: int) -> Iterator[tuple]:
    """NumPy batches, stacked ahead of the step by a background thread (backends without tf.data)."""
    batches = dataset.numpy_batches(spec.train.batch, spec.seed, start_batch)
    return prefetched(stacked_iterations(batches, schedule, start_iteration, dataset.conditional, np.stack))


def tf_feed(dataset: Dataset, spec, schedule: CriticSchedule, start_iteration: int,
            start_batch: int) -> Iterator[tuple]:
    """tf.data batches; when every iteration takes the same count, tf.data stacks them ahead of the step."""
    import tensorflow as tf

    from ganspec.data.tf_pipeline import stacked_batches, tf_batches

    ds = tf_batches(dataset, spec.train.batch, spec.seed, start_batch)
    counts = schedule.distinct()
    if len(counts) > 1:
        yield from stacked_iterations(iter(ds), schedule, start_iteration, dataset.conditional, tf.stack)
        return
    critic_steps = counts[0]
    for item in stacked_batches(ds, schedule.real_batches_for(critic_steps)):
        yield (*item, critic_steps) if dataset.conditional else (item, None, critic_steps)


FEEDS = {"tensorflow": tf_feed, "jax": numpy_feed}


def iteration_feed(dataset: Dataset, spec, start_iteration: int, start_batch: int, backend: str) -> Iterator[tuple]:
    """(real [n, batch, ...], labels [n, batch] or None, k) per generator iteration from `start_iteration`,
    whose first real batch is batch number `start_batch`; k is the iteration's critic steps and n the
    real batches it consumes (`CriticSchedule.real_batches`: k, or 1 when they share one)."""
    # A generator: nothing is built or started until the first iteration is asked for.
    yield from FEEDS[backend](dataset, spec, critic_schedule(spec), start_iteration, start_batch)
