"""Ctrl-C and SIGTERM are never lost (issue 14): before the training loop (while the backend imports, the data
loads, the networks are built) they stop the run with exit 130 and no run directory left behind; in training they
save a checkpoint and exit 130. Each run is a real process, signalled when its output says it got there."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from ganspec import exitcodes
from tests.conftest import ROOT

SPEC = """experiment ring {
  seed 2
  data { source ring(8, 1.0, 0.05) }
  latent normal(4)
  generator { dense(16) relu dense(2) }
  critic { dense(16) relu dense(1) }
  objective wasserstein
  train { batch 16 iterations %d log_every 5 checkpoint_every 1000 }
  evaluate { every 1000 metrics [] }
}
"""
DRIVER = Path(__file__).with_name("signal_driver.py")


def start(argv: list, tmp_path: Path, driver: bool = False) -> subprocess.Popen:
    command = [sys.executable, str(DRIVER), "--"] if driver else [sys.executable, "-m", "ganspec"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "CUDA_VISIBLE_DEVICES": "", "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([*command, *map(str, argv)], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def signal_at(proc: subprocess.Popen, marker: str, signum: int) -> str:
    """Send `signum` as soon as a line of the output holds `marker`; the whole output once the process ended."""
    lines = []
    try:
        for line in proc.stdout:
            lines.append(line)
            if marker in line:
                proc.send_signal(signum)
                break
        lines.append(proc.communicate(timeout=600)[0])
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return "".join(lines)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_stop_signal_while_the_networks_are_built_stops_before_training(tmp_path, signum):
    """The signal lands inside a finaliser while the run is being prepared: SIGINT was dropped there (and the
    run trained to its end), SIGTERM ended the process with nothing said."""
    (tmp_path / "ring.gan").write_text(SPEC % 2000)
    proc = start(["run", tmp_path / "ring.gan", "--plain", "--out", tmp_path / "runs"], tmp_path, driver=True)
    out = signal_at(proc, "building: finaliser", signum)
    assert proc.returncode == exitcodes.INTERRUPTED, out
    assert "interrupted before training started" in out and "Traceback" not in out
    assert "[5/" not in out  # not one iteration logged
    assert not (tmp_path / "runs").exists() or not list((tmp_path / "runs").iterdir())


def test_ctrl_c_as_training_starts_saves_and_exits_130_every_time(tmp_path):
    """The lost Ctrl-C of a --plain run: signalled as the start line appears, three times over."""
    (tmp_path / "ring.gan").write_text(SPEC % 1_000_000)
    for attempt in range(3):
        out_dir = tmp_path / f"runs{attempt}"
        proc = start(["run", tmp_path / "ring.gan", "--plain", "--out", out_dir], tmp_path)
        out = signal_at(proc, "iterations (0 done)", signal.SIGINT)
        assert proc.returncode == exitcodes.INTERRUPTED, (attempt, out)
        assert "interrupted: saved ckpt-" in out and "Traceback" not in out, (attempt, out)
        (run,) = out_dir.iterdir()
        saved = out.split("interrupted: saved ")[1].split(";")[0]
        assert (run / "checkpoints" / saved / "state.json").exists()
