"""Sampling with standing batch-norm statistics (Brock et al. 2019): the mean of fresh batch statistics."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from ganspec.networks import build_generator  # noqa: E402
from ganspec.load import load_text  # noqa: E402
from ganspec.run import sampling  # noqa: E402
from ganspec.run.sampling import Sampler, batchnorm_layers, generate, latent_batch, with_standing_stats  # noqa: E402

SPEC = """
experiment bn {
  seed 1
  data { source ring(8, 1.0, 0.05) }
  latent normal(4)
  generator { dense(16) batchnorm relu dense(2) }
  critic { dense(16) relu dense(1) }
  objective non_saturating
  train.batch 256
  evaluate.standing_stats %d
}
"""


def shifted_generator(standing: int):
    spec = load_text(SPEC % standing).spec
    generator = build_generator(spec)
    dense = generator.layers[1]
    kernel, bias = dense.get_weights()
    dense.set_weights([3.0 * kernel, bias + 5.0])  # pre-norm activations: mean 5, std ~3 per unit
    return spec, generator


def test_standing_statistics_are_the_mean_of_batch_statistics():
    spec, generator = shifted_generator(40)
    standing = with_standing_stats(spec, generator, 40)
    assert standing is not generator
    (layer,) = batchnorm_layers(standing)
    dense = standing.layers[1]
    z = latent_batch(spec, 20_000, seed=9)
    pre = np.asarray(dense(z))
    np.testing.assert_allclose(np.asarray(layer.moving_mean), pre.mean(axis=0), rtol=0.02, atol=0.02)
    np.testing.assert_allclose(np.asarray(layer.moving_variance), pre.var(axis=0), rtol=0.1)
    # The generator itself keeps its own statistics (Keras starts them at 0 and 1).
    (own,) = batchnorm_layers(generator)
    np.testing.assert_array_equal(np.asarray(own.moving_mean), 0.0)
    # Inference with standing statistics ~ what the generator computes on a large batch in training.
    trained_mode = np.asarray(generator(z, training=True))
    standing_mode = np.asarray(standing(z, training=False))
    moving_mode = np.asarray(generator(z, training=False))
    assert np.abs(standing_mode - trained_mode).mean() < 0.05 * np.abs(moving_mode - trained_mode).mean()


def test_generate_uses_the_spec_setting():
    spec, generator = shifted_generator(0)
    assert with_standing_stats(spec, generator, 0) is generator
    moving = generate(spec, generator, 500, seed=3)
    spec_standing = spec.model_copy(update={"evaluate": spec.evaluate.model_copy(update={"standing_stats": 20})})
    standing = generate(spec_standing, generator, 500, seed=3)
    assert moving.shape == standing.shape == (500, 2)
    assert np.abs(moving - standing).mean() > 0.1
    np.testing.assert_array_equal(generate(spec_standing, generator, 500, seed=3), standing)  # deterministic


def test_a_sampler_makes_the_standing_copy_once(monkeypatch):
    spec, generator = shifted_generator(20)
    made = []
    real = sampling.with_standing_stats
    monkeypatch.setattr(sampling, "with_standing_stats", lambda *a: made.append(1) or real(*a))
    sampler = Sampler(spec, generator)
    first = sampler(300, seed=4)
    np.testing.assert_array_equal(sampler(300, seed=4), first)
    assert sampler(200, seed=5).shape == (200, 2)
    assert len(made) == 1
    np.testing.assert_array_equal(generate(spec, generator, 300, seed=4), first)  # the same as a fresh one


def test_batch_statistics_sample_as_a_pytorch_generator_in_train_mode():
    """`evaluate.batch_statistics`: each chunk of train.batch normalized with its own statistics (PyTorch's
    train mode, as PyTorch-GAN samples), the generator's moving averages left as they were."""
    spec, generator = shifted_generator(0)
    spec = spec.model_copy(update={"evaluate": spec.evaluate.model_copy(update={"batch_statistics": True}),
                                   "train": spec.train.model_copy(update={"batch": 100})})
    samples = generate(spec, generator, 300, seed=3)
    z = latent_batch(spec, 300, seed=3)
    expected = np.concatenate([np.asarray(generator(z[i:i + 100], training=True)) for i in range(0, 300, 100)])
    np.testing.assert_allclose(samples, expected, rtol=1e-5, atol=1e-5)
    moving = generate(spec.model_copy(update={"evaluate": spec.evaluate.model_copy(update={"batch_statistics": False})}),
                      generator, 300, seed=3)
    assert np.abs(moving - samples).mean() > 0.1


def test_batch_statistics_leave_the_generator_unchanged():
    spec, generator = shifted_generator(0)
    spec = spec.model_copy(update={"evaluate": spec.evaluate.model_copy(update={"batch_statistics": True})})
    (own,) = batchnorm_layers(generator)
    generate(spec, generator, 600, seed=3)
    np.testing.assert_array_equal(np.asarray(own.moving_mean), 0.0)
    np.testing.assert_array_equal(np.asarray(own.moving_variance), 1.0)


def test_batch_and_standing_statistics_exclude_each_other():
    resolved = load_text((SPEC % 10).replace("evaluate.standing_stats 10", "evaluate { standing_stats 10 batch_statistics true }"))
    assert [d.code for d in resolved.diagnostics] == ["E204"]
    assert "standing_stats" in resolved.diagnostics[0].message


def test_a_scatter_shows_the_real_data_in_grey_under_the_samples():
    """Each real point is a grey pixel (they were once zero-radius ellipses, which Pillow draws as nothing)."""
    from ganspec.run.images import DATA_GREY, scatter

    rng = np.random.default_rng(0)
    real = rng.normal(size=(500, 2)) * 3
    picture = scatter(rng.normal(size=(50, 2)) * 0.1, reference=real)
    grey = (picture == np.array(DATA_GREY)).all(axis=-1)
    assert grey.sum() > 400  # nearly every one of the 500 points, a few overlapping or under a sample
    assert grey[:, :200].sum() > 100 and grey[:, 200:].sum() > 100  # spread as the data is
