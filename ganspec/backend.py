"""Which Keras backend a command runs on, and the process environment the backends start in.

Precedence: `--backend` on the command line, then the `KERAS_BACKEND` environment variable
(when it names a backend ganspec trains on), then the spec's `train.backend` (default
tensorflow). Keras fixes its backend when it is first imported, so `activate` must run before
anything imports Keras; in a process where Keras already runs on another backend it refuses
with a clear message. Importing this module imports neither Keras nor a backend.

The environment variables the backends read when they are first imported are decided here
only: `prepare_environment` (called when `ganspec` is imported) and `claim_backend`.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys

from ganspec.diagnostics import SpecError, error

BACKENDS = ("tensorflow", "jax")
# The modules each optional part of ganspec imports, by the extra (pyproject.toml) that installs them.
EXTRAS = {
    "tensorflow": ("tensorflow", "keras", "numpy", "PIL", "scipy", "tensorboard", "filelock"),
    "jax": ("jax", "keras", "numpy", "PIL", "scipy", "tensorboard", "filelock"),
    "tfds": ("tensorflow", "tensorflow_datasets"),
    "plots": ("matplotlib",),
    "tracking": ("mlflow", "wandb"),  # --track mlflow / wandb (each checked alone: ganspec.run.tracking)
    "export": ("onnx", "onnxruntime", "tf2onnx"),  # ONNX files (ganspec export); tf2onnx for TensorFlow
    "sweep": ("ray",),  # ganspec sweep --executor ray
}
INSTALL_HINTS = {
    "tensorflow": "install the extra: `pip install 'ganspec[tensorflow]'` (NVIDIA GPU: 'ganspec[tensorflow-cuda]')",
    "jax": "install the extra: `pip install 'ganspec[jax]'` (CPU) or `pip install 'ganspec[jax-cuda]'` (NVIDIA GPU)",
    "tfds": "install the extra: `pip install 'ganspec[tfds]'`, or export the data once to .npz, IDX files or an "
            "image folder, which load without TensorFlow",
    "plots": "install the extra: `pip install 'ganspec[plots]'`",
    "tracking": "install the extra: `pip install 'ganspec[tracking]'` (MLflow's client and W&B)",
    "export": "install the extra: `pip install 'ganspec[export]'`",
    "sweep": "install the extra: `pip install 'ganspec[sweep]'` (Ray)",
}
STEP_MODULES = {"tensorflow": "ganspec.train.tf_step", "jax": "ganspec.train.jax_step"}

# TensorFlow's C++ INFO lines (oneDNN notices) would drown the run display; a user's own
# setting wins.
TF_CPP_MIN_LOG_LEVEL = "2"


class BackendError(SpecError):
    """The backend a command asked for cannot run in this process (E501)."""

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(error("E501", message, hint=hint))


class MissingExtra(SpecError):
    """What a command needs is not installed: the extra that installs it (E507)."""

    def __init__(self, extra: str, purpose: str, missing: list[str]):
        self.extra = extra
        names = ", ".join("pillow" if m == "PIL" else m for m in missing)
        super().__init__(error("E507", f"{purpose} needs {names}, which this installation lacks",
                               hint=INSTALL_HINTS[extra]))


def missing_modules(extra: str) -> list[str]:
    """The modules of an extra that cannot be imported here (looked up, not imported)."""
    return [name for name in EXTRAS[extra] if not installed(name)]


def installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a finder that refuses it, or a half-imported module
        return False


def require(extra: str, purpose: str) -> None:
    """Raise MissingExtra when part of `extra` is not installed."""
    missing = missing_modules(extra)
    if missing:
        raise MissingExtra(extra, purpose, missing)


def prepare_environment() -> None:
    """Set what every backend reads at import and ganspec wants in any process: quiet C++ logs."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", TF_CPP_MIN_LOG_LEVEL)


def claim_backend(name: str) -> None:
    """Set `KERAS_BACKEND` to `name` before Keras is imported; ImportError when it names another
    (a module written for one backend imported in a process meant for the other)."""
    chosen = os.environ.get("KERAS_BACKEND", name)
    if chosen != name:
        raise ImportError(f"this module needs KERAS_BACKEND={name} before Keras is imported, not {chosen}")
    os.environ["KERAS_BACKEND"] = name


def choose(spec_backend: str, flag: str | None = None) -> tuple[str, str]:
    """(backend, where the choice came from) for a run."""
    if flag:
        return flag, "--backend"
    env = os.environ.get("KERAS_BACKEND")
    if env in BACKENDS:
        return env, "KERAS_BACKEND"
    return spec_backend, "the spec"


def activate_for_spec(spec, flag: str | None = None):
    """Activate the backend a run of `spec` uses (`choose`): (the spec with `train.backend` set to it,
    a note saying where the choice came from when it differs from the spec's, else None). Raises
    BackendError or MissingExtra (SpecErrors) when that backend cannot run here."""
    name, source = choose(spec.train.backend, flag)
    activate(name)
    if name == spec.train.backend:
        return spec, None
    note = f"backend: {name} (from {source}; the spec says {spec.train.backend})"
    return spec.model_copy(update={"train": spec.train.model_copy(update={"backend": name})}), note


class LayoutRefused(SpecError):
    """A device layout that cannot train this spec here (E511)."""

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(error("E511", message, hint=hint))


def plan_layout(spec, flag: str | None = None, strategy: str = "auto", devices=None):
    """The device layout (`ganspec.train.layout.Layout`) a run of `spec` asks for with `--strategy` and
    `--devices` on the backend `choose` picks, its global batch checked against the replica count. Call it
    before `activate`: on JAX it sets the host-device count XLA reads at import, so that a CPU-only machine
    shows `--devices N` devices (harmless where accelerators exist). Raises LayoutRefused."""
    from ganspec.train.layout import LayoutError, resolve

    name, _ = choose(spec.train.backend, flag)
    try:
        layout = resolve(name, strategy, devices)
        if layout.devices:  # `all` is counted, and the batch checked, when the backend is up
            layout.per_replica_batch(spec.train.batch)
    except LayoutError as exc:
        raise LayoutRefused(exc.message, exc.hint) from None
    if name == "jax" and layout.devices > 1 and "jax" not in sys.modules:
        flags = os.environ.get("XLA_FLAGS", "")
        if "xla_force_host_platform_device_count" not in flags:
            os.environ["XLA_FLAGS"] = f"{flags} --xla_force_host_platform_device_count={layout.devices}".strip()
    return layout


def current() -> str | None:
    """The backend Keras runs on in this process, or None when Keras is not imported yet."""
    if "keras" not in sys.modules:
        return None
    return sys.modules["keras"].backend.backend()


def activate(name: str) -> None:
    """Make Keras run on `name` in this process (quietly importing the backend)."""
    if name not in BACKENDS:
        raise BackendError(f"unknown backend {name!r}", f"choose one of: {', '.join(BACKENDS)}")
    running = current()
    if running is not None and running != name:
        raise BackendError(f"this process already runs Keras on {running}, not {name}",
                           "start a new process (Keras fixes its backend when it is first imported)")
    require(name, f"training on the {name} backend")
    os.environ["KERAS_BACKEND"] = name
    if name == "tensorflow":
        import_tensorflow()
    import keras  # noqa: F401  (fixes the backend now)
    if name == "jax":
        _keras_without_tensorflow()


def _keras_without_tensorflow() -> None:
    """Stop Keras on JAX from importing TensorFlow just to ask whether it could.

    Keras serializes a model (`model.save(...keras)`) through `serialization_lib`, which tests
    `tf.available and isinstance(obj, tf.TensorShape)`; `tf` is a lazy module whose `available`
    imports TensorFlow when it is installed. In a JAX run that costs seconds, hundreds of MB and
    C++ log lines, for an answer that can only be no: a process that has not imported TensorFlow
    holds no TensorFlow object. So, unless TensorFlow is already imported, the lazy module is told
    it is absent, and a JAX run behaves as it does where `pip install 'ganspec[jax]'` brought no
    TensorFlow (tests/test_no_tensorflow.py). Code that imports TensorFlow itself (tfds sources)
    still can; Keras only stops looking for TensorFlow types when it serializes.
    """
    if "tensorflow" in sys.modules:
        return
    from keras.src.utils import module_utils

    lazy = getattr(module_utils, "tensorflow", None)
    if lazy is not None and hasattr(lazy, "_available"):  # a Keras without it just imports TensorFlow
        lazy._available = False


def import_tensorflow():
    """`import tensorflow` without the C++ start-up notices that TF_CPP_MIN_LOG_LEVEL cannot
    silence: file descriptor 2 goes to /dev/null for the duration."""
    if "tensorflow" in sys.modules:
        return sys.modules["tensorflow"]
    prepare_environment()
    try:
        fd = sys.stderr.fileno()
    except (AttributeError, ValueError, OSError):  # stderr replaced (e.g. captured by a test runner)
        import tensorflow

        return tensorflow
    saved = os.dup(fd)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        sys.stderr.flush()
        os.dup2(devnull, fd)
        import tensorflow
    finally:
        os.dup2(saved, fd)
        os.close(saved)
        os.close(devnull)
    return tensorflow


def step_module(name: str | None = None):
    """The training-step module of a backend (the current one by default)."""
    return importlib.import_module(STEP_MODULES[name or current() or "tensorflow"])
