"""`ganspec run` on JAX, end to end, each in a new process: it learns without TensorFlow installed,
is reproducible, resumes exactly, and its checkpoints resume on TensorFlow and the reverse."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from ganspec import exitcodes
from tests.backends.conftest import ganspec, require_jax, require_tensorflow
from tests.conftest import SPECS
from tests.run.test_run_command import TINY, losses, run_dir

pytestmark = pytest.mark.usefixtures("jax_installed")


@pytest.fixture
def jax_installed():
    require_jax()


def spec_file(tmp_path: Path, extra: str = "") -> Path:
    path = tmp_path / "tiny.gan"
    path.write_text(TINY % extra)
    return path


def ok(result) -> None:
    assert result.returncode == exitcodes.OK, result.stdout[-3000:] + result.stderr[-3000:]


def evaluations(run: Path) -> list[dict]:
    return [r["evaluation"] for r in map(json.loads, (run / "metrics.jsonl").read_text().splitlines())
            if "evaluation" in r]


def test_learns_without_tensorflow(tmp_path):
    spec = spec_file(tmp_path, "train.iterations 600\n evaluate.every 300\n train.checkpoint_every 200")
    result = ganspec("run", spec, "--backend", "jax", "--plain", "--out", tmp_path / "runs", without_tensorflow=True)
    ok(result)
    assert "backend: jax (from --backend" in result.stdout
    run = run_dir(tmp_path / "runs")
    first, last = evaluations(run)[0], evaluations(run)[-1]
    assert last["modes_covered"] >= 7
    assert last["wasserstein_distance"] < 0.5 * first["wasserstein_distance"]
    assert json.loads((run / "resolved.json").read_text())["train"]["backend"] == "jax"
    assert json.loads((run / "checkpoints" / "ckpt-00000600" / "state.json").read_text())["backend"] == "jax"
    for name in ("models/generator.keras", "samples/latest.png", "summary.json"):
        assert (run / name).exists(), name
    assert list((run / "tensorboard").iterdir())


def test_tfds_sources_say_they_need_tensorflow(tmp_path):
    result = ganspec("run", SPECS / "dcgan.gan", "--set", 'data.source=tfds("mnist")', "--backend", "jax",
                     "--plain", "--out", tmp_path / "runs", without_tensorflow=True)
    assert result.returncode == exitcodes.UNREADABLE, result.stdout[-3000:] + result.stderr[-3000:]
    assert "internal error" not in result.stdout + result.stderr
    assert "tfds(...) sources need TensorFlow" in result.stdout


def test_backend_from_environment_and_spec(tmp_path):
    ok(ganspec("run", spec_file(tmp_path, "train.iterations 10"), "--plain", "--out", tmp_path / "env",
               backend="jax", without_tensorflow=True))
    assert json.loads((run_dir(tmp_path / "env") / "resolved.json").read_text())["train"]["backend"] == "jax"
    ok(ganspec("run", spec_file(tmp_path, "train.iterations 10\n train.backend jax"), "--plain", "--out",
               tmp_path / "spec", without_tensorflow=True))


def test_same_seed_same_losses_and_exact_resume(tmp_path):
    spec = spec_file(tmp_path, "train.iterations 100")
    ok(ganspec("run", spec, "--backend", "jax", "--plain", "--out", tmp_path / "a"))
    ok(ganspec("run", spec, "--backend", "jax", "--plain", "--out", tmp_path / "b"))
    strip = lambda rs: [{k: v for k, v in r.items() if k != "time"} for r in rs]  # noqa: E731
    straight = losses(run_dir(tmp_path / "a"))
    assert strip(straight) == strip(losses(run_dir(tmp_path / "b")))
    # 50 iterations, then resumed to 100 from the checkpoint at 50: the same numbers.
    ok(ganspec("run", spec, "--backend", "jax", "--plain", "--out", tmp_path / "c", "--iterations", "50"))
    run = run_dir(tmp_path / "c")
    ok(ganspec("run", "--resume", run, "--iterations", "100", "--backend", "jax", "--plain"))
    resumed = losses(run)
    assert [r["iteration"] for r in resumed] == [r["iteration"] for r in straight]
    for a, b in zip(resumed, straight):
        for key in ("critic_loss", "generator_loss"):
            assert a[key] == pytest.approx(b[key], rel=1e-4, abs=1e-5), (a["iteration"], key)


def test_exact_resume_with_the_simultaneous_order(tmp_path):
    """The state the one-pass update threads (both optimizers, layer states, seed) resumes exactly
    (a shared real batch and generator_first on TensorFlow: tests/run/test_run_command.py)."""
    spec = tmp_path / "simultaneous.gan"
    spec.write_text((TINY % "train.iterations 40").replace("steps.critic 3", "steps { critic 1 order simultaneous }"))
    ok(ganspec("run", spec, "--backend", "jax", "--plain", "--out", tmp_path / "straight"))
    ok(ganspec("run", spec, "--backend", "jax", "--plain", "--out", tmp_path / "resumed", "--iterations", "20"))
    run = run_dir(tmp_path / "resumed")
    ok(ganspec("run", "--resume", run, "--iterations", "40", "--backend", "jax", "--plain"))
    resumed, straight = losses(run), losses(run_dir(tmp_path / "straight"))
    assert [r["iteration"] for r in resumed] == [r["iteration"] for r in straight] == [10, 20, 30, 40]
    for a, b in zip(resumed, straight):
        for key in ("critic_loss", "generator_loss"):
            assert a[key] == pytest.approx(b[key], rel=1e-4, abs=1e-5), (a["iteration"], key)


def test_checkpoints_move_between_backends(tmp_path):
    require_tensorflow()
    spec = spec_file(tmp_path, "train.iterations 50")
    ok(ganspec("run", spec, "--backend", "tensorflow", "--plain", "--out", tmp_path / "runs"))
    run = run_dir(tmp_path / "runs")
    ok(ganspec("run", "--resume", run, "--iterations", "100", "--backend", "jax", "--plain", without_tensorflow=True))
    ok(ganspec("run", "--resume", run, "--iterations", "150", "--backend", "tensorflow", "--plain"))
    assert [r["iteration"] for r in losses(run)] == list(range(10, 151, 10))
    state = json.loads((run / "checkpoints" / "ckpt-00000150" / "state.json").read_text())
    assert state["backend"] == "tensorflow" and state["data_position"] == 150 * 3
    with np.load(run / "checkpoints" / "ckpt-00000150" / "variables.npz") as arrays:
        # The optimizers' step counters and the step's own counters went on across both switches.
        assert int(arrays["state/0001"]) == 150  # iteration (state/0000 is the RNG state)
        assert int(arrays["state/0002"]) == 150 * 3  # critic updates
        assert int(arrays["critic_optimizer/0000"]) == 150 * 3
        assert int(arrays["generator_optimizer/0000"]) == 150
    # Both backends read the checkpoint's weights alike: the same samples, the same scores.
    scores = {}
    for backend in ("tensorflow", "jax"):
        result = ganspec("eval", run, "--metric", "wasserstein_distance(500)", "--metric", "mode_coverage(500)",
                         "--format", "json", "--backend", backend)
        ok(result)
        scores[backend] = json.loads(result.stdout)["results"]
    assert scores["jax"]["wasserstein_distance"] == pytest.approx(scores["tensorflow"]["wasserstein_distance"],
                                                                  rel=1e-4)
    assert scores["jax"]["high_quality_percent"] == scores["tensorflow"]["high_quality_percent"]


@pytest.mark.parametrize("precision", ["mixed_float16", "mixed_bfloat16"])
def test_mixed_precision(tmp_path, precision):
    spec = spec_file(tmp_path, f"train.iterations 30\n train.precision {precision}")
    ok(ganspec("run", spec, "--backend", "jax", "--plain", "--out", tmp_path / "runs", without_tensorflow=True))
    records = losses(run_dir(tmp_path / "runs"))
    assert len(records) == 3 and all(np.isfinite(r["critic_loss"]) and np.isfinite(r["generator_loss"])
                                      for r in records)
