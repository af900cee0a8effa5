"""validate, diff, fmt, explain and schema never import TensorFlow, Keras or JAX; run, sample and eval on JAX
never import TensorFlow, even where it is installed."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.backends.conftest import environment, require_jax
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


# Runs, samples and evaluates the ring spec on JAX in one process where TensorFlow may be installed and
# importable, and fails naming where TensorFlow was first looked for if it ended up imported (Keras' model
# saving did: ganspec.backend._keras_without_tensorflow).
JAX_PROBE = r"""
import sys, traceback
from pathlib import Path
first_lookup = []
class Watch:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "tensorflow" and not first_lookup:
            first_lookup.append("".join(traceback.format_stack(limit=25)))
        return None  # the import goes on: this only records where it came from
sys.meta_path.insert(0, Watch())
from ganspec.cli import main
spec, out = sys.argv[1], Path(sys.argv[2])
codes = [main(["run", spec, "--plain", "--iterations", "3", "--out", str(out / "runs")])]
(run,) = (out / "runs").iterdir()
codes.append(main(["sample", str(run), "-n", "16", "-o", str(out / "sampled.png")]))
codes.append(main(["eval", str(run), "--samples", "500"]))
print("EXIT", codes)
imported = sorted(m for m in sys.modules if m.split(".")[0] in ("tensorflow", "tensorflow_datasets"))
if imported:
    sys.exit(f"{len(imported)} TensorFlow modules imported; first looked for at:\n" + "".join(first_lookup))
"""


def test_a_jax_run_never_imports_tensorflow(tmp_path):
    require_jax()
    result = subprocess.run([sys.executable, "-c", JAX_PROBE, str(SPECS / "toy" / "ring_wgan_gp.gan"), str(tmp_path)],
                            capture_output=True, text=True, timeout=600, env=environment("jax"),
                            cwd=os.path.dirname(SPECS))
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    assert "EXIT [0, 0, 0]" in result.stdout, result.stdout[-2000:] + result.stderr[-2000:]
    (run,) = (tmp_path / "runs").iterdir()
    for name in ("checkpoints/ckpt-00000003/state.json", "models/generator.keras", "samples/latest.png"):
        assert (run / name).exists(), name
    assert (tmp_path / "sampled.png").exists()
