"""ganspec: a declarative experiment engine for Generative Adversarial Networks."""

__version__ = "0.1.0"

# Before any module of the package can import a backend: the environment they start in is
# decided in ganspec.backend.
from ganspec.backend import prepare_environment as _prepare_environment  # noqa: E402

_prepare_environment()

# The Python API (ganspec.api), imported on first use so that `import ganspec` stays light.
_API = ("Experiment", "InvalidSpec", "Run", "Validation", "compare", "fit", "load_spec", "open_run", "parse_spec",
        "sweep", "validate")
_HOMES = {"sweep": "ganspec.sweeps"}  # where a name of the API lives, when not in ganspec.api


def __getattr__(name: str):
    if name in _API:
        import importlib

        return getattr(importlib.import_module(_HOMES.get(name, "ganspec.api")), name)
    raise AttributeError(f"module 'ganspec' has no attribute {name!r}")


def __dir__():
    return sorted([*globals(), *_API])
