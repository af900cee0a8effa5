"""ganspec from Python: a script, a notebook, a benchmark.

    import ganspec

    experiment = ganspec.load_spec("specs/toy/ring_wgan_gp.gan", overrides={"train.iterations": 500})
    run = ganspec.fit(experiment, out="runs", display="plain")      # or callbacks=[keras.callbacks.CSVLogger(...)]
    run.evaluations[-1]                                             # the last scores
    images = run.sample(64, seed=0)                                 # numpy, the data's value range
    run.sample_grid(64)                                             # a PIL image: shown inline in Jupyter
    run.evaluate(["fid(2000)"])                                     # scores now, recorded in the run
    ganspec.compare([run, "runs/other-run"])                        # scores and spec differences

Everything here is what the command line does (`ganspec validate`, `run`, `sample`, `eval`, `compare`), through
the same code, returning Python values instead of printing. A spec that does not validate raises `InvalidSpec`
(a `SpecError`) whose message lists every finding with its file, line and column; its `diagnostics` hold them.

Heavy libraries are imported when first needed: `load_spec` and `validate` need only the core install; `fit`,
`sample` and `evaluate` need a training extra (`ganspec[tensorflow]` or `ganspec[jax]`).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from ganspec.diagnostics import Diagnostic, Severity, SpecError, has_errors

__all__ = ["Experiment", "InvalidSpec", "Run", "Validation", "compare", "fit", "load_spec", "open_run", "parse_spec",
           "validate"]

DISPLAYS = ("auto", "plain", "rich", "none")


class InvalidSpec(SpecError):
    """A spec (or a request about a run) that ganspec refuses; `diagnostics` says why, each with its place."""

    def __str__(self) -> str:
        return "\n".join(_describe(d) for d in self.diagnostics)


def _describe(diag: Diagnostic) -> str:
    place = f"{diag.span}: " if diag.span is not None else ""
    hint = f" (hint: {diag.hint})" if diag.hint else ""
    return f"{place}{diag.severity.value} {diag.code}: {diag.message}{hint}"


# ---- specs ---------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Experiment:
    """A resolved, checked spec, ready to train.

    `spec` is the fully resolved spec (a pydantic model: `experiment.spec.train.batch`); `warnings` are the
    checks' findings that do not stop it; `files` are the files it was read from (the main one first), or
    None for a spec given as text; `spec_dir` is where its relative paths (data, `extends`) start."""

    spec: Any
    warnings: tuple[Diagnostic, ...]
    files: tuple[str, ...] | None
    spec_dir: Path
    text: str | None = None
    overrides: tuple[tuple[str, str], ...] = ()

    @property
    def name(self) -> str:
        return self.spec.name

    def to_dict(self) -> dict:
        """The resolved spec as JSON-ready data (what a run directory's resolved.json holds)."""
        return self.spec.model_dump(mode="json")

    def with_overrides(self, overrides: Mapping[str, Any] | Iterable) -> "Experiment":
        """The same spec with more values overridden, e.g. `{"optimizer.critic.lr": 2e-4, "seed": 3}`."""
        merged = (*self.overrides, *_override_pairs(overrides))
        if self.files:
            return load_spec(self.files[0], merged)
        return parse_spec(self.text or "", merged, spec_dir=self.spec_dir)

    def diff(self, other: "Experiment", metadata: bool = False) -> list:
        """The hyperparameters that differ from `other` (resolved specs, not text): a list of
        `ganspec.diff.Edit` with `path`, `a`, `b`; empty when they train the same model."""
        from ganspec.diff import diff_specs

        return diff_specs(self.spec, other.spec, metadata=metadata)

    def explain(self) -> list[dict]:
        """Per network: each layer's output shape and parameter count (what `ganspec explain` shows)."""
        from ganspec.explain import network_tables

        return [table.to_json() for table in network_tables(self.spec, self.spec_dir)]

    def fit(self, **options) -> "Run":
        """Train it: see `ganspec.fit`."""
        return fit(self, **options)

    def __repr__(self) -> str:
        where = self.files[0] if self.files else "<text>"
        return f"<Experiment {self.name!r} from {where}: {len(self.warnings)} warning(s)>"


def _override_pairs(overrides) -> list[tuple[str, str]]:
    """Overrides as (path, spec text) pairs, from a mapping of Python values or `"path=value"` strings."""
    if overrides is None:
        return []
    if isinstance(overrides, Mapping):
        return [(str(path), _spec_text(value)) for path, value in overrides.items()]
    pairs = []
    for item in overrides:
        if isinstance(item, str):
            if "=" not in item:
                raise InvalidSpec(_error("E105", f"override {item!r}: expected 'path=value'"))
            path, value = item.split("=", 1)
            pairs.append((path.strip(), value.strip()))
        else:
            path, value = item
            pairs.append((str(path), _spec_text(value)))
    return pairs


def _spec_text(value) -> str:
    """A Python value written as the spec language writes it: strings are taken as spec text
    (`"adam(lr: 1e-4)"`), so a quoted string must carry its own quotes."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "none"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_spec_text(v) for v in value) + "]"
    return str(value)


def _error(code: str, message: str, hint: str | None = None) -> Diagnostic:
    from ganspec.diagnostics import error

    return error(code, message, hint=hint)


def _checked(resolved, **fields) -> Experiment:
    if resolved.spec is None or has_errors(resolved.diagnostics):
        raise InvalidSpec([d for d in resolved.diagnostics if d.severity == Severity.ERROR] or resolved.diagnostics)
    return Experiment(spec=resolved.spec, warnings=tuple(resolved.diagnostics), **fields)


def load_spec(path: str | Path, overrides: Mapping[str, Any] | Iterable | None = None,
              checks: bool = True) -> Experiment:
    """Read, resolve and check a `.gan` file, with `overrides` applied as `--set` would (a mapping such as
    `{"train.batch": 32}`, or `"path=value"` strings). Raises `InvalidSpec` when it has errors."""
    from ganspec.load import load

    path = Path(path)
    if not path.is_file():
        raise InvalidSpec(_error("E001", f"{path}: no such spec file"))
    pairs = _override_pairs(overrides)
    resolved = load(path, overrides=pairs, checks=checks)
    return _checked(resolved, files=tuple(resolved.files), spec_dir=path.parent, overrides=tuple(pairs))


def parse_spec(text: str, overrides: Mapping[str, Any] | Iterable | None = None, spec_dir: str | Path = ".",
               checks: bool = True) -> Experiment:
    """A spec given as text (relative paths start at `spec_dir`). Raises `InvalidSpec` when it has errors."""
    from ganspec.load import load_text

    pairs = _override_pairs(overrides)
    resolved = load_text(text, file="<string>", overrides=pairs, checks=checks, spec_dir=Path(spec_dir))
    return _checked(resolved, files=None, spec_dir=Path(spec_dir), text=text, overrides=tuple(pairs))


@dataclasses.dataclass
class Validation:
    """What `ganspec validate` finds: the diagnostics of every file checked."""

    files: dict[str, list[Diagnostic]]

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for ds in self.files.values() for d in ds if d.severity == Severity.ERROR]

    @property
    def warnings(self) -> list[Diagnostic]:
        return [d for ds in self.files.values() for d in ds if d.severity == Severity.WARNING]

    @property
    def ok(self) -> bool:
        return bool(self.files) and not self.errors

    def __str__(self) -> str:
        lines = [_describe(d) for ds in self.files.values() for d in ds]
        lines.append(f"{len(self.files)} file(s) checked: {len(self.errors)} error(s), "
                     f"{len(self.warnings)} warning(s)")
        return "\n".join(lines)


def validate(paths: str | Path | Iterable[str | Path], exclude: Iterable[str] = ()) -> Validation:
    """Check spec files and folders of them, as `ganspec validate` does (folder walks skip hidden folders,
    run directories, what git ignores and `exclude` globs). Never raises for a bad spec: look at `.ok` and
    `.errors`; `.ok` is False when no spec was found."""
    from ganspec.commands.inputs import collect_spec_paths
    from ganspec.load import load

    if isinstance(paths, (str, Path)):
        paths = [paths]
    found = collect_spec_paths([str(p) for p in paths], list(exclude))
    return Validation({str(path): list(load(path, checks=True).diagnostics) for path in found})


# ---- training ------------------------------------------------------------------------------


def _activate(spec, backend: str | None):
    """Switch Keras to the backend asked for (else $KERAS_BACKEND, else the spec's); the spec with
    `train.backend` set to it. Raises InvalidSpec when that backend cannot run here."""
    from ganspec.backend import activate_for_spec

    try:
        return activate_for_spec(spec, backend)[0]
    except SpecError as exc:
        raise InvalidSpec(exc.diagnostics) from None


def _display(display):
    """The display a run reports to: a `ganspec.run.display.Display`, or one named in DISPLAYS. "auto" is
    the live panel on a terminal and plain lines elsewhere (a notebook, a pipe, a log file); "rich" is
    lines with colour and no live panel, which notebooks render; "none" (or None) shows nothing."""
    from ganspec.run.display import Display, PlainDisplay, make_display

    if isinstance(display, Display):
        return display
    if display is None or display is False or display == "none":
        return Display()
    if display == "auto":
        return make_display(force_plain=_in_notebook())
    if display == "plain":
        return PlainDisplay()
    if display == "rich":
        from rich.console import Console

        display_ = PlainDisplay()
        display_.console = Console(highlight=False, soft_wrap=True)
        return display_
    raise ValueError(f"display must be a Display or one of {', '.join(DISPLAYS)}, not {display!r}")


def _in_notebook() -> bool:
    import sys

    shell = sys.modules.get("IPython")
    try:
        return shell is not None and shell.get_ipython() is not None and "IPKernelApp" in shell.get_ipython().config
    except Exception:  # an IPython that is not a kernel, or a stub
        return False


def fit(experiment: Experiment | str | Path, *, out: str | Path | None = None, iterations: int | None = None,
        overrides: Mapping[str, Any] | Iterable | None = None, backend: str | None = None,
        callbacks: Iterable = (), display="auto", devices: int | str | None = None,
        strategy: str = "auto") -> "Run":
    """Train a spec (an `Experiment`, or a path to load) in a new run directory under `out` (default ./runs).

    `devices` and `strategy` spread it over several devices as `ganspec run --devices N --strategy S` does
    (`ganspec.train.layout`); the spec's `train.batch` stays the global batch. In a multi-process run, call
    `fit` in every process; the chief (process 0) writes the run directory and the others a scratch one,
    deleted when their process exits.

    `callbacks` are Keras callbacks (`keras.callbacks.CSVLogger`, trackers of `ganspec.run.tracking`, your own):
    they see the losses at every logged iteration and the scores at every evaluation. `display`: see
    `_display`. Returns the `Run`, whose `status` says how it ended ("finished", "interrupted" after Ctrl-C
    with a checkpoint saved, "diverged" on NaN with the last good checkpoint kept). Raises `InvalidSpec` for
    a spec, data or backend that cannot train."""
    if not isinstance(experiment, Experiment):
        experiment = load_spec(experiment, overrides)
    elif overrides:
        experiment = experiment.with_overrides(overrides)
    if iterations is not None:
        experiment = experiment.with_overrides({"train.iterations": iterations})
    layout = _layout(experiment.spec, backend, strategy, devices)
    spec = _activate(experiment.spec, backend)
    from ganspec.run.rundir import RunDir, worker_scratch

    if not layout.is_chief:  # not a run directory of its own: a scratch one, deleted when the process exits
        out = worker_scratch(layout.worker)
    run_dir = RunDir.create(spec, list(experiment.files) if experiment.files else None, out,
                            spec_dir=experiment.spec_dir, text=experiment.text)
    try:
        return _train(Run(run_dir.path), spec, callbacks if layout.is_chief else (), display, resume=False,
                      layout=layout)
    except InvalidSpec:
        if not (run_dir.path / "metrics.jsonl").exists():  # it failed to start: no empty run directory stays
            import shutil

            shutil.rmtree(run_dir.path, ignore_errors=True)
        raise


def _layout(spec, backend, strategy, devices):
    from ganspec.backend import plan_layout

    try:
        return plan_layout(spec, backend, strategy, devices)
    except SpecError as exc:
        raise InvalidSpec(exc.diagnostics) from None


def _train(run: "Run", spec, callbacks, display, resume: bool, layout=None) -> "Run":
    from ganspec.run.trainer import Trainer

    trainer = Trainer(spec, run._dir, run.spec_dir, _display(display), callbacks=list(callbacks), layout=layout)
    try:
        trainer.prepare()
        if resume:
            trainer.resume()
        run.outcome = trainer.train(spec.train.iterations)
    except SpecError as exc:
        raise InvalidSpec(exc.diagnostics) from None
    return run


# ---- run directories -----------------------------------------------------------------------


STATUS = {0: "finished", 130: "interrupted", 3: "diverged"}


class Run:
    """A run directory: its spec, its logs and scores, and its generator (sampled and evaluated here)."""

    def __init__(self, path: str | Path):
        from ganspec.run.rundir import RunDir

        self._dir = RunDir(path)
        if not (self._dir.path / "resolved.json").is_file():
            raise InvalidSpec(_error("E502", f"{self._dir.path} is not a ganspec run directory (no resolved.json)"))
        self.outcome = None  # set by fit/resume: how the training in this process ended

    @property
    def path(self) -> Path:
        return self._dir.path

    @property
    def spec(self):
        """The run's resolved spec (as trained; `train.backend` is the one it was started on)."""
        return self._dir.resolved_spec()

    @property
    def spec_dir(self) -> Path:
        return self._dir.spec_dir

    @property
    def status(self) -> str:
        """"finished", "interrupted", "diverged" for training done in this process; otherwise "finished"
        when the run wrote its summary, else "incomplete" (resume it)."""
        if self.outcome is not None:
            return STATUS.get(self.outcome.code, f"exit {self.outcome.code}")
        return "finished" if (self.path / "summary.json").exists() else "incomplete"

    @property
    def iteration(self) -> int:
        """The iteration of the latest checkpoint (0 when none was saved)."""
        latest = self._dir.latest_checkpoint()
        return json.loads((latest / "state.json").read_text())["iteration"] if latest else 0

    @property
    def history(self) -> list[dict]:
        """The logged losses and health signals, one record per logged iteration."""
        return [r for r in self._dir.read_metrics() if "evaluation" not in r]

    @property
    def evaluations(self) -> list[dict]:
        """The scores of every evaluation during training: {"iteration": i, metric: value, ...}."""
        return [{"iteration": r["iteration"], **r["evaluation"]} for r in self._dir.read_metrics()
                if "evaluation" in r]

    @property
    def summary(self) -> dict | None:
        """Last losses and the best and last value of each metric, once the run finished."""
        path = self.path / "summary.json"
        return json.loads(path.read_text()) if path.exists() else None

    @property
    def checkpoints(self) -> list[str]:
        return [p.name for p in self._dir.list_checkpoints()]

    def data(self):
        """The run's training data, loaded as the run loads it: `.sample(n, seed)`, `.sample_shape`; a toy
        mixture also has its `.modes` and `.std`. Raises InvalidSpec when the data cannot be read."""
        from ganspec.data import load_data

        try:
            return load_data(self.spec, self.spec_dir)
        except SpecError as exc:
            raise InvalidSpec(exc.diagnostics) from None

    def generator(self, checkpoint: str | None = None, ema: bool = True, backend: str | None = None):
        """The Keras generator with a checkpoint's weights (the latest; the EMA ones when kept and `ema`)."""
        return self._generator(_activate(self.spec, backend), checkpoint, ema)[0]

    def _generator(self, spec, checkpoint: str | None, ema: bool):
        """(generator, which weights, iteration) of a checkpoint, for a spec whose backend is active."""
        try:
            return self._dir.load_generator(spec, checkpoint, ema=ema)
        except SpecError as exc:
            raise InvalidSpec(exc.diagnostics) from None

    def sample(self, n: int = 64, seed: int = 0, checkpoint: str | None = None, ema: bool = True,
               backend: str | None = None, truncation: float | None = None):
        """n samples as a NumPy array, in the data's value range, from a seeded latent batch (labels cycle
        through the classes for a conditional run); the spec's batch-norm statistics settings apply, and its
        evaluate.truncation unless `truncation` (a threshold in standard deviations) is given."""
        from ganspec.run.sampling import generate

        spec = self._truncated(_activate(self.spec, backend), truncation)
        return generate(spec, self._generator(spec, checkpoint, ema)[0], n, seed=seed)

    def sample_grid(self, n: int = 64, seed: int = 0, columns: int | None = None, scale: int | None = None,
                    checkpoint: str | None = None, ema: bool = True, backend: str | None = None,
                    truncation: float | None = None):
        """The samples as a picture (a PIL image, shown inline by Jupyter): a grid of images (small ones
        upscaled, as `ganspec sample` does, unless `scale` says otherwise), or 2-D points drawn over the data
        and its modes."""
        from PIL import Image

        from ganspec.run import images
        from ganspec.run.sampling import data_overlay

        fake = self.sample(n, seed, checkpoint, ema, backend, truncation)
        spec = self.spec
        if fake.ndim == 4:
            factor = scale if scale is not None else images.auto_scale(*fake.shape[1:3])
            picture = images.image_grid(fake, tuple(spec.data.scale or (0.0, 1.0)), columns=columns, scale=factor)
        else:
            try:
                overlay = data_overlay(spec, self.spec_dir, seed=seed + 3)
            except SpecError as exc:
                raise InvalidSpec(exc.diagnostics) from None
            picture = images.upscale(images.scatter(fake, overlay.points, modes=overlay.modes,
                                                    mode_radius=overlay.mode_radius), scale or 1)
        if picture.ndim == 3 and picture.shape[-1] == 1:
            picture = picture[..., 0]
        return Image.fromarray(picture)

    def evaluate(self, metrics: Iterable[str] | None = None, samples: int | None = None,
                 checkpoint: str | None = None, ema: bool = True, backend: str | None = None,
                 save: bool = True, truncation: float | None = None) -> dict:
        """Scores of a checkpoint's generator: the spec's metrics, or `metrics` written as in a spec
        (`["fid(2000)", "inception_score"]`), of samples drawn with the spec's evaluate.truncation, or with
        `truncation` when given. Recorded in the run when `save`: as eval-ITERATION.json, or
        eval-ITERATION-truncation-T.json with a `truncation` of its own."""
        from ganspec.metrics.evaluate import Evaluator
        from ganspec.run.sampling import Sampler, evaluation_file

        nodes = [_metric(text) for text in metrics] if metrics is not None else None
        spec = self._truncated(_activate(self.spec, backend), truncation)
        generator, which, iteration = self._generator(spec, checkpoint, ema)
        try:
            results, skipped = Evaluator(spec, self.spec_dir).run(Sampler(spec, generator), nodes, samples)
        except SpecError as exc:
            raise InvalidSpec(exc.diagnostics) from None
        if save:
            self._dir.write_json(evaluation_file(iteration, truncation), {
                "run": str(self.path), "generator": which, "iteration": iteration,
                "truncation": spec.evaluate.truncation, "results": results, "skipped": skipped})
        return results

    @staticmethod
    def _truncated(spec, truncation: float | None):
        """The spec, with evaluate.truncation set to `truncation` when one is given (ValueError for a
        threshold that is not positive or a prior without a normal factor)."""
        from ganspec.run.sampling import with_truncation

        return spec if truncation is None else with_truncation(spec, truncation)

    def resume(self, iterations: int | None = None, callbacks: Iterable = (), display="auto",
               backend: str | None = None, devices: int | str | None = None, strategy: str = "auto") -> "Run":
        """Continue training from the latest checkpoint (to `iterations` in all, if given), on any device
        layout (`devices`, `strategy`: see `fit`), whichever the run was saved on."""
        spec = self.spec
        if iterations is not None:
            spec = spec.model_copy(update={"train": spec.train.model_copy(update={"iterations": iterations})})
            self._dir.write_json("resolved.json", spec.model_dump(mode="json"))
        layout = _layout(spec, backend, strategy, devices)
        if not layout.is_chief:
            raise InvalidSpec(_error("E511", "Run.resume in a worker other than the chief",
                                     hint="resume with `ganspec run --resume RUN_DIR` in every process"))
        return _train(self, _activate(spec, backend), callbacks, display, resume=True, layout=layout)

    def __repr__(self) -> str:
        return f"<Run {self.path} ({self.status}, iteration {self.iteration})>"


def _metric(text: str):
    from ganspec.ir.components import METRICS
    from ganspec.resolve import parse_component

    node, diags = parse_component(text, METRICS)
    if node is None:
        raise InvalidSpec([dataclasses.replace(d, message=f"metric {text!r}: {d.message}", span=None) for d in diags])
    return node


def open_run(path: str | Path) -> Run:
    """A run directory written by `ganspec run` or `fit`."""
    return Run(path)


def compare(runs: Iterable[Run | str | Path], plot: str | Path | None = None) -> dict:
    """Runs side by side, as `ganspec compare`: {"runs": names, "last": each run's last scores,
    "evaluations": every evaluation by run, "diffs": spec differences against the first run}. Refuses
    (InvalidSpec, E505) runs whose scores were measured differently. `plot` draws the metric curves."""
    from ganspec.diff import diff_specs
    from ganspec.metrics.comparison import IncomparableResults, check_comparable, run_settings
    from ganspec.report.compare import evaluations, numeric_keys, plot_curves, run_labels

    opened = [r if isinstance(r, Run) else Run(r) for r in runs]
    names = run_labels([r.path for r in opened])
    evals = {name: evaluations(r.path) for name, r in zip(names, opened)}
    try:
        check_comparable({name: run_settings(evals[name], r.spec) for name, r in zip(names, opened)})
    except IncomparableResults as exc:
        raise InvalidSpec(_error("E505", f"refusing to compare: {exc}")) from None
    first = opened[0].spec
    document = {"runs": names, "last": {n: (e[-1] if e else {}) for n, e in evals.items()}, "evaluations": evals,
                "diffs": {n: diff_specs(first, r.spec) for n, r in zip(names[1:], opened[1:])}}
    if plot is not None:
        keys = numeric_keys(evals)
        if keys:
            plot_curves(evals, keys, Path(plot))
    return document
