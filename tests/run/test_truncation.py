"""The truncation trick (Brock et al. 2019, BigGAN, sec. 3.1): evaluate.truncation draws the normal factors
of z from N(0, std^2) truncated to [-t std, t std] for the samples that are scored and drawn."""

from __future__ import annotations

import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from scipy import stats  # noqa: E402

from ganspec import exitcodes  # noqa: E402
from ganspec.load import load_text  # noqa: E402
from ganspec.run.sampling import (  # noqa: E402
    batchnorm_layers, latent_batch, truncated_standard_normal, with_standing_stats, with_truncation,
)

SPEC = """
experiment trunc {
  seed 1
  data { source ring(8, 1.0, 0.05) }
  latent %s
  generator { dense(16) batchnorm relu dense(2) }
  critic { dense(16) relu dense(1) }
  objective non_saturating
  train { batch 128 iterations 10 }
  evaluate { %s }
}
"""


def spec_of(latent: str = "normal(4)", evaluate: str = "every 10"):
    resolved = load_text(SPEC % (latent, evaluate))
    assert resolved.spec is not None, resolved.diagnostics
    return resolved


@pytest.mark.parametrize("threshold", [0.05, 0.5, 1.0, 2.5])
def test_the_draws_follow_the_truncated_normal(threshold):
    z = truncated_standard_normal((40_000,), threshold, np.random.default_rng(7))
    assert np.abs(z).max() <= threshold
    reference = stats.truncnorm(-threshold, threshold)
    assert stats.kstest(z, reference.cdf).pvalue > 1e-3
    np.testing.assert_allclose(z.std(), reference.std(), rtol=0.02)


def test_a_wide_threshold_is_the_normal_itself():
    z = truncated_standard_normal((40_000,), 12.0, np.random.default_rng(8))
    assert stats.kstest(z, stats.norm.cdf).pvalue > 1e-3
    assert np.isfinite(z).all()


def test_latent_batch_bounds_normal_factors_only():
    spec = spec_of("product(normal(3, std: 2), categorical(5), uniform(2, low: -3, high: 3))",
                   "truncation 0.5").spec
    z = latent_batch(spec, 5000, seed=2)
    normal, code, box = z[:, :3], z[:, 3:8], z[:, 8:]
    assert np.abs(normal).max() <= 1.0 + 1e-6  # 0.5 standard deviations of std 2
    np.testing.assert_allclose(normal.std(), 2 * stats.truncnorm(-0.5, 0.5).std(), rtol=0.03)
    assert set(np.unique(code)) == {0.0, 1.0} and (code.sum(axis=1) == 1).all()
    assert np.abs(box).max() > 2.5  # the uniform factor keeps its whole box
    # The same (spec, n, seed) gives the same z; untruncated, the prior as training draws it.
    np.testing.assert_array_equal(latent_batch(spec, 5000, seed=2), z)
    assert np.abs(latent_batch(spec, 5000, seed=2, truncated=False)[:, :3]).max() > 4.0


def test_standing_statistics_come_from_the_full_prior():
    from ganspec.networks import build_generator

    plain = spec_of(evaluate="standing_stats 20").spec
    truncated = with_truncation(plain, 0.25)
    generator = build_generator(plain)
    ours = [np.asarray(b.moving_variance) for b in batchnorm_layers(with_standing_stats(truncated, generator, 20))]
    theirs = [np.asarray(b.moving_variance) for b in batchnorm_layers(with_standing_stats(plain, generator, 20))]
    np.testing.assert_array_equal(ours, theirs)


def test_a_prior_without_a_normal_factor_is_refused_with_its_place():
    resolved = load_text(SPEC % ("uniform(4)", "truncation 0.5"))
    (diag,) = [d for d in resolved.diagnostics if d.severity == "error"]
    assert diag.code == "E204" and "truncation" in diag.message and diag.span is not None
    assert load_text(SPEC % ("normal(4)", "truncation 0")).spec is None
    with pytest.raises(ValueError, match="has none"):
        with_truncation(spec_of("uniform(4)").spec, 1.0)
    with pytest.raises(ValueError, match="positive"):
        with_truncation(spec_of().spec, -1.0)


def test_eval_and_sample_take_a_truncation(tmp_path, capsys):
    from ganspec import open_run
    from ganspec.cli import main

    spec = tmp_path / "trunc.gan"
    spec.write_text(SPEC % ("normal(4)", "every 10"))
    assert main(["run", str(spec), "--plain", "--out", str(tmp_path / "runs")]) == exitcodes.OK
    (run_dir,) = (tmp_path / "runs").iterdir()
    capsys.readouterr()
    assert main(["eval", str(run_dir), "--metric", "wasserstein_distance(300)", "--truncation", "0.5",
                 "--format", "json"]) == exitcodes.OK
    report = json.loads(capsys.readouterr().out)
    assert report["truncation"] == 0.5
    saved = json.loads((run_dir / "eval-00000010-truncation-0.5.json").read_text())
    assert saved["results"] == report["results"]
    assert not (run_dir / "eval-00000010.json").exists()  # the untruncated record is not overwritten
    assert main(["sample", str(run_dir), "--truncation", "0", "-o", str(tmp_path / "s.png")]) == exitcodes.INVALID
    assert "--truncation" in capsys.readouterr().out
    assert main(["sample", str(run_dir), "--truncation", "0.5", "-o", str(tmp_path / "s.png")]) == exitcodes.OK
    assert "truncated at 0.5" in capsys.readouterr().out
    # A tight truncation draws every sample near G(0): the generator sees the bounded z.
    run = open_run(run_dir)
    near_zero = run.sample(500, seed=1, truncation=1e-4)
    spread = run.sample(500, seed=1)
    assert near_zero.std(axis=0).max() < 1e-2 < spread.std(axis=0).max()
