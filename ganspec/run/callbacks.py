"""Callbacks of a training run: Keras callbacks as they are, and `GanCallback` for what only a GAN run has.

A run calls the Keras hooks that `model.fit` calls, through `keras.callbacks.CallbackList`, so Keras's
own callbacks (`CSVLogger`, `EarlyStopping`, `ModelCheckpoint`, `LambdaCallback`, ...) work unchanged:

- `on_train_begin()` / `on_train_end(logs)` around the whole run (a resumed run is a new `fit`).
- `on_train_batch_end(iteration, logs)` at every log point (every `train.log_every` iterations and
  the last one): `logs` holds the step's scalars (`critic_loss`, `generator_loss`, ...). The first
  argument is the iteration (generator updates so far), not a batch index within the epoch.
- `on_epoch_begin(epoch)` / `on_epoch_end(epoch, logs)`: an *epoch* of a GAN run is one log
  interval, so each log point ends one epoch. `epoch` counts log points from 0 over the whole run
  (a resumed run goes on from the number already logged, like `fit(initial_epoch=...)`), and
  `logs` holds `iteration`, the scalars, and the scores of the evaluations made since the previous
  epoch ended as `val_<score>` (the first epoch of a process also carries the latest evaluation
  so far, so a CSVLogger's first row has every column). `CSVLogger` thus writes one row per log
  point with the losses and the evaluation columns ("NA" between evaluations, as Keras writes
  for `validation_freq`); use `CSVLogger(path, append=True)` for a run you may resume. And
  `EarlyStopping(monitor="val_modes_covered", mode="max")` watches a score, its patience counted
  in evaluations (epochs without the score are skipped, as in `fit`).
- `self.model` is the generator being trained (not the EMA copy); its weights are current in
  `on_epoch_end`. Setting `self.model.stop_training = True` ends the run after the current log
  point, with a checkpoint saved, as `EarlyStopping` does in `fit`; `ganspec run --resume`
  continues it.

Not called: batch *begin* hooks (an iteration is one compiled step, not observed), test and
predict hooks. `TerminateOnNaN` reads a `loss` key that a GAN has not; the run stops on NaN by
itself (exit 3).

`GanCallback` adds the hooks Keras has no word for: `on_run_begin(run_dir, spec, spec_text)`,
`on_evaluation(iteration, scores)`, `on_samples(iteration, picture)` and `on_run_end(status)`.
They are looked up by name, so any object with those methods gets them.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import keras
import numpy as np

from ganspec.metrics import scores

# How a run ended, as `on_run_end` is told: trained to the end, stopped by a callback
# (`model.stop_training`), stopped by Ctrl-C/SIGTERM with a checkpoint saved, stopped on NaN/Inf,
# or ended by an exception.
STATUSES = ("finished", "stopped", "interrupted", "diverged", "failed")
EVAL_PREFIX = "val_"  # how evaluation scores are named in Keras logs (Keras's name for held-out metrics)


class GanCallback(keras.callbacks.Callback):
    """A Keras callback with the hooks of a GAN run; override the ones you need."""

    def on_run_begin(self, run_dir: Path, spec, spec_text: str) -> None:
        """Before training: the run directory, the resolved spec (`ganspec.ir.spec.Spec`) and the spec's
        text as written."""

    def on_evaluation(self, iteration: int, scores: dict) -> None:
        """After each evaluation (the untrained baseline at iteration 0 too): {score name: value}."""

    def on_samples(self, iteration: int, picture: np.ndarray) -> None:
        """Each sample grid (or 2-D scatter plot) as a uint8 array [H, W, C], as saved under samples/."""

    def on_run_end(self, status: str) -> None:
        """After `on_train_end`: one of STATUSES."""


class TensorBoardHParams(GanCallback):
    """The run's TensorBoard events also hold the HParams plugin's session (the resolved spec, flattened)
    and the spec's text (text plugin), next to the scalars and sample grids. A run installs it itself."""

    def __init__(self, writer):
        super().__init__()
        self.writer = writer

    def on_run_begin(self, run_dir, spec, spec_text) -> None:
        self.writer.hparams(flatten(spec.model_dump(mode="json")), group_name=Path(run_dir).name)
        self.writer.text(0, "spec", f"```\n{spec_text.rstrip()}\n```")  # markdown: kept verbatim
        self.writer.flush()

    def on_run_end(self, status) -> None:
        if status != "interrupted":  # an interrupted run is continued by --resume
            self.writer.session_end(success=status in ("finished", "stopped"))
        self.writer.flush()


class RunCallbacks:
    """The trainer's side: one object that calls the Keras hooks (through `CallbackList`) and the
    `GanCallback` hooks at the points of a run, and keeps the epoch count and the scores that the
    next `on_epoch_end` reports."""

    def __init__(self, callbacks, model, *, first_epoch: int, latest_scores: dict | None, params: dict):
        self.callbacks = list(callbacks)
        self.model = model
        self.epoch = first_epoch
        self._keras = keras.callbacks.CallbackList(self.callbacks, model=model, **params)
        self._pending = {EVAL_PREFIX + k: v for k, v in (latest_scores or {}).items()}
        self._epoch_open = False
        self._training = False  # between on_train_begin and on_train_end
        self.last_logs: dict = {}

    def _call(self, hook: str, *args) -> None:
        for callback in self.callbacks:
            method = getattr(callback, hook, None)
            if callable(method):
                method(*args)

    def _open_epoch(self) -> None:
        if not self._epoch_open:
            self._epoch_open = True
            self._keras.on_epoch_begin(self.epoch)

    def begin(self, run_dir: Path, spec, spec_text: str) -> None:
        """`on_run_begin`, then `on_train_begin` and the first `on_epoch_begin`. When one raises, `end`
        still tells every callback how the run ended."""
        self.model.stop_training = False
        self._call("on_run_begin", Path(run_dir), spec, spec_text)
        self._keras.on_train_begin()
        self._training = True
        self._open_epoch()

    def logged(self, iteration: int, scalars: dict) -> None:
        self._open_epoch()
        self._keras.on_train_batch_end(iteration, dict(scalars))

    def evaluated(self, iteration: int, results: dict) -> None:
        found = scores(results)
        self._pending.update({EVAL_PREFIX + k: v for k, v in found.items()})
        self._call("on_evaluation", iteration, dict(found))

    def samples(self, iteration: int, picture: np.ndarray) -> None:
        self._call("on_samples", iteration, picture)

    def epoch_end(self, iteration: int, scalars: dict) -> None:
        self._open_epoch()
        logs = {"iteration": iteration, **scalars, **self._pending}
        self._pending = {}
        self._keras.on_epoch_end(self.epoch, logs)
        self.last_logs = logs
        self.epoch += 1
        self._epoch_open = False

    def stop_requested(self) -> bool:
        """Whether a callback set `model.stop_training`."""
        return bool(getattr(self.model, "stop_training", False))

    def end(self, status: str) -> None:
        """`on_train_end` (when training began), then `on_run_end(status)`."""
        try:
            if self._training:
                self._training = False
                self._keras.on_train_end(self.last_logs)
        finally:
            self._call("on_run_end", status)


def count_epochs(records: list[dict], iteration: int) -> int:
    """The number of log points a run directory's metrics.jsonl holds up to `iteration`: the epoch a
    resumed run goes on from."""
    return sum(1 for r in records if "evaluation" not in r and "time" in r and r.get("iteration", 0) <= iteration)


def flatten(tree, prefix: str = "") -> dict:
    """A resolved spec as {dotted path: number, string or bool}: list items by index
    (`generator.layers.0.units`), unset (null) values left out, empty lists as "[]"."""
    out: dict = {}
    if isinstance(tree, dict):
        for key, value in tree.items():
            out.update(flatten(value, f"{prefix}{key}."))
    elif isinstance(tree, (list, tuple)):
        if not tree:
            out[prefix[:-1]] = "[]"
        elif all(isinstance(v, (int, float, str, bool)) for v in tree):
            out[prefix[:-1]] = json.dumps(list(tree))
        else:
            for i, value in enumerate(tree):
                out.update(flatten(value, f"{prefix}{i}."))
    elif tree is not None:
        if isinstance(tree, float) and not math.isfinite(tree):
            tree = str(tree)
        out[prefix[:-1]] = tree
    return out
