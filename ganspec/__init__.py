"""ganspec: a declarative experiment engine for Generative Adversarial Networks."""

__version__ = "0.1.0"

# Before any module of the package can import a backend: the environment they start in is
# decided in ganspec.backend.
from ganspec.backend import prepare_environment as _prepare_environment  # noqa: E402

_prepare_environment()
