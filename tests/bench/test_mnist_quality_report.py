"""bench/mnist_quality.py's page: a report written where the run directories are gone (a fresh clone) keeps
the rows scored before, and the truncation table says whether a threshold meets the targets on every seed."""

from __future__ import annotations

import importlib.util
import json

from tests.conftest import ROOT


def bench():
    spec = importlib.util.spec_from_file_location("bench_mnist_quality", ROOT / "bench" / "mnist_quality.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def row(spec: str, seed: int, score: float, truncation: dict | None = None) -> dict:
    return {"spec": spec, "seed": seed, "inception_score": score, "fid": 10.0, "fid_real_floor": 2.5,
            "truncation": truncation or {}}


def test_rows_of_runs_not_here_are_kept_from_the_json(tmp_path):
    saved = [row("dcgan_cpu", 0, 9.0), row("dcgan_cpu", 1, 9.1), row("wgan_gp_cpu", 0, 8.5)]
    path = tmp_path / "mnist_quality.json"
    path.write_text(json.dumps(saved))
    rows = bench().kept_rows(path, [row("dcgan_cpu", 1, 9.3)])
    assert [(r["spec"], r["seed"], r["inception_score"]) for r in rows] == [
        ("dcgan_cpu", 0, 9.0), ("dcgan_cpu", 1, 9.3), ("wgan_gp_cpu", 0, 8.5)]
    assert bench().kept_rows(tmp_path / "none.json", []) == []


def test_the_truncation_table_needs_every_seed():
    good, poor = {"inception_score": 9.6, "fid": 20.0, "fid_real_floor": 2.5}, {"inception_score": 9.4, "fid": 20.0,
                                                                                 "fid_real_floor": 2.5}
    far = {"inception_score": 9.7, "fid": 26.0, "fid_real_floor": 2.5}  # FD over 10x the floor
    lines = bench().truncation_section([row("a", 0, 9.0, {"1": good, "0.5": far}), row("a", 1, 9.0, {"1": poor,
                                                                                                       "0.5": far})])
    table = {line.split(" | ")[1]: line for line in lines if line.startswith("| a |")}
    assert table["1"].endswith("| 2 | 9.50 ± 0.10 | 20.00 ± 0.00 | no |")
    assert table["0.5"].endswith("| no |")
    lines = bench().truncation_section([row("a", 0, 9.0, {"1": good}), row("a", 1, 9.0, {"1": good})])
    assert lines[-1].endswith("| yes |")
