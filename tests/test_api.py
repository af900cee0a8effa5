"""The public Python API (ganspec.api, re-exported as `ganspec.*`): what a script or notebook does."""

from __future__ import annotations

import csv
import subprocess
import sys

import numpy as np
import pytest

import ganspec
from tests.conftest import ROOT, SPECS
from tests.run.test_run_command import TINY

RING = SPECS / "toy" / "ring_wgan_gp.gan"


def tiny(extra: str = "") -> str:
    return TINY % extra


# ---- specs (core install only) -------------------------------------------------------------


def test_load_spec_applies_overrides_written_as_python_values():
    experiment = ganspec.load_spec(RING, overrides={"train.batch": 32, "seed": 7,
                                                    "optimizer.critic": "adam(lr: 2e-4, beta1: 0.0, beta2: 0.9)"})
    assert experiment.name == "ring_wgan_gp"
    assert experiment.spec.train.batch == 32 and experiment.spec.seed == 7
    assert experiment.spec.optimizer.critic.lr == pytest.approx(2e-4)
    assert experiment.files[0].endswith("ring_wgan_gp.gan")
    again = experiment.with_overrides(["train.iterations=10"])
    assert (again.spec.train.iterations, again.spec.train.batch) == (10, 32)  # earlier overrides kept
    assert [e.path for e in experiment.diff(again)] == ["train.iterations"]


def test_a_bad_spec_raises_with_every_finding_and_its_place(tmp_path):
    path = tmp_path / "bad.gan"
    path.write_text(tiny().replace("objective wasserstein", "objective wasserstien"))
    with pytest.raises(ganspec.InvalidSpec) as caught:
        ganspec.load_spec(path)
    text = str(caught.value)
    assert f"{path}:" in text and "wasserstien" in text and "did you mean 'wasserstein'" in text
    assert all(d.severity.value == "error" for d in caught.value.diagnostics)
    with pytest.raises(ganspec.InvalidSpec, match="expected 'path=value'"):
        ganspec.load_spec(RING, overrides=["train.batch"])
    with pytest.raises(ganspec.InvalidSpec, match="no such spec file"):
        ganspec.load_spec(tmp_path / "missing.gan")


def test_parse_spec_and_explain():
    experiment = ganspec.parse_spec(tiny(), overrides={"latent": "normal(6)"})
    assert experiment.files is None and experiment.spec.latent.dim == 6
    tables = experiment.explain()
    generator = next(t for t in tables if t["role"] == "generator")
    assert generator["trainable"] == (6 * 32 + 32) + (32 * 32 + 32) + (32 * 2 + 2)


def test_validate_the_catalogue_and_a_broken_file(tmp_path):
    catalogue = ganspec.validate(SPECS)
    assert catalogue.ok and len(catalogue.files) == len(list(SPECS.rglob("*.gan")))
    (tmp_path / "good.gan").write_text(tiny())
    (tmp_path / "bad.gan").write_text(tiny().replace("batch 64", "batch -64"))
    found = ganspec.validate(tmp_path)
    assert not found.ok and [d.code for d in found.errors] and set(found.files) == {
        str(tmp_path / "bad.gan"), str(tmp_path / "good.gan")}
    assert "2 file(s) checked: 1 error(s)" in str(found)
    assert not ganspec.validate(tmp_path / "empty-folder-that-does-not-exist").ok


def test_the_api_needs_no_training_library_until_it_trains():
    """`import ganspec` and the spec half of the API import neither Keras nor a backend."""
    code = ("import sys, ganspec; e = ganspec.load_spec(%r); ganspec.validate(%r); e.explain(); "
            "heavy = [m for m in ('keras', 'tensorflow', 'jax', 'numpy') if m in sys.modules]; "
            "print(heavy); sys.exit(1 if heavy else 0)") % (str(RING), str(SPECS / "toy"))
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr


# ---- training, sampling, evaluating --------------------------------------------------------


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One short WGAN-GP run on the ring, with a Keras CSVLogger attached."""
    import keras

    out = tmp_path_factory.mktemp("api")
    log = out / "log.csv"
    experiment = ganspec.parse_spec(tiny(), overrides={"train.iterations": 300, "evaluate.every": 150})
    run = ganspec.fit(experiment, out=out / "runs", display="none", callbacks=[keras.callbacks.CSVLogger(str(log))])
    return run, log


def test_fit_trains_and_learns(trained):
    run, _ = trained
    assert run.status == "finished" and run.iteration == 300
    first, last = run.evaluations[0], run.evaluations[-1]
    assert [e["iteration"] for e in run.evaluations] == [0, 150, 300]
    # Learning happened: the sample distribution moved towards the data.
    assert last["wasserstein_distance"] < 0.75 * first["wasserstein_distance"]
    assert last["modes_covered"] >= 6 > first["modes_covered"]
    assert len(run.history) == 30 and {"critic_loss", "generator_loss"} <= set(run.history[-1])
    assert run.summary["iterations"] == 300
    assert (run.path / "spec.gan").read_text() == tiny()  # a spec given as text is kept as text


def test_keras_callbacks_work_as_they_are(trained):
    _, log = trained
    rows = list(csv.DictReader(log.open()))
    assert rows and {"critic_loss", "generator_loss"} <= set(rows[0])
    assert all(np.isfinite(float(r["critic_loss"])) for r in rows)


def test_open_run_samples_and_evaluates(trained):
    run, _ = trained
    again = ganspec.open_run(run.path)
    assert again.status == "finished" and again.checkpoints == run.checkpoints
    a, b = again.sample(100, seed=5), again.sample(100, seed=5)
    assert a.shape == (100, 2) and np.array_equal(a, b)
    assert not np.array_equal(a, again.sample(100, seed=6))
    # Samples lie near the ring of radius 1, not at the untrained generator's origin cloud.
    assert abs(np.median(np.linalg.norm(a, axis=1)) - 1.0) < 0.3
    picture = again.sample_grid(200)
    assert picture.size == (400, 400)
    scores = again.evaluate(["wasserstein_distance(300)"])
    assert {k.split("_real")[0].split("_noise")[0] for k in scores} == {"wasserstein_distance"}
    assert scores["wasserstein_distance"] == pytest.approx(run.evaluations[-1]["wasserstein_distance"], rel=0.5)
    assert (run.path / "eval-00000300.json").exists()
    with pytest.raises(ganspec.InvalidSpec, match="E503"):
        again.sample(4, checkpoint="ckpt-99999999")
    with pytest.raises(ganspec.InvalidSpec, match="not a ganspec run directory"):
        ganspec.open_run(run.path / "samples")


def test_resume_continues_and_compare_sees_both(trained, tmp_path):
    run, _ = trained
    other = ganspec.fit(ganspec.parse_spec(tiny(), overrides={"train.iterations": 150, "evaluate.every": 150,
                                                               "seed": 4}),
                        out=tmp_path, display="none")
    assert other.iteration == 150
    resumed = other.resume(iterations=300, display="none")
    assert resumed.status == "finished" and resumed.iteration == 300
    assert [e["iteration"] for e in resumed.evaluations] == [0, 150, 300]
    table = ganspec.compare([run, resumed.path])
    assert len(table["runs"]) == 2 and [e.path for e in table["diffs"][table["runs"][1]]] == ["seed"]
    assert set(table["last"][table["runs"][0]]) >= {"wasserstein_distance", "iteration"}
