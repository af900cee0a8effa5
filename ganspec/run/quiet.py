"""Import TensorFlow without the C++ start-up notices that TF_CPP_MIN_LOG_LEVEL cannot silence."""

from __future__ import annotations

import os
import sys


def import_tensorflow():
    """`import tensorflow` with file descriptor 2 sent to /dev/null for the duration."""
    if "tensorflow" in sys.modules:
        return sys.modules["tensorflow"]
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
