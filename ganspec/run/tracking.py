"""Experiment tracking through the trackers' own libraries, as callbacks of a run.

`MLflowTracker` and `WandbTracker` are `GanCallback`s: they receive the losses at every log point
(`on_train_batch_end`, step = iteration), the scores of every evaluation (as `eval/<score>`, the
names of the TensorBoard scalars), every sample grid, and, when the run begins, the resolved spec
(MLflow params / W&B config, flattened as `generator.layers.0.units`) and the spec files. They end
their run with the run's status. A resumed run goes on in the same MLflow run / W&B run: their ids
are kept in the run directory's `tracking.json`.

`ganspec run --track mlflow[=URI] --track wandb[=PROJECT]` (or `$GANSPEC_TRACK`) builds them with
`from_options`; from Python, pass them in `callbacks=`.
"""

from __future__ import annotations

import importlib.util
import json
import os
import time
from pathlib import Path
from urllib.parse import urlparse

from ganspec.diagnostics import SpecError, error
from ganspec.run.callbacks import GanCallback, flatten
from ganspec.run.rundir import atomic_write

IDS_FILE = "tracking.json"  # {tracker: {what continues its run}} in the run directory
EVAL_PREFIX = "eval/"  # as the TensorBoard scalars
# MLflow servers before 2.x cut params at 500 characters (6000 since): the shortest limit any
# server has, so a run logs to each of them alike.
PARAM_LENGTH = 500
PARAM_KEY_LENGTH = 250


class TrackingError(SpecError):
    """A tracker could not start (E510): the run stops before training."""

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(error("E510", message, hint=hint))


def recall(run_dir: Path, tracker: str) -> dict | None:
    """What `remember` kept for `tracker` in this run directory."""
    path = Path(run_dir) / IDS_FILE
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text()).get(tracker)
    except json.JSONDecodeError:
        return None


def remember(run_dir: Path, tracker: str, ids: dict) -> None:
    path = Path(run_dir) / IDS_FILE
    known = json.loads(path.read_text()) if path.exists() else {}
    known[tracker] = ids
    atomic_write(path, json.dumps(known, indent=2) + "\n")


def _numbers(logs: dict) -> dict:
    return {k: float(v) for k, v in (logs or {}).items() if isinstance(v, (int, float)) and not isinstance(v, bool)}


# ---- MLflow --------------------------------------------------------------------------------


class MLflowTracker(GanCallback):
    """One MLflow run per ganspec run (named after the run directory), in `experiment`.

    `tracking_uri`: an MLflow tracking URI (`http://...`, `sqlite:///mlflow.db`, `file:./mlruns`);
    default $MLFLOW_TRACKING_URI, else MLflow's default. A `file:` store (or a plain folder) is
    MLflow's maintenance-mode backend, which MLflow 3 refuses unless MLFLOW_ALLOW_FILE_STORE=true:
    naming one here sets that (unless it is set). `experiment`: default $MLFLOW_EXPERIMENT_NAME,
    else "ganspec".
    """

    def __init__(self, tracking_uri: str | None = None, experiment: str | None = None):
        super().__init__()
        self.tracking_uri = tracking_uri
        self.experiment = experiment or os.environ.get("MLFLOW_EXPERIMENT_NAME") or "ganspec"
        self.client = None
        self.run_id: str | None = None

    def on_run_begin(self, run_dir, spec, spec_text) -> None:
        import mlflow
        from mlflow.tracking import MlflowClient

        uri = self.tracking_uri or mlflow.get_tracking_uri()
        if urlparse(str(uri)).scheme in ("", "file"):
            os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
        try:
            self.client = MlflowClient(tracking_uri=uri)
            self.run_id = self._continue(run_dir, uri) or self._create(run_dir, uri, spec)
            self._log_spec(run_dir, spec, spec_text)
        except Exception as exc:  # the library's own errors, whatever their class: a message, not a traceback
            raise TrackingError(f"MLflow ({uri}) could not start the run: {_first_line(exc)}",
                                hint="check the tracking URI (`--track mlflow=URI`, $MLFLOW_TRACKING_URI)") from exc

    def _continue(self, run_dir, uri) -> str | None:
        """The MLflow run this run directory logged to before, at the same URI, marked running again."""
        known = recall(run_dir, "mlflow")
        if not known or known.get("tracking_uri") != str(uri):
            return None
        from mlflow.exceptions import MlflowException

        try:
            self.client.get_run(known["run_id"])
        except MlflowException:  # deleted since: start a new one
            return None
        self.client.update_run(known["run_id"], status="RUNNING")
        return known["run_id"]

    def _create(self, run_dir, uri, spec) -> str:
        found = self.client.get_experiment_by_name(self.experiment)
        experiment_id = found.experiment_id if found else self.client.create_experiment(self.experiment)
        tags = {"ganspec.spec": spec.name, "ganspec.run_dir": str(Path(run_dir).resolve())}
        if spec.description:
            tags["mlflow.note.content"] = spec.description
        run = self.client.create_run(experiment_id, run_name=Path(run_dir).name, tags=tags)
        remember(run_dir, "mlflow", {"tracking_uri": str(uri), "experiment_id": experiment_id,
                                     "run_id": run.info.run_id})
        return run.info.run_id

    def _log_spec(self, run_dir, spec, spec_text) -> None:
        """Params (new keys only: MLflow keeps a param's first value), the spec files as artifacts."""
        from mlflow.entities import Param

        logged = self.client.get_run(self.run_id).data.params
        params = [Param(key, value) for key, value in mlflow_params(spec).items() if key not in logged]
        if params:
            self.client.log_batch(self.run_id, params=params)
        written = Path(run_dir) / "spec.gan"
        if written.exists():
            self.client.log_artifact(self.run_id, str(written), "spec")
        else:
            self.client.log_text(self.run_id, spec_text, "spec/spec.gan")
        self.client.log_artifact(self.run_id, str(Path(run_dir) / "resolved.json"), "spec")
        if (Path(run_dir) / "spec").is_dir():  # the files it extends
            self.client.log_artifacts(self.run_id, str(Path(run_dir) / "spec"), "spec/extends")

    def _metrics(self, step: int, values: dict) -> None:
        from mlflow.entities import Metric

        if self.run_id is None or not values:
            return
        now = int(time.time() * 1000)
        self.client.log_batch(self.run_id, metrics=[Metric(k, v, now, int(step)) for k, v in values.items()])

    def on_train_batch_end(self, batch, logs=None) -> None:
        self._metrics(batch, _numbers(logs))

    def on_evaluation(self, iteration, scores) -> None:
        self._metrics(iteration, {EVAL_PREFIX + k: v for k, v in _numbers(scores).items()})

    def on_samples(self, iteration, picture) -> None:
        if self.run_id is not None:
            self.client.log_image(self.run_id, picture, key="samples", step=int(iteration))

    def on_run_end(self, status) -> None:
        if self.run_id is None:
            return
        state = {"finished": "FINISHED", "stopped": "FINISHED", "interrupted": "KILLED"}.get(status, "FAILED")
        self.client.set_terminated(self.run_id, status=state)


def mlflow_params(spec) -> dict[str, str]:
    """The resolved spec as MLflow params: dotted keys of the characters MLflow takes, values cut to
    PARAM_LENGTH characters (an ellipsis marks a cut)."""
    out = {}
    for key, value in flatten(spec.model_dump(mode="json")).items():
        key = "".join(c if c.isalnum() or c in "_-. /" else "_" for c in key)[:PARAM_KEY_LENGTH]
        text = json.dumps(value) if isinstance(value, bool) else str(value)
        out[key] = text if len(text) <= PARAM_LENGTH else text[:PARAM_LENGTH - 1] + "…"
    return out


# ---- Weights & Biases ----------------------------------------------------------------------


class WandbTracker(GanCallback):
    """One W&B run per ganspec run (named after the run directory, grouped by spec name).

    `project`: default $WANDB_PROJECT, else "ganspec". `mode`: "online", "offline" or "disabled";
    default $WANDB_MODE, else W&B's own default. `dir`: where W&B keeps its local files; default
    $WANDB_DIR, else the run directory (its `wandb/` folder; `wandb sync` uploads an offline run).
    """

    def __init__(self, project: str | None = None, entity: str | None = None, mode: str | None = None,
                 dir: str | Path | None = None):  # noqa: A002 - wandb.init's own word
        super().__init__()
        self.project = project or os.environ.get("WANDB_PROJECT") or "ganspec"
        self.entity = entity
        self.mode = mode
        self.dir = dir
        self.run = None

    def on_run_begin(self, run_dir, spec, spec_text) -> None:
        import wandb

        known = recall(run_dir, "wandb") or {}
        same = known.get("project") == self.project
        folder = self.dir or os.environ.get("WANDB_DIR") or run_dir
        try:
            self.run = wandb.init(project=self.project, entity=self.entity, mode=self.mode, dir=str(folder),
                                  name=Path(run_dir).name, group=spec.name, tags=list(spec.tags) or None,
                                  notes=spec.description or None, id=known.get("id") if same else None,
                                  resume="allow" if same and known.get("id") else None)
        except Exception as exc:  # no login, no network: a message, not a traceback
            raise TrackingError(f"W&B could not start the run: {_first_line(exc)}",
                                hint="log in with `wandb login`, or track offline: WANDB_MODE=offline "
                                     "(upload later with `wandb sync`)") from exc
        remember(run_dir, "wandb", {"project": self.project, "id": self.run.id})
        self.run.config.update(spec.model_dump(mode="json"), allow_val_change=True)
        for name in ("spec.gan", "resolved.json", "spec/*"):
            if list(Path(run_dir).glob(name)):
                self.run.save(str(Path(run_dir) / name), base_path=str(run_dir), policy="now")

    def on_train_batch_end(self, batch, logs=None) -> None:
        if self.run is not None:
            self.run.log(_numbers(logs), step=int(batch))

    def on_evaluation(self, iteration, scores) -> None:
        if self.run is not None:
            self.run.log({EVAL_PREFIX + k: v for k, v in _numbers(scores).items()}, step=int(iteration))

    def on_samples(self, iteration, picture) -> None:
        import wandb

        if self.run is not None:
            self.run.log({"samples": wandb.Image(picture, caption=f"iteration {iteration}")}, step=int(iteration))

    def on_run_end(self, status) -> None:
        if self.run is None:
            return
        from ganspec import exitcodes

        code = {"finished": exitcodes.OK, "stopped": exitcodes.OK, "interrupted": exitcodes.INTERRUPTED,
                "diverged": exitcodes.DIVERGED}.get(status, 1)
        self.run.finish(exit_code=code)
        self.run = None


# ---- from the command line -----------------------------------------------------------------

# `--track KIND[=TARGET]`: the tracker, the library it needs, and what TARGET names.
TRACKERS = {
    "mlflow": (MLflowTracker, "mlflow", "the tracking URI"),
    "wandb": (WandbTracker, "wandb", "the project"),
}


def parse_option(text: str) -> tuple[str, str | None]:
    """`mlflow=sqlite:///mlflow.db` -> ("mlflow", "sqlite:///mlflow.db"); SpecError (E500) for an unknown tracker."""
    kind, _, target = text.strip().partition("=")
    kind = kind.strip().lower()
    if kind not in TRACKERS:
        raise SpecError(error("E500", f"--track {text}: no tracker called {kind!r}",
                              hint="; ".join(f"`--track {k}[={what.split()[-1].upper()}]` ({what})"
                                             for k, (_, _, what) in TRACKERS.items())))
    return kind, target.strip() or None


def from_options(options) -> list:
    """The trackers that `--track` options (then $GANSPEC_TRACK's comma-separated ones) ask for, one per
    kind (the first option of a kind wins). SpecError: E500 for an unknown tracker, E507 (MissingExtra)
    when its library is not installed."""
    from ganspec.backend import MissingExtra

    chosen: dict[str, str | None] = {}
    for text in options:
        kind, target = parse_option(text)
        chosen.setdefault(kind, target)
    trackers = []
    for kind, target in chosen.items():
        cls, library, _ = TRACKERS[kind]
        if importlib.util.find_spec(library) is None:
            raise MissingExtra("tracking", f"--track {kind}", [library])
        trackers.append(cls(target))
    return trackers


def options_from_environment() -> list[str]:
    """$GANSPEC_TRACK as options: `mlflow=sqlite:///mlflow.db,wandb`."""
    return [part for part in os.environ.get("GANSPEC_TRACK", "").split(",") if part.strip()]


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]
