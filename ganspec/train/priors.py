"""Latent priors p(z) and generator labels, sampled with `keras.random` (backend-neutral)."""

from __future__ import annotations

from typing import Callable

import keras
from keras import ops


def _mixture(prior, batch: int, seed):
    component = keras.random.randint((batch,), 0, prior.components, seed=seed)
    centers = ops.take(ops.convert_to_tensor(prior.means()), component, axis=0)
    return centers + keras.random.normal((batch, prior.dim), stddev=prior.std, seed=seed)


def _categorical(prior, batch: int, seed):
    return sample_labels(prior.dim, batch, seed)


def _product(prior, batch: int, seed):
    """The factors drawn in order and concatenated (InfoGAN's [z, c])."""
    return ops.concatenate([sample_latent(factor, batch, seed) for factor in prior.factors], axis=-1)


PRIOR_SAMPLERS: dict[str, Callable] = {
    "normal": lambda prior, batch, seed: keras.random.normal((batch, prior.dim), stddev=prior.std, seed=seed),
    "uniform": lambda prior, batch, seed: keras.random.uniform((batch, prior.dim), prior.low, prior.high, seed=seed),
    "mixture": _mixture,
    "categorical": _categorical,
    "product": _product,
}


def sample_latent(prior, batch: int, seed):
    """z ~ p(z), shape [batch, prior.input_dim]."""
    return PRIOR_SAMPLERS[prior.kind](prior, batch, seed)


def sample_labels(classes: int, batch: int, seed):
    """One-hot labels of classes drawn uniformly, shape [batch, classes]."""
    return ops.one_hot(keras.random.randint((batch,), 0, classes, seed=seed), classes)
