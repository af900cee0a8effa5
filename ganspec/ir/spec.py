"""The typed, fully resolved experiment spec (the IR): sections with paper defaults.

A resolved `Spec` states every value that will be used; `Spec.model_json_schema()`
is the JSON Schema (`ganspec schema`).
"""

from typing import Annotated, Literal, Optional

from pydantic import Field, field_validator

from ganspec.ir.augmentations import AUGMENTATIONS
from ganspec.ir.auxiliary import Auxiliary
from ganspec.ir.base import Node
from ganspec.ir.components import (
    CONSTRAINTS,
    METRICS,
    OBJECTIVES,
    OPTIMIZERS,
    PRIORS,
    SCHEDULES,
    SOURCES,
)
from ganspec.ir.initializers import InitializerField, kernel_only
from ganspec.ir.layers import AnyLayer

Pos = Annotated[int, Field(gt=0)]
Prob = Annotated[float, Field(ge=0, le=1)]


class Data(Node):
    """Where samples come from and how images are preprocessed."""

    source: SOURCES.annotation()
    scale: Optional[tuple[float, float]] = (-1.0, 1.0)  # pixel range for image data
    # [height, width] cut from the centre of each image before `resize` (CelebA ports: crop
    # [140, 140] of 218x178, then resize [64, 64]); top = (H - height) // 2, left = (W - width) // 2.
    crop: Optional[tuple[Pos, Pos]] = None
    resize: Optional[tuple[Pos, Pos]] = None
    # Random mirror image of each real sample with probability 1/2, per batch position.
    flip: Optional[Literal["horizontal", "vertical"]] = None
    # Theis et al. 2016, "A note on the evaluation of generative models", sec. 3.1: uniform noise of
    # one quantisation level on 8-bit pixels, (pixel + U[0, 1)) / 256, mapped onto `scale` (after a
    # `resize`, on the resized image's pixels); fresh noise per batch position.
    dequantize: bool = False
    shuffle: int = Field(10_000, ge=0)  # shuffle buffer; 0 = no shuffling
    cache: bool = True
    limit: Optional[Pos] = None  # use only the first N examples

    @field_validator("scale")
    @classmethod
    def _low_below_high(cls, value):
        if value is not None and not value[0] < value[1]:
            raise ValueError(f"must be [low, high] with low < high, got [{value[0]:g}, {value[1]:g}]")
        return value


class Network(Node):
    """A layer stack. `pack` (critic only): PacGAN, Lin et al. 2018 — m samples per decision.
    `init`, `bias_init`: initializers of every weight layer that does not name its own.
    Generator only, BigGAN's (Brock et al. 2019, sec. 3; PyTorch-StudioGAN's big_resnet.py Generator):
    `latent_chunks: N` splits z into N equal chunks, chunk 0 into the stack, chunk i read by
    `conditional_batchnorm(chunk: i)`; `shared_embedding: E` embeds the label once (a classes x E table,
    drawn by `init`) for every label-reading layer, which reads it instead of the one-hot label."""

    layers: tuple[AnyLayer, ...] = Field(min_length=1)
    pack: Pos = 1
    init: Optional[InitializerField] = None
    bias_init: Optional[InitializerField] = None
    latent_chunks: Optional[Annotated[int, Field(ge=2)]] = None
    shared_embedding: Optional[Pos] = None

    _bias_init = field_validator("bias_init")(kernel_only)


class Conditional(Node):
    """Conditional GAN (Mirza & Osindero 2014): one-hot labels joined to z and to the critic input."""

    classes: Annotated[int, Field(ge=2)]
    embedding: Literal["one_hot"] = "one_hot"


class Steps(Node):
    """Critic updates per generator update (Goodfellow et al. 2014, Algorithm 1: k), and their order.

    `order` (how one iteration's updates follow each other; `ganspec.train.step_common.ORDERS`):
    - critic_first: k critic updates, each on fresh fakes, then the generator update(s)
      (Goodfellow et al. 2014, Algorithm 1; Gulrajani et al. 2017, Algorithm 1);
    - generator_first: the generator update first, then one critic update on the fakes that
      update generated (before it), detached (eriklindernoren/PyTorch-GAN, implementations/gan/gan.py);
    - simultaneous: one forward pass G(z), D(x), D(G(z)); both losses from it, both gradients
      applied together (TensorFlow's DCGAN tutorial, tensorflow/docs site/en/tutorials/generative/dcgan.ipynb).
    `share_real_batch`: all k critic updates of an iteration see one real batch (each with fresh
    fakes), so an iteration consumes one real batch instead of k (keras-io examples/generative/
    wgan_gp.py, `WGAN.train_step`: `for i in range(self.d_steps)` on the one `real_images`).
    """

    critic: Pos = 1
    generator: Pos = 1
    schedule: Optional[SCHEDULES.annotation()] = None
    order: Literal["critic_first", "generator_first", "simultaneous"] = "critic_first"
    share_real_batch: bool = False


class Optimizers(Node):
    generator: OPTIMIZERS.annotation() = Field(default_factory=lambda: OPTIMIZERS["adam"]())
    critic: OPTIMIZERS.annotation() = Field(default_factory=lambda: OPTIMIZERS["adam"]())


class Ema(Node):
    """Exponential moving average of generator weights (Yazici et al. 2019)."""

    decay: float = Field(0.999, gt=0, lt=1)
    start: int = Field(0, ge=0)


class InstanceNoise(Node):
    """Gaussian noise added to real and fake critic inputs (Sonderby et al. 2017; seed 001), decayed."""

    std: float = Field(0.1, gt=0)
    decay: Literal["none", "linear", "exponential"] = "linear"
    steps: Optional[Pos] = None  # decay length; defaults to the run length


class Tricks(Node):
    instance_noise: Optional[InstanceNoise] = None
    label_smoothing: float = Field(0.0, ge=0, lt=1)  # one-sided: real target 1 - s (Salimans et al. 2016)
    label_flip: Prob = 0.0  # probability of swapping real/fake targets for the critic
    label_noise: float = Field(0.0, ge=0, lt=0.5)  # uniform jitter on targets
    # Metz et al. 2017: the generator's loss at the critic after this many more updates of its optimizer
    # (from the optimizer's state; a zero-sum objective's loss includes the data term, eq. 5).
    unrolled: int = Field(0, ge=0)
    # Zhao et al. 2020 (DiffAugment): the same random differentiable T on real and fake samples
    # before every critic call, in both updates; policies in order (`ganspec.ir.augmentations`).
    diffaugment: tuple[AUGMENTATIONS.annotation(), ...] = ()


class Train(Node):
    batch: Pos = 64  # the critic's batch (real and fake samples per critic update)
    # Samples per generator update; none = `batch`. Gulrajani et al. 2017's CIFAR-10 code
    # (igul222/improved_wgan_training, gan_cifar_resnet.py): critic batch 64, generator batch 128.
    generator_batch: Optional[Pos] = None
    iterations: Pos = 10_000  # generator iterations
    precision: Literal["float32", "mixed_float16", "mixed_bfloat16"] = "float32"
    xla: bool = False
    backend: Literal["tensorflow", "jax"] = "tensorflow"
    checkpoint_every: Pos = 1000
    keep_checkpoints: Pos = 3
    log_every: Pos = 50


class Evaluate(Node):
    every: Pos = 1000
    metrics: tuple[METRICS.annotation(), ...] = ()
    # Batch-norm statistics of the generator when sampling: 0 = its moving averages (Keras
    # inference mode); N = "standing statistics" (Brock et al. 2019, BigGAN, sec. 4.2 / app. C),
    # the mean of the batch statistics of N fresh batches of z, computed on a copy before every
    # evaluation — the moving averages lag a generator that changes fast early in training.
    standing_stats: int = Field(0, ge=0)
    # `true`: sample with each batch's own batch-norm statistics (chunks of train.batch), as a PyTorch
    # generator left in train mode samples (PyTorch-GAN never calls .eval()); the generator's moving
    # averages are neither used nor changed.
    batch_statistics: bool = False

    @field_validator("batch_statistics")
    @classmethod
    def _one_kind_of_statistics(cls, value, info):
        if value and info.data.get("standing_stats"):
            raise ValueError("and standing_stats choose two different batch-norm statistics for sampling; "
                             "keep one of them")
        return value
    # Held-out real data the metrics compare with (BENCHMARKS.md: MNIST train5k); the
    # training data when none. Preprocessed like `data` (scale, resize).
    reference: Optional[SOURCES.annotation()] = None
    # The truncation trick (Brock et al. 2019, BigGAN, sec. 3.1): the samples that are scored and
    # drawn take each normal component of z from N(0, std^2) truncated to [-t std, t std] (values
    # beyond it redrawn), trading variety for fidelity as t falls. Training draws the full prior, and
    # standing batch-norm statistics come from it too. None: no truncation.
    truncation: Optional[Annotated[float, Field(gt=0)]] = None


class Spec(Node):
    """One experiment, fully resolved."""

    name: str
    description: str = ""
    tags: tuple[str, ...] = ()
    seed: int = Field(0, ge=0)
    data: Data
    latent: PRIORS.annotation()
    conditional: Optional[Conditional] = None
    generator: Network
    critic: Network
    objective: OBJECTIVES.annotation()
    constraints: tuple[CONSTRAINTS.annotation(), ...] = ()
    auxiliary: Optional[Auxiliary] = None  # losses on the critic's heads (AC-GAN, InfoGAN)
    steps: Steps = Steps()
    optimizer: Optimizers = Optimizers()
    ema: Optional[Ema] = None
    tricks: Tricks = Tricks()
    train: Train = Train()
    evaluate: Evaluate = Evaluate()


def schema() -> dict:
    """JSON Schema of a resolved spec."""
    return Spec.model_json_schema()
