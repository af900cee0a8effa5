"""Data-parallel training on JAX: one global batch split over devices and processes trains as one device does.

The step runs in processes of its own (tests/train/distributed_jax_worker.py): JAX fixes its device count
when it is first imported (XLA_FLAGS=--xla_force_host_platform_device_count=4 makes the CPU four devices),
and a multi-process run needs processes that join through JAX_COORDINATOR_ADDRESS. Three processes start
together: one trains every case on one device and on meshes of 4 devices (some on 2 and 1 too), and
resumes runs on other layouts; two train runs together (2 processes x 2 devices). The tests compare what they wrote.

Equal means equal up to the order of float reductions: XLA's SPMD partitioner runs the same global-batch
function (the same random draws, batch-norm statistics over the whole batch) with per-device partial
sums added by all-reduces.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest

from ganspec.train.layout import host_device_flags
from tests.backends.conftest import require_jax
from tests.conftest import free_ports
from tests.processes import Workers

WORKER = Path(__file__).with_name("distributed_jax_worker.py")
ROOT = WORKER.parents[2]
# What one device and N devices may differ by after a few iterations (seen on 2 cores, jax 0.10: at most
# 1e-6 in a metric, 2.5e-7 in a weight; a mesh of one device and two processes of two devices against one
# process of four: 0 and below 1e-7).
RTOL, ATOL = 1e-5, 1e-6


def _environment(devices: int, **extra) -> dict:
    """A worker's environment: JAX on `devices` CPU devices. XLA's LLVM code generation runs unoptimised,
    which halves the compile time of these tiny steps; the HLO passes (the SPMD partitioner among them)
    run as always."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JAX_", "TF_CONFIG", "XLA_"))}
    flags = host_device_flags(devices, "--xla_backend_optimization_level=0").split("=", 1)[1]
    env.update(KERAS_BACKEND="jax", JAX_PLATFORMS="cpu", PYTHONPATH=str(ROOT), XLA_FLAGS=flags, **extra)
    return env


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    """{"layouts": ..., "processes": [process 0's, process 1's]}: all three workers run at once."""
    require_jax()
    folder = tmp_path_factory.mktemp("distributed_jax")
    (port,) = free_ports(1)
    # A compilation cache of the module's own: the resumes compile steps the same process compiled before.
    cache = dict(JAX_COMPILATION_CACHE_DIR=str(folder / "cache"), JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0")
    jobs = {"layouts": (["layouts"], _environment(4, **cache))}
    for index in range(2):
        jobs[f"process{index}"] = (["processes"], _environment(
            2, JAX_COORDINATOR_ADDRESS=f"127.0.0.1:{port}", JAX_NUM_PROCESSES="2", JAX_PROCESS_ID=str(index),
            GANSPEC_TEST_DEVICES="2"))
    with Workers() as workers:  # all at once; no speed limit, and none left running however this ends
        for name, (args, env) in jobs.items():
            workers.start(name, [sys.executable, str(WORKER), *args, str(folder / f"{name}.json")], env=env,
                          cwd=ROOT)
        done = workers.wait()
    failures = []
    for name, (code, output) in done.items():
        if code:
            failures.append(f"{name} exited {code}:\n{output[-4000:]}")
        else:
            print(f"{name} {output.strip().splitlines()[-1]}")  # its time, shown with pytest -s
    assert not failures, "\n\n".join(failures)
    read = {name: json.loads((folder / f"{name}.json").read_text()) for name in jobs}
    return {"layouts": read["layouts"], "processes": [read["process0"], read["process1"]]}


def assert_same_training(reference: dict, other: dict, rtol=RTOL, atol=ATOL):
    """Same metrics at every iteration and the same saved variables."""
    assert len(reference["metrics"]) == len(other["metrics"])
    for iteration, (expected, got) in enumerate(zip(reference["metrics"], other["metrics"])):
        assert expected.keys() == got.keys()
        for name in expected:
            assert got[name] == pytest.approx(expected[name], rel=rtol, abs=atol), (iteration, name)
    assert len(reference["weights"]) == len(other["weights"])
    for index, (expected, got) in enumerate(zip(reference["weights"], other["weights"])):
        np.testing.assert_allclose(np.asarray(got, dtype=np.float64), np.asarray(expected, dtype=np.float64),
                                   rtol=rtol, atol=atol, err_msg=f"variable {index}")


CASES = ("wgan_gp", "hinge_sn_ema", "weight_clip", "conditional", "batchnorm_generator")


@pytest.mark.parametrize("case", CASES)
def test_global_batch_over_devices_trains_as_one_device(results, case):
    runs = results["layouts"]["cases"][case]
    one = runs["one"]
    assert one["metrics"][-1]["critic_loss"] != one["metrics"][0]["critic_loss"]  # it trained
    for label in ("dp1", "dp2", "dp4"):
        if label in runs:
            assert runs[label]["layout"]["replicas"] == int(label[2:])
            assert_same_training(one, runs[label])
    assert "dp4" in runs


def test_data_parallel_on_one_device_is_the_single_device_step(results):
    """A mesh of one device compiles to the same arithmetic: the same numbers, not just close ones."""
    runs = results["layouts"]["cases"]["hinge_sn_ema"]
    assert runs["dp1"]["metrics"] == runs["one"]["metrics"]
    assert runs["dp1"]["weights"] == runs["one"]["weights"]


def test_the_ema_and_spectral_norm_state_are_the_same_on_every_layout(results):
    """The EMA generator and the power-iteration vectors are replicated state: equal on every layout."""
    runs = results["layouts"]["cases"]["hinge_sn_ema"]
    one, four = runs["one"]["parts"], runs["dp4"]["parts"]
    ema, generator = (np.concatenate([np.ravel(w) for w in one[k]]) for k in ("ema", "generator"))
    assert not np.allclose(ema, generator, atol=1e-4)  # an average of past weights, not a copy
    assert one["critic_state"]  # the spectral-norm vectors (and dropout's RNG state)
    for key in ("ema", "critic_state"):
        for expected, got in zip(one[key], four[key], strict=True):
            np.testing.assert_allclose(got, expected, rtol=RTOL, atol=ATOL)


def test_state_and_metrics_are_replicated(results):
    shardings = results["layouts"]["shardings"]
    assert shardings["state_replicated"] and shardings["state_devices"] == [4]
    assert shardings["metrics_replicated"]
    assert shardings["batch_shards"] == [[1, 4, 2]] * 4  # [k, 16 / 4 rows, 2] on each device


@pytest.mark.parametrize("resume", ["hinge_sn_ema:dp4->one", "batchnorm_generator:dp2->one",
                                    "batchnorm_generator:one->dp2"])
def test_a_run_saved_on_one_layout_resumes_on_another(results, resume):
    name = resume.split(":")[0]
    straight = results["layouts"]["resume"][f"{name}:straight"]
    resumed = results["layouts"]["resume"][resume]
    assert_same_training(straight, resumed)


def test_two_processes_train_one_run_together(results):
    first, second = results["processes"]
    assert first["process"] == [0, 2, 4, 2] and second["process"] == [1, 2, 4, 2]
    assert first["layout"] == {"strategy": "data_parallel", "devices": 2, "workers": 2, "worker": 0, "replicas": 4}
    assert second["layout"]["worker"] == 1
    for case in ("conditional", "batchnorm_generator"):  # labels split too; batch norm over both processes
        # Each process reads the whole replicated state after sync(), so any one of them can save it.
        assert first["cases"][case] == second["cases"][case]
        # Four replicas in two processes: the same run as four devices in one process, and as one device.
        assert_same_training(results["layouts"]["cases"][case]["dp4"], first["cases"][case], rtol=1e-6, atol=1e-7)
        assert_same_training(results["layouts"]["cases"][case]["one"], first["cases"][case])


def test_layouts_that_cannot_work_say_why(results):
    errors = results["layouts"]["errors"]
    assert errors["too_many_devices"]["message"] == "--devices 8: this process sees 4 cpu devices"
    assert "XLA_FLAGS=" in errors["too_many_devices"]["hint"]
    assert "--xla_force_host_platform_device_count=8 " in errors["too_many_devices"]["hint"]
    assert errors["tensorflow_strategy"]["message"] == "--strategy mirrored is a TensorFlow strategy"
    assert errors["batch_does_not_divide"]["message"].startswith("train.batch = 6 does not divide over 4 replicas")
    assert results["layouts"]["all_devices"]["devices"] == 4  # --devices all: every local device


def test_host_device_flags_replace_the_count_and_keep_other_flags():
    assert host_device_flags(4, "") == "XLA_FLAGS=--xla_force_host_platform_device_count=4"
    assert (host_device_flags(8, "--xla_cpu_foo=1 --xla_force_host_platform_device_count=2")
            == "XLA_FLAGS=--xla_cpu_foo=1 --xla_force_host_platform_device_count=8")
