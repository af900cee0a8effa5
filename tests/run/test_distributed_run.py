"""`ganspec run --devices N / --strategy S` and multi-process runs, end to end: the layout is checked before
anything is built, recorded in layout.json, a run saved on one layout resumes on another and continues as
an uninterrupted single-device run would, and two worker processes on 127.0.0.1 train one run (the chief
alone writes it). The step-level equivalence of the strategies is in tests/train/test_distributed_*.py.

Several devices need a fresh process (TensorFlow splits the CPU into logical devices, and XLA counts host
devices, before they start), so the multi-device runs are `python -m ganspec` subprocesses."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ganspec import exitcodes
from ganspec.cli import main
from tests.conftest import free_ports
from tests.processes import SAFETY_NET_S, Workers

SPEC = """experiment ring {
  seed 5
  data { source ring(8, 1.0, 0.05) }
  latent normal(4)
  generator { dense(32) relu dense(32) relu dense(2) }
  critic { dense(32) leaky_relu dense(32) leaky_relu dense(1) }
  objective wasserstein
  constraint gradient_penalty(weight: 1)
  steps { critic 3 }
  optimizer { generator sgd(lr: 0.05) critic sgd(lr: 0.05) }
  train { batch 32 iterations 6 log_every 1 checkpoint_every 2 keep_checkpoints 5 }
  evaluate { every 100 metrics [] }
}
"""
# SGD, not Adam: where a gradient is zero in exact arithmetic, its last-bit rounding differs between one
# device and a sum over replicas, and Adam's first steps turn that noise into steps of about lr.
LOSSES = ("critic_loss", "generator_loss", "penalty", "d_real", "d_fake", "critic_grad_norm",
          "generator_grad_norm")


@pytest.fixture
def spec_file(tmp_path) -> Path:
    path = tmp_path / "ring.gan"
    path.write_text(SPEC)
    return path


def cli(*argv) -> int:
    return main([str(a) for a in argv])


def ganspec(*argv, env=None, workers: Workers | None = None):
    """`python -m ganspec ARGV` in a fresh process: waited for (its CompletedProcess), or started among `workers`.
    No speed limit: the timeout is a safety net (on it, the process is killed and reaped)."""
    command = [sys.executable, "-m", "ganspec", *[str(a) for a in argv]]
    environment = {**os.environ, **(env or {})}
    environment.pop("KERAS_BACKEND", None)
    if workers is not None:
        return workers.start(str(len(workers.running)), command, env=environment)
    done = subprocess.run(command, env=environment, capture_output=True, text=True, timeout=SAFETY_NET_S)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done


def losses(run: Path) -> dict[int, dict]:
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return {r["iteration"]: {k: r[k] for k in LOSSES} for r in records if "critic_loss" in r}


def assert_same_losses(a: dict, b: dict) -> None:
    assert sorted(a) == sorted(b)
    for iteration in a:
        for key in LOSSES:
            assert a[iteration][key] == pytest.approx(b[iteration][key], rel=2e-4, abs=2e-5), (iteration, key)


def runs_in(out: Path) -> list[Path]:
    return sorted(p for p in out.iterdir() if p.is_dir()) if out.exists() else []


# ---- refused before anything is built ----------------------------------------------------------


@pytest.mark.parametrize("flags, words", [
    (["--devices", "3"], "train.batch = 32 does not divide over 3 replicas"),
    (["--strategy", "data_parallel", "--backend", "tensorflow"], "not a tensorflow strategy"),
    (["--devices", "two"], "not a number"),
    (["--strategy", "none", "--devices", "2"], "one device"),
])
def test_a_layout_that_cannot_work_is_refused_before_a_run_directory_exists(tmp_path, spec_file, capsys, flags,
                                                                            words):
    assert cli("run", spec_file, "--plain", "--out", tmp_path / "runs", *flags) == exitcodes.INVALID
    output = capsys.readouterr()
    text = output.out + output.err
    assert "E511" in text and words in text and "Traceback" not in text
    assert not runs_in(tmp_path / "runs")


def test_a_bad_tf_config_is_refused(tmp_path, spec_file, capsys, monkeypatch):
    monkeypatch.setenv("TF_CONFIG", "{oops")
    assert cli("run", spec_file, "--plain", "--out", tmp_path / "runs", "--backend", "tensorflow") == exitcodes.INVALID
    assert "TF_CONFIG is not valid" in capsys.readouterr().out
    assert not runs_in(tmp_path / "runs")


# ---- resumes across layouts ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def single_device_losses(tmp_path_factory):
    """The reference of each backend: 6 iterations on one device, uninterrupted (TensorFlow in this process,
    JAX in a fresh one). The backends draw different random numbers, so each is compared with its own."""
    cache = {}

    def reference(backend: str) -> dict:
        if backend not in cache:
            folder = tmp_path_factory.mktemp(f"single-{backend}")
            (folder / "ring.gan").write_text(SPEC)
            if backend == "tensorflow":
                assert cli("run", folder / "ring.gan", "--plain", "--out", folder / "runs", "--backend", backend) == 0
            else:
                ganspec("run", folder / "ring.gan", "--plain", "--out", folder / "runs", "--backend", backend)
            cache[backend] = losses(runs_in(folder / "runs")[0])
        return cache[backend]

    return reference


@pytest.mark.parametrize("backend, first, then", [("tensorflow", 2, 1), ("jax", 1, 2)])
def test_a_run_saved_on_one_layout_resumes_on_another_as_if_uninterrupted(tmp_path, spec_file, backend, first, then,
                                                                          single_device_losses):
    out = tmp_path / "runs"
    ganspec("run", spec_file, "--plain", "--out", out, "--backend", backend, "--devices", first, "--iterations", 4)
    (run,) = runs_in(out)
    done = ganspec("run", "--resume", run, "--plain", "--backend", backend, "--devices", then, "--iterations", 6)
    assert "resuming" in done.stdout and "at iteration 4" in done.stdout
    assert_same_losses(losses(run), single_device_losses(backend))
    layout = json.loads((run / "layout.json").read_text())
    assert [(s["iteration"], s["replicas"]) for s in layout["sessions"]] == [(0, first), (4, then)]
    assert layout["current"]["replicas"] == then


# ---- several processes -----------------------------------------------------------------------------


def test_two_tensorflow_workers_train_one_run_and_only_the_chief_writes_it(tmp_path, spec_file, single_device_losses):
    ports = free_ports(2)
    cluster = {"worker": [f"127.0.0.1:{port}" for port in ports]}
    with Workers() as workers:  # none left running however this ends
        for index in range(2):
            ganspec("run", spec_file, "--plain", "--out", tmp_path / f"out{index}", workers=workers,
                    env={"TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})})
        codes, outputs = zip(*workers.wait().values())
    assert list(codes) == [0, 0], "\n".join(o[-3000:] for o in outputs)
    assert "multi_worker: 1 device x 2 processes = 2 replicas" in outputs[0]
    assert "worker 1 of 2" in outputs[1]
    (run,) = runs_in(tmp_path / "out0")
    assert not runs_in(tmp_path / "out1")  # the other worker wrote only a scratch folder, since deleted
    assert_same_losses(losses(run), single_device_losses("tensorflow"))
    assert [p.name for p in sorted((run / "checkpoints").glob("ckpt-*"))] == [
        "ckpt-00000002", "ckpt-00000004", "ckpt-00000006"]
    assert json.loads((run / "layout.json").read_text())["current"]["workers"] == 2


def test_two_jax_processes_train_one_run(tmp_path, spec_file, single_device_losses):
    (port,) = free_ports(1)
    with Workers() as workers:  # none left running however this ends
        for index in range(2):
            ganspec("run", spec_file, "--plain", "--out", tmp_path / f"out{index}", "--backend", "jax",
                    workers=workers, env={"JAX_COORDINATOR_ADDRESS": f"127.0.0.1:{port}",
                                          "JAX_NUM_PROCESSES": "2", "JAX_PROCESS_ID": str(index)})
        codes, outputs = zip(*workers.wait().values())
    assert list(codes) == [0, 0], "\n".join(o[-3000:] for o in outputs)
    (run,) = runs_in(tmp_path / "out0")
    assert not runs_in(tmp_path / "out1")
    assert_same_losses(losses(run), single_device_losses("jax"))


def test_layout_json_records_a_single_device_run(tmp_path, spec_file):
    assert cli("run", spec_file, "--plain", "--out", tmp_path / "runs", "--iterations", 2) == exitcodes.OK
    (run,) = runs_in(tmp_path / "runs")
    layout = json.loads((run / "layout.json").read_text())
    assert layout["current"] == {"strategy": "none", "devices": 1, "workers": 1, "worker": 0, "replicas": 1}
    assert np.isfinite(losses(run)[2]["critic_loss"])
