"""Save and restore everything a run needs to continue exactly: model weights (Keras
`.weights.h5`), optimizer slots, EMA weights and RNG state (NumPy arrays), counters (JSON).

Backend-neutral: it reads and assigns Keras variables only.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np

from ganspec.run.rundir import MANIFEST, RunDir, atomic_write, file_digest


def _arrays(variables) -> list[np.ndarray]:
    return [np.asarray(v.numpy() if hasattr(v, "numpy") else v) for v in variables]


def save(run: RunDir, iteration: int, models: dict, variable_groups: dict[str, list], state: dict,
         keep: int) -> Path:
    """Write a checkpoint for `iteration` atomically; returns its folder. When writing fails (a full disk, no
    memory), its unfinished folder is deleted and the checkpoints already there stay as they were."""
    tmp = run.new_checkpoint_dir(iteration)
    try:
        for name, model in models.items():
            model.save_weights(str(tmp / f"{name}.weights.h5"))
        arrays = {}
        for group, variables in variable_groups.items():
            for i, value in enumerate(_arrays(variables)):
                arrays[f"{group}/{i:04d}"] = value
        np.savez(tmp / "variables.npz", **arrays)
        files = {f.name: {"bytes": f.stat().st_size, "sha256": file_digest(f)} for f in sorted(tmp.iterdir())}
        atomic_write(tmp / MANIFEST, json.dumps({"files": files}, indent=2) + "\n")
        # state.json last: a checkpoint without it is incomplete and is never used.
        atomic_write(tmp / "state.json", json.dumps({**state, "iteration": iteration}, indent=2) + "\n")
    except Exception:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return run.commit_checkpoint(tmp, iteration, keep)


def restore(folder: Path, models: dict, variable_groups: dict[str, list]) -> dict:
    """Load a checkpoint into built models and variables; returns its state dict."""
    for name, model in models.items():
        model.load_weights(str(folder / f"{name}.weights.h5"))
    with np.load(folder / "variables.npz") as data:
        for group, variables in variable_groups.items():
            keys = sorted(k for k in data.files if k.startswith(group + "/"))
            if len(keys) != len(variables):
                raise ValueError(f"checkpoint {folder.name}: {group} has {len(keys)} arrays, the run needs "
                                 f"{len(variables)}")
            for key, variable in zip(keys, variables):
                variable.assign(data[key])
    return json.loads((folder / "state.json").read_text())
