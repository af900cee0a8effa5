"""Fault injection (issue 14): a run killed with SIGKILL inside a checkpoint save resumes without loss.

tests/run/fault_driver.py runs `ganspec run` with SIGINT raised at a chosen iteration and SIGKILL raised
inside the interrupt save that follows, at a chosen point of it (not after a delay): (a) with the new
checkpoint's files half written, (b) while a run re-saves the iteration it resumed at, between renaming the
old checkpoint aside and renaming the new one in. The next `ganspec run --resume`, a plain CLI process,
must start from the last complete checkpoint, tidy what the cut save left and end with every iteration
logged exactly once, the iterations it trains again with the losses they had the first time."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from ganspec import exitcodes
from tests.conftest import ROOT

DRIVER = Path(__file__).with_name("fault_driver.py")
ITERATIONS = 12
SPEC = f"""experiment ring {{
  seed 5
  data {{ source ring(8, 1.0, 0.05) }}
  latent normal(4)
  generator {{ dense(16) relu dense(2) }}
  critic {{ dense(16) relu dense(1) }}
  objective wasserstein
  constraint gradient_penalty(weight: 1)
  train {{ batch 16 iterations {ITERATIONS} log_every 1 checkpoint_every 5 keep_checkpoints 5 }}
  evaluate {{ every 100 metrics [] }}
}}
"""


def environment() -> dict:
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": str(ROOT),
           "PYTHONUNBUFFERED": "1"}
    env.pop("KERAS_BACKEND", None)
    return env


def ganspec(*argv, fault: tuple[int, str] | None = None) -> tuple[int, str]:
    """`ganspec ARGV... --plain --backend tensorflow` in a new process, through the fault driver when `fault`
    is (iteration of the SIGINT, where SIGKILL cuts the save): (exit status, output)."""
    command = [sys.executable, "-m", "ganspec"]
    if fault is not None:
        command = [sys.executable, str(DRIVER), str(fault[0]), fault[1], "--"]
    argv = [*map(str, argv), "--plain", "--backend", "tensorflow"]
    # No timeout: the runs are a few seconds of work however slow the machine; a hung one is pytest's to stop.
    done = subprocess.run([*command, *argv], cwd=ROOT, env=environment(), stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True)
    return done.returncode, done.stdout


def started(tmp_path: Path, fault: tuple[int, str], exit_status: int) -> tuple[Path, str]:
    """A new run of SPEC through the fault driver, which ends with `exit_status`: (its run directory, output)."""
    (tmp_path / "ring.gan").write_text(SPEC)
    code, out = ganspec("run", tmp_path / "ring.gan", "--out", tmp_path / "runs", fault=fault)
    assert code == exit_status, out
    (run,) = (tmp_path / "runs").iterdir()
    return run, out


def entries(run: Path) -> list[str]:
    return sorted(p.name for p in (run / "checkpoints").iterdir())


def stray(run: Path) -> list[str]:
    """What interrupted saves leave: `.tmp-*` folders and files, checkpoints renamed aside (`.old-*`)."""
    return [str(p.relative_to(run)) for p in run.rglob("*") if ".tmp-" in p.name or p.name.startswith(".old-")]


def records(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def losses(run: Path, last: int = ITERATIONS) -> dict[int, tuple[float, float]]:
    """{iteration: (critic loss, generator loss)}, checking that iterations 1 to `last` are each logged once."""
    logged = [r for r in records(run) if "critic_loss" in r]
    iterations = [r["iteration"] for r in logged]
    assert iterations == list(range(1, last + 1)), f"iterations lost or logged twice: {iterations}"
    return {r["iteration"]: (r["critic_loss"], r["generator_loss"]) for r in logged}


def assert_resumes_without_loss(run: Path, at: int) -> str:
    """`ganspec run --resume` starts at iteration `at`, leaves no stray folder and ends with every iteration
    logged once; returns its output."""
    code, out = ganspec("run", "--resume", run)
    assert code == exitcodes.OK, out
    assert f"at iteration {at}" in out, out
    assert stray(run) == [], stray(run)
    assert (run / "checkpoints" / "latest").read_text().strip() == f"ckpt-{ITERATIONS:08d}"
    losses(run)
    evaluations = [r["iteration"] for r in records(run) if "evaluation" in r]
    assert len(evaluations) == len(set(evaluations)), f"an evaluation logged twice: {evaluations}"
    assert json.loads((run / "summary.json").read_text())["iterations"] == ITERATIONS
    return out


def test_a_run_killed_while_writing_its_interrupt_save_resumes_from_the_last_complete_checkpoint(tmp_path):
    run, out = started(tmp_path, fault=(7, "files"), exit_status=-signal.SIGKILL)
    assert "SIGKILL in the interrupt save" in out, out
    # The cut landed inside the save: a temporary folder with the weights but no state.json; ckpt-5 intact.
    (cut,) = [name for name in entries(run) if name.startswith(".tmp-00000007-")]
    written = sorted(p.name for p in (run / "checkpoints" / cut).iterdir())
    assert "generator.weights.h5" in written and "state.json" not in written, written
    assert [n for n in entries(run) if n.startswith("ckpt-")] == ["ckpt-00000005"]
    assert (run / "checkpoints" / "latest").read_text().strip() == "ckpt-00000005"
    before = losses(run, last=7)  # two iterations past the checkpoint, which the resume trains again

    out = assert_resumes_without_loss(run, at=5)
    assert f"deleted {cut}, an unfinished save" in out, out
    after = losses(run)
    for iteration in range(1, 8):  # iterations 6 and 7 trained again from ckpt-5 give what they gave before
        assert after[iteration] == pytest.approx(before[iteration], rel=1e-4, abs=1e-5), iteration


def test_a_run_killed_while_re_saving_the_iteration_it_resumed_at_keeps_that_checkpoint(tmp_path):
    run, out = started(tmp_path, fault=(7, "none"), exit_status=exitcodes.INTERRUPTED)  # an interrupt save at 7
    assert "interrupted: saved ckpt-00000007" in out, out
    code, out = ganspec("run", "--resume", run, fault=(7, "swap"))  # Ctrl-C again at once: ckpt-7 saved again
    assert code == -signal.SIGKILL, out
    assert "at iteration 7" in out and "renamed aside" in out, out
    names = entries(run)
    assert "ckpt-00000007" not in names, names  # the cut came between the two renames
    assert len([name for name in names if name.startswith(".old-ckpt-00000007-")]) == 1, names

    out = assert_resumes_without_loss(run, at=7)  # not at 5: the checkpoint renamed aside is put back
    assert "restored ckpt-00000007, which an interrupted save had moved aside" in out, out
