"""Latent priors: what the step draws (keras.random) and the fixed batches for sampling (NumPy) agree."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from ganspec.load import load_text  # noqa: E402
from ganspec.run.sampling import latent_batch  # noqa: E402
from ganspec.train.priors import sample_latent  # noqa: E402

SPEC = """
experiment p {
  data { source grid(5, 2.0, 0.05) }
  latent %s
  generator { dense(8) relu dense(2) }
  critic { dense(8) relu dense(1) }
  objective wasserstein
}
"""


def prior(text: str):
    resolved = load_text(SPEC % text)
    assert resolved.spec is not None, [d.message for d in resolved.diagnostics]
    return resolved.spec


@pytest.mark.parametrize("text, width", [("normal(3, std: 2)", 3), ("uniform(4, low: 0, high: 2)", 4)])
def test_both_samplers_give_the_declared_distribution(text, width):
    spec = prior(text)
    assert spec.latent.input_dim == width
    drawn = np.asarray(sample_latent(spec.latent, 20_000, keras.random.SeedGenerator(1)))
    fixed = latent_batch(spec, 20_000, seed=1)
    for z in (drawn, fixed):
        assert z.shape == (20_000, width)
        if spec.latent.kind == "normal":
            assert abs(z.std() - 2.0) < 0.05 and abs(z.mean()) < 0.05
        else:
            assert z.min() >= 0.0 and z.max() <= 2.0 and abs(z.mean() - 1.0) < 0.05


def test_the_mixture_prior_draws_its_components_equally_with_their_spread():
    spec = prior("mixture(6, components: 12, std: 0.05, means_seed: 3)")
    means = spec.latent.means()
    assert means.shape == (12, 6)
    np.testing.assert_array_equal(means, prior("mixture(6, components: 12, std: 0.05, means_seed: 3)").latent.means())
    assert not np.allclose(means, prior("mixture(6, components: 12, std: 0.05)").latent.means())
    drawn = np.asarray(sample_latent(spec.latent, 24_000, keras.random.SeedGenerator(1)))
    fixed = latent_batch(spec, 24_000, seed=1)
    for z in (drawn, fixed):
        assert z.shape == (24_000, 6)
        distances = np.linalg.norm(z[:, None] - means[None], axis=-1)
        nearest = distances.argmin(axis=1)
        counts = np.bincount(nearest, minlength=12)
        assert counts.min() > 1700 and counts.max() < 2300  # 2,000 each
        offsets = z - means[nearest]
        assert abs(offsets.std() - 0.05) < 0.003 and abs(offsets.mean()) < 0.003
