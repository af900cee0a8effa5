"""Nothing lost to a damaged file or an interrupted save (issue 14, data loss): a bad line of metrics.jsonl is
kept and skipped, not the end of the history; a re-saved checkpoint is swapped in atomically; a damaged
checkpoint is passed over for the newest good one, and the commands say so."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from ganspec import exitcodes
from ganspec.cli import main
from ganspec.run import rundir as rundir_module
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
  evaluate { every 100 metrics [] }
}
"""


def cli(*argv) -> int:
    return main([str(a) for a in argv])


@pytest.fixture(scope="module")
def trained_once(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("trained")
    (folder / "ring.gan").write_text(SPEC)
    assert cli("run", folder / "ring.gan", "--plain", "--out", folder / "runs") == exitcodes.OK
    (run,) = (folder / "runs").iterdir()
    return run


@pytest.fixture
def trained(trained_once, tmp_path) -> Path:
    """A run directory after 6 iterations (checkpoints at 2, 4 and 6), a copy of its own for each test."""
    import shutil

    (tmp_path / "ring.gan").write_text(SPEC)
    copy = tmp_path / "runs" / trained_once.name
    shutil.copytree(trained_once, copy)
    (copy / "spec_dir").write_text(str(tmp_path) + "\n")
    return copy


def iterations_logged(run: Path) -> list[int]:
    return [r["iteration"] for r in RunDir(run).read_metrics() if "critic_loss" in r]


def test_a_damaged_metrics_line_is_kept_and_skipped_not_the_end_of_the_history(trained, capsys):
    lines = (trained / "metrics.jsonl").read_text().splitlines()
    lines[2] = lines[2][: len(lines[2]) // 2]  # a line cut in the middle
    (trained / "metrics.jsonl").write_text("\n".join(lines) + "\n")
    run = RunDir(trained)
    assert len(run.read_metrics()) == len(lines) - 1 and run.bad_metric_lines == [3]

    assert cli("run", "--resume", trained, "--plain", "--iterations", 8) == exitcodes.OK
    assert "line 3 cannot be read" in capsys.readouterr().out
    after = (trained / "metrics.jsonl").read_text().splitlines()
    assert after[2] == lines[2]  # kept as it was
    assert iterations_logged(trained)[-2:] == [7, 8] and len(iterations_logged(trained)) == 7


def test_resaving_an_iteration_swaps_the_checkpoint_in_atomically(tmp_path, monkeypatch):
    run = RunDir(tmp_path)
    run.checkpoints.mkdir()

    def save(iteration: int, content: str) -> Path:
        tmp = run.new_checkpoint_dir(iteration)
        (tmp / "generator.weights.h5").write_text(content)
        (tmp / "variables.npz").write_text(content)
        (tmp / "state.json").write_text(json.dumps({"iteration": iteration}))
        return run.commit_checkpoint(tmp, iteration, keep=5)

    save(4, "first")
    real_replace = os.replace
    calls = []

    def crash_on_second(src, dst):
        calls.append((src, dst))
        if len(calls) == 2:
            raise OSError("killed between the renames")
        real_replace(src, dst)

    monkeypatch.setattr(rundir_module.os, "replace", crash_on_second)
    with pytest.raises(OSError):
        save(4, "second")
    monkeypatch.setattr(rundir_module.os, "replace", real_replace)
    assert not (run.checkpoints / "ckpt-00000004").exists()  # moved aside, the new one not yet in
    latest = run.latest_checkpoint()
    assert latest is not None and (latest / "generator.weights.h5").read_text() == "first"
    assert run.recover() == ["restored ckpt-00000004, which an interrupted save had moved aside",
                             f"deleted .tmp-00000004-{os.getpid()}, an unfinished save"]
    assert (run.latest_checkpoint() / "generator.weights.h5").read_text() == "first"
    assert sorted(p.name for p in run.checkpoints.iterdir()) == ["ckpt-00000004", "latest"]
    save(4, "third")  # a later re-save replaces it
    assert (run.latest_checkpoint() / "generator.weights.h5").read_text() == "third"
    assert sorted(p.name for p in run.checkpoints.iterdir()) == ["ckpt-00000004", "latest"]


@pytest.mark.parametrize("damage", ["truncate_h5", "missing_npz", "garble_state", "flip_a_byte"])
def test_a_damaged_latest_checkpoint_is_passed_over_for_the_newest_good_one(trained, capsys, damage):
    latest = trained / "checkpoints" / "ckpt-00000006"
    assert checkpoint_problem(latest) is None
    if damage == "truncate_h5":
        weights = latest / "generator.weights.h5"
        weights.write_bytes(weights.read_bytes()[:100])
    elif damage == "missing_npz":
        (latest / "variables.npz").unlink()
    elif damage == "garble_state":
        (latest / "state.json").write_text('{"iteration": 6, "data_po')
    else:
        weights = latest / "critic.weights.h5"
        data = bytearray(weights.read_bytes())
        data[len(data) // 2] ^= 0xFF
        weights.write_bytes(bytes(data))
    assert checkpoint_problem(latest) is not None
    assert RunDir(trained).latest_checkpoint().name == "ckpt-00000004"

    assert cli("sample", trained, "-o", trained / "s.png") == exitcodes.OK
    text = capsys.readouterr()
    assert "ckpt-00000006 cannot be used" in text.out + text.err and "iteration 4" in text.out + text.err

    assert cli("run", "--resume", trained, "--plain", "--iterations", 8) == exitcodes.OK
    out = capsys.readouterr().out
    assert "checkpoint ckpt-00000006 cannot be used" in out and "resuming from ckpt-00000004" in out
    assert iterations_logged(trained) == [1, 2, 3, 4, 5, 6, 7, 8]  # 5 and 6 again, from the checkpoint at 4


def test_a_checkpoint_named_outside_the_run_or_damaged_is_a_clear_error(trained, capsys):
    assert cli("eval", trained, "--checkpoint", "../..", "--metric", "mode_coverage(100)") == exitcodes.UNREADABLE
    text = capsys.readouterr()
    assert "E503" in text.out + text.err and "not in this run" in text.out + text.err
    (trained / "checkpoints" / "ckpt-00000002" / "variables.npz").unlink()
    assert cli("sample", trained, "-o", trained / "s.png") == exitcodes.OK  # the latest is fine
    assert RunDir(trained).checkpoint("ckpt-00000004").name == "ckpt-00000004"
    from ganspec.diagnostics import SpecError

    with pytest.raises(SpecError, match="variables.npz is missing"):
        RunDir(trained).checkpoint("ckpt-00000002")


def test_a_second_process_cannot_train_in_a_run_directory_in_use(trained, capsys):
    import subprocess
    import sys

    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, filelock; lock = filelock.FileLock(sys.argv[1]); lock.acquire(); "
                               "print('held', flush=True); sys.stdin.read()", str(trained / ".lock")],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        before = (trained / "metrics.jsonl").read_text()
        assert cli("run", "--resume", trained, "--plain", "--iterations", 8) == exitcodes.INVALID
        text = capsys.readouterr()
        assert "E512" in text.out + text.err and "another process is training" in text.out + text.err
        assert (trained / "metrics.jsonl").read_text() == before  # nothing written
    finally:  # the lock goes with the process; none left running however the test ends
        holder.stdin.close()
        holder.kill()
        holder.wait()
    assert cli("run", "--resume", trained, "--plain", "--iterations", 8) == exitcodes.OK  # free again


def test_a_resume_keeps_the_summary_right(tmp_path):
    """The checkpoint of an evaluated iteration holds that evaluation (it is scored before it is saved), and
    resuming a finished run keeps the last losses in summary.json."""
    (tmp_path / "ring.gan").write_text(SPEC.replace("every 100 metrics []", "every 2 metrics [mode_coverage(200)]"))
    assert cli("run", tmp_path / "ring.gan", "--plain", "--out", tmp_path / "runs") == exitcodes.OK
    (run,) = (tmp_path / "runs").iterdir()
    state = json.loads((run / "checkpoints" / "ckpt-00000006" / "state.json").read_text())
    assert [e["iteration"] for e in state["evaluations"]] == [0, 2, 4, 6]
    summary = json.loads((run / "summary.json").read_text())
    assert summary["last"]["critic_loss"] is not None

    assert cli("run", "--resume", run, "--plain") == exitcodes.OK  # already finished: nothing to train
    again = json.loads((run / "summary.json").read_text())
    assert again["last"] == summary["last"] and again["metrics"] == summary["metrics"]


def test_metrics_jsonl_is_standard_json_even_with_nan_and_infinity(tmp_path):
    import math

    run = RunDir(tmp_path)
    run.log({"iteration": 3, "critic_loss": float("nan"), "evaluation": {"reverse_kl": float("inf"), "x": 1.5}})

    def refuse(name):
        raise ValueError(f"not standard JSON: {name}")

    line = (tmp_path / "metrics.jsonl").read_text().strip()
    record = json.loads(line, parse_constant=refuse)  # what a strict reader (jq, JavaScript) accepts
    assert record["critic_loss"] == "NaN" and record["evaluation"]["reverse_kl"] == "Infinity"
    (back,) = run.read_metrics()
    assert math.isnan(back["critic_loss"]) and back["evaluation"]["reverse_kl"] == math.inf
    assert back["evaluation"]["x"] == 1.5


def test_eval_of_a_run_directory_it_cannot_write_shows_the_scores_and_says_so(trained, capsys, monkeypatch):
    import errno

    def read_only(self, name, data):
        raise OSError(errno.EROFS, "Read-only file system", str(self.path / name))

    monkeypatch.setattr(RunDir, "write_json", read_only)
    assert cli("eval", trained, "--metric", "mode_coverage(200)") == exitcodes.OK
    text = capsys.readouterr()
    assert "could not be saved" in text.out + text.err and "Read-only file system" in text.out + text.err
    assert "modes_covered" in text.out  # the scores themselves


def test_a_failed_atomic_write_keeps_the_old_file_and_leaves_no_temporary_one(tmp_path, monkeypatch):
    from ganspec.run.rundir import atomic_write

    target = tmp_path / "summary.json"
    target.write_text("old")

    def full_disk(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", full_disk)
    with pytest.raises(OSError):
        atomic_write(target, "new")
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["summary.json"]


def test_recover_deletes_the_temporary_files_of_a_killed_atomic_write(tmp_path):
    """A process killed inside `atomic_write` (SIGKILL: no except clause runs) leaves `.NAME.tmp-PID`."""
    run = RunDir(tmp_path / "run")
    run.checkpoints.mkdir(parents=True)
    (run.path / "metrics.jsonl").write_text("{}\n")
    leftovers = [run.path / ".metrics.jsonl.tmp-4242", run.checkpoints / ".latest.tmp-4242"]
    for leftover in leftovers:
        leftover.write_text("half")
    done = run.recover()
    assert not any(p.exists() for p in leftovers) and (run.path / "metrics.jsonl").exists()
    assert sorted(done) == ["deleted .latest.tmp-4242, an unfinished write",
                            "deleted .metrics.jsonl.tmp-4242, an unfinished write"]


def test_a_forced_resume_with_other_networks_is_refused_and_changes_nothing(trained, capsys):
    wider = trained.parent.parent / "wider.gan"
    wider.write_text(SPEC.replace("generator { dense(16) relu dense(2) }", "generator { dense(32) relu dense(2) }"))
    before = {p.relative_to(trained): p.read_bytes() for p in trained.rglob("*") if p.is_file()}
    code = cli("run", wider, "--resume", trained, "--force", "--plain", "--iterations", 8)
    text = capsys.readouterr()
    assert code == exitcodes.INVALID and "Traceback" not in text.out + text.err
    assert "E504" in text.out + text.err and "does not fit" in text.out + text.err
    after = {p.relative_to(trained): p.read_bytes() for p in trained.rglob("*") if p.is_file()}
    assert {k: v for k, v in after.items() if k.name != ".lock"} == {k: v for k, v in before.items()
                                                                      if k.name != ".lock"}


@pytest.mark.parametrize("argv, code, words", [
    (["eval", "{run}", "--samples", "-5"], exitcodes.INVALID, "--samples must be at least 1"),
    (["eval", "{run}", "--samples", "0"], exitcodes.INVALID, "--samples must be at least 1"),
    (["run", "--resume", "{run}", "--iterations", "-3"], exitcodes.INVALID, "--iterations must be at least 1"),
    (["sample", "{run}", "-o", "/proc/no-such-process/x.png"], exitcodes.UNREADABLE, "cannot read or write"),
])
def test_impossible_numbers_and_unwritable_outputs_are_clear_errors(trained, capsys, argv, code, words):
    resolved = (trained / "resolved.json").read_text()
    assert cli(*[a.format(run=trained) for a in argv]) == code
    text = capsys.readouterr()
    assert words in text.out + text.err and "internal error" not in text.out + text.err
    assert (trained / "resolved.json").read_text() == resolved  # nothing rewritten
