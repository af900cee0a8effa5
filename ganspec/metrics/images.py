"""Image-quality metrics on network features: Frechet distance, KID, Inception Score, precision/recall.

The plain functions take features or probabilities (NumPy/SciPy only):

    frechet_distance(mu1, sigma1, mu2, sigma2) -> float
    kid(features_a, features_b, subsets, subset_size) -> (mean, standard_error)
    inception_score(probabilities, splits) -> (mean, std)
    precision_recall(real_features, fake_features, k) -> (precision, recall)

The registered metrics (kinds fid, kid, inception_score, precision_recall of the spec language)
compute features with the extractor the spec names (`features: classifier|inception`, see
features.py) and return one flat dict: the numbers, and beside them, prefixed with the metric's
kind, what the numbers depend on:

    {"fid": 2.47, "fid_features": "classifier", "fid_weights_sha256": "0d14...",
     "fid_samples": 5000, "fid_reference": "mnist-train5k", "fid_reference_samples": 5000,
     "fid_classifier_accuracy": 0.9908}

(`<kind>_parameters`, e.g. "k=3", where the metric has any; the classifier's held-out accuracy
where it computed the features). Each metric's class (ganspec.ir.components) lists these keys, and
`ganspec.metrics.comparison.check_comparable` refuses to compare results whose settings differ.
"""

from __future__ import annotations

import numpy as np

from ganspec.metrics import Reference, metric
from ganspec.metrics.features import (
    gaussian_statistics,
    get_extractor,
    image_fingerprint,
    infer_scale,
    reference_statistics,
    statistics_of,
)

# ---- Frechet distance ------------------------------------------------------------------------


def _significant(values: np.ndarray) -> np.ndarray:
    """Eigenvalues of a PSD matrix with rounding noise set to 0: those below d * machine epsilon * the
    largest (numpy.linalg.matrix_rank's tolerance) are zero in exact arithmetic. Without the cutoff a
    rank-deficient covariance (features with zero variance: 44 of the MNIST classifier's 128 units)
    adds square roots of ~1e-13 noise, ~1e-6 each, to tr sqrt(s1 s2)."""
    if values.size == 0:
        return values
    cutoff = values.size * np.finfo(np.float64).eps * max(float(np.abs(values).max()), 0.0)
    return np.where(values > cutoff, values, 0.0)


def _psd_sqrt(matrix: np.ndarray) -> np.ndarray:
    """Symmetric square root of a symmetric positive semi-definite matrix (eigenvalues that are rounding
    noise, negative or tiny, are set to 0, so singular covariances are fine)."""
    values, vectors = np.linalg.eigh((matrix + matrix.T) / 2.0)
    return (vectors * np.sqrt(_significant(values))) @ vectors.T


def trace_sqrt_product(sigma1: np.ndarray, sigma2: np.ndarray) -> float:
    """tr sqrt(sigma1 sigma2), as tr sqrt(sqrt(s1) s2 sqrt(s1)): the same eigenvalues, but the product
    is symmetric PSD, so an eigen-decomposition is exact and never turns complex (no sqrtm
    eps-offset fallback needed)."""
    root = _psd_sqrt(sigma1)
    inner = root @ sigma2 @ root
    values = np.linalg.eigvalsh((inner + inner.T) / 2.0)
    return float(np.sqrt(_significant(values)).sum())


def frechet_distance(mu1, sigma1, mu2, sigma2) -> float:
    """Frechet distance between N(mu1, sigma1) and N(mu2, sigma2) (Dowson & Landau 1982; FID of
    Heusel et al. 2017, eq. 6): ||mu1 - mu2||^2 + tr(s1 + s2 - 2 (s1 s2)^(1/2))."""
    mu1, mu2 = (np.atleast_1d(np.asarray(m, dtype=np.float64)) for m in (mu1, mu2))
    sigma1, sigma2 = (np.atleast_2d(np.asarray(s, dtype=np.float64)) for s in (sigma1, sigma2))
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape or sigma1.shape != mu1.shape * 2:
        raise ValueError(f"means {mu1.shape}, {mu2.shape} and covariances {sigma1.shape}, {sigma2.shape} do not fit")
    diff = mu1 - mu2
    value = diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * trace_sqrt_product(sigma1, sigma2)
    return float(max(value, 0.0))  # only rounding makes it negative


# ---- KID -------------------------------------------------------------------------------------


def polynomial_kernel(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """k(x, y) = (x.y / d + 1)^3, the KID kernel (Binkowski et al. 2018, sec. 4)."""
    return (a @ b.T / a.shape[1] + 1.0) ** 3


def mmd2_unbiased(a: np.ndarray, b: np.ndarray) -> float:
    """Unbiased estimate of MMD^2 between two equal-size samples (Gretton et al. 2012, eq. 3)."""
    m = len(a)
    k_aa, k_bb, k_ab = polynomial_kernel(a, a), polynomial_kernel(b, b), polynomial_kernel(a, b)
    within = (k_aa.sum() - np.trace(k_aa) + k_bb.sum() - np.trace(k_bb)) / (m * (m - 1))
    return float(within - 2.0 * k_ab.sum() / (m * m))


def kid_subsets(features_a, features_b, subsets: int = 100, subset_size: int = 1000, seed: int = 0) -> np.ndarray:
    """MMD^2 estimates over `subsets` random subsets of `subset_size` from each set (without
    replacement within a subset), as in Binkowski et al.'s reference code."""
    a = np.asarray(features_a, dtype=np.float64)
    b = np.asarray(features_b, dtype=np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise ValueError(f"KID needs two feature arrays (N, D) of the same D; got {a.shape} and {b.shape}")
    size = min(subset_size, len(a), len(b))
    if size < 2:
        raise ValueError(f"KID needs at least 2 samples in each set; got {len(a)} and {len(b)}")
    rng = np.random.default_rng(seed)
    return np.array([mmd2_unbiased(a[rng.choice(len(a), size, replace=False)],
                                   b[rng.choice(len(b), size, replace=False)]) for _ in range(subsets)])


def kid(features_a, features_b, subsets: int = 100, subset_size: int = 1000, seed: int = 0) -> tuple[float, float]:
    """Kernel Inception Distance (Binkowski et al. 2018): the mean over subsets of the unbiased MMD^2
    with the cubic polynomial kernel, and its standard error (std over subsets / sqrt(subsets)).
    subset_size is capped at the smaller set's size."""
    estimates = kid_subsets(features_a, features_b, subsets, subset_size, seed)
    spread = estimates.std(ddof=1) if len(estimates) > 1 else 0.0
    return float(estimates.mean()), float(spread / np.sqrt(len(estimates)))


# ---- Inception Score -------------------------------------------------------------------------


def split_bounds(n: int, splits: int) -> list[tuple[int, int]]:
    """The original code's splits of n predictions (openai/improved-gan, inception_score.py:
    `preds[i * N // splits:(i + 1) * N // splits]`)."""
    return [(i * n // splits, (i + 1) * n // splits) for i in range(splits)]


def inception_score(probabilities, splits: int = 10) -> tuple[float, float]:
    """Inception Score (Salimans et al. 2016): exp(E_x KL(p(y|x) || p(y))), p(y) the mean prediction
    of each split; mean and std over `splits` splits with the original code's boundaries (`split_bounds`).
    The original splits the predictions in the order they come, so a set sorted by class scores near 1
    (each split one class); here the rows are first put in a canonical order (sorted, then a fixed
    permutation), so the score depends on the set of predictions only, never on their order."""
    p = np.asarray(probabilities, dtype=np.float64)
    if p.ndim != 2 or len(p) < splits or splits < 1:
        raise ValueError(f"Inception Score needs (N, classes) probabilities with N >= splits; got {p.shape}, "
                         f"{splits} splits")
    canonical = p[np.lexsort(p.T[::-1])] if len(p) else p
    p = canonical[np.random.default_rng(0).permutation(len(canonical))]
    scores = []
    for start, stop in split_bounds(len(p), splits):
        part = p[start:stop]
        marginal = part.mean(axis=0, keepdims=True)
        safe = np.where(part > 0, part, 1.0)  # 0 log 0 = 0
        kl = np.sum(np.where(part > 0, part * (np.log(safe) - np.log(np.where(marginal > 0, marginal, 1.0))), 0.0),
                    axis=1)
        scores.append(np.exp(kl.mean()))
    return float(np.mean(scores)), float(np.std(scores))


# ---- precision and recall --------------------------------------------------------------------


def _squared_distances(a: np.ndarray, b: np.ndarray, b_norms: np.ndarray) -> np.ndarray:
    d = a @ b.T  # in place from here: one (chunk, N) array, no temporaries of its size
    d *= -2.0
    d += np.sum(a * a, axis=1)[:, None]
    d += b_norms[None, :]
    return np.maximum(d, 0.0, out=d)


def knn_radii(features: np.ndarray, k: int, chunk: int = 1000) -> np.ndarray:
    """Squared distance of each sample to its k-th nearest other sample, computed in row chunks
    (a 10k x 10k problem needs chunk x N floats at a time, not N x N)."""
    f = np.asarray(features, dtype=np.float64)
    if len(f) <= k:
        raise ValueError(f"k-NN radii with k={k} need more than {k} samples; got {len(f)}")
    norms = np.sum(f * f, axis=1)
    radii = np.empty(len(f))
    for start in range(0, len(f), chunk):
        d = _squared_distances(f[start:start + chunk], f, norms)
        radii[start:start + chunk] = np.partition(d, k, axis=1)[:, k]  # position 0 is the sample itself
    return radii


def coverage(points: np.ndarray, centres: np.ndarray, radii: np.ndarray, chunk: int = 1000) -> float:
    """Fraction of `points` inside at least one ball (centre, squared radius)."""
    p = np.asarray(points, dtype=np.float64)
    c = np.asarray(centres, dtype=np.float64)
    norms = np.sum(c * c, axis=1)
    inside = np.zeros(len(p), dtype=bool)
    for start in range(0, len(p), chunk):
        inside[start:start + chunk] = np.any(_squared_distances(p[start:start + chunk], c, norms) <= radii[None, :],
                                             axis=1)
    return float(inside.mean())


def precision_recall(real_features, fake_features, k: int = 3, chunk: int = 1000) -> tuple[float, float]:
    """Improved precision and recall (Kynkaanniemi et al. 2019, eq. 1-2): precision is the share of
    fake samples inside the real manifold (union of balls reaching each real sample's k-th nearest
    real neighbour), recall the share of real samples inside the fake manifold."""
    real = np.asarray(real_features, dtype=np.float64)
    fake = np.asarray(fake_features, dtype=np.float64)
    if real.ndim != 2 or fake.ndim != 2 or real.shape[1] != fake.shape[1]:
        raise ValueError(f"precision/recall needs two feature arrays (N, D) of the same D; got {real.shape}, "
                         f"{fake.shape}")
    precision = coverage(fake, real, knn_radii(real, k, chunk), chunk)
    recall = coverage(real, fake, knn_radii(fake, k, chunk), chunk)
    return precision, recall


# ---- the registered metrics ------------------------------------------------------------------

_MEMORY: dict[tuple, object] = {}  # reference statistics of unnamed references, by content


def reference_scale(ref: Reference) -> tuple[float, float]:
    """The pixel range of the reference images (and of generated ones): `ref.value_range` when the
    Reference says, else guessed from the real images."""
    scale = getattr(ref, "value_range", None) or getattr(ref, "scale", None)
    return tuple(float(v) for v in scale) if scale is not None else infer_scale(ref.real)


def _reference_statistics(ref: Reference, extractor, scale):
    """Features of the reference images: the disk cache for a named reference set, else computed
    once per process for the same images."""
    name = getattr(ref, "name", None)
    if name:
        return reference_statistics(extractor, ref.real, scale, dataset=name,
                                    split=getattr(ref, "split", None) or "all", count=len(ref.real))
    key = (extractor.name, extractor.weights_sha256, image_fingerprint(ref.real, scale))
    if key not in _MEMORY:
        if len(_MEMORY) >= 4:
            _MEMORY.pop(next(iter(_MEMORY)))
        _MEMORY[key] = statistics_of(extractor, ref.real, scale)
    return _MEMORY[key]


def _settings(node, extractor, fake, ref: Reference, **parameters) -> dict:
    """`<kind>_<field>` entries: what a score of the metric `node` depends on."""
    kind = node.kind
    out = {f"{kind}_features": extractor.name, f"{kind}_weights_sha256": extractor.weights_sha256,
           f"{kind}_samples": len(fake)}
    if type(node).records_reference:
        out[f"{kind}_reference"] = getattr(ref, "name", None) or None
        out[f"{kind}_reference_samples"] = len(ref.real)
    if parameters:
        out[f"{kind}_parameters"] = " ".join(f"{k}={v}" for k, v in parameters.items())
    accuracy = extractor.describe().get("features_heldout_accuracy")
    if accuracy is not None:
        out[f"{kind}_{extractor.name}_accuracy"] = accuracy  # reported beside every score (BENCHMARKS.md)
    return out


def _features(node):
    return get_extractor(getattr(node, "features", "classifier"))


@metric("fid")
def fid_metric(node, fake: np.ndarray, ref: Reference) -> dict:
    """Frechet distance between Gaussians fitted to generated and reference features."""
    extractor, scale = _features(node), reference_scale(ref)
    real = _reference_statistics(ref, extractor, scale)
    mean, cov = gaussian_statistics(extractor.extract(fake, scale).features)
    return {"fid": frechet_distance(mean, cov, real.mean, real.cov), **_settings(node, extractor, fake, ref)}


@metric("kid")
def kid_metric(node, fake: np.ndarray, ref: Reference) -> dict:
    """KID between generated and reference features: mean and standard error over subsets."""
    extractor, scale = _features(node), reference_scale(ref)
    real = _reference_statistics(ref, extractor, scale)
    fake_features = extractor.extract(fake, scale).features
    size = min(node.subset_size, len(fake_features), len(real.features))
    mean, error = kid(fake_features, real.features, node.subsets, size)
    return {"kid": mean, "kid_std_error": error,
            **_settings(node, extractor, fake, ref, subsets=node.subsets, subset_size=size)}


@metric("inception_score")
def inception_score_metric(node, fake: np.ndarray, ref: Reference) -> dict:
    """Inception Score of generated images with the chosen extractor's class probabilities
    (no reference set: it scores the generated images alone)."""
    extractor, scale = _features(node), reference_scale(ref)
    mean, std = inception_score(extractor.extract(fake, scale).probabilities, node.splits)
    return {"inception_score": mean, "inception_score_std": std,
            **_settings(node, extractor, fake, ref, splits=node.splits)}


@metric("precision_recall")
def precision_recall_metric(node, fake: np.ndarray, ref: Reference) -> dict:
    """Improved precision and recall of generated against reference features."""
    extractor, scale = _features(node), reference_scale(ref)
    real = _reference_statistics(ref, extractor, scale)
    precision, recall = precision_recall(real.features, extractor.extract(fake, scale).features, node.k)
    return {"precision": precision, "recall": recall,
            **_settings(node, extractor, fake, ref, k=node.k)}
