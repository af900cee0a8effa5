"""The training loop of `ganspec run`: data -> compiled step -> observers, checkpoints, evaluation.

Side effects (display, metrics.jsonl, TensorBoard, images, checkpoints, callbacks) all
happen here, between compiled iterations, never inside the step. Exit codes: 0 finished
(or stopped early by a callback, with a checkpoint saved), 130 interrupted (a checkpoint
was saved), 3 stopped on NaN/Inf in a loss or a sample (the last good checkpoint is kept), 2 invalid spec or
data or out of memory (E514), 4 a checkpoint that cannot be written (a full disk; the last good one is kept).
Callbacks (Keras ones and `ganspec.run.callbacks.GanCallback`) are called as that module
describes: an epoch is one log interval, `self.model` is the generator.
"""

from __future__ import annotations

import math
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ganspec import exitcodes
from ganspec.data.feed import iteration_feed
from ganspec.metrics import scores, shown
from ganspec.run import checkpoint
from ganspec.run.display import Display, RateMeter
from ganspec.run.health import check_health
from ganspec.run.images import image_grid, save_png, scatter
from ganspec.run.rundir import RunDir
from ganspec.run.signals import Stop as _Stop, StopSignals
from ganspec.ir.spec import Spec
from ganspec.train.schedules import critic_schedule


@dataclass
class Outcome:
    code: int
    run_dir: Path
    iteration: int
    last: dict = field(default_factory=dict)
    evaluations: list = field(default_factory=list)
    message: str = ""


class Trainer:
    """Runs one spec in one run directory, from scratch or from its latest checkpoint.

    `callbacks`: `keras.callbacks.Callback` objects (or anything with their methods), called as
    `ganspec.run.callbacks` describes; a `TensorBoardHParams` one is always added first."""

    def __init__(self, spec: Spec, run: RunDir, spec_dir, display: Display, callbacks=(), layout=None):
        from ganspec.train.layout import NONE

        self.spec = spec
        self.layout = layout or NONE  # the devices it trains on: `ganspec.train.layout`
        self.run = run
        self.spec_dir = spec_dir
        self.display = display
        self.callbacks = list(callbacks)
        self.history: list[dict] = []
        self.evaluations: list[dict] = []
        self._hooks = None  # the RunCallbacks of the train() in progress
        self.exits_after = False  # the process ends when train() returns (`ganspec run`): see StopSignals.linger
        # Held by `ganspec run` from its start, so that a stop signal before the loop is not lost; else the
        # loop's own.
        self.stop_signals: StopSignals | None = None

    # ---- setup ---------------------------------------------------------------------------

    def prepare(self):
        """Load the data, build and compile the networks; SpecError when the data is bad or does not fit the
        spec, or when the networks or a batch do not fit in memory (E514)."""
        with out_of_memory_as_error(self, "building the networks"):
            self._prepare()

    def _prepare(self):
        from ganspec import backend

        if backend.current() is None:  # called without the CLI: the spec's (or $KERAS_BACKEND's) backend
            backend.activate(backend.choose(self.spec.train.backend)[0])
        from ganspec.data import load_data

        self.backend = backend.current()
        steps = backend.step_module(self.backend)
        if self.layout.distributed:  # devices are set up before the data touches the backend
            self.layout = _placed(steps, self.layout, self.spec)
        self.dataset = load_data(self.spec, self.spec_dir)
        preflight_metrics(self.spec)
        # The loaded data's sample shape: the critic is built without reading the data files again.
        if self.layout.distributed:
            self.step = steps.compile_training(self.spec, self.dataset.sample_shape, self.layout)
        else:  # today's single-device path, unchanged
            self.step = steps.compile_training(self.spec, self.dataset.sample_shape)
        self.models = {"generator": self.step.generator, "critic": self.step.critic}
        if self.step.ema_generator is not None:
            self.models["generator_ema"] = self.step.ema_generator
        self.variables = {
            "generator_optimizer": list(self.step.generator_optimizer.variables),
            "critic_optimizer": list(self.step.critic_optimizer.variables),
            # InfoGAN's information update (`auxiliary.optimizer`): none in other specs, so their
            # checkpoints have no such arrays.
            **({"information_optimizer": list(self.step.information_optimizer.variables)}
               if self.step.information_optimizer is not None else {}),
            # Counters, the step's RNG, and the layers' own RNG states (dropout), which Keras
            # leaves out of saved weights: together they make a resume exact.
            "state": [self.step.seed_state, self.step.iteration, self.step.critic_updates,
                      *self.step.network_state],
        }
        self.iteration = 0
        self.data_position = 0  # real batches consumed so far

    def resume(self, source: RunDir | None = None) -> bool:
        """Load the newest usable checkpoint (of this run, or of `source`: the chief's run directory, read by
        the other workers of a multi-process run), if any; returns whether one was loaded. A damaged one is
        passed over for the one before it, and the display says so. The checkpoint may come from any device
        layout: it holds whole arrays, which every layout reads."""
        origin = source or self.run
        if source is None:
            self.run.lock()
            for done in self.run.recover():
                self.display.message(f"note: {done}")
        folder = next(iter(origin.usable_checkpoints()), None)  # damaged ones passed over
        for name, why in origin.passed_over:
            self.display.message(f"warning: checkpoint {name} cannot be used: {why}")
        if folder is None:
            return False
        try:
            state = checkpoint.restore(folder, self.models, self.variables)
        except Exception as exc:  # noqa: BLE001 - intact files that do not fit these networks or optimizers
            from ganspec.diagnostics import SpecError, error

            raise SpecError(error(
                "E504", f"checkpoint {folder.name} of {origin.path} does not fit this spec's networks or "
                        f"optimizers ({type(exc).__name__}: {str(exc)[:200]})",
                hint="resume with the spec the run was trained with, or start a new run; nothing was changed")) \
                from None
        if origin.passed_over:
            self.display.message(f"resuming from {folder.name}, the newest usable checkpoint")
        self.step.reload()
        self.iteration = int(state["iteration"])
        self.data_position = int(state["data_position"])
        self.evaluations = state.get("evaluations", [])
        if source is None:
            records, bad = self.run.truncate_metrics(self.iteration)
            # The losses logged so far: the summary's "last" (also of a finished run resumed) and the health checks.
            self.history = [{k: v for k, v in r.items() if k not in ("iteration", "time")}
                            for r in records if "evaluation" not in r and "iteration" in r]
            if bad:
                self.display.message(f"warning: metrics.jsonl line{'s' * (len(bad) > 1)} "
                                     f"{', '.join(map(str, bad[:10]))} cannot be read: kept as they are, skipped")
        return True

    def save(self) -> Path:
        """Write a checkpoint of this iteration; SpecError (E001) when it cannot be written (a full disk, a
        read-only folder): the checkpoints already there are kept as they are."""
        self.step.sync()
        state = {"data_position": self.data_position, "evaluations": self.evaluations,
                 "backend": self.backend, "spec": self.spec.name}
        try:
            return checkpoint.save(self.run, self.iteration, self.models, self.variables, state,
                                   self.spec.train.keep_checkpoints)
        except OSError as exc:
            from ganspec.diagnostics import SpecError, error

            self.display.stop()
            latest = self.run.latest_checkpoint()
            kept = (f"the last good checkpoint, {latest.name}, is kept: free some space (or make the folder "
                    f"writable), then `ganspec run --resume {self.run.path}`" if latest else
                    "no checkpoint was saved before this one")
            raise SpecError(error("E001", f"cannot write checkpoint ckpt-{self.iteration:08d} in {self.run.path}: "
                                          f"{exc.strerror or exc}", hint=kept)) from None

    # ---- the loop ------------------------------------------------------------------------

    def train(self, total: int) -> Outcome:
        """Train up to iteration `total`, calling the callbacks around and along the way."""
        self.run.lock()  # before anything is written; E512 when another process trains here
        self._hooks = hooks = self._run_callbacks(total)
        self._stopped_early = False
        outcome = None
        try:
            hooks.begin(self.run.path, self.spec, self._spec_text())
            with out_of_memory_as_error(self, "training"):
                outcome = self._train(total)
        finally:
            self._hooks = None
            hooks.end(self._status(outcome))
            self.run.unlock()
        return outcome

    def _run_callbacks(self, total: int):
        from ganspec.run.callbacks import RunCallbacks, TensorBoardHParams, count_epochs
        from ganspec.metrics import scores

        log_every = self.spec.train.log_every
        first_epoch = count_epochs(self.run.read_metrics(), self.iteration)
        log_points = max(0, total // log_every - self.iteration // log_every) + (total % log_every > 0)
        params = {"verbose": 0, "epochs": first_epoch + log_points, "steps": log_every, "iterations": total}
        latest = scores(self.evaluations[-1]) if self.evaluations else None
        return RunCallbacks([TensorBoardHParams(self._writer()), *self.callbacks], self.step.generator,
                            first_epoch=first_epoch, latest_scores=latest, params=params)

    def _spec_text(self) -> str:
        """The spec as written (spec.gan in the run directory), else the resolved spec's JSON."""
        written = self.run.path / "spec.gan"
        return (written if written.exists() else self.run.path / "resolved.json").read_text(encoding="utf-8")

    def _status(self, outcome: Outcome | None) -> str:
        """How the run ended, in the words of `ganspec.run.callbacks.STATUSES`."""
        if outcome is None:
            return "failed"
        if outcome.code == exitcodes.OK:
            return "stopped" if self._stopped_early else "finished"
        return {exitcodes.INTERRUPTED: "interrupted", exitcodes.DIVERGED: "diverged"}.get(outcome.code, "failed")

    def _train(self, total: int) -> Outcome:
        spec = self.spec
        hooks = self._hooks
        log_every = spec.train.log_every
        meter = RateMeter()
        self.display.start(spec.name, total, self.iteration, str(self.run.path))
        self.run.record_layout(self.iteration, self.layout)
        batches = iteration_feed(self.dataset, spec, self.iteration, self.data_position, self.backend)
        schedule = critic_schedule(spec)  # how many real batches each iteration consumes
        pending = None
        with self.stop_signals or StopSignals(linger=self.exits_after) as stop:
            try:
                if self.iteration == 0:
                    self.evaluate()  # the untrained model: every curve starts from a baseline
                meter.mark(self.iteration)
                while self.iteration < total:
                    stop.check()
                    real, labels, critic_steps = next(batches)
                    pending = self.step(real, labels, critic_steps=critic_steps)
                    self.data_position += schedule.real_batches(self.iteration)
                    self.iteration += 1
                    last = self.iteration == total
                    scalars = None
                    if self.iteration % log_every == 0 or last:
                        scalars = {name: float(value) for name, value in pending.items()}
                        if not self._observe(scalars, meter.mark(self.iteration)):
                            return self._stopped_on_nan()
                        hooks.logged(self.iteration, scalars)
                    saved = self.iteration % spec.train.checkpoint_every == 0 or last
                    evaluated = self.iteration % spec.evaluate.every == 0 or last
                    if saved or evaluated:  # a NaN between log lines stops here, before it is scored or saved
                        self._check_finite(pending)
                    if evaluated:  # first: the checkpoint of this iteration holds its evaluation
                        self.evaluate()
                    if saved:
                        self.save()
                    if scalars is not None:
                        if len(hooks.callbacks) > 1:  # a callback of the user's may read the weights
                            self.step.sync()
                        hooks.epoch_end(self.iteration, scalars)
                    if hooks.stop_requested() and not last:
                        return self._stop_early(pending, saved)
            except (KeyboardInterrupt, _Stop):
                if pending is not None and not self._finite(pending):
                    return self._stopped_on_nan()
                where = self.save()
                self.display.stop()
                return Outcome(exitcodes.INTERRUPTED, self.run.path, self.iteration,
                               message=f"interrupted: saved {where.name}; resume with "
                                       f"`ganspec run --resume {self.run.path}`")
            except _NonFinite:
                return self._stopped_on_nan()
        self.display.stop()
        self._finish()
        return Outcome(exitcodes.OK, self.run.path, self.iteration, self.history[-1] if self.history else {},
                       self.evaluations)

    def _stop_early(self, pending, saved: bool) -> Outcome:
        """A callback set `model.stop_training` (EarlyStopping's way): checkpoint, final models, summary."""
        if not saved:
            self._check_finite(pending)
            self.save()
        self._stopped_early = True
        self.display.stop()
        self._finish()
        return Outcome(exitcodes.OK, self.run.path, self.iteration, self.history[-1] if self.history else {},
                       self.evaluations,
                       message=f"stopped at iteration {self.iteration}: a callback set model.stop_training; "
                               f"saved {self.run.latest_checkpoint().name}; continue with "
                               f"`ganspec run --resume {self.run.path}`")

    def _observe(self, scalars: dict, rate: float) -> bool:
        record = {"iteration": self.iteration, "time": time.time(), **scalars}
        self.history.append(scalars)
        self.run.log(record)
        self._tensorboard_scalars(scalars)
        self.display.log(self.iteration, scalars, rate)
        alerts = check_health(self.history, self.spec)
        for alert in alerts:
            self.display.alert(alert)
        return not any(a.severity == "fatal" for a in alerts)

    @staticmethod
    def _finite(metrics) -> bool:
        return all(math.isfinite(float(v)) for v in metrics.values())

    def _check_finite(self, metrics) -> None:
        if not self._finite(metrics):
            raise _NonFinite()

    def _stopped_on_nan(self) -> Outcome:
        self.display.stop()
        latest = self.run.latest_checkpoint()
        kept = f"the last good checkpoint is {latest.name}" if latest else "no checkpoint was saved yet"
        return Outcome(exitcodes.DIVERGED, self.run.path, self.iteration,
                       message=f"stopped at iteration {self.iteration}: a loss became NaN/Inf; {kept}. "
                               "Try lower learning rates, a gradient penalty or spectral norm, or float32.")

    # ---- evaluation and outputs ----------------------------------------------------------

    def sampler(self):
        """A Sampler of the generator as it is now (the EMA generator when there is one)."""
        from ganspec.run.sampling import Sampler

        self.step.sync()
        return Sampler(self.spec, self.step.ema_generator or self.step.generator)

    def sample(self, n: int, seed_offset: int = 1) -> np.ndarray:
        """n generated samples from a fixed latent batch."""
        return self.sampler()(n, self.spec.seed + seed_offset)

    def evaluate(self) -> dict:
        """The spec's metrics now (and the sample grid), logged and shown."""
        from ganspec.metrics.evaluate import Evaluator

        if not hasattr(self, "_evaluator"):
            self._evaluator = Evaluator(self.spec, self.spec_dir, self.dataset)
        sampler = FiniteSamples(self.sampler())  # one standing batch-norm copy for the grid and every metric
        for node in self.spec.evaluate.metrics:
            if node.kind == "samples":
                self._save_samples(sampler, node.samples)
        results, skipped = self._evaluator.run(sampler)
        if skipped and not self.evaluations:
            self.display.message(f"note: metrics not available in this version, skipped: {', '.join(skipped)}")
        if results:
            self.evaluations.append({"iteration": self.iteration, **results})
            self.run.log({"iteration": self.iteration, "evaluation": results})
            self._tensorboard_scalars({f"eval/{k}": v for k, v in scores(results).items()})
            self.display.evaluation(self.iteration, shown(results))
            if self._hooks is not None:
                self._hooks.evaluated(self.iteration, results)
        return results

    def _save_samples(self, sampler, n: int) -> None:
        fake = sampler(n, self.spec.seed + 1)
        if len(fake.shape) == 4:
            picture = image_grid(fake, tuple(self.spec.data.scale or (0.0, 1.0)))
        else:
            from ganspec.run.sampling import overlay_of

            overlay = overlay_of(self.dataset, 2000, seed=self.spec.seed + 3)
            picture = scatter(fake, overlay.points, modes=overlay.modes, mode_radius=overlay.mode_radius)
        path = self.run.path / "samples" / f"samples-{self.iteration:08d}.png"
        save_png(picture, path)
        save_png(picture, self.run.path / "samples" / "latest.png")
        self._tensorboard_image(picture)
        if self._hooks is not None:
            self._hooks.samples(self.iteration, picture)

    def _writer(self):
        if not hasattr(self, "_tb"):
            from ganspec.run.tensorboard import EventWriter

            self._tb = EventWriter(self.run.path / "tensorboard")
        return self._tb

    def _tensorboard_scalars(self, scalars: dict) -> None:
        self._writer().scalars(self.iteration, {k: v for k, v in scalars.items()
                                                if isinstance(v, (int, float)) and math.isfinite(v)})

    def _tensorboard_image(self, picture: np.ndarray) -> None:
        self._writer().image(self.iteration, "samples", picture)

    def _finish(self) -> None:
        self.step.sync()
        models = self.run.path / "models"
        for name, model in self.models.items():
            model.save(str(models / f"{name}.keras"))
        self.run.write_json("summary.json", summarize(self.history, self.evaluations, self.iteration))
        if hasattr(self, "_tb"):
            self._tb.flush()


class _NonFinite(Exception):
    """A loss, or a generated sample, became NaN/Inf: the run stops, keeping the last good checkpoint."""


class FiniteSamples:
    """A sampler whose samples must be finite: a NaN or an infinity in the generator's weights (which a
    finite logged loss can hide, when it appears between log lines) stops the run as diverged before a
    metric or a picture reads it."""

    def __init__(self, sampler):
        self.sampler = sampler

    def __getattr__(self, name):
        return getattr(self.sampler, name)

    def __call__(self, n: int, seed: int) -> np.ndarray:
        return self._finite(self.sampler(n, seed))

    def at(self, z, labels=None) -> np.ndarray:
        return self._finite(self.sampler.at(z, labels))

    @staticmethod
    def _finite(samples):
        if not np.isfinite(np.asarray(samples)).all():
            raise _NonFinite()
        return samples


# What the backends raise when memory runs out: TensorFlow's ResourceExhaustedError, XLA's RESOURCE_EXHAUSTED
# status (JAX), NumPy's and Python's MemoryError.
OUT_OF_MEMORY_TYPES = ("ResourceExhaustedError",)
OUT_OF_MEMORY_STATUS = "RESOURCE_EXHAUSTED"


def is_out_of_memory(exc: BaseException) -> bool:
    """Whether an exception says that the machine (host or accelerator) ran out of memory."""
    if isinstance(exc, MemoryError):
        return True
    if any(cls.__name__ in OUT_OF_MEMORY_TYPES for cls in type(exc).__mro__):
        return True
    return OUT_OF_MEMORY_STATUS in str(exc)[:500] and type(exc).__name__ in ("XlaRuntimeError", "JaxRuntimeError")


@contextmanager
def out_of_memory_as_error(trainer: "Trainer", doing: str):
    """Turn running out of memory into a SpecError (E514) that says what to lower; the checkpoints already
    written stay (an unfinished one is deleted when the run resumes)."""
    try:
        yield
    except Exception as exc:
        if not is_out_of_memory(exc):
            raise
        from ganspec.diagnostics import SpecError, error

        trainer.display.stop()
        batch = trainer.spec.train.batch
        detail = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else "no details"
        where = f" at iteration {trainer.iteration}" if hasattr(trainer, "iteration") and doing == "training" else ""
        latest = trainer.run.latest_checkpoint() if trainer.run.checkpoints.is_dir() else None
        kept = f"; the last good checkpoint, {latest.name}, is kept" if latest else ""
        raise SpecError(error("E514", f"out of memory while {doing}{where} ({type(exc).__name__}: {detail})",
                              hint=f"lower `train.batch` (now {batch}; e.g. `--set train.batch={max(1, batch // 2)}`) "
                                   f"or the networks' widths{kept}")) from None


def _placed(steps, layout, spec):
    """The layout with its devices set up and counted by the backend's step module (`place`), the global
    batch checked against its replicas; a layout that cannot work is a SpecError (E511)."""
    from ganspec.backend import LayoutRefused
    from ganspec.train.layout import LayoutError

    try:
        layout = steps.place(layout)
        layout.per_replica_batch(spec.train.batch)
    except LayoutError as exc:
        raise LayoutRefused(exc.message, exc.hint) from None
    return layout


def preflight_metrics(spec: Spec) -> None:
    """Load every feature extractor the metrics need before training starts, so a missing
    weights file is an error now, not after an hour of training."""
    from ganspec.diagnostics import SpecError, error
    from ganspec.metrics.features import FeatureError, get_extractor

    for node in spec.evaluate.metrics:
        name = getattr(node, "features", None)
        if name is None:
            continue
        try:
            get_extractor(name)
        except FeatureError as exc:
            raise SpecError(error("E204", f"{node.kind}(features: {name}): {exc.message}", node.span,
                                  exc.hint)) from None


def summarize(history: list[dict], evaluations: list[dict], iteration: int) -> dict:
    """Last losses, and the best and last value of every evaluated metric (best as its metric's
    class says: lowest or highest)."""
    from ganspec.metrics import lower_is_better

    summary = {"iterations": iteration, "last": history[-1] if history else {}, "metrics": {}}
    keys = {k for e in evaluations for k in scores(e) if k != "iteration"}
    for key in sorted(keys):
        points = [(e["iteration"], e[key]) for e in evaluations if isinstance(e.get(key), (int, float))]
        if not points:
            continue
        best = (min if lower_is_better(key) else max)(points, key=lambda p: p[1])
        summary["metrics"][key] = {"last": points[-1][1], "best": best[1], "best_at": best[0]}
    return summary
