"""Dependencies split by use: the core install is the language; training, TFDS data and plots are
extras, and a command that needs a missing one names it (E507, exit 2, no traceback)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import venv

import pytest

from ganspec import exitcodes
from ganspec.backend import EXTRAS, MissingExtra, missing_modules, require
from tests.backends.conftest import ganspec
from tests.conftest import ROOT

TENSORFLOW_PACKAGES = {"tensorflow", "tensorflow-cpu", "tensorflow-intel", "tensorflow-datasets", "tf-keras"}


def fresh_venv(tmp_path, name: str, requirement: str):
    """The bin folder of a new venv under tmp_path after `pip install REQUIREMENT` (wheels from the package
    index pip is configured with); a failed install fails the test under CI and skips it elsewhere."""
    env_dir = tmp_path / name
    venv.create(env_dir, with_pip=True)
    bin_dir = env_dir / "bin"
    install = subprocess.run([str(bin_dir / "python"), "-m", "pip", "install", "-q", requirement],
                             capture_output=True, text=True, timeout=900)
    if install.returncode != 0:
        message = f"cannot install {requirement} into a fresh venv (no package index?):\n{install.stderr[-2000:]}"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return bin_dir


def installed_packages(bin_dir) -> set[str]:
    """The distributions a venv holds, by normalized name."""
    frozen = subprocess.run([str(bin_dir / "python"), "-m", "pip", "list", "--format", "freeze"],
                            capture_output=True, text=True)
    return {line.split("==")[0].lower().replace("_", "-") for line in frozen.stdout.split()}


def venv_environment() -> dict:
    """This process's environment without what would point a venv's ganspec at the checkout or a backend."""
    return {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "KERAS_BACKEND")}



def test_every_extra_is_in_pyproject():
    import tomllib

    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert set(EXTRAS) <= set(extras)
    assert {"tensorflow", "jax", "jax-cuda", "tfds", "plots", "tracking", "all", "test"} <= set(extras)
    core = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    assert sorted(d.split(">")[0] for d in core) == ["lark", "pydantic", "rich"]


def test_a_missing_extra_names_what_to_install(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "matplotlib" else real(name, *a))
    assert missing_modules("plots") == ["matplotlib"]
    with pytest.raises(MissingExtra) as caught:
        require("plots", "drawing the metric curves")
    (diag,) = caught.value.diagnostics
    assert (diag.code, diag.name) == ("E507", "extra-not-installed")
    assert "matplotlib" in diag.message and "pip install 'ganspec[plots]'" in diag.hint


def test_training_without_tensorflow_says_which_extra():
    result = ganspec("run", "specs/toy/ring_wgan_gp.gan", "--plain", "--iterations", "1", backend="tensorflow",
                     without_tensorflow=True)
    assert result.returncode == exitcodes.INVALID, result.stdout + result.stderr
    assert "E507" in result.stdout + result.stderr
    assert "ganspec[tensorflow]" in result.stdout + result.stderr
    assert "Traceback" not in result.stderr


def test_a_closed_pipe_ends_quietly():
    result = subprocess.run(f"{sys.executable} -m ganspec schema | head -c 1", shell=True, cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.stdout == "{"
    assert "internal error" not in result.stderr and "Traceback" not in result.stderr


@pytest.mark.slow
def test_the_core_install_alone_runs_the_language(tmp_path):
    """A fresh venv with only `pip install ganspec` (lark, pydantic, rich) validates, formats, explains and
    diffs the catalogue, and `run` asks for the tensorflow extra."""
    bin_dir = fresh_venv(tmp_path, "core", str(ROOT))
    assert not installed_packages(bin_dir) & {"tensorflow", "tensorflow-cpu", "keras", "jax", "numpy",
                                              "matplotlib", "scipy"}
    env = venv_environment()

    def core(*argv):
        return subprocess.run([str(bin_dir / "ganspec"), *argv], capture_output=True, text=True,
                              cwd=tmp_path, env=env, timeout=300)

    specs = ROOT / "specs"
    validate = core("validate", str(specs))
    assert validate.returncode == exitcodes.OK, validate.stdout + validate.stderr
    assert "0 invalid" in validate.stdout
    assert core("fmt", "--check", str(specs)).returncode == exitcodes.OK
    explain = core("explain", str(specs / "zoo" / "studiogan_sngan_cifar10.gan"))
    assert explain.returncode == exitcodes.OK and "4,304,387" in explain.stdout
    assert core("diff", str(specs / "sngan.gan"), str(specs / "split.gan")).returncode == exitcodes.DIFFERENT
    assert core("schema").returncode == exitcodes.OK
    run = core("run", str(specs / "toy" / "ring_wgan_gp.gan"))
    assert run.returncode == exitcodes.INVALID
    assert "E507" in run.stdout + run.stderr and "ganspec[tensorflow]" in run.stdout + run.stderr


@pytest.mark.slow
def test_the_jax_install_trains_without_tensorflow(tmp_path):
    """A fresh venv with `pip install 'ganspec[jax]'` holds no TensorFlow, and there `ganspec run --backend jax`
    trains the ring spec: its evaluations, checkpoint, saved models, samples and event file, then `sample`
    reads the run back (issue 11). tests/test_no_tensorflow.py checks the same run never imports TensorFlow
    where it is installed."""
    bin_dir = fresh_venv(tmp_path, "jax", f"{ROOT}[jax]")
    installed = installed_packages(bin_dir)
    assert not installed & TENSORFLOW_PACKAGES, sorted(installed & TENSORFLOW_PACKAGES)
    assert {"jax", "jaxlib", "keras", "tensorboard"} <= installed
    env = venv_environment()

    def venv_run(*argv):
        return subprocess.run([str(bin_dir / "ganspec"), *map(str, argv)], capture_output=True, text=True,
                              cwd=tmp_path, env=env, timeout=600)

    find_tensorflow = "import importlib.util; print(importlib.util.find_spec('tensorflow'))"
    where = subprocess.run([str(bin_dir / "python"), "-c", find_tensorflow], capture_output=True, text=True,
                           cwd=tmp_path, env=env)
    assert where.stdout.strip() == "None", where.stdout + where.stderr

    trained = venv_run("run", ROOT / "specs" / "toy" / "ring_wgan_gp.gan", "--backend", "jax", "--plain",
                       "--iterations", 30, "--out", tmp_path / "runs")
    assert trained.returncode == exitcodes.OK, trained.stdout[-3000:] + trained.stderr[-3000:]
    assert "backend: jax (from --backend" in trained.stdout
    (run,) = (tmp_path / "runs").iterdir()
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    evaluated = [r["iteration"] for r in records if "modes_covered" in r.get("evaluation", {})]
    assert evaluated == [0, 30], records[-2:]
    for name in ("checkpoints/ckpt-00000030/generator.weights.h5", "checkpoints/ckpt-00000030/state.json",
                 "models/generator.keras", "models/critic.keras", "samples/latest.png", "summary.json"):
        assert (run / name).exists(), name
    assert list((run / "tensorboard").iterdir())

    sampled = venv_run("sample", run, "--backend", "jax", "-n", 16, "-o", tmp_path / "sampled.png")
    assert sampled.returncode == exitcodes.OK, sampled.stdout[-3000:] + sampled.stderr[-3000:]
    assert (tmp_path / "sampled.png").stat().st_size > 0
