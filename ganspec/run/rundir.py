"""A run directory: the spec, the resolved spec, metrics, images and rotating checkpoints.

    runs/ring_wgan_gp-20261123-101500/
      spec.gan            the spec text as written (and every file it extends, under spec/, each `extends`
                          pointing at its copy: the run directory's spec validates on its own)
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
import math
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
            for name, written in archived_spec_files(files).items():
                (path / name).parent.mkdir(exist_ok=True)
                (path / name).write_text(written, encoding="utf-8")
        else:
            (path / "spec.gan").write_text(text or "", encoding="utf-8")
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

    def lock(self):
        """Claim the run directory for this process (its `.lock` file, through `filelock`); SpecError (E512)
        when another process trains in it. Released when the process ends, however it ends."""
        from filelock import FileLock, Timeout

        from ganspec.diagnostics import SpecError, error

        if getattr(self, "_lock", None) is None:
            self._lock = FileLock(str(self.path / ".lock"))
        try:
            self._lock.acquire(timeout=0)
        except Timeout:
            raise SpecError(error("E512", f"another process is training in {self.path}",
                                  hint="wait for it to finish (or stop it), then resume; two runs writing one "
                                       "directory would mix their checkpoints and metrics")) from None
        return self._lock

    def unlock(self) -> None:
        if getattr(self, "_lock", None) is not None:
            self._lock.release(force=True)

    def write_json(self, name: str, data) -> None:
        atomic_write(self.path / name, json.dumps(data, indent=2) + "\n")

    def resolved_spec(self) -> Spec:
        return Spec.model_validate_json((self.path / "resolved.json").read_text())

    # metrics -------------------------------------------------------------------------------
    def record_layout(self, iteration: int, layout) -> None:
        """Bookkeeping in layout.json: the device layout (`ganspec.train.layout.Layout`) of every session of
        the run, from the iteration it started at. Not part of the spec: a run resumes on any layout."""
        path = self.path / "layout.json"
        sessions = json.loads(path.read_text())["sessions"] if path.exists() else []
        sessions = [s for s in sessions if s["iteration"] < iteration]  # a resumed session replaces later ones
        sessions.append({"iteration": iteration, **layout.to_json()})
        self.write_json("layout.json", {"current": layout.to_json(), "sessions": sessions})

    def log(self, record: dict) -> None:
        """Append a record to metrics.jsonl: standard JSON, a NaN or an infinity written as the string
        "NaN", "Infinity" or "-Infinity" (which `read_metrics` turns back into floats)."""
        with open(self.path / "metrics.jsonl", "a", encoding="utf-8") as fh:
            fh.write(json.dumps(_standard_json(record), allow_nan=False) + "\n")

    def read_metrics(self) -> list[dict]:
        """The records of metrics.jsonl. A line that is not a JSON object (a crash cut it, a disk or an editor
        damaged it) is skipped, never the lines after it; `bad_metric_lines` lists their numbers (1-based)."""
        records, self.bad_metric_lines = [], []
        for number, line in enumerate(self._metric_lines(), 1):
            record = _record(line)
            if record is None:
                self.bad_metric_lines.append(number)
            else:
                records.append(record)
        return records

    def _metric_lines(self) -> list[str]:
        path = self.path / "metrics.jsonl"
        if not path.exists():
            return []
        return [line for line in path.read_text(encoding="utf-8", errors="replace").splitlines() if line.strip()]

    def truncate_metrics(self, iteration: int) -> tuple[list[dict], list[int]]:
        """Drop the records after `iteration` (they belong to work lost since the checkpoint). Lines that
        cannot be read are kept as they are (history is never rewritten from a misreading). Returns the
        records kept and the numbers of the lines that cannot be read."""
        kept, records, bad = [], [], []
        for number, line in enumerate(self._metric_lines(), 1):
            record = _record(line)
            if record is None:
                bad.append(number)
                kept.append(line)
            elif record.get("iteration", 0) <= iteration:
                kept.append(line)
                records.append(record)
        atomic_write(self.path / "metrics.jsonl", "".join(line + "\n" for line in kept))
        return records, bad

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
        """Rename a fully written checkpoint into place, point `latest` at it, rotate old ones. A checkpoint of
        the same iteration (a run re-saving where it resumed) is renamed aside first and deleted only once the
        new one is in place: at every moment one complete checkpoint of that iteration exists."""
        final = self.checkpoints / f"ckpt-{iteration:08d}"
        aside = None
        if final.exists():
            aside = self.checkpoints / f"{ASIDE}{final.name}-{os.getpid()}"
            os.replace(final, aside)
        os.replace(tmp, final)
        atomic_write(self.checkpoints / "latest", final.name + "\n")
        if aside is not None:
            shutil.rmtree(aside, ignore_errors=True)
        for old in self.list_checkpoints()[:-keep]:
            shutil.rmtree(old, ignore_errors=True)
        return final

    def recover(self) -> list[str]:
        """Tidy what an interrupted save left, before a run writes again: a checkpoint renamed aside whose
        replacement never arrived goes back in place; half-written `.tmp-*` folders are deleted. Returns
        what it did, in words."""
        done = []
        if not self.checkpoints.is_dir():
            return done
        for aside in sorted(self.checkpoints.glob(f"{ASIDE}ckpt-*")):
            name = _aside_of(aside)
            if (self.checkpoints / name).exists():
                shutil.rmtree(aside, ignore_errors=True)
            else:
                os.replace(aside, self.checkpoints / name)
                done.append(f"restored {name}, which an interrupted save had moved aside")
        for tmp in self.checkpoints.glob(".tmp-*"):
            shutil.rmtree(tmp, ignore_errors=True)
            done.append(f"deleted {tmp.name}, an unfinished save")
        for folder in (self.path, self.checkpoints):  # `atomic_write`'s temporaries of a killed process
            for tmp in folder.glob(".*.tmp-*"):
                if tmp.is_file():
                    tmp.unlink(missing_ok=True)
                    done.append(f"deleted {tmp.name}, an unfinished write")
        return done

    def checkpoint(self, name: str | None = None) -> Path:
        """The checkpoint folder called `name`, or the newest usable one (`usable_checkpoints`); SpecError
        (E503) when there is none, or when the one named is damaged (saying how)."""
        from ganspec.diagnostics import SpecError, error

        if name:
            folder = self.checkpoints / name
            problem = checkpoint_problem(folder) if _inside(folder, self.checkpoints) else "not in this run"
            if problem is None:
                return folder
            choices = ", ".join(p.name for p in self.list_checkpoints()) or "none yet"
            raise SpecError(error("E503", f"checkpoint {name} of {self.path} cannot be used: {problem}",
                                  hint=f"checkpoints: {choices}"))
        for folder in self.usable_checkpoints():
            return folder
        damaged = "; ".join(f"{n}: {why}" for n, why in self.passed_over)
        raise SpecError(error("E503", f"no usable checkpoint in {self.path}"
                                      + (f" (damaged: {damaged})" if damaged else " (none saved yet)")))

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

    def usable_checkpoints(self):
        """The checkpoints that pass `checkpoint_problem`, newest first (a lazy iterator). Those passed over
        are in `passed_over` as (name, why), for the caller to say which it fell back from."""
        self.passed_over = []
        candidates = self.list_checkpoints()
        candidates += [p for p in self.checkpoints.glob(f"{ASIDE}ckpt-*")  # an interrupted re-save's original
                       if not (self.checkpoints / _aside_of(p)).exists()]
        for folder in sorted(candidates, key=_checkpoint_iteration, reverse=True):
            problem = checkpoint_problem(folder)
            if problem is None:
                yield folder
            else:
                self.passed_over.append((folder.name, problem))

    def latest_checkpoint(self) -> Path | None:
        """The newest usable checkpoint (`usable_checkpoints`), or None."""
        return next(iter(self.usable_checkpoints()), None)


def worker_scratch(worker: int) -> Path:
    """A scratch folder for a worker other than the chief of a multi-process run, which trains its share of
    every step but must not write the run directory (the chief alone does, so that checkpoints, metrics and
    pictures are written once). Deleted when the process exits, or earlier by its caller."""
    import atexit
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix=f"ganspec-worker{worker}-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return folder


def archived_spec_files(files: list[str]) -> dict[str, str]:
    """{path in a run directory: text}: a spec's main file as `spec.gan` and each file of its `extends` chain
    (`files`: the main one first, then the one each extends) under `spec/`, with each `extends` path rewritten
    to point at the copy, so that the copy resolves on its own after the originals move or change."""
    from ganspec.syntax.parser import decode, parse, read_source

    names, used = ["spec.gan"], set()
    for number, file in enumerate(files[1:], 1):
        name = "".join(c if c.isalnum() or c in "._-" else "_" for c in Path(file).name)
        name = name if name not in used else f"{number}-{name}"
        used.add(name)
        names.append(f"spec/{name}")
    archived = {}
    for number, (file, name) in enumerate(zip(files, names)):
        text = decode(read_source(file), file)
        if number + 1 < len(files):
            extends = parse(text, file).experiment.extends
            start, end = (extends.span.start_pos, extends.span.end_pos) if extends is not None else (0, 0)
            if extends is not None and text[start:end] == extends.text:
                target = names[number + 1] if number == 0 else names[number + 1].removeprefix("spec/")
                text = text[:start] + json.dumps(target) + text[end:]
        archived[name] = text
    return archived


ASIDE = ".old-"  # a checkpoint renamed aside while the same iteration is saved again
MANIFEST = "manifest.json"  # each file of a checkpoint: its size and SHA-256, checked before it is used


def file_digest(path: Path) -> str:
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def checkpoint_problem(folder: Path) -> str | None:
    """Why a checkpoint folder cannot be used (missing, unfinished, a file missing or damaged), or None.
    Files are checked against the folder's manifest (sizes and SHA-256); a checkpoint written before
    manifests existed needs its files present and non-empty."""
    if not folder.is_dir():
        return "no such folder"
    try:
        state = json.loads((folder / "state.json").read_text())
        if not isinstance(state, dict) or not isinstance(state.get("iteration"), int):
            return "state.json is damaged"
    except FileNotFoundError:
        return "no state.json: an unfinished save"
    except (OSError, ValueError, UnicodeDecodeError):
        return "state.json is damaged"
    try:
        manifest = json.loads((folder / MANIFEST).read_text())
    except FileNotFoundError:
        manifest = None
    except (OSError, ValueError, UnicodeDecodeError):
        return f"{MANIFEST} is damaged"
    if manifest is None:
        files = {p.name: None for p in folder.glob("*.weights.h5")} or {"generator.weights.h5": None}
        files["variables.npz"] = None
    else:
        files = manifest.get("files", {}) if isinstance(manifest, dict) else {}
    for name, expected in files.items():
        path = folder / name
        if not path.is_file() or path.stat().st_size == 0:
            return f"{name} is missing or empty"
        if expected is not None:
            if path.stat().st_size != expected.get("bytes") or file_digest(path) != expected.get("sha256"):
                return f"{name} is damaged (its size or checksum differs from the manifest's)"
    return None


def _aside_of(folder: Path) -> str:
    """The checkpoint name a folder renamed aside (`.old-ckpt-N-PID`) stands for: `ckpt-N`."""
    return folder.name[len(ASIDE):].rsplit("-", 1)[0]


def _checkpoint_iteration(folder: Path) -> tuple[int, int]:
    name = _aside_of(folder) if folder.name.startswith(ASIDE) else folder.name
    try:
        return int(name.split("-")[1]), not folder.name.startswith(ASIDE)
    except (IndexError, ValueError):
        return -1, 0


def _inside(path: Path, folder: Path) -> bool:
    """Whether `path` names an entry of `folder` itself (`--checkpoint ../..` does not)."""
    return path.resolve().parent == folder.resolve()


NON_FINITE = {"NaN": float("nan"), "Infinity": float("inf"), "-Infinity": float("-inf")}


def _standard_json(value):
    """`value` with every non-finite float written as its name (JSON has no NaN or infinity)."""
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if value != value else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, dict):
        return {k: _standard_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_standard_json(v) for v in value]
    return value


def _floats_back(record: dict) -> dict:
    return {k: NON_FINITE[v] if isinstance(v, str) and v in NON_FINITE else
            (_floats_back(v) if isinstance(v, dict) else v) for k, v in record.items()}


def _record(line: str):
    """A metrics.jsonl line as a dict (older files' bare NaN and Infinity read too), or None."""
    try:
        record = json.loads(line)
    except ValueError:
        return None
    return _floats_back(record) if isinstance(record, dict) else None


def atomic_write(path: Path, text: str) -> None:
    """Write `path` whole or not at all: a temporary file beside it, synced, renamed over it. When the
    write fails (a full disk, a read-only folder) the old file stays and no temporary file is left."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def bookkeeping_only(edits) -> bool:
    """True when every difference between two specs leaves the trained model's path unchanged."""
    for edit in edits:
        head = tuple(edit.path.split(".")[:2])
        if head not in BOOKKEEPING and head[:1] not in BOOKKEEPING:
            return False
    return True
