"""Critic constraints and regularizers, backend-neutral (`keras.ops`).

Each IR constraint kind maps to one rule in `CONSTRAINT_RULES`, by what it needs:

- `GradientRule`: a penalty on critic input gradients at sampled points (WGAN-GP,
  DRAGAN, R1, R2). Here: where the points are and the penalty given the gradients;
  the gradients themselves are taken by the backend's step (`ganspec.train.tf_step`).
- `OutputRule`: a penalty on two stochastic critic passes (CT-GAN consistency).
- `AfterUpdateRule`: a change of the critic weights after each update (weight clipping).
- `ArchitectureRule`: built into the critic (spectral normalization, `ganspec.networks`).

Lazy regularization (Karras et al. 2020, StyleGAN2, sec. 3.1): a constraint with
`every: N` applies on every N-th critic update only, scaled by N (`lazy_scale`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import keras
from keras import ops

from ganspec.ir.components import CONSTRAINTS
from ganspec.plugins import Implementations

# ---- where gradient penalties look --------------------------------------------------------


def _per_sample_uniform(x, seed):
    """U(0, 1) per sample, broadcast over the sample's axes."""
    shape = (ops.shape(x)[0],) + (1,) * (len(x.shape) - 1)
    return keras.random.uniform(shape, seed=seed, dtype=x.dtype)


def interpolates(constraint, real, fake, seed):
    """Gulrajani et al. 2017, Algorithm 1: x_hat = alpha x + (1 - alpha) G(z), alpha ~ U(0, 1) per sample."""
    alpha = _per_sample_uniform(real, seed)
    return alpha * real + (1.0 - alpha) * fake


def perturbed_real(constraint, real, fake, seed):
    """DRAGAN (Kodali et al. 2017, sec. 5): x_hat = x + delta, delta ~ N(0, c I), symmetric around the
    data; here c = (noise * std(x))^2, the perturbation's scale tied to the data's as in the authors' code."""
    scale = constraint.noise * ops.std(real)
    return real + scale * keras.random.normal(ops.shape(real), seed=seed, dtype=real.dtype)


def perturbed_real_uniform(constraint, real, fake, seed):
    """DRAGAN as the authors' notebook computes it: x_p = x + noise * std(x) * U[0, 1] elementwise, then
    x_hat = x + alpha (x_p - x), alpha ~ U(0, 1) per sample: every point on the same side of the data."""
    spread = constraint.noise * ops.std(real) * keras.random.uniform(ops.shape(real), seed=seed, dtype=real.dtype)
    alpha = _per_sample_uniform(real, seed)
    return real + alpha * spread


PENALTY_POINTS: dict[str, Callable] = {
    "interpolates": interpolates,
    "real": lambda constraint, real, fake, seed: real,
    "fake": lambda constraint, real, fake, seed: fake,
    "perturbed_real": perturbed_real,
    "perturbed_real_uniform": perturbed_real_uniform,
}


# ---- penalties, given per-sample squared gradient norms ---------------------------------------


def squared_norms(gradients):
    """||g||^2 per row of a [B, ...] gradient tensor."""
    gradients = ops.cast(gradients, "float32")
    return ops.sum(ops.reshape(ops.square(gradients), (ops.shape(gradients)[0], -1)), axis=-1)


def gradient_penalty(constraint, squared_norm):
    """Gulrajani et al. 2017, eq. 3: weight * E[(||grad D(x_hat)|| - target)^2];
    one-sided (appendix): only norms above target, weight * E[max(0, ||grad|| - target)^2]."""
    norm = ops.sqrt(squared_norm + 1e-12)  # epsilon: a finite derivative at grad = 0
    excess = norm - constraint.target
    if constraint.one_sided:
        excess = ops.relu(excess)
    return constraint.weight * ops.mean(ops.square(excess))


def zero_centered_penalty(constraint, squared_norm):
    """Mescheder et al. 2018, eqs. 9-10 (R1 on data, R2 on samples): (gamma / 2) E[||grad D||^2]."""
    return 0.5 * constraint.gamma * ops.mean(squared_norm)


def _pass_distance(constraint, first, second):
    """d between two passes, per sample: |a - b| (Euclidean over a sample's units) for `metric`, the
    paper's d; (a - b)^2 (its mean over the units) for `squared`, the authors' code."""
    difference = ops.reshape(ops.cast(first, "float32") - ops.cast(second, "float32"), (ops.shape(first)[0], -1))
    if constraint.distance == "squared":
        return ops.mean(ops.square(difference), axis=-1)
    return ops.sqrt(ops.sum(ops.square(difference), axis=-1) + 1e-12) if difference.shape[-1] != 1 \
        else ops.abs(difference[:, 0])


def consistency_term(constraint, d_first, d_second, features_first=None, features_second=None):
    """CT-GAN, Wei et al. 2018, sec. 3: weight * E[max(0, d(D(x'), D(x'')) + features * d(D_(x'), D_(x''))
    - margin)], D_ the critic's second-to-last layer (`features_*`; the term is left out without them)."""
    gap = _pass_distance(constraint, d_first, d_second)
    if features_first is not None and constraint.features > 0:
        gap = gap + constraint.features * _pass_distance(constraint, features_first, features_second)
    return constraint.weight * ops.mean(ops.relu(gap - constraint.margin))


def uses_features(constraint) -> bool:
    """Whether a consistency constraint reads the critic's second-to-last layer (D_)."""
    return getattr(constraint, "features", 0) > 0


def clipped(constraint, value):
    """Arjovsky et al. 2017, Algorithm 1: w <- clip(w, -c, c)."""
    return ops.clip(value, -constraint.c, constraint.c)


def lazy_scale(constraint, critic_update):
    """Karras et al. 2020 (lazy regularization): N on every N-th critic update (counting from 0), else 0."""
    every = constraint.every
    if every == 1:
        return 1.0
    return ops.where(ops.equal(critic_update % every, 0), float(every), 0.0)


# ---- the table ------------------------------------------------------------------------------


@dataclass(frozen=True)
class GradientRule:
    """A penalty on ||grad_x D(x)|| at points built from real and fake batches."""

    points: Callable  # (constraint, real, fake, seed) -> x_hat
    penalty: Callable  # (constraint, squared_norm [B]) -> scalar


@dataclass(frozen=True)
class OutputRule:
    """A penalty on two stochastic critic passes over the real batch: their outputs, and their
    second-to-last layer's activations when `features(constraint)` says the penalty reads them."""

    penalty: Callable  # (constraint, d_first, d_second[, features_first, features_second]) -> scalar
    features: Callable = lambda constraint: False


@dataclass(frozen=True)
class AfterUpdateRule:
    new_value: Callable  # (constraint, weight value) -> new weight value


@dataclass(frozen=True)
class ArchitectureRule:
    where: str


CONSTRAINT_RULES: dict[str, object] = Implementations(CONSTRAINTS, {  # + plugins', lazily
    "gradient_penalty": GradientRule(
        points=lambda c, real, fake, seed: PENALTY_POINTS[c.at](c, real, fake, seed), penalty=gradient_penalty),
    "r1": GradientRule(points=PENALTY_POINTS["real"], penalty=zero_centered_penalty),
    "r2": GradientRule(points=PENALTY_POINTS["fake"], penalty=zero_centered_penalty),
    "consistency": OutputRule(penalty=consistency_term, features=uses_features),
    "weight_clip": AfterUpdateRule(new_value=clipped),
    "spectral_norm": ArchitectureRule(where="ganspec.networks.spectral_norm.SpectralNormalization"),
})


def constraint_rule(constraint):
    """The rule implementing an IR constraint."""
    try:
        return CONSTRAINT_RULES[constraint.kind]
    except KeyError:
        raise NotImplementedError(f"no rule registered for constraint {constraint.kind!r}") from None
