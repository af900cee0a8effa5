"""A thread feed for backends without tf.data (JAX): items of an iterator prepared ahead by a
background thread (`feed.numpy_feed` stacks each iteration's NumPy batches there). No TensorFlow here.
"""

from __future__ import annotations

import queue
import threading
from typing import Iterator


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

