"""Callbacks and trackers of a run: Keras callbacks as they are (CSVLogger, stop_training), the run's
TensorBoard HParams and spec text, MLflow (local file store) and W&B (offline), resumes that go on
numbering and logging in the same tracked run, and the errors of `--track`."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import keras
import numpy as np
import pytest

from ganspec import exitcodes
from ganspec.cli import main
from ganspec.load import load
from ganspec.run.callbacks import GanCallback, flatten
from ganspec.run.display import PlainDisplay
from ganspec.run.rundir import RunDir
from ganspec.run.trainer import Trainer

TINY = """experiment tiny {
  description "a ring for the tracking tests"
  tags ["toy"]
  seed 3
  data { source ring(8, 1.0, 0.05) }
  latent normal(4)
  generator { dense(16) relu dense(2) }
  critic { dense(16) relu dense(1) }
  objective wasserstein
  constraint gradient_penalty(weight: 1)
  train { batch 32 iterations 4 log_every 1 checkpoint_every 2 keep_checkpoints 5 }
  evaluate { every 2 metrics [mode_coverage(200), samples(100)] }
}
"""


@pytest.fixture
def spec_file(tmp_path) -> Path:
    path = tmp_path / "tiny.gan"
    path.write_text(TINY)
    return path


def cli(*argv) -> int:
    return main([str(a) for a in argv])


def only_run(out: Path) -> Path:
    (run,) = [p for p in out.iterdir() if p.is_dir()]
    return run


def train(spec_file: Path, out: Path, callbacks, iterations: int = 4, resume: Path | None = None):
    """A Trainer as `ganspec run` drives it, with callbacks from Python: (trainer, outcome)."""
    spec = load(spec_file, overrides=[("train.iterations", str(iterations))]).spec
    run = RunDir(resume) if resume else RunDir.create(spec, [str(spec_file)], out)
    trainer = Trainer(spec, run, spec_file.parent, PlainDisplay(), callbacks=callbacks)
    trainer.prepare()
    if resume:
        assert trainer.resume()
    return trainer, trainer.train(iterations)


class Recorder(GanCallback):
    """Every hook a run calls, in order."""

    def __init__(self):
        super().__init__()
        self.calls = []

    def on_run_begin(self, run_dir, spec, spec_text):
        self.calls.append(("run_begin", Path(run_dir).name, spec.name, spec_text))

    def on_train_begin(self, logs=None):
        self.calls.append(("train_begin",))

    def on_epoch_begin(self, epoch, logs=None):
        self.calls.append(("epoch_begin", epoch))

    def on_train_batch_end(self, batch, logs=None):
        self.calls.append(("batch_end", batch, sorted(logs)))

    def on_evaluation(self, iteration, scores):
        self.calls.append(("evaluation", iteration, dict(scores)))

    def on_samples(self, iteration, picture):
        self.calls.append(("samples", iteration, picture.dtype, picture.ndim))

    def on_epoch_end(self, epoch, logs=None):
        self.calls.append(("epoch_end", epoch, dict(logs)))

    def on_train_end(self, logs=None):
        self.calls.append(("train_end",))

    def on_run_end(self, status):
        self.calls.append(("run_end", status))

    def named(self, name):
        return [c[1:] for c in self.calls if c[0] == name]


def test_keras_callbacks_see_each_log_point_and_a_resume_goes_on_numbering(tmp_path, spec_file):
    log = tmp_path / "log.csv"
    recorder = Recorder()
    trainer, outcome = train(spec_file, tmp_path / "runs", [keras.callbacks.CSVLogger(str(log), append=True),
                                                            recorder])
    assert outcome.code == exitcodes.OK
    run = only_run(tmp_path / "runs")

    # One CSV row per log point (log_every 1): the losses, the iteration, and the evaluation scores
    # (evaluations at 0, 2 and 4: the baseline at 0 goes into the first row).
    rows = list(csv.DictReader(log.open()))
    assert [int(r["epoch"]) for r in rows] == [0, 1, 2, 3]
    assert [float(r["iteration"]) for r in rows] == [1, 2, 3, 4]
    for column in ("critic_loss", "generator_loss", "val_modes_covered"):
        assert column in rows[0], rows[0].keys()
    assert all(np.isfinite(float(r["critic_loss"])) for r in rows)
    assert [r["val_modes_covered"] != "NA" for r in rows] == [True, True, False, True]
    assert not [k for k in rows[0] if k.startswith("val_critic")]  # no CSVLogger stand-in columns

    # The hooks, in Keras's order, with the GAN ones around them.
    names = [c[0] for c in recorder.calls]
    assert names[:3] == ["run_begin", "train_begin", "epoch_begin"]
    assert names[-2:] == ["train_end", "run_end"]
    assert recorder.calls[0][1:3] == (run.name, "tiny") and "experiment tiny" in recorder.calls[0][3]
    assert [b[0] for b in recorder.named("batch_end")] == [1, 2, 3, 4]
    assert "critic_loss" in recorder.named("batch_end")[0][1]
    assert [e[0] for e in recorder.named("evaluation")] == [0, 2, 4]
    assert "modes_covered" in recorder.named("evaluation")[0][1]
    assert recorder.named("samples") == [(0, np.uint8, 3), (2, np.uint8, 3), (4, np.uint8, 3)]
    assert recorder.named("run_end") == [("finished",)]
    assert recorder.model is trainer.step.generator

    # Resumed to 6 iterations: epochs and iterations go on; the first row carries the latest scores.
    recorder = Recorder()
    _, outcome = train(spec_file, None, [keras.callbacks.CSVLogger(str(log), append=True), recorder],
                       iterations=6, resume=run)
    assert outcome.code == exitcodes.OK
    rows = list(csv.DictReader(log.open()))
    assert [int(r["epoch"]) for r in rows] == [0, 1, 2, 3, 4, 5]
    assert [float(r["iteration"]) for r in rows] == [1, 2, 3, 4, 5, 6]
    assert rows[4]["val_modes_covered"] != "NA"
    assert recorder.named("epoch_begin")[0] == (4,)
    assert recorder.named("run_end") == [("finished",)]


def test_the_tensorboard_events_hold_the_hparams_session_and_the_spec_text(tmp_path, spec_file):
    from tensorboard.backend.event_processing import event_accumulator
    from tensorboard.plugins.hparams import api_pb2, plugin_data_pb2

    train(spec_file, tmp_path / "runs", [])
    run = only_run(tmp_path / "runs")
    events = event_accumulator.EventAccumulator(str(run / "tensorboard"), size_guidance={event_accumulator.TENSORS: 0})
    events.Reload()
    content = events.PluginTagToContent("hparams")
    start = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/session_start_info"]).session_start_info
    assert start.hparams["train.batch"].number_value == 32
    assert start.hparams["generator.layers.0.units"].number_value == 16
    assert start.hparams["objective.kind"].string_value == "wasserstein"
    dequantize = start.hparams["data.dequantize"]
    assert dequantize.HasField("bool_value") and dequantize.bool_value is False
    assert start.group_name == run.name
    end = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/session_end_info"]).session_end_info
    assert end.status == api_pb2.STATUS_SUCCESS
    (text,) = events.Tensors("spec")
    assert "experiment tiny {" in text.tensor_proto.string_val[0].decode()
    assert events.SummaryMetadata("spec").plugin_data.plugin_name == "text"


def test_a_callback_that_sets_stop_training_ends_the_run_with_a_checkpoint(tmp_path, spec_file):
    class StopAtTwo(keras.callbacks.Callback):  # EarlyStopping's way of ending `fit`
        def on_epoch_end(self, epoch, logs=None):
            if logs["iteration"] >= 3:
                self.model.stop_training = True

    recorder = Recorder()
    trainer, outcome = train(spec_file, tmp_path / "runs", [StopAtTwo(), recorder], iterations=8)
    run = only_run(tmp_path / "runs")
    assert outcome.code == exitcodes.OK and outcome.iteration == 3
    assert "model.stop_training" in outcome.message and "--resume" in outcome.message
    assert RunDir(run).latest_checkpoint().name == "ckpt-00000003"  # not a checkpoint_every point: saved for it
    assert (run / "models" / "generator.keras").exists()
    assert json.loads((run / "summary.json").read_text())["iterations"] == 3
    assert recorder.named("run_end") == [("stopped",)]

    # --resume goes on from there to the spec's end.
    _, outcome = train(spec_file, None, [], iterations=8, resume=run)
    assert outcome.code == exitcodes.OK and outcome.iteration == 8


# ---- MLflow and W&B -------------------------------------------------------------------------


def test_mlflow_file_store_gets_params_metrics_spec_and_samples_and_a_resume_continues_the_run(
        tmp_path, spec_file, monkeypatch):
    from mlflow.tracking import MlflowClient

    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "unset")  # so that the tracker's setdefault is undone
    monkeypatch.delenv("MLFLOW_ALLOW_FILE_STORE")
    monkeypatch.delenv("MLFLOW_EXPERIMENT_NAME", raising=False)
    store = f"file:{tmp_path / 'mlruns'}"
    assert cli("run", spec_file, "--plain", "--out", tmp_path / "runs", "--track", f"mlflow={store}") == exitcodes.OK
    run = only_run(tmp_path / "runs")
    ids = json.loads((run / "tracking.json").read_text())["mlflow"]

    client = MlflowClient(store)
    tracked = client.get_run(ids["run_id"])
    assert tracked.info.status == "FINISHED" and tracked.info.run_name == run.name
    assert client.get_experiment(tracked.info.experiment_id).name == "ganspec"
    assert tracked.data.params["train.batch"] == "32" and tracked.data.params["objective.kind"] == "wasserstein"
    assert tracked.data.params["generator.layers.0.units"] == "16"
    assert tracked.data.tags["ganspec.spec"] == "tiny"
    assert [m.step for m in client.get_metric_history(ids["run_id"], "critic_loss")] == [1, 2, 3, 4]
    assert [m.step for m in client.get_metric_history(ids["run_id"], "eval/modes_covered")] == [0, 2, 4]
    assert {a.path for a in client.list_artifacts(ids["run_id"], "spec")} == {"spec/spec.gan", "spec/resolved.json"}
    spec_copy = Path(client.download_artifacts(ids["run_id"], "spec/spec.gan", str(tmp_path)))
    assert spec_copy.read_text() == TINY
    images = [a.path for a in client.list_artifacts(ids["run_id"], "images") if a.path.endswith(".png")]
    assert len(images) == 3, images  # iterations 0, 2 and 4

    assert cli("run", "--resume", run, "--plain", "--iterations", 6, "--track", f"mlflow={store}") == exitcodes.OK
    assert json.loads((run / "tracking.json").read_text())["mlflow"]["run_id"] == ids["run_id"]
    assert [m.step for m in client.get_metric_history(ids["run_id"], "critic_loss")] == [1, 2, 3, 4, 5, 6]
    assert client.get_run(ids["run_id"]).info.status == "FINISHED"
    assert len(client.search_runs([tracked.info.experiment_id])) == 1


def wandb_records(path: Path):
    """The records of an offline W&B run file: LevelDB-log framing (7-byte ":W&B" header, 32 KiB blocks,
    records of crc32 + length + type) around `wandb_internal_pb2.Record` messages."""
    from wandb.proto import wandb_internal_pb2

    data = path.read_bytes()
    assert data[:4] == b":W&B"
    block, position, payload = 32768, 7, b""
    while position + 7 <= len(data):
        left = block - position % block
        if left < 7:  # a block's tail too short for a header is padding
            position += left
            continue
        length, kind = int.from_bytes(data[position + 4:position + 6], "little"), data[position + 6]
        payload += data[position + 7:position + 7 + length]
        position += 7 + length
        if kind in (1, 4):  # a whole record, or the last piece of one
            record = wandb_internal_pb2.Record()
            record.ParseFromString(payload)
            payload = b""
            yield record


def wandb_history(run_file: Path) -> dict[int, dict]:
    rows: dict[int, dict] = {}
    for record in wandb_records(run_file):
        if record.HasField("history"):
            rows.setdefault(record.history.step.num, {}).update(
                {item.key or "/".join(item.nested_key): json.loads(item.value_json) for item in record.history.item})
    return rows


def wandb_service_exits():
    """What the end of a `ganspec run` process does: shut W&B's service down, which writes out what it still
    buffers. `run.finish()` alone returns before the offline file is complete on a loaded machine."""
    import wandb

    wandb.teardown()


@pytest.fixture
def wandb_offline(tmp_path, monkeypatch):
    for name, value in {"WANDB_MODE": "offline", "WANDB_SILENT": "true", "WANDB_CONFIG_DIR": tmp_path / "wandb-config",
                        "WANDB_CACHE_DIR": tmp_path / "wandb-cache", "WANDB_DATA_DIR": tmp_path / "wandb-data"}.items():
        monkeypatch.setenv(name, str(value))
    for name in ("WANDB_DIR", "WANDB_PROJECT", "WANDB_RUN_ID", "WANDB_RESUME", "GANSPEC_TRACK"):
        monkeypatch.delenv(name, raising=False)
    yield
    import wandb

    wandb.teardown()


def test_wandb_offline_run_has_the_history_config_spec_and_samples_and_a_resume_keeps_its_id(
        tmp_path, spec_file, monkeypatch, wandb_offline):
    monkeypatch.setenv("GANSPEC_TRACK", "wandb=tiny-tests")
    assert cli("run", spec_file, "--plain", "--out", tmp_path / "runs") == exitcodes.OK
    wandb_service_exits()
    run = only_run(tmp_path / "runs")
    ids = json.loads((run / "tracking.json").read_text())["wandb"]
    assert ids["project"] == "tiny-tests"
    (offline,) = (run / "wandb").glob(f"offline-run-*-{ids['id']}")  # W&B's files go into the run directory
    records = list(wandb_records(offline / f"run-{ids['id']}.wandb"))
    (started,) = [r.run for r in records if r.HasField("run")]
    assert (started.run_id, started.display_name, started.project) == (ids["id"], run.name, "tiny-tests")
    config_keys = {u.key for r in records if r.HasField("config") for u in r.config.update}
    assert {"train", "generator", "objective"} <= config_keys
    (ended,) = [r.exit for r in records if r.HasField("exit")]
    assert ended.exit_code == 0

    history = wandb_history(offline / f"run-{ids['id']}.wandb")
    assert [s for s in sorted(history) if "critic_loss" in history[s]] == [1, 2, 3, 4]
    assert [s for s in sorted(history) if "eval/modes_covered" in history[s]] == [0, 2, 4]
    assert history[2]["samples/_type"] == "image-file"
    assert (offline / "files" / history[2]["samples/path"]).exists()
    assert (offline / "files" / "spec.gan").read_text() == TINY
    assert (offline / "files" / "resolved.json").exists()

    monkeypatch.delenv("GANSPEC_TRACK")
    assert cli("run", "--resume", run, "--plain", "--iterations", 6, "--track", "wandb=tiny-tests") == exitcodes.OK
    wandb_service_exits()
    assert json.loads((run / "tracking.json").read_text())["wandb"]["id"] == ids["id"]
    later = [p for p in (run / "wandb").glob(f"offline-run-*-{ids['id']}") if p != offline]
    assert len(later) == 1  # a second offline piece of the same W&B run, for `wandb sync`
    history = wandb_history(later[0] / f"run-{ids['id']}.wandb")
    assert [s for s in sorted(history) if "critic_loss" in history[s]] == [5, 6]


# ---- the command line ------------------------------------------------------------------------


def test_a_missing_tracker_library_names_the_extra_before_anything_runs(tmp_path, spec_file, monkeypatch, capsys):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "mlflow" else real(name, *a))
    assert cli("run", spec_file, "--plain", "--out", tmp_path / "runs", "--track", "mlflow") == exitcodes.INVALID
    output = capsys.readouterr()
    text = output.out + output.err
    assert "E507" in text and "pip install 'ganspec[tracking]'" in text and "--track mlflow" in text
    assert "Traceback" not in text
    assert not (tmp_path / "runs").exists()  # no run directory was made


def test_an_unknown_tracker_is_a_usage_error(tmp_path, spec_file, monkeypatch, capsys):
    monkeypatch.setenv("GANSPEC_TRACK", "neptune")
    assert cli("run", spec_file, "--plain", "--out", tmp_path / "runs") == exitcodes.INVALID
    text = capsys.readouterr()
    text = text.out + text.err
    assert "E500" in text and "neptune" in text and "--track mlflow" in text
    assert not (tmp_path / "runs").exists()


def test_a_tracker_that_cannot_start_stops_the_run_before_training(tmp_path, spec_file, capsys):
    assert cli("run", spec_file, "--plain", "--out", tmp_path / "runs", "--track",
               "mlflow=nosuchscheme://nowhere") == exitcodes.INVALID
    text = capsys.readouterr()
    text = text.out + text.err
    assert "E510" in text and "MLflow" in text and "Traceback" not in text
    assert not list((only_run(tmp_path / "runs") / "checkpoints").glob("ckpt-*"))


def test_options_parse_and_params_fit_mlflow_limits():
    from ganspec.diagnostics import SpecError
    from ganspec.run.tracking import PARAM_LENGTH, MLflowTracker, WandbTracker, from_options, mlflow_params, \
        parse_option

    assert parse_option("mlflow=sqlite:///a.db?x=1") == ("mlflow", "sqlite:///a.db?x=1")
    assert parse_option(" WandB ") == ("wandb", None)
    with pytest.raises(SpecError):
        parse_option("tensorboard")
    first, second = from_options(["mlflow=file:/a", "wandb=p", "mlflow=file:/b"])
    assert isinstance(first, MLflowTracker) and first.tracking_uri == "file:/a"
    assert isinstance(second, WandbTracker) and second.project == "p"

    long = load_text_spec(TINY.replace("a ring for the tracking tests", "x" * 900))
    params = mlflow_params(long)
    assert len(params["description"]) == PARAM_LENGTH and params["description"].endswith("…")
    assert params["tags"] == '["toy"]' and params["data.dequantize"] == "false"
    assert flatten({"a": [{"b": 1}, {"b": None}], "c": [], "d": float("nan")}) == {"a.0.b": 1, "c": "[]", "d": "nan"}


def load_text_spec(text: str):
    from ganspec.load import load_text

    resolved = load_text(text)
    assert resolved.spec is not None, resolved.diagnostics
    return resolved.spec
