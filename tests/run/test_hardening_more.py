"""`ganspec run` and the commands that read runs, on a flaky machine (issue 14): out of memory, a full disk or a
read-only folder while saving, NaN that reaches an evaluation, a stop signal before training starts, leftovers
of interrupted saves, sample arguments that cannot work, compare's refusals and pictures, an archived spec that
validates on its own, and the grey data under 2-D sample plots. Each is a clear message and exit code, never a
traceback, and the last good checkpoint is kept."""

from __future__ import annotations

import errno
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from ganspec import exitcodes
from ganspec.cli import main
from ganspec.run import trainer as trainer_module
from ganspec.run.rundir import RunDir, checkpoint_problem

SPEC = """experiment ring {
  seed 2
  data { source ring(8, 1.0, 0.05) }
  latent normal(4)
  generator { dense(16) relu dense(2) }
  critic { dense(16) relu dense(1) }
  objective wasserstein
  constraint gradient_penalty(weight: 1)
  train { batch 16 iterations 6 log_every 1 checkpoint_every 2 keep_checkpoints 5 }
  evaluate { every 2 metrics [mode_coverage(%d), samples(200)] }
}
"""


def cli(*argv) -> int:
    return main([str(a) for a in argv])


def write_spec(folder: Path, samples: int = 50, name: str = "ring.gan", replace: dict | None = None) -> Path:
    """The ring spec, its mode_coverage drawing `samples`, with the text replacements `replace` made."""
    text = SPEC % samples
    for old, new in (replace or {}).items():
        assert old in text
        text = text.replace(old, new)
    (folder / name).write_text(text)
    return folder / name


def only_run(out: Path) -> Path:
    (run,) = [p for p in out.iterdir() if p.is_dir()]
    return run


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """A ring run of 6 iterations: checkpoints and evaluations at 2, 4 and 6."""
    folder = tmp_path_factory.mktemp("trained")
    assert cli("run", write_spec(folder), "--plain", "--out", folder / "runs") == exitcodes.OK
    return only_run(folder / "runs")


def said(capsys) -> str:
    text = capsys.readouterr()
    words = text.out + text.err
    assert "Traceback" not in words and "internal error" not in words, words
    return words


# ---- out of memory -------------------------------------------------------------------------------


def out_of_memory_errors():
    import tensorflow as tf
    from jax.errors import JaxRuntimeError

    return [MemoryError("Unable to allocate 96.0 GiB for an array"),
            tf.errors.ResourceExhaustedError(None, None, "OOM when allocating tensor with shape[65536,65536]"),
            JaxRuntimeError("RESOURCE_EXHAUSTED: Out of memory while trying to allocate 68719476736 bytes.")]


def test_the_backends_out_of_memory_errors_are_recognised():
    assert all(trainer_module.is_out_of_memory(exc) for exc in out_of_memory_errors())
    assert not trainer_module.is_out_of_memory(RuntimeError("RESOURCE_EXHAUSTED is a word in this message"))
    assert not trainer_module.is_out_of_memory(ValueError("shapes do not match"))


@pytest.fixture
def fail_at_step(monkeypatch):
    """fail_at_step(iteration, exc): the training step raises `exc` when it trains that iteration (from 0)."""

    def plant(iteration: int, exc: BaseException):
        prepare = trainer_module.Trainer.prepare

        class FailingStep:
            def __init__(self, step, owner):
                self.step, self.owner = step, owner

            def __getattr__(self, name):
                return getattr(self.step, name)

            def __call__(self, *args, **kwargs):
                if self.owner.iteration == iteration:
                    raise exc
                return self.step(*args, **kwargs)

        def prepare_then_plant(self):
            prepare(self)
            self.step = FailingStep(self.step, self)

        monkeypatch.setattr(trainer_module.Trainer, "prepare", prepare_then_plant)

    return plant


@pytest.mark.parametrize("which", range(3), ids=["MemoryError", "ResourceExhaustedError", "RESOURCE_EXHAUSTED"])
def test_running_out_of_memory_in_training_is_exit_2_with_a_hint_and_keeps_the_checkpoint(tmp_path, capsys,
                                                                                           fail_at_step, which):
    fail_at_step(3, out_of_memory_errors()[which])
    assert cli("run", write_spec(tmp_path), "--plain", "--out", tmp_path / "runs") == exitcodes.INVALID
    words = said(capsys)
    assert "E514" in words and "out of memory while training at iteration 3" in words
    assert "lower `train.batch` (now 16" in words and "ckpt-00000002" in words
    run = only_run(tmp_path / "runs")
    assert checkpoint_problem(run / "checkpoints" / "ckpt-00000002") is None
    assert not list((run / "checkpoints").glob(".tmp-*"))


def test_running_out_of_memory_while_building_is_exit_2_and_leaves_no_run_directory(tmp_path, capsys, monkeypatch):
    from ganspec import backend

    def no_memory(*args, **kwargs):
        raise MemoryError()

    steps = backend.step_module

    def failing_steps(name):
        module = steps(name)
        monkeypatch.setattr(module, "compile_training", no_memory)
        return module

    monkeypatch.setattr(backend, "step_module", failing_steps)
    assert cli("run", write_spec(tmp_path), "--plain", "--out", tmp_path / "runs") == exitcodes.INVALID
    assert "out of memory while building the networks" in said(capsys)
    assert not list((tmp_path / "runs").iterdir())


# ---- a full disk, a read-only folder -------------------------------------------------------------


@pytest.mark.parametrize("failure", [OSError(errno.ENOSPC, "No space left on device"),
                                     PermissionError(errno.EROFS, "Read-only file system")],
                         ids=["ENOSPC", "EROFS"])
def test_a_save_that_cannot_be_written_is_exit_4_and_keeps_the_previous_checkpoint(tmp_path, capsys, monkeypatch,
                                                                                   failure):
    from ganspec.run import checkpoint

    savez, calls = np.savez, []

    def failing_savez(path, **arrays):
        calls.append(path)
        if len(calls) == 2:  # the checkpoint of iteration 4; the one of 2 is written
            raise failure
        return savez(path, **arrays)

    monkeypatch.setattr(checkpoint.np, "savez", failing_savez)
    assert cli("run", write_spec(tmp_path), "--plain", "--out", tmp_path / "runs") == exitcodes.UNREADABLE
    words = said(capsys)
    assert "cannot write checkpoint ckpt-00000004" in words and failure.strerror in words
    assert "ckpt-00000002, is kept" in words
    run = only_run(tmp_path / "runs")
    assert [p.name for p in (run / "checkpoints").iterdir() if p.is_dir()] == ["ckpt-00000002"]
    assert checkpoint_problem(run / "checkpoints" / "ckpt-00000002") is None


def test_an_output_folder_that_cannot_be_made_is_exit_4(tmp_path, capsys):
    assert cli("run", write_spec(tmp_path), "--plain", "--out", "/proc/no-such-process/runs") == exitcodes.UNREADABLE
    assert "cannot read or write" in said(capsys)


# ---- NaN that reaches an evaluation --------------------------------------------------------------


def test_nan_between_log_lines_that_reaches_an_evaluation_is_diverged(tmp_path, capsys, monkeypatch):
    """The losses logged are finite, but the generator's weights went NaN after a step (what a finite loss with an
    infinite gradient does): the evaluation that reads its samples stops the run as diverged (3), keeping the
    last good checkpoint, before a metric fails on NaN."""
    sampler = trainer_module.Trainer.sampler

    def nan_after_iteration_2(self):
        real = sampler(self)
        if self.iteration <= 2:
            return real
        return lambda n, seed: np.full((n, 2), np.nan, np.float32)

    monkeypatch.setattr(trainer_module.Trainer, "sampler", nan_after_iteration_2)
    spec = write_spec(tmp_path, replace={"log_every 1": "log_every 5",  # no log line at 2 or 4
                                         "mode_coverage(50)": "mode_coverage(50), wasserstein_distance(40)"})
    assert cli("run", spec, "--plain", "--out", tmp_path / "runs") == exitcodes.DIVERGED
    words = said(capsys)
    assert "stopped at iteration 4: a loss became NaN/Inf" in words and "ckpt-00000002" in words
    run = only_run(tmp_path / "runs")
    assert [p.name for p in (run / "checkpoints").glob("ckpt-*")] == ["ckpt-00000002"]


# ---- leftovers of interrupted saves --------------------------------------------------------------


def test_unfinished_saves_are_deleted_when_the_run_resumes(trained, tmp_path, capsys):
    run = tmp_path / trained.name
    shutil.copytree(trained, run)
    leftover = run / "checkpoints" / ".tmp-00000008-4242"
    leftover.mkdir()
    (leftover / "generator.weights.h5").write_bytes(b"half")
    assert cli("run", "--resume", run, "--plain", "--iterations", 8) == exitcodes.OK
    assert "deleted .tmp-00000008-4242, an unfinished save" in said(capsys)
    assert not leftover.exists() and checkpoint_problem(run / "checkpoints" / "ckpt-00000008") is None


# ---- sample arguments that cannot work -----------------------------------------------------------


def test_sample_refuses_no_samples_and_an_output_folder_it_cannot_make(trained, tmp_path, capsys):
    assert cli("sample", trained, "-n", 0, "-o", tmp_path / "x.png") == exitcodes.INVALID
    assert "-n must be at least 1, not 0" in said(capsys)
    assert cli("sample", trained, "-o", "/proc/no-such-process/x.png") == exitcodes.UNREADABLE
    assert "cannot read or write /proc/no-such-process" in said(capsys)
    assert not (tmp_path / "x.png").exists()


# ---- compare -------------------------------------------------------------------------------------


def test_compare_refuses_runs_whose_metrics_have_different_settings(trained, tmp_path, capsys):
    assert cli("run", write_spec(tmp_path, samples=40), "--plain", "--out", tmp_path / "runs") == exitcodes.OK
    other = only_run(tmp_path / "runs")
    assert cli("compare", trained, other) == exitcodes.INVALID
    words = said(capsys)
    assert "E505" in words and "mode_coverage" in words and "'samples': 50" in words and "'samples': 40" in words


def test_compare_draws_a_picture_only_when_asked(trained, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    other = tmp_path / "other"
    shutil.copytree(trained, other)
    assert cli("compare", trained, other) == exitcodes.OK
    assert "mode_coverage" not in said(capsys) and not list(tmp_path.glob("*.png"))
    assert cli("compare", trained, other, "--format", "json") == exitcodes.OK
    assert json.loads(capsys.readouterr().out)["plot"] is None and not list(tmp_path.glob("*.png"))
    assert cli("compare", trained, other, "--plot", "curves.png") == exitcodes.OK
    assert "metric curves: curves.png" in said(capsys) and (tmp_path / "curves.png").stat().st_size > 0


def test_the_python_api_refuses_the_same_runs(trained, tmp_path):
    from ganspec import api

    assert cli("run", write_spec(tmp_path, samples=40), "--plain", "--out", tmp_path / "runs") == exitcodes.OK
    with pytest.raises(api.InvalidSpec, match="mode_coverage"):
        api.compare([trained, only_run(tmp_path / "runs")])


# ---- the archived spec ---------------------------------------------------------------------------


def test_the_run_directory_spec_validates_after_the_files_it_extends_move(tmp_path, capsys):
    (tmp_path / "orig" / "common").mkdir(parents=True)
    (tmp_path / "orig" / "child").mkdir()
    (tmp_path / "orig" / "grand.gan").write_text(SPEC % 30)
    (tmp_path / "orig" / "common" / "base.gan").write_text(
        'experiment base extends "../grand.gan" {\n  latent normal(3)\n}\n')
    (tmp_path / "orig" / "child" / "ring.gan").write_text(
        '# the child\nexperiment ring extends "../common/base.gan" {\n  seed 5\n}\n')
    from ganspec.load import load

    resolved = load(tmp_path / "orig" / "child" / "ring.gan")
    run = RunDir.create(resolved.spec, resolved.files, tmp_path / "runs")
    shutil.move(tmp_path / "orig", tmp_path / "moved")
    assert cli("validate", run.path / "spec.gan") == exitcodes.OK
    said(capsys)
    again = load(run.path / "spec.gan")
    assert again.spec.model_dump() == run.resolved_spec().model_dump()
    assert (run.path / "spec.gan").read_text().startswith("# the child\n")  # as written, but for the path
    assert sorted(p.name for p in (run.path / "spec").iterdir()) == ["base.gan", "grand.gan"]


# ---- pictures of 2-D runs ------------------------------------------------------------------------


def test_the_sample_plots_of_a_2d_run_show_the_data_in_grey(trained):
    from PIL import Image

    from ganspec.run.images import DATA_GREY

    picture = np.asarray(Image.open(trained / "samples" / "latest.png").convert("RGB"))
    assert (picture == DATA_GREY).all(axis=-1).sum() > 100
