"""Every objective against a hand computation in numpy; the f-GAN table (Nowozin et al. 2016)."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from keras import ops  # noqa: E402

from ganspec.ir.components import F_DIVERGENCES, OBJECTIVES  # noqa: E402
from ganspec.ir.spec import Tricks  # noqa: E402
from ganspec.train.objectives import (  # noqa: E402
    F_DIVERGENCE_FUNCTIONS,
    OBJECTIVE_LOSSES,
    Targets,
    critic_targets,
    lambert_w,
    lambert_w_of_exp,
    objective_losses,
    plain_targets,
)

D_REAL = np.array([[0.5], [-1.0], [2.0], [0.1]], "float32")
D_FAKE = np.array([[-0.3], [0.8], [-2.0], [1.5]], "float32")


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def value(x) -> float:
    return float(ops.convert_to_numpy(x))


def losses_of(kind, targets=None, **params):
    objective = OBJECTIVES[kind](**params)
    pair = objective_losses(objective)
    targets = targets or plain_targets(D_REAL.shape, D_FAKE.shape)
    return (value(pair.critic(objective, D_REAL, D_FAKE, targets)),
            value(pair.generator(objective, D_REAL, D_FAKE)))


def test_every_objective_kind_has_losses():
    assert set(OBJECTIVES.names()) == set(OBJECTIVE_LOSSES)
    assert set(F_DIVERGENCES) == set(F_DIVERGENCE_FUNCTIONS)


def test_minimax():
    critic, generator = losses_of("minimax")
    expected_critic = -np.mean(np.log(sigmoid(D_REAL))) - np.mean(np.log(1 - sigmoid(D_FAKE)))
    assert critic == pytest.approx(expected_critic, rel=1e-5)
    assert generator == pytest.approx(np.mean(np.log(1 - sigmoid(D_FAKE))), rel=1e-5)


def test_non_saturating():
    critic, generator = losses_of("non_saturating")
    assert critic == pytest.approx(losses_of("minimax")[0])
    assert generator == pytest.approx(-np.mean(np.log(sigmoid(D_FAKE))), rel=1e-5)


def test_logit_losses_are_stable_for_large_logits():
    objective = OBJECTIVES["minimax"]()
    pair = objective_losses(objective)
    big = np.array([[200.0], [-200.0]], "float32")
    targets = plain_targets(big.shape, big.shape)
    assert np.isfinite(value(pair.critic(objective, big, big, targets)))
    assert value(pair.critic(objective, big, big, targets)) == pytest.approx(200.0, rel=1e-5)
    assert np.isfinite(value(objective_losses(OBJECTIVES["non_saturating"]()).generator(objective, None, big)))


def test_wasserstein():
    critic, generator = losses_of("wasserstein")
    assert critic == pytest.approx(D_FAKE.mean() - D_REAL.mean(), rel=1e-5)
    assert generator == pytest.approx(-D_FAKE.mean(), rel=1e-5)


def test_hinge():
    critic, generator = losses_of("hinge")
    expected = np.mean(np.maximum(0, 1 - D_REAL)) + np.mean(np.maximum(0, 1 + D_FAKE))
    assert critic == pytest.approx(expected, rel=1e-5)
    assert generator == pytest.approx(-D_FAKE.mean(), rel=1e-5)


def test_least_squares():
    critic, generator = losses_of("least_squares", a=-1.0, b=1.0, c=0.5)
    expected = 0.5 * np.mean((D_REAL - 1.0) ** 2) + 0.5 * np.mean((D_FAKE + 1.0) ** 2)
    assert critic == pytest.approx(expected, rel=1e-5)
    assert generator == pytest.approx(0.5 * np.mean((D_FAKE - 0.5) ** 2), rel=1e-5)


def _bases():
    return {
        "standard": (lambda y: -np.log(sigmoid(y)), lambda y: -np.log(1 - sigmoid(y))),
        "least_squares": (lambda y: (y - 1) ** 2, lambda y: (y + 1) ** 2),
        "hinge": (lambda y: np.maximum(0, 1 - y), lambda y: np.maximum(0, 1 + y)),
    }


@pytest.mark.parametrize("base", ["standard", "least_squares", "hinge"])
def test_relativistic_average(base):
    """RaGAN: D judges real against the mean fake output and vice versa (Jolicoeur-Martineau 2018)."""
    f1, f2 = _bases()[base]
    critic, generator = losses_of("relativistic", base=base, average=True)
    real_vs_fake, fake_vs_real = D_REAL - D_FAKE.mean(), D_FAKE - D_REAL.mean()
    assert critic == pytest.approx(np.mean(f1(real_vs_fake)) + np.mean(f2(fake_vs_real)), rel=1e-5)
    assert generator == pytest.approx(np.mean(f1(fake_vs_real)) + np.mean(f2(real_vs_fake)), rel=1e-5)


@pytest.mark.parametrize("base", ["standard", "least_squares", "hinge"])
def test_relativistic_paired(base):
    f1, _ = _bases()[base]
    critic, generator = losses_of("relativistic", base=base, average=False)
    assert critic == pytest.approx(np.mean(f1(D_REAL - D_FAKE)), rel=1e-5)
    assert generator == pytest.approx(np.mean(f1(D_FAKE - D_REAL)), rel=1e-5)


# ---- label tricks ------------------------------------------------------------------------


def test_one_sided_label_smoothing_changes_only_the_real_target():
    targets = Targets(np.full(D_REAL.shape, 0.9, "float32"), np.zeros(D_FAKE.shape, "float32"))
    critic, _ = losses_of("minimax", targets=targets)
    expected = -np.mean(0.9 * np.log(sigmoid(D_REAL)) + 0.1 * np.log(1 - sigmoid(D_REAL)))
    expected -= np.mean(np.log(1 - sigmoid(D_FAKE)))
    assert critic == pytest.approx(expected, rel=1e-5)
    made = critic_targets(Tricks(label_smoothing=0.1), (4, 1), (4, 1), seed=0)
    np.testing.assert_allclose(ops.convert_to_numpy(made.real), 0.9)
    np.testing.assert_allclose(ops.convert_to_numpy(made.fake), 0.0)


def test_label_smoothing_moves_the_least_squares_code():
    targets = Targets(np.full(D_REAL.shape, 0.9, "float32"), np.zeros(D_FAKE.shape, "float32"))
    critic, _ = losses_of("least_squares", targets=targets, a=0.0, b=1.0)
    assert critic == pytest.approx(0.5 * np.mean((D_REAL - 0.9) ** 2) + 0.5 * np.mean(D_FAKE ** 2), rel=1e-5)


def test_label_flip_and_noise():
    flipped = critic_targets(Tricks(label_flip=1.0), (64, 1), (64, 1), seed=0)
    np.testing.assert_allclose(ops.convert_to_numpy(flipped.real), 0.0)
    np.testing.assert_allclose(ops.convert_to_numpy(flipped.fake), 1.0)
    noisy = critic_targets(Tricks(label_noise=0.2), (512, 1), (512, 1), seed=0)
    real, fake = ops.convert_to_numpy(noisy.real), ops.convert_to_numpy(noisy.fake)
    assert 0.8 <= real.min() and real.max() <= 1.0 and real.std() > 0.03
    assert 0.0 <= fake.min() and fake.max() <= 0.2 and fake.std() > 0.03


# ---- f-GAN: Nowozin et al. 2016, Table 6 ------------------------------------------------------

# Generator f(u) of each divergence, its derivative f'(u) (the optimal critic T*(x) = f'(p/q)),
# the conjugate f*(t) and the inverse of the output activation g_f, written out in numpy.
LOG2 = np.log(2.0)
F_TABLE = {
    "total_variation": (lambda u: 0.5 * np.abs(u - 1), lambda u: 0.5 * np.sign(u - 1),
                        lambda t: t, lambda t: np.arctanh(np.clip(2 * t, -1 + 1e-7, 1 - 1e-7))),
    "kl": (lambda u: u * np.log(u), lambda u: 1 + np.log(u), lambda t: np.exp(t - 1), lambda t: t),
    "reverse_kl": (lambda u: -np.log(u), lambda u: -1 / u, lambda t: -1 - np.log(-t), lambda t: -np.log(-t)),
    "pearson": (lambda u: (u - 1) ** 2, lambda u: 2 * (u - 1), lambda t: t ** 2 / 4 + t, lambda t: t),
    "neyman": (lambda u: (1 - u) ** 2 / u, lambda u: 1 - 1 / u ** 2, lambda t: 2 - 2 * np.sqrt(1 - t),
               lambda t: -np.log(1 - t)),
    "squared_hellinger": (lambda u: (np.sqrt(u) - 1) ** 2, lambda u: 1 - 1 / np.sqrt(u), lambda t: t / (1 - t),
                          lambda t: -np.log(1 - t)),
    "jeffrey": (lambda u: (u - 1) * np.log(u), lambda u: np.log(u) + 1 - 1 / u, None, lambda t: t),
    "jensen_shannon": (lambda u: -(u + 1) * np.log((1 + u) / 2) + u * np.log(u), lambda u: np.log(2 * u / (1 + u)),
                       lambda t: -np.log(2 - np.exp(t)), lambda t: -np.log(2 * np.exp(-t) - 1)),
    "gan": (lambda u: u * np.log(u) - (u + 1) * np.log(u + 1), lambda u: np.log(u / (u + 1)),
            lambda t: -np.log(1 - np.exp(t)), lambda t: -np.log(np.exp(-t) - 1)),
}
ACTIVATIONS = {  # g_f(v), Table 6
    "total_variation": lambda v: 0.5 * np.tanh(v),
    "kl": lambda v: v,
    "reverse_kl": lambda v: -np.exp(-v),
    "pearson": lambda v: v,
    "neyman": lambda v: 1 - np.exp(-v),
    "squared_hellinger": lambda v: 1 - np.exp(-v),
    "jeffrey": lambda v: v,
    "jensen_shannon": lambda v: LOG2 - np.log(1 + np.exp(-v)),
    "gan": lambda v: -np.log(1 + np.exp(-v)),
}
V = np.linspace(-3, 3, 13).astype("float32")


def test_lambert_w():
    from scipy.special import lambertw

    x = np.array([1e-6, 0.1, 1.0, np.e, 10.0, 1e4, 1e20], "float32")
    w = ops.convert_to_numpy(lambert_w(x))
    np.testing.assert_allclose(w, lambertw(x.astype("float64")).real, rtol=1e-5)
    a = np.array([-30.0, -1.0, 0.0, 1.0, 5.0, 80.0], "float32")
    w = ops.convert_to_numpy(lambert_w_of_exp(a)).astype("float64")
    np.testing.assert_allclose(np.log(w) + w, a, atol=1e-5)  # w e^w = e^a


@pytest.mark.parametrize("divergence", sorted(F_DIVERGENCES))
def test_f_divergence_activation_and_conjugate_follow_table_6(divergence):
    functions = F_DIVERGENCE_FUNCTIONS[divergence]
    t = ops.convert_to_numpy(functions.activation(V))
    np.testing.assert_allclose(t, ACTIVATIONS[divergence](V.astype("float64")), rtol=1e-5, atol=1e-6)
    fstar = ops.convert_to_numpy(functions.conjugate_of_activation(V))
    np.testing.assert_allclose(fstar, ops.convert_to_numpy(functions.conjugate(t)), rtol=1e-4, atol=1e-5)
    numpy_conjugate = F_TABLE[divergence][2]
    if numpy_conjugate is not None:
        np.testing.assert_allclose(fstar, numpy_conjugate(t.astype("float64")), rtol=1e-4, atol=1e-5)


def test_jeffrey_conjugate_is_the_convex_conjugate():
    """f*(t) = sup_u (t u - f(u)), checked on a fine grid of u."""
    f = F_TABLE["jeffrey"][0]
    u = np.linspace(1e-3, 40, 400_000)
    for t in (-2.0, 0.0, 0.5, 2.0):
        expected = np.max(t * u - f(u))
        got = value(F_DIVERGENCE_FUNCTIONS["jeffrey"].conjugate(np.float32(t)))
        assert got == pytest.approx(expected, rel=1e-4, abs=1e-4)


# Two discrete distributions on {0, 1, 2, 3}, given as equal-weight samples of 8.
P_SAMPLES = np.array([0, 0, 0, 1, 1, 2, 3, 3])
Q_SAMPLES = np.array([0, 1, 1, 2, 2, 2, 3, 3])


@pytest.mark.parametrize("divergence", sorted(F_DIVERGENCES))
def test_f_gan_critic_loss_at_the_optimum_is_minus_the_divergence(divergence):
    """At T*(x) = f'(p(x)/q(x)) the bound of eq. 6 is tight: F = D_f(P || Q) (Nowozin et al. 2016, sec. 2.2)."""
    f, f_prime, _, inverse_activation = F_TABLE[divergence]
    p = np.bincount(P_SAMPLES, minlength=4) / len(P_SAMPLES)
    q = np.bincount(Q_SAMPLES, minlength=4) / len(Q_SAMPLES)
    divergence_value = np.sum(q * f(p / q))
    optimal_v = inverse_activation(f_prime(p / q))
    if divergence == "total_variation":
        optimal_v = np.where(p > q, 20.0, np.where(p < q, -20.0, 0.0))  # tanh saturates at T* = +-1/2
    objective = OBJECTIVES["f_divergence"](divergence=divergence)
    pair = objective_losses(objective)
    d_real = optimal_v[P_SAMPLES].reshape(-1, 1).astype("float32")
    d_fake = optimal_v[Q_SAMPLES].reshape(-1, 1).astype("float32")
    loss = value(pair.critic(objective, d_real, d_fake, plain_targets(d_real.shape, d_fake.shape)))
    assert loss == pytest.approx(-divergence_value, rel=1e-4, abs=1e-5)
    # The generator's part of eq. 6: -E_Q[f*(T)] = -(critic loss + E_P[T]).
    real_term = np.mean(ACTIVATIONS[divergence](d_real.astype("float64")))
    assert value(pair.generator(objective, d_real, d_fake)) == pytest.approx(-(loss + real_term), rel=1e-4, abs=1e-5)


def test_f_gan_identity_activation_reads_t_directly():
    objective = OBJECTIVES["f_divergence"](divergence="pearson", activation="identity")
    pair = objective_losses(objective)
    critic = value(pair.critic(objective, D_REAL, D_FAKE, plain_targets(D_REAL.shape, D_FAKE.shape)))
    assert critic == pytest.approx(np.mean(D_FAKE ** 2 / 4 + D_FAKE) - np.mean(D_REAL), rel=1e-5)


@pytest.mark.parametrize("critic_kind, generator_kind", [("hinge", "non_saturating"), ("least_squares", "wasserstein"),
                                                         ("non_saturating", "relativistic")])
def test_split_takes_each_players_loss_from_its_own_objective(critic_kind, generator_kind):
    """`split(critic: A, generator: B)`: A's critic loss (with its targets) and B's generator loss."""
    critic_params = {"a": -1.0, "b": 1.0, "c": 0.5} if critic_kind == "least_squares" else {}
    critic_objective, generator_objective = OBJECTIVES[critic_kind](**critic_params), OBJECTIVES[generator_kind]()
    targets = Targets(np.full(D_REAL.shape, 0.9, "float32"), np.zeros(D_FAKE.shape, "float32"))
    critic, generator = losses_of("split", targets, critic=critic_objective, generator=generator_objective)
    assert critic == pytest.approx(losses_of(critic_kind, targets, **critic_params)[0], rel=1e-6)
    assert generator == pytest.approx(losses_of(generator_kind)[1], rel=1e-6)
    pair = objective_losses(OBJECTIVES["split"](critic=critic_objective, generator=generator_objective))
    assert pair.uses_targets == objective_losses(critic_objective).uses_targets
    assert pair.generator_reads_real == (generator_kind == "relativistic")


def test_split_hinge_critic_non_saturating_generator_by_hand():
    critic, generator = losses_of("split", critic=OBJECTIVES["hinge"](), generator=OBJECTIVES["non_saturating"]())
    assert critic == pytest.approx(np.mean(np.maximum(0, 1 - D_REAL)) + np.mean(np.maximum(0, 1 + D_FAKE)), rel=1e-5)
    assert generator == pytest.approx(-np.mean(np.log(sigmoid(D_FAKE))), rel=1e-5)


def test_split_reads_its_traits_from_the_right_side():
    split = OBJECTIVES["split"](critic=OBJECTIVES["wasserstein"](), generator=OBJECTIVES["minimax"]())
    assert split.wasserstein and split.unbounded_critic and split.expects_logits
    assert not split.real_fake_targets and not split.classification_loss
    assert split.generator_saturates()
