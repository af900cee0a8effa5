"""What the resolution tests share: a small valid spec and helpers."""

from __future__ import annotations

from pathlib import Path

BASE = """
let hidden = 64
experiment base {
  description "base"
  data { source ring(8, 1.0, 0.01) shuffle 100 }
  latent normal(2)
  generator { dense(hidden) relu dense(2) }
  critic { dense(hidden) relu dense(1) }
  objective wasserstein
  constraint weight_clip(0.01)
  optimizer.critic rmsprop(lr: 5e-5)
  train { batch 128 iterations 100 }
}
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def codes(resolved):
    return [d.code for d in resolved.diagnostics]


def with_setting(text: str) -> str:
    """BASE with one more line inside the experiment block."""
    return BASE.rstrip().removesuffix("}") + "  " + text + "\n}\n"
