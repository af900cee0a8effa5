"""Stop signals (Ctrl-C's SIGINT, and SIGTERM) as a flag that the program reads where it can stop cleanly.

Python's own SIGINT handler raises `KeyboardInterrupt` wherever the main thread happens to be; inside a
finaliser (`__del__`: TensorFlow and Keras have many, and building models runs them) Python prints
"Exception ignored" and drops it, and the program went on, e.g. into hours of training (the lost Ctrl-C).
SIGTERM's default action ends the process at once, with nothing saved. `ganspec run` holds a `StopSignals`
from its first line to its last, so a signal is never lost, whenever it comes: before training it stops the
run before the loop, in training the loop saves a checkpoint and stops.
"""

from __future__ import annotations

import signal
import threading


class Stop(Exception):
    """Ctrl-C or SIGTERM asked the program to stop: save and exit."""


class StopSignals:
    """While entered, SIGINT and SIGTERM only set `received`, which `check` turns into `Stop`. It may be entered
    again while entered (the run command holds it, the training loop enters it too): the handlers are installed
    by the outermost entry and put back by its exit, and a signal received at any depth stays received.

    A signal that arrives while a checkpoint is being written cannot abort the write either."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self, linger: bool = False):
        self.received: int | None = None
        self._previous: dict = {}
        self._depth = 0
        # After a stop, keep ignoring these signals instead of restoring the previous handlers: the process is
        # on its way out (`ganspec run`), and a Ctrl-C repeated in impatience must not cut its last writes
        # or its exit short. In a process that goes on (the Python API), the handlers are restored.
        self.linger = linger

    def __enter__(self) -> "StopSignals":
        self._depth += 1
        if self._depth == 1 and threading.current_thread() is threading.main_thread():  # only it gets signals
            for signum in self.SIGNALS:
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def _handle(self, signum, frame) -> None:
        self.received = signum

    def check(self) -> None:
        """Raise `Stop` when a stop was asked for."""
        if self.received is not None:
            raise Stop()

    def __exit__(self, *exc) -> None:
        self._depth -= 1
        if self._depth:
            return
        for signum, previous in self._previous.items():
            signal.signal(signum, signal.SIG_IGN if self.linger and self.received is not None else previous)
        self._previous = {}
