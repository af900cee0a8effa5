"""TensorFlow and JAX steps compute the same iteration: with identical initial weights, real
batches and noise, one generator iteration (2 critic steps) gives the same losses and the same
updated weights on both, for every objective, constraint and trick (tests/backends/parity_worker.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from tests.backends.conftest import ROOT, environment, require_jax, require_tensorflow
from tests.backends.parity_worker import CASES
from tests.processes import Workers

WORKER = Path(__file__).with_name("parity_worker.py")
# Adam's first steps move a weight by about lr whatever its gradient's size, so a gradient that
# is zero up to rounding (the output bias of a relativistic critic cancels out) moves by up to lr
# on one backend and by a different amount on the other: weights agree within half the lr (2e-4).
WEIGHT_ATOL = 1e-4


# The JAX side compiles every case's step with XLA, about three times TensorFlow's work: its cases are
# split over two processes, so that the three keep two cores busy to the end. (Compiling at XLA's -O0
# would halve it again, but changes the last bits: a weight moved by Adam from a near-zero gradient then
# differs by more than the tolerance.)
JAX_PROCESSES = 2


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    require_jax()
    require_tensorflow()
    folder = tmp_path_factory.mktemp("parity")
    cases = sorted(CASES)
    workers_plan = [("tensorflow", "tensorflow", cases)]  # (worker, backend, its cases)
    workers_plan += [(f"jax{i}", "jax", cases[i::JAX_PROCESSES]) for i in range(JAX_PROCESSES)]
    with Workers() as workers:  # all at once; no speed limit, and none left running however this ends
        for name, backend, names in workers_plan:
            workers.start(name, [sys.executable, str(WORKER), str(folder / f"{name}.npz"), *names],
                          env=environment(backend), cwd=ROOT)
        done = workers.wait()
    failed = [f"{name} worker failed:\n{log[-4000:]}" for name, (code, log) in done.items() if code != 0]
    assert not failed, "\n\n".join(failed)
    results = {}
    for name, backend, _ in workers_plan:
        results.setdefault(backend, {}).update(np.load(folder / f"{name}.npz"))
    return results


@pytest.mark.parametrize("case", sorted(CASES))
def test_one_iteration_matches(results, case):
    tf, jax = results["tensorflow"], results["jax"]
    keys = sorted(k for k in tf if k.startswith(case + "/"))
    assert keys == sorted(k for k in jax if k.startswith(case + "/"))
    metrics = [k for k in keys if "/metric/" in k]
    assert {"critic_loss", "generator_loss", "d_real", "d_fake"} <= {k.rsplit("/", 1)[1] for k in metrics}
    for key in metrics:
        np.testing.assert_allclose(jax[key], tf[key], rtol=2e-4, atol=1e-5, err_msg=key)
    np.testing.assert_array_equal(jax[f"{case}/counters"], tf[f"{case}/counters"])
    moved = 0
    for key in keys:
        if "/metric/" in key or "/initial/" in key or key.endswith("/counters"):
            continue
        np.testing.assert_allclose(jax[key], tf[key], rtol=1e-4, atol=WEIGHT_ATOL, err_msg=key)
        group, index = key.split("/")[1:]
        if group in ("g", "c"):
            moved += np.abs(tf[key] - tf[f"{case}/initial/{group}/{index}"]).max() > 1e-5
    assert moved >= 4, "the iteration should have updated both networks"

