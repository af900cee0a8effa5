"""`ganspec run` end to end: learning, resume after SIGKILL, Ctrl-C, NaN, bad data, changed specs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ganspec import exitcodes
from ganspec.cli import main
from tests.conftest import ROOT, SPECS

TINY = """experiment tiny {
  seed 3
  data { source ring(8, 1.0, 0.05) }
  latent normal(4)
  generator { dense(32) relu dense(32) relu dense(2) }
  critic { dense(32) relu dense(32) relu dense(1) }
  objective wasserstein
  constraint gradient_penalty(weight: 1)
  steps.critic 3
  optimizer.generator adam(lr: 1e-3, beta1: 0.5, beta2: 0.9)
  optimizer.critic adam(lr: 1e-3, beta1: 0.5, beta2: 0.9)
  train { batch 64 iterations 200 log_every 10 checkpoint_every 50 keep_checkpoints 2 }
  evaluate { every 100 metrics [mode_coverage(500), wasserstein_distance(300), samples(300)] }
  %s
}
"""


def write_spec(tmp_path: Path, extra: str = "", name: str = "tiny.gan") -> Path:
    path = tmp_path / name
    path.write_text(TINY % extra)
    return path


def run_dir(out: Path) -> Path:
    (only,) = [p for p in out.iterdir() if p.is_dir()]
    return only


def losses(path: Path) -> list[dict]:
    return [r for r in map(json.loads, (path / "metrics.jsonl").read_text().splitlines()) if "critic_loss" in r]


def cli(*argv) -> int:
    return main([str(a) for a in argv])


@pytest.mark.slow
def test_wgan_gp_ring_learns_in_1500_iterations(tmp_path):
    code = cli("run", SPECS / "toy" / "ring_wgan_gp.gan", "--plain", "--out", tmp_path / "runs", "--iterations", 1500)
    assert code == exitcodes.OK
    run = run_dir(tmp_path / "runs")
    evaluations = [r["evaluation"] for r in map(json.loads, (run / "metrics.jsonl").read_text().splitlines())
                   if "evaluation" in r]
    assert evaluations[-1]["modes_covered"] >= 6
    assert evaluations[-1]["wasserstein_distance"] < 0.5 * evaluations[0]["wasserstein_distance"]
    for name in ("spec.gan", "resolved.json", "summary.json", "models/generator.keras", "samples/latest.png"):
        assert (run / name).exists(), name
    assert list((run / "tensorboard").iterdir())


def test_same_spec_and_seed_give_the_same_losses(tmp_path):
    spec = write_spec(tmp_path, "train.iterations 30")
    assert cli("run", spec, "--plain", "--out", tmp_path / "a") == exitcodes.OK
    assert cli("run", spec, "--plain", "--out", tmp_path / "b") == exitcodes.OK
    assert losses(run_dir(tmp_path / "a")) != []
    strip = lambda rs: [{k: v for k, v in r.items() if k != "time"} for r in rs]  # noqa: E731
    assert strip(losses(run_dir(tmp_path / "a"))) == strip(losses(run_dir(tmp_path / "b")))


_STARTED: list[subprocess.Popen] = []


@pytest.fixture(autouse=True)
def _stop_leftover_processes():
    """A test that fails half-way must not leave its training process running."""
    yield
    while _STARTED:
        proc = _STARTED.pop()
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _start(args, tmp_path):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "ganspec", *map(str, args)], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    _STARTED.append(proc)
    return proc


def _wait_for_iteration(proc, at_least: int, timeout: float = 120) -> list[str]:
    lines = []
    deadline = time.time() + timeout
    while time.time() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        if line.startswith("[") and "/" in line:
            done = int(line[1:line.index("/")])
            if done >= at_least:
                return lines
    raise AssertionError("the run did not get far enough:\n" + "".join(lines))


def test_resume_after_sigkill_matches_an_uninterrupted_run(tmp_path):
    spec = write_spec(tmp_path)
    for attempt in range(3):  # on a loaded machine the run may finish before this reads iteration 120
        out = tmp_path / f"killed{attempt}"
        proc = _start(["run", spec, "--plain", "--out", out], tmp_path)
        _wait_for_iteration(proc, 120)
        proc.send_signal(signal.SIGKILL)
        killed = proc.wait(timeout=30) == -signal.SIGKILL
        run = run_dir(out)
        latest = (run / "checkpoints" / "latest").read_text().strip()
        if killed and latest in ("ckpt-00000100", "ckpt-00000150"):
            break
    else:
        pytest.fail("the run got to its end before it could be killed, three times")
    assert cli("run", "--resume", run, "--plain") == exitcodes.OK
    assert cli("run", spec, "--plain", "--out", tmp_path / "straight") == exitcodes.OK
    resumed, straight = losses(run), losses(run_dir(tmp_path / "straight"))
    assert [r["iteration"] for r in resumed] == [r["iteration"] for r in straight] == list(range(10, 201, 10))
    assert json.loads((run / "summary.json").read_text())["iterations"] == 200
    for a, b in zip(resumed, straight):
        for key in ("critic_loss", "generator_loss"):
            assert a[key] == pytest.approx(b[key], rel=1e-4, abs=1e-5), (a["iteration"], key)


@pytest.mark.parametrize("steps", ["steps { critic 3 share_real_batch true }",
                                   "steps { critic 1 order generator_first }"], ids=["shared_batch", "generator_first"])
def test_resume_is_exact_with_other_update_orders(tmp_path, steps):
    """The checkpoint's data position counts the real batches each iteration consumed (one per iteration
    with a shared batch), so a resumed run reads the same batches as an uninterrupted one."""
    path = tmp_path / "tiny.gan"
    path.write_text((TINY % "train.iterations 40").replace("steps.critic 3", steps))
    assert_resumes_exactly(tmp_path, path)


def assert_resumes_exactly(tmp_path, path, keys=("critic_loss", "generator_loss")) -> None:
    """40 iterations of the spec at `path` (logged every 10) straight, and 20 then resumed to 40: the same `keys`."""
    assert cli("run", path, "--plain", "--out", tmp_path / "straight") == exitcodes.OK
    assert cli("run", path, "--plain", "--out", tmp_path / "resumed", "--iterations", "20") == exitcodes.OK
    run = run_dir(tmp_path / "resumed")
    assert cli("run", "--resume", run, "--iterations", "40", "--plain") == exitcodes.OK
    resumed, straight = losses(run), losses(run_dir(tmp_path / "straight"))
    assert [r["iteration"] for r in resumed] == [r["iteration"] for r in straight] == [10, 20, 30, 40]
    for a, b in zip(resumed, straight):
        for key in keys:
            assert a[key] == pytest.approx(b[key], rel=1e-4, abs=1e-5), (a["iteration"], key)


def test_ctrl_c_saves_and_exits_130(tmp_path):
    spec = write_spec(tmp_path, "train.iterations 100_000")
    proc = _start(["run", spec, "--plain", "--out", tmp_path / "runs"], tmp_path)
    _wait_for_iteration(proc, 30)
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=180)
    assert proc.returncode == exitcodes.INTERRUPTED, out
    assert "interrupted: saved ckpt-" in out and "--resume" in out
    run = run_dir(tmp_path / "runs")
    assert (run / "checkpoints" / "latest").exists()


def test_ctrl_c_pressed_again_and_again_while_saving_still_saves_and_exits_130(tmp_path):
    """Fault injection: after the first SIGINT, more keep coming every few milliseconds until the process
    has exited; none may cut the interrupt save, the final messages or the exit short."""
    spec = write_spec(tmp_path, "train.iterations 100_000")
    proc = _start(["run", spec, "--plain", "--out", tmp_path / "runs"], tmp_path)
    _wait_for_iteration(proc, 30)
    proc.send_signal(signal.SIGINT)
    sent = 1
    while proc.poll() is None and sent < 5000:
        time.sleep(0.005)
        try:
            proc.send_signal(signal.SIGINT)
            sent += 1
        except ProcessLookupError:
            break
    out, _ = proc.communicate(timeout=180)
    assert proc.returncode == exitcodes.INTERRUPTED, out
    assert "Traceback" not in out and "interrupted: saved ckpt-" in out
    run = run_dir(tmp_path / "runs")
    saved = out.split("interrupted: saved ")[1].split(";")[0]
    assert (run / "checkpoints" / saved / "state.json").exists()
    assert not list((run / "checkpoints").glob(".tmp-*"))


def test_nan_stops_and_keeps_the_last_good_checkpoint(tmp_path, capsys):
    spec = tmp_path / "nan.gan"
    spec.write_text((TINY % "").replace("optimizer.critic adam(lr: 1e-3, beta1: 0.5, beta2: 0.9)",
                                        "optimizer.critic sgd(lr: 1e35)"))
    code = cli("run", spec, "--plain", "--out", tmp_path / "runs")
    out = capsys.readouterr().out
    assert code == exitcodes.DIVERGED
    assert "NaN" in out and ("no checkpoint was saved yet" in out or "last good checkpoint" in out)
    run = run_dir(tmp_path / "runs")
    for ckpt in (run / "checkpoints").glob("ckpt-*"):
        record = [r for r in losses(run) if r["iteration"] == int(ckpt.name[5:])]
        assert all(all(v == v for v in r.values() if isinstance(v, float)) for r in record)


def test_bad_data_path_is_a_clear_error(tmp_path, capsys):
    spec = tmp_path / "bad.gan"
    spec.write_text((SPECS / "dcgan.gan").read_text().replace("mnist/t10k-images", "nowhere/t10k-images"))
    code = cli("run", spec, "--plain", "--out", tmp_path / "runs")
    out = capsys.readouterr().out
    assert code == exitcodes.UNREADABLE
    assert "nowhere/t10k-images-idx3-ubyte.gz" in out and "Traceback" not in out
    assert not (tmp_path / "runs").exists() or not list((tmp_path / "runs").iterdir())  # no empty run left


def test_resume_refuses_a_changed_spec_unless_bookkeeping_or_forced(tmp_path, capsys):
    spec = write_spec(tmp_path, "train.iterations 20")
    assert cli("run", spec, "--plain", "--out", tmp_path / "runs") == exitcodes.OK
    run = run_dir(tmp_path / "runs")
    changed = write_spec(tmp_path, "train.iterations 20\n optimizer.critic.lr 5e-4", "changed.gan")
    capsys.readouterr()
    assert cli("run", changed, "--resume", run, "--plain") == exitcodes.INVALID
    out = capsys.readouterr().out
    assert "refusing to resume" in out and "optimizer.critic.lr" in out
    longer = write_spec(tmp_path, "train.iterations 40", "longer.gan")
    assert cli("run", longer, "--resume", run, "--plain") == exitcodes.OK
    assert json.loads((run / "summary.json").read_text())["iterations"] == 40
    assert cli("run", changed, "--resume", run, "--plain", "--force") == exitcodes.OK


def test_sample_command_writes_a_grid(tmp_path):
    spec = write_spec(tmp_path, "train.iterations 10")
    assert cli("run", spec, "--plain", "--out", tmp_path / "runs") == exitcodes.OK
    out = tmp_path / "grid.png"
    assert cli("sample", run_dir(tmp_path / "runs"), "-n", 100, "-o", out) == exitcodes.OK
    from PIL import Image

    assert Image.open(out).size == (400, 400)


def test_tiny_mnist_critic_separates_real_from_fake(tmp_path, mnist_dir):
    spec = tmp_path / "mnist.gan"
    spec.write_text(f"""experiment tiny_mnist {{
  data {{ source idx("{mnist_dir / 't10k-images-idx3-ubyte.gz'}") limit 2000 }}
  latent normal(16)
  generator {{ dense(7 * 7 * 8) relu reshape(7, 7, 8) conv_transpose(8, kernel: 4, stride: 2) relu
               conv_transpose(1, kernel: 4, stride: 2) tanh }}
  critic {{ conv(8, kernel: 4, stride: 2) leaky_relu(0.2) conv(16, kernel: 4, stride: 2) leaky_relu(0.2)
            flatten dense(1) }}
  objective non_saturating
  train {{ batch 32 iterations 60 log_every 10 }}
  evaluate {{ every 60 metrics [samples(16)] }}
}}""")
    assert cli("run", spec, "--plain", "--out", tmp_path / "runs") == exitcodes.OK
    run = run_dir(tmp_path / "runs")
    last = losses(run)[-1]
    # D(x) and D(G(z)) are logits: a critic that tells real from fake scores real higher.
    assert last["d_real"] - last["d_fake"] > 1.0, last
    assert (run / "samples" / "latest.png").exists()


def test_eval_and_compare(tmp_path, capsys):
    spec = write_spec(tmp_path, "train.iterations 20")
    other = tmp_path / "other.gan"
    other.write_text((TINY % "train.iterations 20").replace("seed 3", "seed 4"))
    assert cli("run", spec, "--plain", "--out", tmp_path / "a") == exitcodes.OK
    assert cli("run", other, "--plain", "--out", tmp_path / "b") == exitcodes.OK
    a, b = run_dir(tmp_path / "a"), run_dir(tmp_path / "b")
    capsys.readouterr()
    assert cli("eval", a, "--metric", "mode_coverage(300)", "--format", "json") == exitcodes.OK
    report = json.loads(capsys.readouterr().out)
    assert report["iteration"] == 20 and set(report["results"]) >= {"modes_covered", "high_quality_percent"}
    assert (a / "eval-00000020.json").exists()
    assert cli("eval", a, "--metric", "fidd") == exitcodes.INVALID
    assert cli("eval", a, "--checkpoint", "ckpt-99") == exitcodes.UNREADABLE
    plot = tmp_path / "curves.png"
    capsys.readouterr()
    assert cli("compare", a, b, "--plot", plot, "--format", "json") == exitcodes.OK
    data = json.loads(capsys.readouterr().out)
    assert [e["path"] for e in data["diffs"][data["runs"][1]]] == ["seed"]
    assert plot.stat().st_size > 10_000
    # Numbers computed with different feature extractors are never compared.
    with open(b / "metrics.jsonl", "a") as fh:
        fh.write(json.dumps({"iteration": 20, "evaluation": {"fid": 3.0, "features": "inception"}}) + "\n")
    with open(a / "metrics.jsonl", "a") as fh:
        fh.write(json.dumps({"iteration": 20, "evaluation": {"fid": 2.0, "features": "classifier"}}) + "\n")
    assert cli("compare", a, b, "--plot", plot) == exitcodes.INVALID
    assert "features" in capsys.readouterr().out


def test_a_stop_signal_is_kept_even_when_it_arrives_inside_a_finaliser():
    """The lost Ctrl-C: Python's own handler raises KeyboardInterrupt wherever the main thread is,
    and inside a `__del__` (TensorFlow has many) Python prints "Exception ignored" and drops it."""
    from ganspec.run.trainer import StopSignals, _Stop

    class Finalised:
        def __del__(self):
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.01)  # let the handler run here, inside the finaliser

    before = signal.getsignal(signal.SIGINT)
    with StopSignals() as stop:
        Finalised()  # collected at once: the signal arrives inside __del__
        with pytest.raises(_Stop):
            stop.check()
    assert signal.getsignal(signal.SIGINT) is before
