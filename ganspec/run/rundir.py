"""A run directory: the spec, the resolved spec, metrics, images and rotating checkpoints.

    runs/ring_wgan_gp-20261123-101500/
      spec.gan            the spec text as written (and every file it extends, under spec/)
      resolved.json       the fully resolved spec
      metrics.jsonl       one JSON object per logged iteration or evaluation
      samples/            sample grids (fixed latent batch) at each evaluation
      tensorboard/        event files
      checkpoints/ckpt-00000500/ ... and `latest`
      models/             final generator.keras / critic.keras (and generator_ema.keras)
      summary.json        the final summary

Checkpoints are written to a temporary folder and renamed into place, so a crash
while saving never leaves a half-written checkpoint as the latest one.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

from ganspec.ir.spec import Spec

BOOKKEEPING = {
    ("train", "iterations"), ("train", "checkpoint_every"), ("train", "keep_checkpoints"), ("train", "log_every"),
    ("evaluate", "every"), ("description",), ("tags",),
    # Checkpoints are portable between backends: a run started on one resumes on the other.
    ("train", "backend"),
}


class RunDir:
    def __init__(self, path: str | Path):
        self.path = Path(path)

    # creation ------------------------------------------------------------------------------
    @classmethod
    def create(cls, spec: Spec, files: list[str] | None, out: str | Path | None, spec_dir=None,
               text: str | None = None) -> "RunDir":
        """A new run folder under `out` (default ./runs), named after the spec and the time. The spec
        is copied from its `files` (the main one first, then those it extends), or written from `text`
        when it was given as text; `spec_dir` is where its relative data paths start."""
        base = Path(out) if out is not None else Path("runs")
        stamp = time.strftime("%Y%m%d-%H%M%S")
        path = base / f"{spec.name}-{stamp}"
        n = 1
        while path.exists():
            n += 1
            path = base / f"{spec.name}-{stamp}-{n}"
        path.mkdir(parents=True)
        run = cls(path)
        if files:
            shutil.copyfile(Path(files[0]), path / "spec.gan")
        else:
            (path / "spec.gan").write_text(text or "", encoding="utf-8")
        if files and len(files) > 1:
            (path / "spec").mkdir()
            for f in files[1:]:
                shutil.copyfile(f, path / "spec" / Path(f).name)
        if spec_dir is not None:
            (path / "spec_dir").write_text(str(Path(spec_dir).resolve()) + "\n")
        run.write_json("resolved.json", spec.model_dump(mode="json"))
        for sub in ("samples", "checkpoints", "models"):
            (path / sub).mkdir()
        return run

    @property
    def spec_dir(self) -> Path:
        """The folder the run's spec was read from: its relative data paths start there."""
        pointer = self.path / "spec_dir"
        return Path(pointer.read_text().strip()) if pointer.exists() else self.path

    def write_json(self, name: str, data) -> None:
        atomic_write(self.path / name, json.dumps(data, indent=2) + "\n")

    def resolved_spec(self) -> Spec:
        return Spec.model_validate_json((self.path / "resolved.json").read_text())

    # metrics -------------------------------------------------------------------------------
    def log(self, record: dict) -> None:
        with open(self.path / "metrics.jsonl", "a", encoding="utf-8") as fh:
            fh.write(json.dumps(record) + "\n")

    def read_metrics(self) -> list[dict]:
        path = self.path / "metrics.jsonl"
        if not path.exists():
            return []
        out = []
        for line in path.read_text().splitlines():
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                break  # a line cut by a crash ends the usable log
        return out

    def truncate_metrics(self, iteration: int) -> None:
        """Drop records after `iteration` (they belong to work lost since the checkpoint)."""
        kept = [r for r in self.read_metrics() if r.get("iteration", 0) <= iteration]
        atomic_write(self.path / "metrics.jsonl", "".join(json.dumps(r) + "\n" for r in kept))

    # checkpoints ---------------------------------------------------------------------------
    @property
    def checkpoints(self) -> Path:
        return self.path / "checkpoints"

    def new_checkpoint_dir(self, iteration: int) -> Path:
        tmp = self.checkpoints / f".tmp-{iteration:08d}-{os.getpid()}"
        if tmp.exists():
            shutil.rmtree(tmp)
        tmp.mkdir(parents=True)
        return tmp

    def commit_checkpoint(self, tmp: Path, iteration: int, keep: int) -> Path:
        """Rename a fully written checkpoint into place, point `latest` at it, rotate old ones."""
        final = self.checkpoints / f"ckpt-{iteration:08d}"
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
        atomic_write(self.checkpoints / "latest", final.name + "\n")
        for old in self.list_checkpoints()[:-keep]:
            shutil.rmtree(old, ignore_errors=True)
        return final

    def checkpoint(self, name: str | None = None) -> Path:
        """The checkpoint folder called `name`, or the latest one; SpecError (E503) when there is none."""
        from ganspec.diagnostics import SpecError, error

        folder = self.checkpoints / name if name else self.latest_checkpoint()
        if folder is None or not (folder / "state.json").exists():
            choices = ", ".join(p.name for p in self.list_checkpoints()) or "none yet"
            raise SpecError(error("E503", f"no such checkpoint in {self.path} (checkpoints: {choices})"))
        return folder

    def load_generator(self, spec: Spec, name: str | None = None, ema: bool = True):
        """(generator with a checkpoint's weights, which weights, iteration): the EMA generator when the
        run kept one and `ema`, else the trained one. The backend must be active (ganspec.backend)."""
        from ganspec.networks import build_generator

        folder = self.checkpoint(name)
        generator = build_generator(spec)
        which = "generator_ema" if ema and (folder / "generator_ema.weights.h5").exists() else "generator"
        generator.load_weights(str(folder / f"{which}.weights.h5"))
        return generator, which, json.loads((folder / "state.json").read_text())["iteration"]

    def list_checkpoints(self) -> list[Path]:
        return sorted(p for p in self.checkpoints.glob("ckpt-*") if p.is_dir())

    def latest_checkpoint(self) -> Path | None:
        pointer = self.checkpoints / "latest"
        if pointer.exists():
            candidate = self.checkpoints / pointer.read_text().strip()
            if (candidate / "state.json").exists():
                return candidate
        complete = [p for p in self.list_checkpoints() if (p / "state.json").exists()]
        return complete[-1] if complete else None


def atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def bookkeeping_only(edits) -> bool:
    """True when every difference between two specs leaves the trained model's path unchanged."""
    for edit in edits:
        head = tuple(edit.path.split(".")[:2])
        if head not in BOOKKEEPING and head[:1] not in BOOKKEEPING:
            return False
    return True
