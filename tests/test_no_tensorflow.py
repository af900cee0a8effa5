"""validate, diff, fmt, explain and schema never import TensorFlow, Keras or JAX."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import SPECS

PROBE = r"""
import sys, builtins
real_import = builtins.__import__
def guarded(name, *args, **kwargs):
    if name.split(".")[0] in ("tensorflow", "keras", "jax", "tensorflow_datasets", "torch"):
        raise AssertionError("imported " + name)
    return real_import(name, *args, **kwargs)
builtins.__import__ = guarded
from ganspec.cli import main
code = main(sys.argv[1:])
heavy = [m for m in sys.modules if m.split(".")[0] in ("tensorflow", "keras", "jax", "tensorflow_datasets")]
assert not heavy, heavy
print("EXIT", code)
"""


def probe(*argv) -> str:
    result = subprocess.run([sys.executable, "-c", PROBE, *argv], capture_output=True, text=True, timeout=120)
    assert "AssertionError" not in result.stderr, result.stderr
    assert "EXIT" in result.stdout, result.stdout + result.stderr
    return result.stdout


def test_commands_do_not_import_heavy_libraries(tmp_path):
    probe("validate", str(SPECS))
    probe("diff", str(SPECS / "wgan_gp.gan"), str(SPECS / "wgan.gan"))
    probe("explain", str(SPECS / "sngan.gan"))
    probe("explain", "--format", "json", str(SPECS / "toy" / "ring_pacgan2.gan"))
    probe("schema")
    copy = tmp_path / "x.gan"
    copy.write_text((SPECS / "dcgan.gan").read_text())
    probe("fmt", str(copy))
    probe("fmt", "--check", str(SPECS))
