"""Data-parallel training on TensorFlow: one global batch split over replicas trains as one device does.

The step runs in processes of their own (tests/train/distributed_tf_worker.py): TensorFlow splits the
CPU into logical devices only before it starts, and a multi-worker run needs processes that join
through TF_CONFIG. Three processes start together: one trains every case on one device and under
MirroredStrategy over 1, 2 and 4 logical CPU devices; two train a run together (MultiWorkerMirroredStrategy,
2 workers x 1 CPU device). The tests compare what they wrote.

Equal means equal up to the order of float sums (a gradient summed over two half-batches and then
across replicas): seen here, metrics within 1e-6 relative and weights within 5e-7 after three
iterations. Adam's first updates (about lr * sign(g)) can turn such last-bit differences into
differences of up to lr where a gradient is nearly zero, so the cases that also compare weights
closely train with SGD, and the tolerance leaves room for Adam's.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from ganspec.train.step_common import StepBase  # noqa: E402
from tests.conftest import free_ports  # noqa: E402
from tests.processes import Workers  # noqa: E402

WORKER = Path(__file__).with_name("distributed_tf_worker.py")
ROOT = WORKER.parents[2]
RTOL, ATOL = 1e-5, 2e-6


def _environment(**extra) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "TF_CONFIG"}
    # CPU only: the layouts compare logical CPU devices with the CPU itself, the same kernels.
    env.update(KERAS_BACKEND="tensorflow", CUDA_VISIBLE_DEVICES="-1", PYTHONPATH=str(ROOT),
               TF_CPP_MIN_LOG_LEVEL="2", **extra)
    return env


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    """{"layouts": ..., "workers": [worker 0's, worker 1's]}: all three processes run at once."""
    folder = tmp_path_factory.mktemp("distributed_tf")
    cluster = [f"127.0.0.1:{port}" for port in free_ports(2)]
    jobs = {"layouts": (["layouts"], _environment())}
    for index in range(2):
        config = {"cluster": {"worker": cluster}, "task": {"type": "worker", "index": index}}
        jobs[f"worker{index}"] = (["workers"], _environment(TF_CONFIG=json.dumps(config)))
    with Workers() as workers:  # all at once; no speed limit, and none left running however this ends
        for name, (args, env) in jobs.items():
            workers.start(name, [sys.executable, str(WORKER), *args, str(folder / f"{name}.json")], env=env,
                          cwd=ROOT)
        done = workers.wait()
    failures = []
    for name, (code, output) in done.items():
        if code:
            failures.append(f"{name} exited {code}:\n{output[-4000:]}")
    assert not failures, "\n\n".join(failures)
    read = {name: json.loads((folder / f"{name}.json").read_text()) for name in jobs}
    return {"layouts": read["layouts"], "workers": [read["worker0"], read["worker1"]]}


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


EXACT_CASES = ("wgan_gp", "hinge_sn_ema", "weight_clip", "label_tricks", "conditional", "infogan", "diffaugment",
               "simultaneous", "sync_batchnorm")


@pytest.mark.parametrize("case", EXACT_CASES)
def test_global_batch_over_replicas_trains_as_one_device(results, case):
    runs = results["layouts"]["cases"][case]
    one = runs["one"]
    assert one["metrics"][-1]["critic_loss"] != one["metrics"][0]["critic_loss"]  # it trained
    assert "m2" in runs
    for label, run in runs.items():
        if label != "one":
            assert run["strategy"] == "MirroredStrategy"
            assert run["layout"]["replicas"] == int(label[1:])
            assert_same_training(one, run)


def test_one_replica_under_a_strategy_is_the_single_device_step(results):
    runs = results["layouts"]["cases"]["wgan_gp"]
    assert runs["one"]["strategy"] == "none" and runs["m1"]["layout"]["replicas"] == 1
    assert_same_training(runs["one"], runs["m1"], rtol=1e-6, atol=1e-7)


def test_every_replica_holds_the_same_state(results):
    """Counters, RNG states, spectral-norm vectors, the EMA generator, batch-norm statistics (per-replica
    ones averaged), optimizer slots: each replica's copy is the same, so any one of them is the run's."""
    for name, runs in results["layouts"]["cases"].items():
        for label, run in runs.items():
            assert run["replicas_agree"], (name, label)
    for name, resumed in results["layouts"]["resume"].items():
        assert resumed.get("replicas_agree", True), name


@pytest.mark.parametrize("case", ["batchnorm", "dropout"])
def test_per_replica_batch_norm_and_dropout_train_but_differ(results, case):
    """Per-replica batch norm normalizes each replica's slice by its own statistics, and each replica draws
    its own dropout masks: such a run trains, but is not the one-device run."""
    runs = results["layouts"]["cases"][case]
    metrics = runs["m2"]["metrics"]
    assert all(np.isfinite(v) for step in metrics for v in step.values())
    assert metrics[-1]["critic_loss"] != metrics[0]["critic_loss"]
    assert metrics[0]["d_real"] != pytest.approx(runs["one"]["metrics"][0]["d_real"], rel=1e-3)


@pytest.mark.parametrize("resume", ["hinge_sn_ema:m2->one", "hinge_sn_ema:one->m2", "sync_batchnorm:m2->one"])
def test_a_checkpoint_from_one_layout_resumes_on_another(results, resume):
    """`ganspec.run.checkpoint` saves from mirrored variables and restores into any layout: three iterations
    on one layout, three more on another, equal the one-device run of six."""
    name = resume.split(":")[0]
    assert_same_training(results["layouts"]["resume"][f"{name}:straight"], results["layouts"]["resume"][resume])


def test_two_workers_train_one_run_together(results):
    first, second = results["workers"]
    assert first["layout"] == {"strategy": "multi_worker", "devices": 1, "workers": 2, "worker": 0, "replicas": 2}
    assert second["layout"]["worker"] == 1
    for case in ("wgan_gp", "sync_batchnorm"):
        assert first["cases"][case]["strategy"] == "MultiWorkerMirroredStrategy"
        assert first["cases"][case]["replicas"] == 2
        assert first["cases"][case] == second["cases"][case]  # either worker holds the run
        runs = results["layouts"]["cases"][case]
        assert_same_training(runs["m2"], first["cases"][case])  # two workers as two local devices
        assert_same_training(runs["one"], first["cases"][case])  # and as one device


def test_layouts_that_cannot_work_say_why(results):
    errors = results["layouts"]["errors"]
    assert errors["too_many_devices"]["message"] == "--devices 8: TensorFlow already runs on 4 CPU devices"
    assert "before TensorFlow runs anything" in errors["too_many_devices"]["hint"]
    assert errors["jax_strategy"]["message"] == "--strategy data_parallel is not a TensorFlow strategy"
    assert errors["batch_does_not_divide"]["message"].startswith("train.batch = 6 does not divide over 4 replicas")
    assert errors["xla"]["message"].startswith("train.xla cannot compile a mirrored step")
    assert results["layouts"]["all_devices"]["devices"] == 4  # --devices all: every logical device


class _Replica(StepBase):
    def __init__(self, replicas, index):
        self.replicas, self.index = replicas, index

    def _replica_id(self):
        return self.index


@pytest.mark.parametrize("symbolic", [False, True])
def test_each_replica_draws_its_rows_of_the_global_draw(symbolic):
    """`StepBase._draw`: replica r of R gets rows r*b..(r+1)*b of what one device draws for R*b samples, from
    the same seed state (also when the replica's index is only known when the step runs)."""
    def draw(n):
        seed = keras.random.SeedGenerator(5)
        return keras.random.normal((n, 3), seed=seed), (keras.random.uniform((n, 1, 2), seed=seed),)

    whole = draw(8)
    for index in range(4):
        replica = _Replica(4, keras.ops.convert_to_tensor(index) if symbolic else index)
        z, (u,) = replica._draw(draw, 2)
        assert tuple(z.shape) == (2, 3) and tuple(u.shape) == (2, 1, 2)
        np.testing.assert_array_equal(np.asarray(z), np.asarray(whole[0])[2 * index:2 * index + 2])
        np.testing.assert_array_equal(np.asarray(u), np.asarray(whole[1][0])[2 * index:2 * index + 2])
        tiled = np.asarray(replica._tiled(keras.ops.convert_to_tensor(np.arange(4.0).reshape(2, 2)), 8))
        np.testing.assert_array_equal(tiled[2 * index:2 * index + 2], np.arange(4.0).reshape(2, 2))
    one = _Replica(1, 0)
    np.testing.assert_array_equal(np.asarray(one._draw(draw, 8)[0]), np.asarray(whole[0]))
