"""Dependencies split by use: the core install is the language; training, TFDS data and plots are
extras, and a command that needs a missing one names it (E507, exit 2, no traceback)."""

from __future__ import annotations

import os
import subprocess
import sys
import venv

import pytest

from ganspec import exitcodes
from ganspec.backend import EXTRAS, MissingExtra, missing_modules, require
from tests.backends.conftest import ganspec
from tests.conftest import ROOT



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
    env_dir = tmp_path / "core"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    install = subprocess.run([str(python), "-m", "pip", "install", "-q", str(ROOT)], capture_output=True,
                             text=True, timeout=900)
    if install.returncode != 0:
        message = f"cannot install the core into a fresh venv (no package index?):\n{install.stderr[-2000:]}"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    frozen = subprocess.run([str(python), "-m", "pip", "list", "--format", "freeze"], capture_output=True, text=True)
    installed = {line.split("==")[0].lower().replace("_", "-") for line in frozen.stdout.split()}
    assert not installed & {"tensorflow", "tensorflow-cpu", "keras", "jax", "numpy", "matplotlib", "scipy"}
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "KERAS_BACKEND")}

    def core(*argv):
        return subprocess.run([str(env_dir / "bin" / "ganspec"), *argv], capture_output=True, text=True,
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
