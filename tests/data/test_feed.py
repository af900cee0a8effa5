"""The data feed of `ganspec run`: each iteration takes as many real batches as the step schedule
says it consumes (`CriticSchedule.real_batches`), in the dataset's order, on both feeds, and a feed
started at (iteration, batch position) continues the stream exactly (what a resume relies on)."""

from __future__ import annotations

from itertools import islice

import numpy as np
import pytest

from ganspec.data.feed import iteration_feed
from ganspec.load import load_text
from ganspec.train.schedules import real_batches_at
from tests.data.test_pipeline import counting_dataset, ids, take

SPEC = """experiment feed {
  seed 2
  data { source ring }
  latent normal(2)
  generator { dense(2) }
  critic { dense(1) }
  objective wasserstein
  constraint weight_clip(0.01)
  optimizer.critic rmsprop
  train.batch 3
  %s
}
"""


def feed(spec, start_iteration, start_batch, backend, count):
    items = islice(iteration_feed(counting_dataset(40), spec, start_iteration, start_batch, backend), count)
    return [(np.asarray(real), np.asarray(labels), k) for real, labels, k in items]


STEPS = [
    "steps.critic 3",
    "steps { critic 3 share_real_batch true }",
    "steps { critic 2 share_real_batch true schedule wgan_warmup(critic: 4, first: 1, every: 3) }",
    "steps { critic 2 schedule wgan_warmup(critic: 4, first: 1, every: 3) }",
]


@pytest.mark.parametrize("backend", ["jax", "tensorflow"])
@pytest.mark.parametrize("steps", STEPS)
def test_each_iteration_takes_the_batches_the_schedule_says(steps, backend):
    if backend == "tensorflow":
        pytest.importorskip("tensorflow")
    spec = load_text(SPEC % steps).spec
    got = feed(spec, 0, 0, backend, 5)
    counts = [real_batches_at(spec, i) for i in range(5)]
    expected = take(counting_dataset(40), 3, spec.seed, sum(counts))
    position = 0
    for i, (real, labels, critic_steps) in enumerate(got):
        assert real.shape == (counts[i], 3, 4, 4, 1) and labels.shape == (counts[i], 3)
        for batch, want in zip(real, expected[position:position + counts[i]]):
            np.testing.assert_array_equal(ids(batch), ids(want[0]))
        position += counts[i]
    if "share_real_batch" in steps:
        assert counts == [1] * 5 and got[0][2] > 1  # several critic steps, one real batch


@pytest.mark.parametrize("backend", ["jax", "tensorflow"])
def test_a_feed_started_later_continues_the_stream(backend):
    if backend == "tensorflow":
        pytest.importorskip("tensorflow")
    spec = load_text(SPEC % STEPS[2]).spec
    straight = feed(spec, 0, 0, backend, 6)
    position = sum(real_batches_at(spec, i) for i in range(4))  # the trainer's data_position after 4
    resumed = feed(spec, 4, position, backend, 2)
    for (a, la, ka), (b, lb, kb) in zip(straight[4:], resumed):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(la, lb)
        assert ka == kb
