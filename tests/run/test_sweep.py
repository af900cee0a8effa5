"""`ganspec sweep`: the plan (grid x seeds, sweep files, bad values), a real local sweep and its table,
continuing an interrupted sweep, diverging and failing points, and the same sweep on a local Ray instance."""

from __future__ import annotations

import json
import math
import shutil
import statistics
from pathlib import Path

import pytest

from ganspec import exitcodes
from ganspec.cli import main
from ganspec.diagnostics import SpecError
from ganspec.sweeps import Request, build, parse_seeds, read_sweep_file
from ganspec.sweeps.executors import local_slots
from ganspec.sweeps.plan import parse_sets, split_values
from tests.run.test_run_command import TINY

# Every point: 20 iterations, a checkpoint every 10 (an interrupted run has one to resume from), one evaluation
# at the start and one at the end.
EVERY_POINT = ["--set", "train.log_every=10", "--set", "evaluate.every=20", "--set", "train.checkpoint_every=10",
               "--iterations", "20"]
GRID = ["--seeds", "0:2", "--set", "optimizer.critic.lr=1e-3,2e-4"]
NAMES = ["tiny,optimizer.critic.lr=1e-3,seed=0", "tiny,optimizer.critic.lr=1e-3,seed=1",
         "tiny,optimizer.critic.lr=2e-4,seed=0", "tiny,optimizer.critic.lr=2e-4,seed=1"]


def cli(*argv) -> int:
    return main([str(a) for a in argv])


def write_tiny(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "tiny.gan"
    path.write_text(TINY % "")
    return path


def losses(run: Path) -> list[dict]:
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return [{k: v for k, v in r.items() if k != "time"} for r in records if "critic_loss" in r]


# ---- the plan (no training) ----------------------------------------------------------------


def test_values_split_at_top_level_commas_and_seeds_read_as_ranges_or_lists():
    assert split_values("1e-4,2e-4") == ["1e-4", "2e-4"]
    assert split_values("adam(lr: 1e-4, beta1: 0.5),rmsprop(lr: 1e-3)") == ["adam(lr: 1e-4, beta1: 0.5)",
                                                                             "rmsprop(lr: 1e-3)"]
    assert split_values('[mode_coverage(500), samples(100)]') == ["[mode_coverage(500), samples(100)]"]
    assert split_values('npz("a,b.npz"),ring(8, 1.0, 0.05)') == ['npz("a,b.npz")', "ring(8, 1.0, 0.05)"]
    assert parse_seeds("0:10") == tuple(range(10))
    assert parse_seeds("0:10:3") == (0, 3, 6, 9)
    assert parse_seeds("0,3,7") == (0, 3, 7) and parse_seeds("5") == (5,) and parse_seeds([1, 2]) == (1, 2)
    for bad in ("3:1", "a:b", "0,0", "-1", "1:2:3:4"):
        with pytest.raises(ValueError):
            parse_seeds(bad)
    fixed, axes, diags = parse_sets(["train.batch=64", "optimizer.critic.lr=1e-4, 2e-4", "seed=1,2", "x"])
    assert fixed == [("train.batch", "64")] and axes == [("optimizer.critic.lr", ("1e-4", "2e-4"))]
    assert [d.code for d in diags] == ["E500", "E105"]  # seeds go with --seeds; `x` is no `path=value`


def test_the_grid_multiplies_the_axes_and_the_seeds(tmp_path):
    spec = write_tiny(tmp_path)
    fixed, axes, _ = parse_sets(["optimizer.critic.lr=1e-3,2e-4", "steps.critic=1,3,5", "train.batch=32"])
    plan = build(Request((str(spec),), tuple(fixed), tuple(axes), parse_seeds("0:2")))
    assert len(plan.points) == 2 * 3 * 2
    first = plan.points[0]
    assert first.name == "tiny,optimizer.critic.lr=1e-3,steps.critic=1,seed=0"
    assert first.group == "tiny,optimizer.critic.lr=1e-3,steps.critic=1"
    assert (first.spec.seed, first.spec.optimizer.critic.lr, first.spec.steps.critic, first.spec.train.batch) == \
        (0, pytest.approx(1e-3), 1, 32)
    last = plan.points[-1]
    assert (last.spec.seed, last.spec.optimizer.critic.lr, last.spec.steps.critic) == (1, pytest.approx(2e-4), 5)
    assert len({p.name for p in plan.points}) == 12
    # Without --seeds: the spec's own seed (3 in the tiny spec); a value with spaces and colons makes a tidy name.
    fixed, axes, _ = parse_sets(["optimizer.critic=adam(lr: 1e-4, beta1: 0.5),adam(lr: 2e-4, beta1: 0.5)"])
    plan = build(Request((str(spec),), tuple(fixed), tuple(axes)))
    assert [p.name for p in plan.points] == ["tiny,optimizer.critic=adam(lr=1e-4,beta1=0.5),seed=3",
                                             "tiny,optimizer.critic=adam(lr=2e-4,beta1=0.5),seed=3"]


def test_a_sweep_file_says_what_the_flags_say(tmp_path, capsys):
    spec = write_tiny(tmp_path)
    sweep_file = tmp_path / "lr.toml"
    sweep_file.write_text('spec = "tiny.gan"\nseeds = "0:2"\niterations = 20\n\n'
                          '[set]\ntrain.log_every = 10\n"evaluate.every" = 20\n\n'
                          '[grid]\n"optimizer.critic.lr" = [1e-3, "2e-4"]\n')
    from_file = build(read_sweep_file(sweep_file))
    fixed, axes, _ = parse_sets(["train.log_every=10", "evaluate.every=20", "train.iterations=20",
                                 "optimizer.critic.lr=0.001,2e-4"])
    from_flags = build(Request((str(spec),), tuple(fixed), tuple(axes), (0, 1)))
    assert [p.name for p in from_file.points] == [p.name for p in from_flags.points]
    assert [p.spec.model_dump() for p in from_file.points] == [p.spec.model_dump() for p in from_flags.points]
    # The command line over the file: another seed list, one more axis.
    assert cli("sweep", sweep_file, "--seeds", "4", "--set", "steps.critic=1,2", "--out", tmp_path / "s",
               "--dry-run", "--format", "json") == exitcodes.OK
    listed = json.loads(capsys.readouterr().out)
    assert [p["name"] for p in listed["points"]] == [
        f"tiny,optimizer.critic.lr=0.001,steps.critic={s},seed=4" for s in (1, 2)] + [
        f"tiny,optimizer.critic.lr=2e-4,steps.critic={s},seed=4" for s in (1, 2)]
    assert {p["action"] for p in listed["points"]} == {"train"} and not (tmp_path / "s").exists()
    sweep_file.write_text('spec = "tiny.gan"\nseed = 3\n[grid]\nseed = [1, 2]\n')
    with pytest.raises(SpecError) as caught:
        read_sweep_file(sweep_file)
    assert [d.code for d in caught.value.diagnostics] == ["E500", "E500"]  # `seed` is no key; seeds go in `seeds`


def test_bad_values_are_errors_naming_their_set_before_anything_is_made(tmp_path, capsys):
    spec = write_tiny(tmp_path)
    out = tmp_path / "sweep"
    assert cli("sweep", spec, "--set", "optimizer.critic.lr=1e-3,fast", "--set", "train.batch=x",
               "--out", out) == exitcodes.INVALID
    err = capsys.readouterr().out
    assert "--set train.batch=x: train.batch must be a valid integer" in err
    assert cli("sweep", spec, "--set", "optimizer.critic.lr=1e-3,fast", "--out", out) == exitcodes.INVALID
    err = capsys.readouterr().out
    assert "--set optimizer.critic.lr=fast: adam.lr must be a valid number" in err and "--set:1" not in err
    assert cli("sweep", spec, "--set", "nope.x=1,2", "--out", out) == exitcodes.INVALID
    assert "unknown setting `nope`" in capsys.readouterr().out
    assert cli("sweep", spec, "--seeds", "5:1", "--out", out) == exitcodes.INVALID
    assert "--seeds '5:1' gives no seed" in capsys.readouterr().out
    assert cli("sweep", spec, tmp_path / "other.gan", "--seeds", "0") == exitcodes.UNREADABLE
    assert "other.gan: no such spec file" in capsys.readouterr().out
    (tmp_path / "b.gan").write_text((TINY % "").replace("experiment tiny", "experiment tiny_b"))
    assert cli("sweep", spec, tmp_path / "b.gan") == exitcodes.INVALID
    assert "several specs: name their sweep directory with --out" in capsys.readouterr().out
    assert cli("sweep", tmp_path, "--table") == exitcodes.UNREADABLE  # a folder that no sweep wrote
    assert "not a sweep directory" in capsys.readouterr().out
    assert not out.exists() and not (tmp_path / "sweeps").exists()


def test_local_slots_are_sized_to_the_machine():
    cores = list(range(8))
    assert [s.cpus for s in local_slots(None, None, cores, [])] == [(i,) for i in range(8)]
    assert [s.cpus for s in local_slots(None, 2, cores, [])] == [(0, 1), (2, 3), (4, 5), (6, 7)]
    assert [s.cpus for s in local_slots(3, 4, cores, [])] == [None] * 3  # more threads than cores: not pinned
    on_gpus = local_slots(None, None, cores, ["0", "1"])
    assert [(s.gpu, s.threads, s.cpus) for s in on_gpus] == [("0", 4, (0, 1, 2, 3)), ("1", 4, (4, 5, 6, 7))]


# ---- a real sweep --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def local_sweep(tmp_path_factory):
    """2 learning rates x 2 seeds of the tiny ring spec, 20 iterations each, two runs at a time."""
    folder = tmp_path_factory.mktemp("sweep")
    spec = write_tiny(folder)
    out = folder / "sweep"
    code = cli("sweep", spec, *GRID, *EVERY_POINT, "--out", out, "--jobs", 2, "-q")
    return code, spec, out


def test_a_local_sweep_trains_every_point_and_tabulates_them(local_sweep, capsys):
    code, spec, out = local_sweep
    assert code == exitcodes.OK
    document = json.loads((out / "sweep.json").read_text())
    assert list(document["points"]) == NAMES
    assert document["executor"] == {"executor": "local", "jobs": 2, "threads_per_run": 1}
    summaries = {name: json.loads((out / name / "summary.json").read_text()) for name in NAMES}
    assert all(s["iterations"] == 20 for s in summaries.values())
    resolved = json.loads((out / NAMES[2] / "resolved.json").read_text())
    assert (resolved["seed"], resolved["optimizer"]["critic"]["lr"]) == (0, pytest.approx(2e-4))
    results = json.loads((out / "results.json").read_text())
    assert [g["label"] for g in results["groups"]] == ["optimizer.critic.lr=1e-3", "optimizer.critic.lr=2e-4"]
    for group, names in zip(results["groups"], (NAMES[:2], NAMES[2:])):
        assert group["finished"] == 2 and set(group["metrics"]) == {
            "modes_covered", "high_quality_percent", "reverse_kl", "wasserstein_distance"}
        for key, by_score in group["metrics"].items():
            for score in ("last", "best"):
                values = [summaries[n]["metrics"][key][score] for n in names]
                finite = [v for v in values if math.isfinite(v)]
                got = by_score[score]
                assert got["n"] == len(finite)
                if len(finite) == 2:
                    assert got["mean"] == pytest.approx(statistics.fmean(finite))
                    assert got["se"] == pytest.approx(statistics.stdev(finite) / math.sqrt(2))
                    assert (got["min"], got["max"]) == (min(finite), max(finite))
    # The last evaluation is the summary's `last` (and the runs learned something about the ring by then).
    last = [json.loads(line) for line in (out / NAMES[0] / "metrics.jsonl").read_text().splitlines()][-1]
    assert last["evaluation"]["wasserstein_distance"] == summaries[NAMES[0]]["metrics"]["wasserstein_distance"]["last"]
    markdown = (out / "results.md").read_text()
    mean = results["groups"][0]["metrics"]["wasserstein_distance"]["last"]
    assert "| optimizer.critic.lr=1e-3 | " in markdown and f"{mean['min']:.4g}" in markdown
    # The table again, training nothing; as JSON it is results.json.
    assert cli("sweep", "--table", out, "--format", "json") == exitcodes.OK
    assert json.loads(capsys.readouterr().out) == results
    assert cli("sweep", "--table", out) == exitcodes.OK
    shown = capsys.readouterr().out
    assert "4/4 points finished" in shown and "modes_covered" in shown
    # `ganspec compare` takes the sweep directory: all four runs.
    assert cli("compare", out, "--format", "json", "--plot", out / "compare.png") == exitcodes.OK
    compared = json.loads(capsys.readouterr().out)
    assert compared["runs"] == NAMES and (out / "compare.png").exists()


def test_the_python_api_continues_a_finished_sweep_without_training(local_sweep):
    from ganspec.sweeps import sweep

    _, spec, out = local_sweep
    before = {n: (out / n / "summary.json").stat().st_mtime_ns for n in NAMES}
    lines = []
    done = sweep(spec, seeds=range(2), grid={"optimizer.critic.lr": ["1e-3", "2e-4"]}, iterations=20,
                 overrides={"train.log_every": 10, "evaluate.every": 20, "train.checkpoint_every": 10}, out=out,
                 say=lines.append)
    assert done.trained == [] and done.failed == [] and done.diverged == []
    assert "4 point(s); 4 done already, 0 to train" in lines[0]
    assert done.results == json.loads((out / "results.json").read_text())
    assert before == {n: (out / n / "summary.json").stat().st_mtime_ns for n in NAMES}


def test_rerunning_a_sweep_resumes_what_was_interrupted_and_adds_new_points(local_sweep, tmp_path, capsys):
    code, spec, original = local_sweep
    assert code == exitcodes.OK
    out = tmp_path / "sweep"
    shutil.copytree(original, out)
    # The first point as if stopped at iteration 10: its checkpoint there is the latest, nothing after it.
    stopped = out / NAMES[0]
    (stopped / "summary.json").unlink()
    shutil.rmtree(stopped / "checkpoints" / "ckpt-00000020")
    (stopped / "checkpoints" / "latest").write_text("ckpt-00000010\n")
    untouched = {n: (out / n / "summary.json").stat().st_mtime_ns for n in NAMES[1:]}
    # Seed 0 of each learning rate, and a new one that makes the losses NaN.
    again = ["--seeds", "0", "--set", "optimizer.critic.lr=1e-3,2e-4,1e9"]
    diverging = "tiny,optimizer.critic.lr=1e9,seed=0"
    assert cli("sweep", spec, *again, *EVERY_POINT, "--out", out, "--dry-run", "--format", "json") == exitcodes.OK
    actions = {p["name"]: p["action"] for p in json.loads(capsys.readouterr().out)["points"]}
    assert actions == {NAMES[0]: "resume", NAMES[2]: "skip (finished)", diverging: "train"}
    assert cli("sweep", spec, *again, *EVERY_POINT, "--out", out, "--jobs", 2, "-q") == exitcodes.DIVERGED
    said = capsys.readouterr().out
    assert "3 point(s); 1 done already, 2 to train (1 resumed from a checkpoint)" in said
    assert f"{diverging}: diverged at iteration 10" in said and f"{NAMES[0]}: finished at iteration 20" in said
    assert untouched == {n: (out / n / "summary.json").stat().st_mtime_ns for n in NAMES[1:]}
    resumed, straight = losses(stopped), losses(original / NAMES[0])
    assert [r["iteration"] for r in resumed] == [r["iteration"] for r in straight] == [10, 20]
    for a, b in zip(resumed, straight):
        assert a == pytest.approx(b, rel=1e-4, abs=1e-5)
    # The table holds every point of the directory: the four, and the one that diverged, left out.
    results = json.loads((out / "results.json").read_text())
    assert [g["finished"] for g in results["groups"]] == [2, 2, 0]
    assert results["groups"][2]["not_counted"] == {"diverged": [diverging]}
    before = json.loads((original / "results.json").read_text())["groups"][0]["metrics"]
    for key, by_score in results["groups"][0]["metrics"].items():  # the group of the resumed point: as it was
        assert by_score["last"]["mean"] == pytest.approx(before[key]["last"]["mean"], rel=1e-3), key
    # Continuing the directory alone: nothing left to train (a diverged point would diverge again).
    assert cli("sweep", out, "--dry-run", "--format", "json") == exitcodes.OK
    actions = {p["name"]: p["action"] for p in json.loads(capsys.readouterr().out)["points"]}
    assert actions == {NAMES[0]: "skip (finished)", NAMES[2]: "skip (finished)", diverging: "skip (diverged)"}
    # The same names for another spec: refused before anything runs.
    assert cli("sweep", spec, *GRID, "--set", "train.batch=32", *EVERY_POINT, "--out", out) == exitcodes.INVALID
    assert "E504" in capsys.readouterr().out


def test_a_sweep_on_a_local_ray_instance_gives_the_local_numbers_and_survives_a_failing_point(
        local_sweep, tmp_path, capsys):
    """A point whose data file is missing fails; the other, the same spec and seed as a point of the local
    sweep, trains on Ray to the same losses."""
    code, spec, local = local_sweep
    assert code == exitcodes.OK
    out = tmp_path / "ray-sweep"
    assert cli("sweep", spec, "--seeds", "0", "--set", 'data.source=ring(8, 1.0, 0.05),npz("missing.npz")',
               "--set", "evaluate.metrics=[wasserstein_distance(300)]", *EVERY_POINT, "--executor", "ray",
               "--jobs", 2, "--out", out, "-q") == exitcodes.INVALID
    said = capsys.readouterr().out
    good, bad = "tiny,data.source=ring(8,1.0,0.05),seed=0", "tiny,data.source=npz('missing.npz'),seed=0"
    assert f"{bad}: failed" in said and "data file not found: missing.npz" in said
    assert "E513" in said and "1 point(s) of the sweep failed" in said
    document = json.loads((out / "sweep.json").read_text())
    assert document["executor"]["executor"] == "ray"
    assert document["points"][good]["status"] == "finished" and document["points"][bad]["status"] == "failed"
    on_ray, locally = losses(out / good), losses(local / NAMES[0])
    assert [r["iteration"] for r in on_ray] == [r["iteration"] for r in locally]
    for a, b in zip(on_ray, locally):  # record by record: pytest.approx takes no nested structures (pytest 9.2)
        assert a == pytest.approx(b, rel=1e-6)
    results = json.loads((out / "results.json").read_text())
    assert [g["finished"] for g in results["groups"]] == [1, 0]
    assert results["groups"][1]["not_counted"] == {"failed": [bad]}


def test_a_point_another_process_trains_is_left_to_it(local_sweep, tmp_path, capsys):
    """Two sweeps of one directory at once: the second neither restarts nor resumes a run the first holds."""
    from ganspec.run.rundir import RunDir

    code, spec, original = local_sweep
    assert code == exitcodes.OK
    out = tmp_path / "sweep"
    shutil.copytree(original, out)
    held = RunDir(out / NAMES[1])
    (held.path / "summary.json").unlink()  # as if training now
    held.lock()
    try:
        assert cli("sweep", spec, *GRID, *EVERY_POINT, "--out", out, "-q") == exitcodes.OK
    finally:
        held.unlock()
    assert "4 point(s); 3 done already, 0 to train; 1 training in another process, left to it" in \
        capsys.readouterr().out
    assert json.loads((out / "results.json").read_text())["points"][NAMES[1]]["status"] == "incomplete"
    assert (held.path / "checkpoints" / "ckpt-00000020").is_dir()


def _stat(process: Path) -> list[str]:
    """/proc/PID/stat's fields after the command name: [state, parent pid, ...]; OSError once it is gone."""
    return (process / "stat").read_text().rsplit(")", 1)[1].split()


def _children(pid: int, marker: str) -> list[int]:
    """The processes whose parent is `pid` and whose command line holds `marker` (read from /proc)."""
    found = []
    for process in Path("/proc").glob("[0-9]*"):
        try:
            parent = int(_stat(process)[1])
            command = (process / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if parent == pid and marker in command:
            found.append(int(process.name))
    return found


def _alive(pid: int) -> bool:
    try:
        return _stat(Path("/proc") / str(pid))[0] != "Z"
    except OSError:
        return False


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="finds the sweep's processes in /proc (Linux)")
def test_a_point_stops_with_a_checkpoint_and_its_process_ends_when_the_sweep_process_is_killed(tmp_path):
    """Killing the sweep's own process (SIGKILL: it saves nothing and tells nobody) must not leave its point's
    process behind: that one saves a checkpoint where it is, and exits. (It used to train on and then wait
    forever for a next task.) Not a speed test: the waits are safety nets."""
    import os
    import signal
    import subprocess
    import sys
    import time

    spec = write_tiny(tmp_path)
    out = tmp_path / "sweep"
    sweep = subprocess.Popen([sys.executable, "-m", "ganspec", "sweep", str(spec), "--iterations", "1000000",
                              "--set", "train.checkpoint_every=1000000", "--set", "evaluate.every=1000000",
                              "--set", "train.log_every=10", "--out", str(out), "-q"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    workers: list[int] = []
    try:
        deadline = time.monotonic() + 1800
        while not any("critic_loss" in p.read_text() for p in out.glob("*/metrics.jsonl")):  # it trains
            assert sweep.poll() is None and time.monotonic() < deadline, "the sweep ended before its point trained"
            time.sleep(0.5)
        workers = _children(sweep.pid, "spawn_main")
        assert len(workers) == 1
        sweep.kill()
        sweep.wait()
        deadline = time.monotonic() + 1800
        while _alive(workers[0]):
            assert time.monotonic() < deadline, "the point's process outlived the sweep's"
            time.sleep(0.5)
        (run,) = [p for p in out.iterdir() if p.is_dir()]
        saved = sorted(p.name for p in (run / "checkpoints").glob("ckpt-*"))
        assert saved and int(saved[-1].split("-")[1]) > 0  # the stop saved one where it was
        assert not (run / "summary.json").exists()  # stopped, not trained to its end
    finally:
        for pid in [sweep.pid, *workers]:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        sweep.wait()
