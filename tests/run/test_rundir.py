"""Run directories: atomic checkpoints with rotation, metrics log, resume rules; health rules; images."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ganspec.diff import diff_specs
from ganspec.load import load_text
from ganspec.run.health import check_health
from ganspec.run.images import image_grid, scatter
from ganspec.run.rundir import RunDir, bookkeeping_only

SPEC = """experiment tiny {
  data { source ring }
  latent normal(2)
  generator { dense(8) relu dense(2) }
  critic { dense(8) relu dense(1) }
  objective non_saturating
  %s
}
"""


def make_run(tmp_path, extra=""):
    path = tmp_path / "tiny.gan"
    path.write_text(SPEC % extra)
    resolved = load_text(path.read_text())
    return RunDir.create(resolved.spec, [str(path)], tmp_path / "runs"), resolved.spec


def test_create_writes_spec_and_resolved(tmp_path):
    run, spec = make_run(tmp_path)
    assert (run.path / "spec.gan").read_text() == SPEC % ""
    assert run.resolved_spec() == spec
    assert run.path.name.startswith("tiny-")


def test_checkpoints_rotate_and_latest_skips_incomplete(tmp_path):
    run, _ = make_run(tmp_path)
    for it in (100, 200, 300, 400):
        tmp = run.new_checkpoint_dir(it)
        for name in ("generator.weights.h5", "variables.npz"):
            (tmp / name).write_text("weights")
        (tmp / "state.json").write_text(f'{{"iteration": {it}}}')
        run.commit_checkpoint(tmp, it, keep=2)
    assert [p.name for p in run.list_checkpoints()] == ["ckpt-00000300", "ckpt-00000400"]
    assert run.latest_checkpoint().name == "ckpt-00000400"
    # A crash mid-save leaves only a .tmp folder, never a newer "latest".
    run.new_checkpoint_dir(500)
    assert run.latest_checkpoint().name == "ckpt-00000400"


def test_metrics_log_survives_a_cut_line_and_truncates(tmp_path):
    run, _ = make_run(tmp_path)
    for it in (10, 20, 30):
        run.log({"iteration": it, "critic_loss": 1.0})
    with open(run.path / "metrics.jsonl", "a") as fh:
        fh.write('{"iteration": 40, "crit')
    assert [r["iteration"] for r in run.read_metrics()] == [10, 20, 30]
    records, bad = run.truncate_metrics(20)
    assert [r["iteration"] for r in records] == [10, 20] and bad == [4]
    assert [r["iteration"] for r in run.read_metrics()] == [10, 20]


def test_bookkeeping_changes_allow_resume():
    a = load_text(SPEC % "train.iterations 100").spec
    b = load_text(SPEC % "train.iterations 500\n evaluate.every 50").spec
    c = load_text(SPEC % "train.iterations 100\n optimizer.critic.lr 1e-3").spec
    assert bookkeeping_only(diff_specs(a, b))
    assert not bookkeeping_only(diff_specs(a, c))


def test_health_rules():
    spec = load_text(SPEC % "").spec
    assert check_health([{"critic_loss": 0.5, "generator_loss": 1.0}], spec) == []
    (alert,) = check_health([{"critic_loss": float("nan"), "generator_loss": 1.0}], spec)
    assert alert.code == "nan" and alert.severity == "fatal"
    history = [{"critic_loss": 1e-5, "generator_loss": 9.0, "generator_grad_norm": 1e-8}] * 12
    assert {a.code for a in check_health(history, spec)} == {"vanishing", "critic-collapse"}
    growing = [{"critic_loss": float(10 ** (i / 2))} for i in range(20)]
    assert [a.code for a in check_health(growing, spec)] == ["divergence"]


def test_image_grid_and_scatter():
    images = np.stack([np.full((4, 4, 1), v) for v in (-1.0, 0.0, 1.0, 1.0)])
    grid = image_grid(images)
    assert grid.shape == (2 * 5 + 1, 2 * 5 + 1, 1) and grid.dtype == np.uint8
    assert grid[1, 1, 0] == 0 and grid[1, 6, 0] == 128 and grid[6, 1, 0] == 255
    picture = scatter(np.random.default_rng(0).normal(size=(100, 2)), np.zeros((10, 2)))
    assert picture.shape == (400, 400, 3)
    assert (picture != 255).any()


def test_a_workers_scratch_folder_is_gone_when_its_process_exits(tmp_path):
    import subprocess
    import sys

    code = ("from ganspec.run.rundir import worker_scratch; f = worker_scratch(3); (f / 'metrics.jsonl').write_text('x');"
            " print(f)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "TMPDIR": str(tmp_path)})
    folder = Path(out.stdout.strip())
    assert folder.parent == tmp_path and folder.name.startswith("ganspec-worker3-")
    assert not folder.exists()
