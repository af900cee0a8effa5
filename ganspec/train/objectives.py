"""GAN objectives as (critic loss, generator loss) pairs, written with `keras.ops`.

Every loss reads the critic's raw outputs (logits, or V in f-GAN notation): `d_real`
on data and `d_fake` on generated samples, shapes [B, 1]. Both players minimize their
loss. `OBJECTIVE_LOSSES` maps each IR objective kind to its pair; adding an objective
is one entry there. Classification-style critic losses also take `targets`: the
probability that each sample is real (1 and 0 without tricks; see `critic_targets`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import keras
from keras import ops

from ganspec.ir.components import OBJECTIVES
from ganspec.plugins import Implementations

# ---- targets: one-sided label smoothing, label noise, label flips ------------------------


@dataclass(frozen=True)
class Targets:
    """How real each sample is, for the critic's loss: real ~ 1, fake ~ 0."""

    real: object
    fake: object


def critic_targets(tricks, real_shape, fake_shape, seed) -> Targets:
    """Targets after the tricks of Salimans et al. 2016 (one-sided label smoothing: real -> 1 - s)
    and of the lecture notes (seed 001: uniform label noise; flipping a fraction of labels)."""
    real = ops.full(real_shape, 1.0 - tricks.label_smoothing)
    fake = ops.zeros(fake_shape)
    if tricks.label_noise:
        real = real - keras.random.uniform(real_shape, 0.0, tricks.label_noise, seed=seed)
        fake = fake + keras.random.uniform(fake_shape, 0.0, tricks.label_noise, seed=seed)
    if tricks.label_flip:
        flip_real = keras.random.uniform(real_shape, seed=seed) < tricks.label_flip
        flip_fake = keras.random.uniform(fake_shape, seed=seed) < tricks.label_flip
        real = ops.where(flip_real, 1.0 - real, real)
        fake = ops.where(flip_fake, 1.0 - fake, fake)
    return Targets(real, fake)


def plain_targets(real_shape, fake_shape) -> Targets:
    """Targets without tricks: 1 for data, 0 for samples."""
    return Targets(ops.ones(real_shape), ops.zeros(fake_shape))


def _mean(x):
    return ops.mean(ops.cast(x, "float32"))


def binary_cross_entropy(logits, target):
    """-[t log sigmoid(l) + (1 - t) log(1 - sigmoid(l))], stably: t softplus(-l) + (1 - t) softplus(l)."""
    return _mean(target * ops.softplus(-logits) + (1.0 - target) * ops.softplus(logits))


# ---- minimax and non-saturating (Goodfellow et al. 2014) ---------------------------------


def minimax_critic(objective, d_real, d_fake, targets):
    """Goodfellow et al. 2014, eq. 1: D maximizes E[log D(x)] + E[log(1 - D(G(z)))] (cross-entropy)."""
    return binary_cross_entropy(d_real, targets.real) + binary_cross_entropy(d_fake, targets.fake)


def minimax_generator(objective, d_real, d_fake):
    """Goodfellow et al. 2014, eq. 1: G minimizes E[log(1 - D(G(z)))] = -E[softplus(l)]."""
    return -_mean(ops.softplus(d_fake))


def non_saturating_generator(objective, d_real, d_fake):
    """Goodfellow et al. 2014, sec. 3: G maximizes E[log D(G(z))], i.e. minimizes E[softplus(-l)]."""
    return _mean(ops.softplus(-d_fake))


# ---- Wasserstein (Arjovsky et al. 2017) and hinge (Lim & Ye 2017; Miyato et al. 2018) -------


def wasserstein_critic(objective, d_real, d_fake, targets):
    """Arjovsky et al. 2017, eq. 3: the critic maximizes E[f(x)] - E[f(G(z))]."""
    return _mean(d_fake) - _mean(d_real)


def wasserstein_generator(objective, d_real, d_fake):
    """Arjovsky et al. 2017, Algorithm 1: G minimizes -E[f(G(z))] (also the hinge generator, Miyato et al. 2018)."""
    return -_mean(d_fake)


def hinge_critic(objective, d_real, d_fake, targets):
    """Lim & Ye 2017; Miyato et al. 2018, sec. 4 (hinge loss): E[relu(1 - D(x))] + E[relu(1 + D(G(z)))]."""
    return _mean(ops.relu(1.0 - d_real)) + _mean(ops.relu(1.0 + d_fake))


# ---- least squares (Mao et al. 2017) -------------------------------------------------------


def least_squares_critic(objective, d_real, d_fake, targets):
    """Mao et al. 2017, eq. 2: 1/2 E[(D(x) - b)^2] + 1/2 E[(D(G(z)) - a)^2].

    A target t in [0, 1] (1 = real) maps to the coding a + t (b - a), so label tricks apply.
    """
    a, b = objective.a, objective.b
    real_code = a + targets.real * (b - a)
    fake_code = a + targets.fake * (b - a)
    return 0.5 * _mean(ops.square(d_real - real_code)) + 0.5 * _mean(ops.square(d_fake - fake_code))


def least_squares_generator(objective, d_real, d_fake):
    """Mao et al. 2017, eq. 2: 1/2 E[(D(G(z)) - c)^2]."""
    return 0.5 * _mean(ops.square(d_fake - objective.c))


# ---- relativistic (Jolicoeur-Martineau 2018) -------------------------------------------------

# Jolicoeur-Martineau 2018, sec. 4 (general forms): f1 pushes its argument up, f2 pushes it down.
RELATIVISTIC_BASES: dict[str, tuple[Callable, Callable]] = {
    "standard": (lambda y: ops.softplus(-y), lambda y: ops.softplus(y)),  # -log sigmoid(y), -log(1 - sigmoid(y))
    "least_squares": (lambda y: ops.square(y - 1.0), lambda y: ops.square(y + 1.0)),
    "hinge": (lambda y: ops.relu(1.0 - y), lambda y: ops.relu(1.0 + y)),
}


def _relativistic(objective, first, second):
    """Loss for the player that wants `first` judged more real than `second`."""
    up, down = RELATIVISTIC_BASES[objective.base]
    if objective.average:  # RaGAN (sec. 4.3): relative to the other batch's mean output
        return _mean(up(first - _mean(second))) + _mean(down(second - _mean(first)))
    return _mean(up(first - second))  # RGAN (sec. 4.2): paired samples


def relativistic_critic(objective, d_real, d_fake, targets):
    """Jolicoeur-Martineau 2018, sec. 4: real data judged more realistic than fake data."""
    return _relativistic(objective, d_real, d_fake)


def relativistic_generator(objective, d_real, d_fake):
    """Jolicoeur-Martineau 2018, sec. 4: the roles swapped — fake judged more realistic than real."""
    return _relativistic(objective, d_fake, d_real)


# ---- f-GAN (Nowozin et al. 2016) ------------------------------------------------------------


def lambert_w_of_exp(a, iterations: int = 8):
    """W(exp(a)), the principal Lambert W at e^a, by Newton's method on y = log W:
    solve e^y + y = a (convex and increasing in y, so Newton converges from any start)."""
    a = ops.cast(a, "float32")
    y = ops.where(a > 1.0, ops.log(ops.maximum(a - ops.log(ops.maximum(a, 1.0)), 1e-6)), a)
    for _ in range(iterations):
        w = ops.exp(y)
        y = y - (w + y - a) / (w + 1.0)
    return ops.exp(y)


def lambert_w(x, iterations: int = 8):
    """Principal branch W(x) for x > 0."""
    return lambert_w_of_exp(ops.log(x), iterations)


@dataclass(frozen=True)
class FDivergenceFunctions:
    """Nowozin et al. 2016, Table 6: output activation g_f, conjugate f*, and f*(g_f(v)) in a stable form."""

    activation: Callable
    conjugate: Callable
    conjugate_of_activation: Callable


LOG2 = math.log(2.0)


def _jeffrey_conjugate(t):
    w = lambert_w_of_exp(1.0 - t)
    return w + 1.0 / w + t - 2.0


F_DIVERGENCE_FUNCTIONS: dict[str, FDivergenceFunctions] = {
    "total_variation": FDivergenceFunctions(
        activation=lambda v: 0.5 * ops.tanh(v),
        conjugate=lambda t: t,
        conjugate_of_activation=lambda v: 0.5 * ops.tanh(v)),
    "kl": FDivergenceFunctions(
        activation=lambda v: v,
        conjugate=lambda t: ops.exp(t - 1.0),
        conjugate_of_activation=lambda v: ops.exp(v - 1.0)),
    "reverse_kl": FDivergenceFunctions(
        activation=lambda v: -ops.exp(-v),
        conjugate=lambda t: -1.0 - ops.log(-t),
        conjugate_of_activation=lambda v: v - 1.0),
    "pearson": FDivergenceFunctions(
        activation=lambda v: v,
        conjugate=lambda t: 0.25 * ops.square(t) + t,
        conjugate_of_activation=lambda v: 0.25 * ops.square(v) + v),
    "neyman": FDivergenceFunctions(
        activation=lambda v: 1.0 - ops.exp(-v),
        conjugate=lambda t: 2.0 - 2.0 * ops.sqrt(1.0 - t),
        conjugate_of_activation=lambda v: 2.0 - 2.0 * ops.exp(-0.5 * v)),
    "squared_hellinger": FDivergenceFunctions(
        activation=lambda v: 1.0 - ops.exp(-v),
        conjugate=lambda t: t / (1.0 - t),
        conjugate_of_activation=lambda v: ops.exp(v) - 1.0),
    "jeffrey": FDivergenceFunctions(
        activation=lambda v: v,
        conjugate=_jeffrey_conjugate,
        conjugate_of_activation=_jeffrey_conjugate),
    "jensen_shannon": FDivergenceFunctions(
        activation=lambda v: LOG2 - ops.softplus(-v),
        conjugate=lambda t: -ops.log(2.0 - ops.exp(t)),
        conjugate_of_activation=lambda v: ops.softplus(v) - LOG2),
    "gan": FDivergenceFunctions(
        activation=lambda v: -ops.softplus(-v),
        conjugate=lambda t: -ops.log(1.0 - ops.exp(t)),
        conjugate_of_activation=lambda v: ops.softplus(v)),
}


def f_divergence_terms(objective, d_real, d_fake):
    """E_P[g_f(V(x))] (None without d_real) and E_Q[f*(g_f(V(G(z))))]; `activation: identity` uses T = V."""
    functions = F_DIVERGENCE_FUNCTIONS[objective.divergence]
    if objective.activation == "identity":
        activation, conjugate = (lambda v: v), functions.conjugate
    else:
        activation, conjugate = functions.activation, functions.conjugate_of_activation
    real_term = None if d_real is None else _mean(activation(ops.cast(d_real, "float32")))
    return real_term, _mean(conjugate(ops.cast(d_fake, "float32")))


def f_divergence_critic(objective, d_real, d_fake, targets):
    """Nowozin et al. 2016, eq. 6: V maximizes F = E_P[g_f(V(x))] - E_Q[f*(g_f(V(x)))], a lower bound on D_f(P||Q)."""
    real_term, fake_term = f_divergence_terms(objective, d_real, d_fake)
    return fake_term - real_term


def f_divergence_generator(objective, d_real, d_fake):
    """Nowozin et al. 2016, eq. 6: the saddle point — G minimizes F, whose G-dependent part is -E_Q[f*(g_f(V))]."""
    return -f_divergence_terms(objective, d_real, d_fake)[1]


# ---- the table ------------------------------------------------------------------------------


def wasserstein_estimate(d_real, d_fake):
    """E[f(x)] - E[f(G(z))]: the critic's estimate of the Wasserstein-1 distance (up to K)."""
    return _mean(d_real) - _mean(d_fake)


@dataclass(frozen=True)
class ObjectiveLosses:
    """One objective: the critic's and the generator's loss.

    `generator_reads_real`: the generator loss needs the critic's output on data too.
    `uses_targets`: the critic loss reads real/fake targets (label tricks apply).
    `estimate`: (name, fn(critic_loss, d_real, d_fake)) of a distance estimate worth logging.
    `saddle`: a zero-sum game: the generator minimizes the critic's payoff, its loss being minus the
    critic's (without label tricks) up to terms that do not depend on the generator. Under an unrolled
    critic those terms do (Metz et al. 2017, eq. 5), and the generator's loss is then minus the
    critic's loss at the unrolled critic, data term included (`StepBase._generator_loss`).
    """

    critic: Callable
    generator: Callable
    generator_reads_real: bool = False
    uses_targets: bool = False
    estimate: tuple[str, Callable] | None = None
    saddle: bool = False


OBJECTIVE_LOSSES: dict[str, ObjectiveLosses] = Implementations(OBJECTIVES, {  # + plugins', lazily
    "minimax": ObjectiveLosses(minimax_critic, minimax_generator, uses_targets=True, saddle=True),
    "non_saturating": ObjectiveLosses(minimax_critic, non_saturating_generator, uses_targets=True),
    "wasserstein": ObjectiveLosses(
        wasserstein_critic, wasserstein_generator, saddle=True,
        estimate=("wasserstein_estimate", lambda loss, d_real, d_fake: wasserstein_estimate(d_real, d_fake))),
    "hinge": ObjectiveLosses(hinge_critic, wasserstein_generator),
    "least_squares": ObjectiveLosses(least_squares_critic, least_squares_generator, uses_targets=True),
    "relativistic": ObjectiveLosses(relativistic_critic, relativistic_generator, generator_reads_real=True),
    "f_divergence": ObjectiveLosses(
        f_divergence_critic, f_divergence_generator, saddle=True,
        estimate=("divergence_estimate", lambda loss, d_real, d_fake: -loss)),
})


def split_losses(objective) -> ObjectiveLosses:
    """`split(critic: A, generator: B)`: A's critic loss and B's generator loss, each with its own
    objective's parameters; the label tricks and the logged estimate follow the critic's side."""
    critic, generator = objective_losses(objective.critic), objective_losses(objective.generator)
    return ObjectiveLosses(
        lambda _, d_real, d_fake, targets: critic.critic(objective.critic, d_real, d_fake, targets),
        lambda _, d_real, d_fake: generator.generator(objective.generator, d_real, d_fake),
        generator_reads_real=generator.generator_reads_real, uses_targets=critic.uses_targets,
        estimate=critic.estimate)


OBJECTIVE_LOSSES["split"] = split_losses  # an entry may also be a function of the objective


def objective_losses(objective) -> ObjectiveLosses:
    """The loss pair of an IR objective (a table entry, or what an entry's function makes of the objective)."""
    try:
        found = OBJECTIVE_LOSSES[objective.kind]
    except KeyError:
        raise NotImplementedError(f"no losses registered for objective {objective.kind!r}") from None
    return found if isinstance(found, ObjectiveLosses) else found(objective)
