#!/usr/bin/env bash
# Wheels that the GPU machine lacks (it has JAX with CUDA, PyTorch, h5py, rich, scipy, pillow,
# matplotlib, tensorboard and pytest, no TensorFlow, no network): Keras, Lark, pydantic and their
# needs, for its Python 3.12, into .whl/ (git-ignored). docs/gpu.md says how they are used.
set -euo pipefail
cd "$(dirname "$0")/.."
# .whl/ is in .gitignore
rm -rf .whl && mkdir .whl
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
  --platform manylinux2014_x86_64 -d .whl \
  $(python3 - <<'PY'
# The versions this checkout is tested with.
from importlib.metadata import version
names = ["keras", "lark", "pydantic", "pydantic-core", "annotated-types", "typing-inspection", "typing-extensions",
         "namex", "optree"]
print(" ".join(f"{n}=={version(n)}" for n in names))
PY
)
ls -la .whl
