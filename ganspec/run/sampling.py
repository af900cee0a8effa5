"""Generating samples from a built generator: fixed, seeded latent batches, one row per class, and
latent interpolations (spherical for normal priors, White 2016)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ganspec.ir.spec import Spec


# The NumPy twins of ganspec.train.priors.PRIOR_SAMPLERS, for fixed latent batches; `truncation` (a
# number of standard deviations, or None) bounds the normal factors (evaluate.truncation).
NUMPY_PRIORS = {
    "normal": lambda prior, n, rng, truncation: (
        rng.standard_normal((n, prior.dim)) if truncation is None
        else truncated_standard_normal((n, prior.dim), truncation, rng)) * prior.std,
    "uniform": lambda prior, n, rng, truncation: rng.uniform(prior.low, prior.high, size=(n, prior.dim)),
    "mixture": lambda prior, n, rng, truncation: (prior.means()[rng.integers(0, prior.components, n)]
                                                  + rng.standard_normal((n, prior.dim)) * prior.std),
    "categorical": lambda prior, n, rng, truncation: np.eye(prior.dim)[rng.integers(0, prior.dim, n)],
    "product": lambda prior, n, rng, truncation: np.concatenate(
        [NUMPY_PRIORS[f.kind](f, n, rng, truncation) for f in prior.factors], axis=-1),
}


def truncated_standard_normal(shape, threshold: float, rng: np.random.Generator) -> np.ndarray:
    """N(0, 1) conditioned on [-threshold, threshold] (the truncation trick of Brock et al. 2019, sec. 3.1:
    values outside are redrawn), drawn by inverting the CDF: u ~ U(Phi(-t), Phi(t)), z = Phi^-1(u).
    Exact for any threshold, where redrawing would take ~1/P(|z| < t) rounds for a small one."""
    from scipy.special import ndtr, ndtri

    low = ndtr(-threshold)
    # Phi(t) - Phi(-t) = 1 - 2 Phi(-t), without the round-off of 1 - Phi(t) for a large t.
    z = ndtri(low + rng.uniform(size=shape) * (1.0 - 2.0 * low))
    return np.clip(z, -threshold, threshold)  # round-off at the ends


def latent_batch(spec: Spec, n: int, seed: int, truncated: bool = True) -> np.ndarray:
    """The same z for the same (spec, n, seed), so sample grids compare over time; drawn with the spec's
    evaluate.truncation unless `truncated` is False (the prior as training draws it)."""
    truncation = spec.evaluate.truncation if truncated else None
    return NUMPY_PRIORS[spec.latent.kind](spec.latent, n, np.random.default_rng(seed), truncation).astype(np.float32)


def with_truncation(spec: Spec, truncation: float | None) -> Spec:
    """The spec with evaluate.truncation set (None: none); ValueError, saying why, for a threshold that is
    not positive or a prior without a normal factor."""
    if truncation is not None and not truncation > 0:
        raise ValueError(f"the truncation threshold must be positive, not {truncation}")
    if truncation is not None and not spec.latent.truncatable:
        raise ValueError(f"truncation bounds normal latent factors; {spec.latent.kind}(...) has none")
    return spec.model_copy(update={"evaluate": spec.evaluate.model_copy(update={"truncation": truncation})})


def evaluation_file(iteration: int, truncation: float | None = None) -> str:
    """The name of a checkpoint's evaluation in its run (`ganspec eval`, Run.evaluate): eval-ITERATION.json,
    or eval-ITERATION-truncation-T.json for samples drawn with a truncation asked for at evaluation."""
    return f"eval-{iteration:08d}.json" if truncation is None else f"eval-{iteration:08d}-truncation-{truncation:g}.json"


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
        z = latent_batch(spec, size, seed=(spec.seed + 1) * 100_003 + k, truncated=False)
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
        return self.at(latent_batch(self.spec, n, seed), label_batch(self.spec, n))

    def at(self, z: np.ndarray, labels: np.ndarray | None = None) -> np.ndarray:
        """Samples at given latent points (N, latent width) and, for a conditional run, class indices (N,)."""
        n = len(z)
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


# ---- pictures a person looks at: one row per class, latent interpolations -------------------


def _sampler(spec: Spec, generator) -> Sampler:
    return generator if isinstance(generator, Sampler) else Sampler(spec, generator)


def check_classes(spec: Spec, classes) -> list[int]:
    """The class indices to draw (every class when `classes` is None); ValueError, saying why, for an
    unconditional spec or a class outside 0..classes-1."""
    if spec.conditional is None:
        raise ValueError("the spec has no `conditional` block: its generator takes no class")
    count = spec.conditional.classes
    chosen = list(range(count)) if classes is None else [int(c) for c in classes]
    outside = [c for c in chosen if not 0 <= c < count]
    if outside:
        raise ValueError(f"class {outside[0]} is not one of the spec's {count} classes (0..{count - 1})")
    if not chosen:
        raise ValueError("no classes to draw")
    return chosen


def class_latents(spec: Spec, per_class: int, seed: int, classes=None) -> tuple[np.ndarray, np.ndarray]:
    """(z, labels) for one row per class: the same `per_class` latent points latent_batch(spec, per_class,
    seed) in every row, so a column shows what the class alone changes; shapes (rows*per_class, width)
    and (rows*per_class,), row-major."""
    chosen = check_classes(spec, classes)
    z = latent_batch(spec, per_class, seed)
    return np.tile(z, (len(chosen), 1)), np.repeat(np.asarray(chosen), per_class)


def class_rows(spec: Spec, generator, per_class: int, seed: int, classes=None) -> np.ndarray:
    """Samples of a conditional generator (or a Sampler), one row per class (every class, or the indices
    in `classes`), `per_class` each at shared latent points: shape (rows, per_class, *sample_shape)."""
    z, labels = class_latents(spec, per_class, seed, classes)
    fake = _sampler(spec, generator).at(z, labels)
    return fake.reshape(len(z) // per_class, per_class, *fake.shape[1:])


def lerp(start: np.ndarray, end: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Linear interpolation (1 - t) start + t end for each t: shape (len(t), width); exact at 0 and 1."""
    t = np.asarray(t, dtype=np.float64)[:, None]
    return (1.0 - t) * start[None, :] + t * end[None, :]


def slerp(start: np.ndarray, end: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Spherical interpolation (White 2016, "Sampling generative networks"):
    sin((1-t) w)/sin(w) start + sin(t w)/sin(w) end, w the angle between them. It follows the great
    circle, so points of equal norm keep that norm, where a straight line would pass through
    the improbable middle of a high-dimensional Gaussian. Shape (len(t), width); exact at 0 and 1."""
    a, b = np.asarray(start, dtype=np.float64), np.asarray(end, dtype=np.float64)
    norms = np.linalg.norm(a) * np.linalg.norm(b)
    omega = np.arccos(np.clip(a @ b / norms, -1.0, 1.0)) if norms > 0 else 0.0
    if np.sin(omega) < 1e-6:  # (anti)parallel or zero: the great circle is not unique
        return lerp(a, b, t)
    t = np.asarray(t, dtype=np.float64)[:, None]
    path = (np.sin((1.0 - t) * omega) * a + np.sin(t * omega) * b) / np.sin(omega)
    path[t[:, 0] == 0.0], path[t[:, 0] == 1.0] = a, b
    return path


def hold(start: np.ndarray, end: np.ndarray, t: np.ndarray) -> np.ndarray:
    """No interpolation: `start` at every step (a categorical code stays one category along a row)."""
    return np.repeat(np.asarray(start, dtype=np.float64)[None, :], len(t), axis=0)


# How each prior's factor of z moves along an interpolation row: spherical for Gaussian noise,
# straight for a box (a great circle would leave it), held for a one-hot code.
INTERPOLATIONS = {"normal": slerp, "uniform": lerp, "mixture": lerp, "categorical": hold}
INTERPOLATION_NAMES = {slerp: "spherical", lerp: "linear", hold: "held fixed"}


def latent_factors(spec: Spec) -> list[tuple[object, int, int]]:
    """(prior, start column, stop column) of each factor of z: one for a single prior."""
    latent = spec.latent
    if latent.kind == "product":
        return [(factor, *latent.columns(i)) for i, factor in enumerate(latent.factors)]
    return [(latent, 0, latent.input_dim)]


def describe_interpolation(spec: Spec) -> str:
    """How an interpolation moves through this spec's z, e.g. "spherical (normal(64))"."""
    return ", ".join(f"{INTERPOLATION_NAMES[INTERPOLATIONS[prior.kind]]} ({prior.text()})"
                     for prior, _, _ in latent_factors(spec))


def interpolate_latent(spec: Spec, start: np.ndarray, end: np.ndarray, steps: int) -> np.ndarray:
    """`steps` latent points from `start` to `end`, factor by factor as INTERPOLATIONS says: spherical
    (slerp) for normal priors, linear for uniform and mixture ones, categorical codes held at the
    start's. Shape (steps, width), float32."""
    if steps < 2:
        raise ValueError(f"an interpolation needs at least 2 steps, not {steps}")
    t = np.linspace(0.0, 1.0, steps)
    path = np.empty((steps, len(start)))
    for prior, lo, hi in latent_factors(spec):
        path[:, lo:hi] = INTERPOLATIONS[prior.kind](start[lo:hi], end[lo:hi], t)
    return path.astype(np.float32)


def interpolation_latents(spec: Spec, pairs: int, steps: int, seed: int,
                          classes=None) -> tuple[np.ndarray, np.ndarray | None]:
    """(z, labels) of `pairs` interpolation rows of `steps` points: row i runs from
    latent_batch(spec, 2*pairs, seed)[2i] to [2i+1] (interpolate_latent). A conditional run holds one
    class per row, cycling through `classes` (default all); labels is None for an unconditional one.
    Shapes (pairs*steps, width) and (pairs*steps,), row-major."""
    ends = latent_batch(spec, 2 * pairs, seed)
    z = np.concatenate([interpolate_latent(spec, ends[2 * i], ends[2 * i + 1], steps) for i in range(pairs)])
    if spec.conditional is None:
        if classes is not None:
            check_classes(spec, classes)  # raises: no classes to hold
        return z, None
    chosen = check_classes(spec, classes)
    return z, np.repeat(np.asarray(chosen)[np.arange(pairs) % len(chosen)], steps)


def interpolation_rows(spec: Spec, generator, pairs: int, steps: int, seed: int, classes=None) -> np.ndarray:
    """Samples along `pairs` latent interpolations of `steps` points each (interpolation_latents) from a
    generator (or a Sampler): shape (pairs, steps, *sample_shape); column 0 and column -1 are the
    samples of the pair's two latent points."""
    z, labels = interpolation_latents(spec, pairs, steps, seed, classes)
    fake = _sampler(spec, generator).at(z, labels)
    return fake.reshape(pairs, steps, *fake.shape[1:])


def row_classes(spec: Spec, rows: int, classes=None) -> list[int] | None:
    """The class each row of class_rows / interpolation_rows holds (None when unconditional)."""
    if spec.conditional is None:
        return None
    chosen = check_classes(spec, classes)
    return [chosen[i % len(chosen)] for i in range(rows)]


# ---- the real data behind 2-D samples -------------------------------------------------------


@dataclass(frozen=True)
class DataOverlay:
    """What a scatter plot of samples is drawn over: real points, and a toy mixture's mode centres
    with the radius the mode_coverage metric counts (3 std)."""

    points: np.ndarray
    modes: np.ndarray | None = None
    mode_radius: float = 0.0


def data_overlay(spec: Spec, spec_dir, n: int = 2000, seed: int = 0) -> DataOverlay:
    """n real points of the spec's data (all of a smaller data set; ganspec.data.load_data's DataError
    when unreadable) and, for toy mixtures, their mode centres."""
    from ganspec.data import load_data

    return overlay_of(load_data(spec, spec_dir), n, seed)


def overlay_of(dataset, n: int = 2000, seed: int = 0) -> DataOverlay:
    """n real points of a loaded data set (all of a smaller one) and, for toy mixtures, their mode centres."""
    modes = getattr(dataset, "modes", None)
    std = getattr(dataset, "std", None) or 0.0
    points = dataset.sample(n if dataset.size is None else min(n, dataset.size), seed=seed)  # toys: endless
    return DataOverlay(points, modes, 3.0 * std if modes is not None else 0.0)
