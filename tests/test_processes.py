"""tests/processes.py: workers started together are waited for without a speed limit, and none is left
running however the waiting ends."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.processes import Workers

SLEEPER = "import time; print('up', flush=True); time.sleep(3600)"


def test_a_chatty_worker_does_not_stall_the_one_waited_for_first(tmp_path):
    """Worker `first` ends only once `second` has printed 4 MB; waiting for `first` while `second` writes
    into a pipe nobody reads would never end (the fixtures' old way)."""
    flag = tmp_path / "flag"
    waits = f"import os, time\nwhile not os.path.exists({str(flag)!r}): time.sleep(0.01)\nprint('first done')"
    chatty = f"import sys\nsys.stdout.write('x' * (4 << 20))\nopen({str(flag)!r}, 'w').close()"
    with Workers() as workers:
        workers.start("first", [sys.executable, "-c", waits])
        workers.start("second", [sys.executable, "-c", chatty])
        done = workers.wait()
    assert done["first"] == (0, "first done\n")
    assert done["second"][0] == 0 and len(done["second"][1]) == 4 << 20


def test_workers_are_killed_and_reaped_when_the_wait_gives_up(tmp_path):
    with pytest.raises(subprocess.TimeoutExpired):
        with Workers() as workers:
            sleeper = workers.start("sleeper", [sys.executable, "-c", SLEEPER])
            workers.wait(timeout=0.1)  # a sleeper of an hour: not a question of speed
    assert sleeper.returncode is not None and sleeper.returncode < 0  # killed, and reaped (its status known)


def test_workers_are_killed_and_reaped_when_the_test_fails_before_waiting():
    with pytest.raises(AssertionError):
        with Workers() as workers:
            sleeper = workers.start("sleeper", [sys.executable, "-c", SLEEPER])
            raise AssertionError("a failure while the workers run")
    assert sleeper.returncode is not None and sleeper.returncode < 0
