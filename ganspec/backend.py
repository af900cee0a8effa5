"""Which Keras backend a command runs on, and switching to it before Keras is imported.

Precedence: `--backend` on the command line, then the `KERAS_BACKEND` environment variable
(when it names a backend ganspec trains on), then the spec's `train.backend` (default
tensorflow). Keras fixes its backend when it is first imported, so `activate` must run before
anything imports Keras; in a process where Keras already runs on another backend it refuses
with a clear message. Importing this module imports neither Keras nor a backend.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys

BACKENDS = ("tensorflow", "jax")
PACKAGES = {"tensorflow": "tensorflow", "jax": "jax"}
INSTALL_HINTS = {
    "tensorflow": "install it with `pip install ganspec` (TensorFlow is a default dependency)",
    "jax": "install it with `pip install 'ganspec[jax]'` (CPU) or `pip install 'ganspec[jax-cuda]'` (NVIDIA GPU)",
}
STEP_MODULES = {"tensorflow": "ganspec.train.tf_step", "jax": "ganspec.train.jax_step"}


class BackendError(Exception):
    def __init__(self, message: str, hint: str = ""):
        super().__init__(message)
        self.message = message
        self.hint = hint


def choose(spec_backend: str, flag: str | None = None) -> tuple[str, str]:
    """(backend, where the choice came from) for a run."""
    if flag:
        return flag, "--backend"
    env = os.environ.get("KERAS_BACKEND")
    if env in BACKENDS:
        return env, "KERAS_BACKEND"
    return spec_backend, "the spec"


def current() -> str | None:
    """The backend Keras runs on in this process, or None when Keras is not imported yet."""
    if "keras" not in sys.modules:
        return None
    return sys.modules["keras"].backend.backend()


def available(name: str) -> bool:
    return importlib.util.find_spec(PACKAGES[name]) is not None


def activate(name: str) -> None:
    """Make Keras run on `name` in this process (quietly importing the backend)."""
    if name not in BACKENDS:
        raise BackendError(f"unknown backend {name!r}", f"choose one of: {', '.join(BACKENDS)}")
    running = current()
    if running is not None and running != name:
        raise BackendError(f"this process already runs Keras on {running}, not {name}",
                           "start a new process (Keras fixes its backend when it is first imported)")
    if not available(name):
        raise BackendError(f"the {name} backend is not installed", INSTALL_HINTS[name])
    os.environ["KERAS_BACKEND"] = name
    if name == "tensorflow":
        from ganspec.run.quiet import import_tensorflow

        import_tensorflow()
    import keras  # noqa: F401  (fixes the backend now)


def step_module(name: str | None = None):
    """The training-step module of a backend (the current one by default)."""
    return importlib.import_module(STEP_MODULES[name or current() or "tensorflow"])
