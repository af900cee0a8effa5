"""The NumPy data feed of backends without tf.data (JAX): each iteration's k real batches stacked
into one array [k, batch, ...], prepared ahead by a background thread. No TensorFlow here.

The batches are `Dataset.numpy_batches`, the same batches in the same order as `tf_batches`, so
a run resumes exactly on either backend.
"""

from __future__ import annotations

import queue
import threading
from typing import Callable, Iterator

import numpy as np


class _Failure:
    def __init__(self, exc: BaseException):
        self.exc = exc


def prefetched(items: Iterator, depth: int = 4) -> Iterator:
    """`items`, produced up to `depth` ahead in a daemon thread; its errors are raised here."""
    ready: queue.Queue = queue.Queue(depth)
    stop = threading.Event()

    def produce():
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        ready.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, which raises it
            ready.put(_Failure(exc))

    threading.Thread(target=produce, name="ganspec-prefetch", daemon=True).start()
    try:
        while True:
            item = ready.get()
            if isinstance(item, _Failure):
                raise item.exc
            yield item
    finally:
        stop.set()


def iteration_batches(dataset, batch_size: int, seed: int, start_batch: int, start_iteration: int,
                      critic_steps_at: Callable[[int], int], depth: int = 4) -> Iterator:
    """(real [k, batch, ...], labels [k, batch] or None, k) per generator iteration, from
    `start_iteration` whose first batch is batch number `start_batch`; prefetched."""
    def stacked():
        batches = dataset.numpy_batches(batch_size, seed, start_batch)
        iteration = start_iteration
        while True:
            k = critic_steps_at(iteration)
            items = [next(batches) for _ in range(k)]
            if dataset.conditional:
                yield np.stack([x for x, _ in items]), np.stack([y for _, y in items]).astype(np.int32), k
            else:
                yield np.stack(items), None, k
            iteration += 1

    return prefetched(stacked(), depth)
