"""ganspec: a declarative experiment engine for Generative Adversarial Networks."""

__version__ = "0.1.0"

import os as _os

# TensorFlow's C++ INFO lines (oneDNN notices) would drown the run display.
_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
