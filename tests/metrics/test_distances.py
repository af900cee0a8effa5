"""The metric formulas against answers known in closed form (NumPy only, no network, no data)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg

from ganspec.metrics.images import (
    frechet_distance,
    inception_score,
    kid,
    knn_radii,
    mmd2_unbiased,
    polynomial_kernel,
    precision_recall,
    split_bounds,
)


def gaussian_stats(x):
    return x.mean(axis=0), np.cov(x, rowvar=False)


# ---- Frechet distance ------------------------------------------------------------------------


def diagonal_closed_form(mu1, a, mu2, b):
    return float(np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2))


def test_frechet_distance_of_diagonal_gaussians_is_closed_form():
    rng = np.random.default_rng(0)
    mu1, mu2 = rng.normal(size=16), rng.normal(size=16)
    a, b = rng.uniform(0.1, 3.0, 16), rng.uniform(0.1, 3.0, 16)
    expected = diagonal_closed_form(mu1, a, mu2, b)
    assert frechet_distance(mu1, np.diag(a), mu2, np.diag(b)) == pytest.approx(expected, rel=1e-10)
    assert frechet_distance(0.0, 1.0, 0.0, 4.0) == pytest.approx(1.0)  # 1-D: (sqrt 1 - sqrt 4)^2


def test_frechet_distance_is_rotation_invariant_and_symmetric():
    """Rotating both Gaussians by the same orthogonal Q keeps the closed form of the diagonal case."""
    rng = np.random.default_rng(1)
    q, _ = np.linalg.qr(rng.normal(size=(12, 12)))
    mu1, mu2 = rng.normal(size=12), rng.normal(size=12)
    a, b = rng.uniform(0.0, 2.0, 12), rng.uniform(0.0, 2.0, 12)
    s1, s2 = q @ np.diag(a) @ q.T, q @ np.diag(b) @ q.T
    expected = diagonal_closed_form(mu1, a, mu2, b)
    assert frechet_distance(q @ mu1, s1, q @ mu2, s2) == pytest.approx(expected, rel=1e-8)
    assert frechet_distance(mu2, s2, mu1, s1) == pytest.approx(frechet_distance(mu1, s1, mu2, s2), rel=1e-10)


def test_frechet_distance_of_identical_sets_is_zero():
    x = np.random.default_rng(2).normal(size=(500, 32)) @ np.random.default_rng(3).normal(size=(32, 32))
    mu, sigma = gaussian_stats(x)
    assert frechet_distance(mu, sigma, mu, sigma) == pytest.approx(0.0, abs=1e-8 * np.trace(sigma))


def test_frechet_distance_with_near_singular_covariances():
    """Fewer samples than dimensions (rank-deficient) and eigenvalues of 1e-12: no complex parts,
    no NaN, the closed form still holds."""
    rng = np.random.default_rng(4)
    x = rng.normal(size=(40, 64))  # covariance of rank 39 in 64 dimensions
    mu, sigma = gaussian_stats(x)
    assert np.linalg.matrix_rank(sigma) < 64
    assert frechet_distance(mu, sigma, mu, sigma) == pytest.approx(0.0, abs=1e-8 * np.trace(sigma))
    q, _ = np.linalg.qr(rng.normal(size=(64, 64)))
    a = np.concatenate([rng.uniform(0.5, 2.0, 32), np.zeros(16), np.full(16, 1e-12)])
    b = np.concatenate([rng.uniform(0.5, 2.0, 32), np.full(16, 1e-12), np.zeros(16)])
    s1, s2 = q @ np.diag(a) @ q.T, q @ np.diag(b) @ q.T
    value = frechet_distance(np.zeros(64), s1, np.ones(64), s2)
    assert np.isfinite(value)
    assert value == pytest.approx(diagonal_closed_form(np.zeros(64), a, np.ones(64), b), rel=1e-6)


def test_frechet_distance_agrees_with_scipy_sqrtm_when_well_conditioned():
    rng = np.random.default_rng(5)
    x, y = rng.normal(size=(400, 20)), rng.normal(0.3, 1.5, size=(400, 20))
    (mu1, s1), (mu2, s2) = gaussian_stats(x), gaussian_stats(y)
    covmean = scipy.linalg.sqrtm(s1 @ s2).real
    classic = np.sum((mu1 - mu2) ** 2) + np.trace(s1 + s2 - 2 * covmean)
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(classic, rel=1e-8)


def test_frechet_distance_of_samples_approaches_the_mean_shift():
    rng = np.random.default_rng(6)
    x, y = rng.normal(size=(20_000, 4)), rng.normal(size=(20_000, 4)) + [3.0, 0, 0, 4.0]
    assert frechet_distance(*gaussian_stats(x), *gaussian_stats(y)) == pytest.approx(25.0, rel=0.01)


def test_frechet_distance_ignores_rounding_noise_of_rank_deficient_covariances():
    """Features with zero variance (dead units) make the covariances singular; the eigenvalues that are
    rounding noise (~1e-13) must not add their square roots (~3e-7 each) to the distance."""
    rng = np.random.default_rng(0)
    basis = np.linalg.qr(rng.normal(size=(64, 64)))[0]
    a = basis[:, :20] @ np.diag(rng.uniform(1, 2, 20)) @ basis[:, :20].T  # rank 20 of 64
    b = basis[:, :20] @ np.diag(rng.uniform(1, 2, 20)) @ basis[:, :20].T  # the same subspace
    la, lb = np.diag(basis[:, :20].T @ a @ basis[:, :20]), np.diag(basis[:, :20].T @ b @ basis[:, :20])
    exact = float(np.sum((np.sqrt(la) - np.sqrt(lb)) ** 2))  # commuting: sum (sqrt(a_i) - sqrt(b_i))^2
    mu = np.zeros(64)
    assert frechet_distance(mu, a, mu, b) == pytest.approx(exact, abs=1e-9)
    assert frechet_distance(mu, a, mu, a) == pytest.approx(0.0, abs=1e-9)


def test_frechet_distance_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="do not fit"):
        frechet_distance(np.zeros(3), np.eye(3), np.zeros(4), np.eye(4))


# ---- KID -------------------------------------------------------------------------------------


def test_unbiased_mmd_matches_its_definition():
    rng = np.random.default_rng(7)
    a, b = rng.normal(size=(6, 3)), rng.normal(size=(6, 3))
    k = lambda x, y: (x @ y / 3 + 1) ** 3  # noqa: E731
    m = 6
    within = sum(k(a[i], a[j]) + k(b[i], b[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    across = sum(k(a[i], b[j]) for i in range(m) for j in range(m)) / m**2
    assert mmd2_unbiased(a, b) == pytest.approx(within - 2 * across, rel=1e-10)
    assert polynomial_kernel(a, b).shape == (6, 6)


def test_kid_is_zero_for_one_distribution_and_positive_for_a_shift():
    rng = np.random.default_rng(8)
    a, b = rng.normal(size=(2000, 16)), rng.normal(size=(2000, 16))
    same, same_error = kid(a, b, subsets=20, subset_size=200)
    assert same_error > 0
    assert abs(same) < 4 * same_error + 1e-3  # unbiased: centred on 0, may be slightly negative
    shifted, shifted_error = kid(a, b + 1.0, subsets=20, subset_size=200)
    assert shifted_error > 0
    assert shifted > 0.1 and shifted > 20 * shifted_error


def test_kid_subset_size_is_capped_by_the_smaller_set():
    rng = np.random.default_rng(9)
    value, error = kid(rng.normal(size=(50, 4)), rng.normal(size=(80, 4)) + 2, subsets=5, subset_size=1000)
    assert value > 0 and error >= 0
    with pytest.raises(ValueError, match="same D"):
        kid(np.zeros((10, 3)), np.zeros((10, 4)))


def test_kid_is_reproducible():
    rng = np.random.default_rng(10)
    a, b = rng.normal(size=(300, 8)), rng.normal(size=(300, 8))
    assert kid(a, b, 10, 100) == kid(a, b, 10, 100)


# ---- Inception Score -------------------------------------------------------------------------


def test_inception_score_is_the_class_count_for_confident_uniform_predictions():
    one_hot = np.eye(10)[np.arange(1000) % 10]
    score, std = inception_score(one_hot, splits=1)
    assert score == pytest.approx(10.0) and std == 0.0
    score, std = inception_score(one_hot, splits=10)  # random splits of 100: classes not exactly balanced
    assert 9.5 < score <= 10.0 and 0.0 < std < 0.3


def test_inception_score_is_one_for_constant_predictions():
    constant = np.tile(np.random.default_rng(11).dirichlet(np.ones(10)), (500, 1))
    assert inception_score(constant, splits=5)[0] == pytest.approx(1.0)
    assert inception_score(np.full((100, 10), 0.1), splits=2)[0] == pytest.approx(1.0)  # unsure
    assert inception_score(np.eye(10)[np.zeros(100, int)], splits=2)[0] == pytest.approx(1.0)  # collapsed


def test_inception_score_of_one_split_is_its_definition():
    p = np.random.default_rng(3).dirichlet(np.full(10, 0.3), size=400)
    marginal = p.mean(axis=0)
    expected = np.exp(np.mean(np.sum(p * (np.log(p) - np.log(marginal)), axis=1)))
    assert inception_score(p, splits=1) == (pytest.approx(expected, rel=1e-12), 0.0)


def test_inception_score_does_not_depend_on_the_order_of_the_samples():
    """A class-sorted set of real images scored 1.06 when splits were consecutive (each split one class)."""
    sorted_by_class = np.eye(10)[np.repeat(np.arange(10), 100)] * 0.98 + 0.002
    score, _ = inception_score(sorted_by_class, splits=10)
    assert score > 8.0  # 8.78 at most with this smoothing; consecutive splits gave about 1
    shuffled = sorted_by_class[np.random.default_rng(5).permutation(1000)]
    assert inception_score(shuffled, splits=10) == inception_score(sorted_by_class, splits=10)


def test_inception_score_splits_have_the_original_codes_boundaries():
    assert split_bounds(25, 10) == [(0, 2), (2, 5), (5, 7), (7, 10), (10, 12), (12, 15), (15, 17), (17, 20),
                                    (20, 22), (22, 25)]  # i * N // splits, not numpy.array_split's
    assert split_bounds(50000, 10)[3] == (15000, 20000)


def test_inception_score_rejects_too_few_samples():
    with pytest.raises(ValueError, match="N >= splits"):
        inception_score(np.eye(10)[:5], splits=10)


# ---- precision and recall --------------------------------------------------------------------


def two_clusters(rng, n=500, d=8):
    return rng.normal(size=(n, d)), rng.normal(size=(n, d)) + 20.0


def test_identical_sets_have_full_precision_and_recall():
    x = np.random.default_rng(12).normal(size=(400, 8))
    assert precision_recall(x, x, k=3) == (1.0, 1.0)


def test_a_fake_set_covering_half_the_real_one():
    rng = np.random.default_rng(13)
    first, second = two_clusters(rng)
    real = np.concatenate([first, second])
    precision, recall = precision_recall(real, first, k=3)  # the first cluster exactly
    assert precision == 1.0 and recall == 0.5
    first, second = two_clusters(rng, n=1000, d=2)
    fresh = rng.normal(size=(1000, 2))  # new samples of the first cluster only
    precision, recall = precision_recall(np.concatenate([first, second]), fresh, k=3)
    assert precision > 0.95 and 0.45 < recall <= 0.5


def test_a_far_away_fake_set_has_no_precision_or_recall():
    rng = np.random.default_rng(14)
    real, fake = two_clusters(rng, n=200)
    assert precision_recall(real, fake, k=3) == (0.0, 0.0)


def test_chunking_does_not_change_the_answer():
    rng = np.random.default_rng(15)
    real, fake = rng.normal(size=(230, 5)), rng.normal(0.5, 1.2, size=(170, 5))
    assert precision_recall(real, fake, k=5, chunk=7) == precision_recall(real, fake, k=5, chunk=10_000)
    radii = knn_radii(real, 3, chunk=11)
    brute = np.sort(((real[:, None] - real[None]) ** 2).sum(-1), axis=1)[:, 3]
    np.testing.assert_allclose(radii, brute, rtol=1e-9, atol=1e-9)


def test_precision_recall_at_ten_thousand_samples_fits_in_memory():
    """10k x 10k distances are never held at once: chunks of 1000 rows."""
    rng = np.random.default_rng(16)
    real, fake = rng.normal(size=(10_000, 16)).astype(np.float32), rng.normal(size=(10_000, 16)).astype(np.float32)
    precision, recall = precision_recall(real, fake, k=3)
    assert 0.8 < precision <= 1.0 and 0.8 < recall <= 1.0
