"""`ganspec ARGV...` in this process, with a finaliser that runs while the networks are being built, for
tests/run/test_stop_signals.py:

    python tests/run/signal_driver.py -- ARGV...

Building Keras models runs many finalisers (`__del__`); a stop signal handled by Python's default SIGINT handler
while one runs raises KeyboardInterrupt inside it, which Python prints as "Exception ignored" and drops (the lost
Ctrl-C). Here one finaliser prints "building: finaliser" and sleeps, so that a test can send its signal then.
Nothing of ganspec is changed but the name patched here."""

from __future__ import annotations

import sys
import time

from ganspec.cli import main
from ganspec.run import trainer

FINALISER_S = 5.0  # long enough for the test to see the line and send its signal, which cuts it short


class SlowFinaliser:
    def __del__(self):
        print("building: finaliser", flush=True)
        time.sleep(FINALISER_S)


def plant() -> None:
    prepare = trainer.Trainer.prepare

    def prepare_with_a_finaliser(self, *args, **kwargs):
        SlowFinaliser()  # collected at once: its __del__ runs here, before the networks are built
        return prepare(self, *args, **kwargs)

    trainer.Trainer.prepare = prepare_with_a_finaliser


if __name__ == "__main__":
    separator, *argv = sys.argv[1:]
    assert separator == "--", sys.argv
    plant()
    sys.exit(main(argv))
