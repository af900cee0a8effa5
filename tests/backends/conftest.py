"""Backend tests run each backend in its own process: Keras fixes its backend on first import."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.processes import SAFETY_NET_S

ROOT = Path(__file__).resolve().parents[2]

# A meta-path finder that makes TensorFlow look uninstalled (what `pip install 'ganspec[jax]'`
# on a machine without TensorFlow gives), then runs the CLI.
NO_TENSORFLOW = r"""
import sys
class NoTensorFlow:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("tensorflow", "tensorflow_datasets"):
            raise ModuleNotFoundError("No module named " + repr(name))
sys.meta_path.insert(0, NoTensorFlow())
from ganspec.cli import main
code = main(sys.argv[1:])
assert not [m for m in sys.modules if m.split(".")[0] == "tensorflow"], "tensorflow was imported"
sys.exit(code)
"""


def require_jax() -> None:
    """JAX is a test dependency: missing, it fails under CI=true and skips elsewhere."""
    if importlib.util.find_spec("jax") is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("JAX is not installed; `pip install -e '.[test]'` installs it")
        pytest.skip("JAX is not installed (pip install 'ganspec[jax]')")


def require_tensorflow() -> None:
    """TensorFlow is a dependency: missing (a GPU machine with JAX alone), it fails under CI=true and
    skips elsewhere, so the JAX tests still run there."""
    if importlib.util.find_spec("tensorflow") is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("TensorFlow is not installed")
        pytest.skip("TensorFlow is not installed")


def environment(backend: str | None) -> dict:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": str(ROOT)}
    env.pop("KERAS_BACKEND", None)
    if backend:
        env["KERAS_BACKEND"] = backend
    return env


def ganspec(*argv, backend: str | None = None, without_tensorflow: bool = False,
            timeout: float = SAFETY_NET_S) -> subprocess.CompletedProcess:
    """`ganspec ARGV...` in a new process (optionally with TensorFlow made unimportable). The timeout is a
    safety net, not a speed limit; `subprocess.run` kills and reaps the process when it strikes."""
    command = [sys.executable, "-c", NO_TENSORFLOW] if without_tensorflow else [sys.executable, "-m", "ganspec"]
    return subprocess.run([*command, *map(str, argv)], capture_output=True, text=True, timeout=timeout,
                          env=environment(backend), cwd=ROOT)
