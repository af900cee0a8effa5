"""Registered components of a spec other than layers: data sources, latent priors,
objectives, constraints, step schedules, optimizers, learning-rate schedules, metrics.

Each is a small typed model with paper defaults and a citation. The training code
(ganspec.train) looks up the implementation of each by its `kind`.
"""

from typing import Annotated, ClassVar, Literal, Optional

from pydantic import Field, field_validator

from ganspec.ir.base import Component, Registry

Pos = Annotated[int, Field(gt=0)]
PosFloat = Annotated[float, Field(gt=0)]
Prob = Annotated[float, Field(ge=0, le=1)]

# ---- data sources ------------------------------------------------------------------------

SOURCES = Registry("data source")


class Source(Component):
    toy: ClassVar[bool] = False
    has_labels: ClassVar[bool] = False

    def known_shape(self) -> tuple[int, ...] | None:
        """The sample shape, when it is known without reading data."""
        return None

    def paths(self) -> dict[str, str]:
        """Files this source reads, by argument name."""
        return {}


@SOURCES.register
class Ring(Source):
    """`modes` Gaussians on a circle, at angles 2*pi*k/modes (PacGAN/VEEGAN ring)."""

    kind: Literal["ring"] = "ring"
    modes: Pos = 8
    radius: PosFloat = 1.0
    std: PosFloat = 0.01
    positional: ClassVar = ("modes", "radius", "std")
    toy: ClassVar = True

    def known_shape(self):
        return (2,)


@SOURCES.register
class Grid(Source):
    """side x side Gaussians on a grid centred at 0 (PacGAN grid: side 5, spacing 2, std 0.05)."""

    kind: Literal["grid"] = "grid"
    side: Pos = 5
    spacing: PosFloat = 2.0
    std: PosFloat = 0.05
    positional: ClassVar = ("side", "spacing", "std")
    toy: ClassVar = True

    def known_shape(self):
        return (2,)


@SOURCES.register
class Gaussian(Source):
    """One Gaussian in 1 or 2 dimensions: `gaussian(mean: [0, 0], std: 1)`."""

    kind: Literal["gaussian"] = "gaussian"
    mean: tuple[float, ...] = Field((0.0,), min_length=1, max_length=2)
    std: PosFloat = 1.0
    positional: ClassVar = ("mean", "std")
    toy: ClassVar = True

    def known_shape(self):
        return (len(self.mean),)


# Shapes of well-known TFDS image data sets, so specs validate without TensorFlow.
TFDS_SHAPES = {
    "mnist": (28, 28, 1),
    "fashion_mnist": (28, 28, 1),
    "kmnist": (28, 28, 1),
    "emnist": (28, 28, 1),
    "cifar10": (32, 32, 3),
    "cifar100": (32, 32, 3),
    "svhn_cropped": (32, 32, 3),
    "celeb_a": (218, 178, 3),
    "stl10": (96, 96, 3),
}


@SOURCES.register
class Tfds(Source):
    """A TensorFlow Datasets image data set, e.g. `tfds("mnist", split: "train")`."""

    kind: Literal["tfds"] = "tfds"
    name: str
    split: str = "train"
    image_key: str = "image"
    label_key: str = "label"
    shape: Optional[tuple[Pos, ...]] = None
    positional: ClassVar = ("name", "split")
    has_labels: ClassVar = True

    def known_shape(self):
        return self.shape or TFDS_SHAPES.get(self.name)


@SOURCES.register
class Idx(Source):
    """MNIST-style IDX files (gzip or raw): `idx("images-idx3-ubyte.gz", labels: "...")`."""

    kind: Literal["idx"] = "idx"
    images: str
    labels: Optional[str] = None
    positional: ClassVar = ("images", "labels")

    def paths(self):
        return {k: v for k, v in (("images", self.images), ("labels", self.labels)) if v}


@SOURCES.register
class Npz(Source):
    """Arrays in a NumPy .npz file: images under `key` (N, H, W[, C]) or (N, D); optional labels."""

    kind: Literal["npz"] = "npz"
    path: str
    key: str = "x"
    labels_key: Optional[str] = None
    positional: ClassVar = ("path", "key")

    def paths(self):
        return {"path": self.path}


@SOURCES.register
class Folder(Source):
    """Image files in a folder (PNG/JPEG), resized to `shape`; sub-folder names are labels."""

    kind: Literal["folder"] = "folder"
    path: str
    shape: tuple[Pos, Pos, Pos] = (64, 64, 3)
    positional: ClassVar = ("path",)
    has_labels: ClassVar = True

    def known_shape(self):
        return self.shape

    def paths(self):
        return {"path": self.path}


# ---- latent priors -----------------------------------------------------------------------

PRIORS = Registry("latent prior")


class Prior(Component):
    dim: Pos
    positional: ClassVar = ("dim",)
    discrete: ClassVar[bool] = False  # a categorical code (a head predicts it by cross-entropy)
    # N(0, std^2): a factor the truncation trick (evaluate.truncation) bounds.
    truncatable: ClassVar[bool] = False

    @property
    def input_dim(self) -> int:
        """Width of the generator's latent input."""
        return self.dim


@PRIORS.register
class Normal(Prior):
    """z ~ N(0, std^2 I)."""

    kind: Literal["normal"] = "normal"
    std: PosFloat = 1.0
    truncatable: ClassVar[bool] = True


@PRIORS.register
class Uniform(Prior):
    """z ~ U(low, high)^dim."""

    kind: Literal["uniform"] = "uniform"
    low: float = -1.0
    high: float = 1.0


@PRIORS.register
class Mixture(Prior):
    """z ~ (1/K) sum_k N(mu_k, std^2 I): an equal mixture of K Gaussians (Gurumurthy et al. 2017,
    DeLiGAN, with fixed rather than learned means). The means are drawn once from N(0, I) by
    `means_seed`, so the spec names the same prior everywhere. A continuous generator of a
    connected prior must put samples between the modes of disconnected data (Khayatkhoei et al.
    2018); with a small `std` the prior's support is itself disconnected, and each component can
    land on one mode."""

    kind: Literal["mixture"] = "mixture"
    components: Pos = 10
    std: PosFloat = 0.1
    means_seed: Annotated[int, Field(ge=0)] = 0

    def means(self):
        """The K component means, shape [components, dim], float32."""
        import numpy as np

        return np.random.default_rng(self.means_seed).standard_normal((self.components, self.dim)).astype(np.float32)


# ---- structured latents: codes beside the noise (InfoGAN) ------------------------------------


@PRIORS.register
class Categorical(Prior):
    """A one-hot code of `dim` equally likely categories: InfoGAN's categorical code (Chen et al. 2016,
    sec. 5: c_1 ~ Cat(K = 10, p = 0.1) on MNIST); the generator reads it one-hot."""

    kind: Literal["categorical"] = "categorical"
    discrete: ClassVar = True


@PRIORS.register
class Product(Component):
    """z = [z_1, ..., z_n], independent factors z_i ~ p_i concatenated in order (one-hot for a
    categorical): InfoGAN's incompressible noise and latent codes (Chen et al. 2016, sec. 4);
    PyTorch-GAN's infogan.py input is `product(normal(62), categorical(10), uniform(2))`. A critic's
    `head(code: i)` predicts factor i (counting from 0)."""

    kind: Literal["product"] = "product"
    factors: tuple[PRIORS.annotation(), ...] = Field(min_length=2)
    varargs: ClassVar = "factors"

    @field_validator("factors")
    @classmethod
    def _flat(cls, factors):
        if any(isinstance(factor, Product) for factor in factors):
            raise ValueError("a product's factors are single priors: write the inner product's factors in "
                             "the outer one")
        return factors

    @property
    def input_dim(self) -> int:
        """Width of the generator's latent input: the factors' widths summed."""
        return sum(factor.input_dim for factor in self.factors)

    @property
    def truncatable(self) -> bool:
        """Whether a factor is one the truncation trick (evaluate.truncation) bounds."""
        return any(factor.truncatable for factor in self.factors)

    def columns(self, index: int) -> tuple[int, int]:
        """[start, stop) of factor `index` in z."""
        start = sum(factor.input_dim for factor in self.factors[:index])
        return start, start + self.factors[index].input_dim

    def text(self, full: bool = False) -> str:
        return f"{self.kind}({', '.join(factor.text(full) for factor in self.factors)})"


# ---- objectives --------------------------------------------------------------------------

OBJECTIVES = Registry("objective")


class Objective(Component):
    expects_logits: ClassVar[bool] = False  # the critic's output is read as a logit
    wasserstein: ClassVar[bool] = False  # needs a Lipschitz critic
    unbounded_critic: ClassVar[bool] = False  # the loss reads a raw, unbounded critic output (no final sigmoid)
    real_fake_targets: ClassVar[bool] = True  # D is trained towards real/fake targets (label tricks act on them)
    classification_loss: ClassVar[bool] = True  # the critic loss nears 0 only when D separates real from fake

    def generator_saturates(self) -> bool:
        return False


@OBJECTIVES.register
class Minimax(Objective):
    """Goodfellow et al. 2014, eq. 1: min_G max_D E[log D(x)] + E[log(1 - D(G(z)))]."""

    kind: Literal["minimax"] = "minimax"
    expects_logits: ClassVar = True

    def generator_saturates(self):
        return True


@OBJECTIVES.register
class NonSaturating(Objective):
    """Goodfellow et al. 2014, sec. 3: the generator maximizes log D(G(z)) instead."""

    kind: Literal["non_saturating"] = "non_saturating"
    expects_logits: ClassVar = True


@OBJECTIVES.register
class Wasserstein(Objective):
    """Arjovsky et al. 2017, eq. 3: critic maximizes E[f(x)] - E[f(G(z))] over 1-Lipschitz f."""

    kind: Literal["wasserstein"] = "wasserstein"
    wasserstein: ClassVar = True
    unbounded_critic: ClassVar = True
    real_fake_targets: ClassVar = False
    classification_loss: ClassVar = False


@OBJECTIVES.register
class Hinge(Objective):
    """Lim & Ye 2017; Miyato et al. 2018 eq. 17: E[relu(1 - D(x))] + E[relu(1 + D(G(z)))]."""

    kind: Literal["hinge"] = "hinge"
    unbounded_critic: ClassVar = True
    real_fake_targets: ClassVar = False
    classification_loss: ClassVar = False


@OBJECTIVES.register
class LeastSquares(Objective):
    """Mao et al. 2017, eq. 2: D to a on fake and b on real; G pushes D(G(z)) to c."""

    kind: Literal["least_squares"] = "least_squares"
    a: float = 0.0
    b: float = 1.0
    c: float = 1.0


@OBJECTIVES.register
class Relativistic(Objective):
    """Jolicoeur-Martineau 2018: relativistic (average) GAN over a base loss."""

    kind: Literal["relativistic"] = "relativistic"
    base: Literal["standard", "least_squares", "hinge"] = "standard"
    average: bool = True
    positional: ClassVar = ("base",)
    real_fake_targets: ClassVar = False  # its losses compare D(x) with D(G(z)), not with 1 / 0 targets

    @property
    def reads_logits(self) -> bool:
        return self.base == "standard"


# Nowozin et al. 2016, Table 6: output activation g_f and the domain of the conjugate f*.
# A divergence whose f* is finite on all reals accepts an identity activation.
F_DIVERGENCES: dict[str, dict] = {
    "total_variation": {"activation": "1/2 tanh(v)", "domain": "|t| <= 1/2"},
    "kl": {"activation": "v", "domain": None},
    "reverse_kl": {"activation": "-exp(-v)", "domain": "t < 0"},
    "pearson": {"activation": "v", "domain": None},
    "neyman": {"activation": "1 - exp(-v)", "domain": "t < 1"},
    "squared_hellinger": {"activation": "1 - exp(-v)", "domain": "t < 1"},
    "jeffrey": {"activation": "v", "domain": None},
    "jensen_shannon": {"activation": "log(2) - log(1 + exp(-v))", "domain": "t < log(2)"},
    "gan": {"activation": "-log(1 + exp(-v))", "domain": "t < 0"},
}


@OBJECTIVES.register
class FDivergence(Objective):
    """Nowozin et al. 2016 (f-GAN), eq. 6: E[g_f(V(x))] - E[f*(g_f(V(G(z))))], Table 6 activations."""

    kind: Literal["f_divergence"] = "f_divergence"
    divergence: Literal[tuple(F_DIVERGENCES)]  # type: ignore[valid-type]
    activation: Literal["paper", "identity"] = "paper"
    positional: ClassVar = ("divergence",)
    expects_logits: ClassVar = True
    classification_loss: ClassVar = False
    real_fake_targets: ClassVar = False  # a variational bound on a divergence: no real/fake targets


@OBJECTIVES.register
class Split(Objective):
    """Different loss families for the two players, on one critic output: the critic minimizes
    `critic`'s critic loss and the generator `generator`'s generator loss, e.g.
    `split(critic: hinge, generator: non_saturating)`. Each side is the paper's loss of its objective
    (cited there); an f-divergence belongs to one f (its V, activation and conjugate go together), so it
    is not split, nor is a split split again."""

    kind: Literal["split"] = "split"
    critic: OBJECTIVES.annotation()
    generator: OBJECTIVES.annotation()

    @field_validator("critic", "generator")
    @classmethod
    def _splittable(cls, objective):
        if objective.kind == "f_divergence":
            raise ValueError("cannot be f_divergence: its critic output V, activation and conjugate belong to one "
                             "f, for both players (use `objective f_divergence(...)` itself)")
        if objective.kind == "split":
            raise ValueError("cannot be another split: name the critic's and the generator's objectives directly")
        return objective

    def _parts(self):
        return (self.critic, self.generator)

    @property
    def expects_logits(self) -> bool:  # the critic's output is read as a logit by either loss
        return any(part.expects_logits for part in self._parts())

    @property
    def reads_logits(self) -> bool:
        return any(part.expects_logits and getattr(part, "reads_logits", True) for part in self._parts())

    @property
    def unbounded_critic(self) -> bool:
        return any(part.unbounded_critic for part in self._parts())

    @property
    def wasserstein(self) -> bool:  # the critic's loss decides whether it must be Lipschitz
        return self.critic.wasserstein

    @property
    def real_fake_targets(self) -> bool:
        return self.critic.real_fake_targets

    @property
    def classification_loss(self) -> bool:
        return self.critic.classification_loss

    def generator_saturates(self) -> bool:
        return self.generator.generator_saturates()


# ---- constraints and regularizers of the critic ------------------------------------------

CONSTRAINTS = Registry("constraint")


class Constraint(Component):
    is_gradient_penalty: ClassVar[bool] = False
    every: Pos = 1  # lazy regularization (Karras et al. 2020): apply every N critic steps


@CONSTRAINTS.register
class WeightClip(Constraint):
    """Arjovsky et al. 2017, Algorithm 1: clip every critic weight to [-c, c] after each update."""

    kind: Literal["weight_clip"] = "weight_clip"
    c: PosFloat = 0.01
    positional: ClassVar = ("c",)


@CONSTRAINTS.register
class SpectralNorm(Constraint):
    """Miyato et al. 2018: divide each critic weight by its largest singular value (power iteration)."""

    kind: Literal["spectral_norm"] = "spectral_norm"
    power_iterations: Pos = 1
    positional: ClassVar = ("power_iterations",)


@CONSTRAINTS.register
class GradientPenalty(Constraint):
    """weight * E[(||grad D(x_hat)|| - target)^2] at sampled points x_hat.

    at: interpolates (Gulrajani et al. 2017, eq. 3), real or fake points (Mescheder et
    al. 2018 style), perturbed_real (DRAGAN, Kodali et al. 2017, sec. 5: x + delta, delta ~ N(0, (noise *
    std(x))^2 I), around the data), perturbed_real_uniform (the DRAGAN authors' notebook:
    x + alpha * noise * std(x) * U[0,1], on one side of the data).
    one_sided penalizes only norms above target (Gulrajani et al. 2017, appendix).
    """

    kind: Literal["gradient_penalty"] = "gradient_penalty"
    weight: PosFloat = 10.0
    target: PosFloat = 1.0
    one_sided: bool = False
    at: Literal["interpolates", "real", "fake", "perturbed_real", "perturbed_real_uniform"] = "interpolates"
    noise: PosFloat = 0.5
    positional: ClassVar = ("weight",)
    is_gradient_penalty: ClassVar = True


@CONSTRAINTS.register
class R1(Constraint):
    """Mescheder et al. 2018, eq. 9: (gamma / 2) E_real[||grad D(x)||^2]."""

    kind: Literal["r1"] = "r1"
    gamma: PosFloat = 10.0
    positional: ClassVar = ("gamma",)
    is_gradient_penalty: ClassVar = True


@CONSTRAINTS.register
class R2(Constraint):
    """Mescheder et al. 2018, eq. 10: (gamma / 2) E_fake[||grad D(G(z))||^2]."""

    kind: Literal["r2"] = "r2"
    gamma: PosFloat = 10.0
    positional: ClassVar = ("gamma",)
    is_gradient_penalty: ClassVar = True


@CONSTRAINTS.register
class Consistency(Constraint):
    """CT-GAN, Wei et al. 2018, sec. 3: weight * E[max(0, d(D(x'), D(x'')) + features * d(D_(x'), D_(x''))
    - margin)], x' and x'' two dropout-perturbed passes over the same real batch, D_ the critic's
    second-to-last layer (the input of its last weight layer). distance: metric (the paper's d: |a - b|
    for the output, the Euclidean distance for D_) or squared (the authors' code: (a - b)^2 and the mean
    of the squared differences over D_'s units)."""

    kind: Literal["consistency"] = "consistency"
    weight: PosFloat = 2.0
    margin: float = Field(0.0, ge=0)
    features: float = Field(0.1, ge=0)
    distance: Literal["metric", "squared"] = "metric"
    positional: ClassVar = ("weight",)
    is_gradient_penalty: ClassVar = True


# ---- step schedules ------------------------------------------------------------------------

SCHEDULES = Registry("step schedule")


@SCHEDULES.register
class WganWarmup(Component):
    """Arjovsky et al. 2017 (reference code): `critic` critic steps for the first `first`
    generator iterations and every `every`-th one; the declared ratio otherwise."""

    kind: Literal["wgan_warmup"] = "wgan_warmup"
    critic: Pos = 100
    first: int = Field(25, ge=0)
    every: Pos = 500


# ---- learning-rate schedules ---------------------------------------------------------------

LR_SCHEDULES = Registry("learning-rate schedule")


@LR_SCHEDULES.register
class Constant(Component):
    """The learning rate stays as given."""

    kind: Literal["constant"] = "constant"


@LR_SCHEDULES.register
class Linear(Component):
    """Linear decay from lr to `end` * lr over the run (Radford et al. / WGAN-GP code)."""

    kind: Literal["linear"] = "linear"
    end: float = Field(0.0, ge=0)
    positional: ClassVar = ("end",)


@LR_SCHEDULES.register
class Exponential(Component):
    """lr * rate^(step / every)."""

    kind: Literal["exponential"] = "exponential"
    rate: float = Field(0.96, gt=0, le=1)
    every: Pos = 1000
    positional: ClassVar = ("rate", "every")


@LR_SCHEDULES.register
class Cosine(Component):
    """Cosine decay from lr to `end` * lr over the run."""

    kind: Literal["cosine"] = "cosine"
    end: float = Field(0.0, ge=0)
    positional: ClassVar = ("end",)


# ---- optimizers ----------------------------------------------------------------------------

OPTIMIZERS = Registry("optimizer")
LrSchedule = LR_SCHEDULES.annotation()


class Optimizer(Component):
    lr: PosFloat
    schedule: LrSchedule = Constant()
    positional: ClassVar = ("lr",)

    def has_momentum(self) -> bool:
        return False


@OPTIMIZERS.register
class Adam(Optimizer):
    """Kingma & Ba 2015. Defaults of Radford et al. 2016 (DCGAN): lr 2e-4, beta1 0.5."""

    kind: Literal["adam"] = "adam"
    lr: PosFloat = 2e-4
    beta1: float = Field(0.5, ge=0, lt=1)
    beta2: float = Field(0.999, ge=0, lt=1)
    eps: PosFloat = 1e-8

    def has_momentum(self):
        return self.beta1 > 0


@OPTIMIZERS.register
class Rmsprop(Optimizer):
    """Tieleman & Hinton 2012; WGAN's choice (Arjovsky et al. 2017: lr 5e-5)."""

    kind: Literal["rmsprop"] = "rmsprop"
    lr: PosFloat = 5e-5
    rho: float = Field(0.9, ge=0, lt=1)
    momentum: float = Field(0.0, ge=0, lt=1)
    eps: PosFloat = 1e-7

    def has_momentum(self):
        return self.momentum > 0


@OPTIMIZERS.register
class Sgd(Optimizer):
    """Stochastic gradient descent, with optional (Nesterov) momentum (Goodfellow et al. 2014)."""

    kind: Literal["sgd"] = "sgd"
    lr: PosFloat = 0.01
    momentum: float = Field(0.0, ge=0, lt=1)
    nesterov: bool = False

    def has_momentum(self):
        return self.momentum > 0


# ---- evaluation metrics --------------------------------------------------------------------

METRICS = Registry("metric")
Features = Literal["classifier", "inception"]


def _feature_settings(kind: str, reference: bool = True) -> tuple[str, ...]:
    """Result keys recording what a score on network features depends on: `<kind>_<field>`."""
    fields = ("features", "weights_sha256", "samples", *(("reference", "reference_samples") if reference else ()),
              "parameters", "classifier_accuracy")
    return tuple(f"{kind}_{field}" for field in fields)


class Metric(Component):
    """A metric's result is a flat dict of named values (stored as is in metrics.jsonl, eval-*.json);
    the class says which of its keys are scores and which are settings, i.e. how the scores were
    computed (extractor, weights hash, sample counts...): scores are comparable only when their
    settings agree. A metric with `context_of` is also reported for real training images and for
    uniform noise, as `<kind>_real_floor` and `<kind>_noise`."""

    samples: Pos = 10_000
    needs_images: ClassVar[bool] = False
    needs_toy: ClassVar[bool] = False
    score_keys: ClassVar[tuple[str, ...]] = ()
    lower_is_better: ClassVar[tuple[str, ...]] = ()  # score keys where lower is better; higher for the others
    setting_keys: ClassVar[tuple[str, ...]] = ()
    context_of: ClassVar[str | None] = None  # the score put in context by the real floor and noise value
    records_reference: ClassVar[bool] = False  # scores depend on a named real set, recorded as <kind>_reference


@METRICS.register
class ModeCoverage(Metric):
    """Modes covered, % high-quality samples, reverse KL of the mode histogram (PacGAN protocol)."""

    kind: Literal["mode_coverage"] = "mode_coverage"
    samples: Pos = 2500
    positional: ClassVar = ("samples",)
    needs_toy: ClassVar = True
    score_keys: ClassVar = ("modes_covered", "high_quality_percent", "reverse_kl")
    lower_is_better: ClassVar = ("reverse_kl",)
    setting_keys: ClassVar = ("modes_total",)


@METRICS.register
class WassersteinDistance(Metric):
    """Exact 1-Wasserstein distance between equal-size generated and real samples (assignment)."""

    kind: Literal["wasserstein_distance"] = "wasserstein_distance"
    samples: Pos = 1000
    positional: ClassVar = ("samples",)
    score_keys: ClassVar = ("wasserstein_distance",)
    lower_is_better: ClassVar = ("wasserstein_distance",)
    context_of: ClassVar = "wasserstein_distance"


@METRICS.register
class Fid(Metric):
    """Frechet distance between feature Gaussians (Heusel et al. 2017)."""

    kind: Literal["fid"] = "fid"
    features: Features = "classifier"
    positional: ClassVar = ("samples",)
    needs_images: ClassVar = True
    score_keys: ClassVar = ("fid",)
    lower_is_better: ClassVar = ("fid",)
    setting_keys: ClassVar = _feature_settings("fid")
    context_of: ClassVar = "fid"
    records_reference: ClassVar = True


@METRICS.register
class Kid(Metric):
    """Kernel inception distance, unbiased MMD with a cubic kernel (Binkowski et al. 2018)."""

    kind: Literal["kid"] = "kid"
    features: Features = "classifier"
    subsets: Pos = 100
    subset_size: Pos = 1000
    positional: ClassVar = ("samples",)
    needs_images: ClassVar = True
    score_keys: ClassVar = ("kid", "kid_std_error")
    lower_is_better: ClassVar = ("kid",)
    setting_keys: ClassVar = _feature_settings("kid")
    context_of: ClassVar = "kid"
    records_reference: ClassVar = True


@METRICS.register
class InceptionScore(Metric):
    """exp E[KL(p(y|x) || p(y))] (Salimans et al. 2016), mean and std over splits."""

    kind: Literal["inception_score"] = "inception_score"
    features: Features = "classifier"
    splits: Pos = 10
    positional: ClassVar = ("samples",)
    needs_images: ClassVar = True
    score_keys: ClassVar = ("inception_score", "inception_score_std")
    setting_keys: ClassVar = _feature_settings("inception_score", reference=False)


@METRICS.register
class PrecisionRecall(Metric):
    """Improved precision and recall on k-NN feature manifolds (Kynkaanniemi et al. 2019)."""

    kind: Literal["precision_recall"] = "precision_recall"
    features: Features = "classifier"
    k: Pos = 3
    positional: ClassVar = ("samples",)
    needs_images: ClassVar = True
    score_keys: ClassVar = ("precision", "recall")
    setting_keys: ClassVar = _feature_settings("precision_recall")
    records_reference: ClassVar = True


@METRICS.register
class Samples(Metric):
    """A grid of samples from a fixed latent batch, saved at every evaluation."""

    kind: Literal["samples"] = "samples"
    samples: Pos = 64
    positional: ClassVar = ("samples",)


def all_registries() -> list[Registry]:
    """Every registry of the language, layers included."""
    from ganspec.ir.augmentations import AUGMENTATIONS
    from ganspec.ir.auxiliary import AUXILIARY
    from ganspec.ir.initializers import INITIALIZERS
    from ganspec.ir.layers import LAYERS, WRAPPERS

    # INITIALIZERS after PRIORS: both have `normal` and `uniform`; a prior's dump needs `dim`.
    return [LAYERS, WRAPPERS, SOURCES, PRIORS, OBJECTIVES, CONSTRAINTS, SCHEDULES, LR_SCHEDULES, OPTIMIZERS, METRICS,
            INITIALIZERS, AUGMENTATIONS, AUXILIARY]


def component_text(dump: dict) -> str | None:
    """.gan text of a dumped component (`{"kind": "adam", ...}`), or None if no class fits."""
    from pydantic import ValidationError

    for registry in all_registries():
        if dump.get("kind") in registry:
            try:
                return registry[dump["kind"]].model_validate(dump).text(full=True)
            except ValidationError:
                continue
    return None
