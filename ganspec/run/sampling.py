"""Generating samples from a built generator with a fixed, seeded latent batch."""

from __future__ import annotations

import numpy as np

from ganspec.ir.spec import Spec


# The NumPy twins of ganspec.train.priors.PRIOR_SAMPLERS, for fixed latent batches.
NUMPY_PRIORS = {
    "normal": lambda prior, n, rng: rng.standard_normal((n, prior.dim)) * prior.std,
    "uniform": lambda prior, n, rng: rng.uniform(prior.low, prior.high, size=(n, prior.dim)),
    "mixture": lambda prior, n, rng: (prior.means()[rng.integers(0, prior.components, n)]
                                      + rng.standard_normal((n, prior.dim)) * prior.std),
    "categorical": lambda prior, n, rng: np.eye(prior.dim)[rng.integers(0, prior.dim, n)],
    "product": lambda prior, n, rng: np.concatenate([NUMPY_PRIORS[f.kind](f, n, rng) for f in prior.factors], axis=-1),
}


def latent_batch(spec: Spec, n: int, seed: int) -> np.ndarray:
    """The same z for the same (spec, n, seed), so sample grids compare over time."""
    return NUMPY_PRIORS[spec.latent.kind](spec.latent, n, np.random.default_rng(seed)).astype(np.float32)


def label_batch(spec: Spec, n: int) -> np.ndarray | None:
    """Class labels cycling 0..classes-1, so a grid shows every class in rows."""
    if spec.conditional is None:
        return None
    return np.arange(n) % spec.conditional.classes


def generator_inputs(spec: Spec, z: np.ndarray, labels: np.ndarray | None):
    if labels is None:
        return z
    return [z, np.eye(spec.conditional.classes, dtype=np.float32)[labels]]


def batchnorm_layers(model) -> list:
    """Every BatchNormalization layer of a model, nested ones included."""
    import keras

    found = []
    for layer in getattr(model, "layers", []):
        if isinstance(layer, keras.layers.BatchNormalization):
            found.append(layer)
        found += batchnorm_layers(layer)
    return found


def with_standing_stats(spec: Spec, generator, batches: int, seed: int = 0):
    """A copy of the generator whose batch-norm statistics are standing statistics (Brock et al. 2019,
    BigGAN, app. C): the mean of the batch means and variances of `batches` fresh batches of z of
    the training batch size. The generator itself is not changed. Without batchnorm: the generator."""
    if batches == 0 or not batchnorm_layers(generator):
        return generator
    copy = _copy(generator)
    layers = batchnorm_layers(copy)
    for layer in layers:
        layer.moving_mean.assign(np.zeros(layer.moving_mean.shape, np.float32))
        layer.moving_variance.assign(np.zeros(layer.moving_variance.shape, np.float32))
    size = spec.train.batch
    for k in range(batches):
        for layer in layers:  # moving <- m moving + (1 - m) batch, m = k / (k + 1): the running mean
            layer.momentum = k / (k + 1)
        z = latent_batch(spec, size, seed=(spec.seed + 1) * 100_003 + k)
        labels = np.random.default_rng(k).integers(0, spec.conditional.classes, size) if spec.conditional else None
        copy(generator_inputs(spec, z, labels), training=True)
    return copy


class Sampler:
    """Samples of one generator as its weights are now, from fixed latent batches. The standing
    batch-norm copy (evaluate.standing_stats) is made on the first call and reused, so one
    evaluation's metrics and sample grid pay for it once; make a new Sampler after training steps."""

    def __init__(self, spec: Spec, generator, chunk: int = 1000):
        self.spec = spec
        self.chunk = chunk
        self._generator = generator
        self._standing = None

    @property
    def generator(self):
        if self._standing is None:
            if self.spec.evaluate.batch_statistics:
                self._standing = _copy(self._generator)  # train-mode calls update its moving averages
            else:
                self._standing = with_standing_stats(self.spec, self._generator, self.spec.evaluate.standing_stats)
        return self._standing

    def __call__(self, n: int, seed: int) -> np.ndarray:
        z = latent_batch(self.spec, n, seed)
        labels = label_batch(self.spec, n)
        generator = self.generator
        batch_statistics = self.spec.evaluate.batch_statistics
        # Batch statistics depend on the batch: chunks of the training batch size, as in training.
        chunk = self.spec.train.batch if batch_statistics else self.chunk
        out = []
        for start in range(0, n, chunk):
            part = labels[start:start + chunk] if labels is not None else None
            out.append(np.asarray(generator(generator_inputs(self.spec, z[start:start + chunk], part),
                                            training=batch_statistics)))
        return np.concatenate(out)


def _copy(generator):
    import keras

    copy = keras.models.clone_model(generator)
    copy.set_weights(generator.get_weights())
    return copy


def generate(spec: Spec, generator, n: int, seed: int, chunk: int = 1000) -> np.ndarray:
    """n samples from a fixed latent batch, with the spec's batch-norm statistics (evaluate.standing_stats)."""
    return Sampler(spec, generator, chunk)(n, seed)
