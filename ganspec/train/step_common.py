"""What the backends' training steps share: metric names, which critics may score real and fake
samples in one call, and building the models and optimizers of a spec.

A step module (`tf_step`, `jax_step`) exposes `compile_training(spec, sample)` (`sample`: one real
sample's shape, as the data stage loaded it) returning a step object with the same interface:

- `step(real [n, B, ...], labels [n, B] or None, critic_steps=k) -> {metric: scalar}`: one generator
  iteration in the order `spec.steps.order` (`ORDERS`; by default k critic updates, each on its own
  real batch, then the generator updates, then the EMA). k comes from the step schedule
  (`schedules.critic_schedule`, through the data feed), never from the input's shape; each distinct k
  compiles its own variant. n is the real batches the iteration consumes, which the same schedule
  answers (`CriticSchedule.real_batches_for`: k, or 1 when `steps.share_real_batch`);
- `generator`, `critic`, `ema_generator` (or None), `generator_optimizer`, `critic_optimizer`,
  `information_optimizer` (InfoGAN's update over both networks after the order's updates, or None:
  `ganspec.train.auxiliary`);
- `seed_state`, `iteration`, `critic_updates`, `network_state`: the Keras variables a checkpoint
  needs beyond the models' weights and the optimizers' variables;
- `sync()` writes any state the step keeps outside the Keras variables back into them (before
  saving, sampling or evaluating); `reload()` reads the variables again (after a checkpoint was
  restored into them).

Random draws happen in the same order on both backends (z, then for the real and then the fake batch
DiffAugment's draws and instance noise, label targets, the penalty points of each penalty in order),
each from the step's `keras.random.SeedGenerator(spec.seed)`. Every sample the critic sees passes
`StepBase._augment` (DiffAugment, Zhao et al. 2020; nothing without `tricks.diffaugment`) first.

A data-parallel step (`tf_step` under a `tf.distribute` strategy) splits each global batch over its
`replicas`. Every batch-shaped draw then goes through `StepBase._draw`: it is drawn for the global
batch from the seed generator, which every replica holds identically, and each replica keeps its own
rows, so N replicas see exactly the numbers one device drawing the global batch would.
"""

from __future__ import annotations

import warnings
from contextlib import contextmanager

import keras

from ganspec.ir.shapes import label_joined, reads_label
from ganspec.networks import build_critic, build_generator, critic_input
from ganspec.networks.keras_models import Maxout, critic_features
from ganspec.train import augment, constraints
from ganspec.train.auxiliary import GENERATOR_METRIC, AuxiliaryTerms
from ganspec.train.objectives import Targets, critic_targets, objective_losses, plain_targets
from ganspec.train.optimizers import make_optimizer, make_optimizers
from ganspec.train.priors import sample_labels, sample_latent
from ganspec.train.schedules import critic_schedule

CRITIC_METRICS = ("critic_loss", "penalty", "d_real", "d_fake", "critic_grad_norm")
GENERATOR_METRICS = ("generator_loss", "generator_grad_norm")

# Layers that compute each sample from that sample alone: a critic made only of these may score
# real and fake samples in one call. Batchnorm (batch statistics) and spectral normalization (one
# power iteration per call) are not among them.
PER_SAMPLE_LAYERS = (
    keras.layers.InputLayer, keras.layers.Dense, keras.layers.Conv2D, keras.layers.Conv2DTranspose,
    keras.layers.LayerNormalization, keras.layers.Dropout, keras.layers.ReLU, keras.layers.LeakyReLU,
    keras.layers.ELU, keras.layers.Activation, keras.layers.Reshape, keras.layers.Flatten,
    keras.layers.ZeroPadding2D, keras.layers.Cropping2D, keras.layers.UpSampling2D, keras.layers.MaxPooling2D,
    keras.layers.AveragePooling2D, keras.layers.GlobalMaxPooling2D, keras.layers.GlobalAveragePooling2D,
    keras.layers.Add, keras.layers.Concatenate, Maxout,
)

# Joining pays where each call's convolutions are small: +6% a generator iteration for the keras.io
# WGAN-GP critic at batch 64, nothing measurable at batch 64 for the DCGAN-tutorial critic, 1-3% lost
# at its batch 256 (docs/results/throughput.md). So only batches up to this size are joined.
JOIN_MAX_BATCH = 128

# The orders of one iteration's updates (`steps.order`); each step module maps every name to its
# iteration method. Only critic_first takes more than one critic or generator update
# (`ganspec.checks.check_update_order`).
ORDERS = {
    # Goodfellow et al. 2014, Algorithm 1; Gulrajani et al. 2017, Algorithm 1: k critic updates, each
    # on its own real batch and fresh fakes, then the generator update(s) on fresh z.
    "critic_first": "k critic updates, then the generator update(s)",
    # eriklindernoren/PyTorch-GAN, implementations/gan/gan.py (and dcgan.py, lsgan.py, ...): the
    # generator update on gen_imgs = G(z), then one critic update on real_imgs and gen_imgs.detach(),
    # the fakes made before the generator's update. Both updates then take their gradients at the
    # same weights as `simultaneous` does; the critic runs once more on the fakes (its batch-norm
    # statistics, spectral-norm power iteration and dropout masks advance as in that script), and the
    # random draws come in the generator's order.
    "generator_first": "the generator update, then one critic update on the fakes it made",
    # TensorFlow's DCGAN tutorial (tensorflow/docs, site/en/tutorials/generative/dcgan.ipynb,
    # train_step): one G(z), D(x), D(G(z)) under two tapes, both losses from them, both gradients
    # applied together.
    "simultaneous": "one forward pass, both updates from it",
}


def per_sample(model) -> bool:
    """Whether every layer of `model` treats each sample on its own (see PER_SAMPLE_LAYERS)."""
    return all(type(layer) in PER_SAMPLE_LAYERS for layer in model.layers)


def joins_critic_calls(critic, batch) -> bool:
    """Whether D(real) and D(fake) are computed in one call for this critic and batch size (never for a
    critic with a label input beside its samples)."""
    return (len(critic.inputs) == 1 and len(critic.outputs) == 1 and per_sample(critic) and batch is not None
            and batch <= JOIN_MAX_BATCH)


def trained_by(model, outputs: tuple[int, ...]) -> tuple[bool, ...]:
    """For each trainable variable of `model`, whether one of its outputs at `outputs` depends on it (a critic
    with heads: an update whose loss reads only some outputs leaves the other heads' weights alone, as
    PyTorch's optimizers skip parameters without a gradient, and Keras' skip None gradients)."""
    if len(model.outputs) == 1 or not outputs:
        return (bool(outputs),) * len(model.trainable_variables)
    reached = {id(v) for v in keras.Model(model.inputs, [model.outputs[i] for i in outputs]).trainable_variables}
    return tuple(id(v) in reached for v in model.trainable_variables)


@contextmanager
def missing_gradients_allowed():
    """Keras warns when some variables get no gradient: expected for the heads an update does not read."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Gradients do not exist for variables")
        yield


def build_parts(spec, sample: tuple[int, ...]):
    """(generator, critic, generator optimizer, critic optimizer) for a spec and one real sample's shape."""
    generator = build_generator(spec)
    critic = build_critic(spec, sample=tuple(sample))
    generator_optimizer, critic_optimizer = make_optimizers(spec)
    return generator, critic, generator_optimizer, critic_optimizer


def generator_batch(spec) -> int:
    """Samples per generator update: `train.generator_batch`, or the critic's `train.batch`."""
    return spec.train.generator_batch or spec.train.batch


def make_ema_generator(spec, generator):
    """A copy of the generator for the EMA of its weights (Yazici et al. 2019), or None."""
    if spec.ema is None:
        return None
    ema = keras.models.clone_model(generator)
    ema.set_weights(generator.get_weights())
    return ema


class StepBase:
    """What both backends' steps set up and compute alike (the counters are backend variables)."""

    # The replicas one global batch is split over (a `tf.distribute` step); each traces its iteration on
    # its own rows, `_replica_id()` of `replicas`. One everywhere else, where nothing is sliced.
    replicas = 1

    def _replica_id(self):
        """This replica's index among `replicas` (a Python int where the backend knows it when tracing)."""
        return 0

    def _set_up(self, spec, generator, critic, generator_optimizer, critic_optimizer) -> None:
        self.spec = spec
        self.generator, self.critic = generator, critic
        self.generator_optimizer, self.critic_optimizer = generator_optimizer, critic_optimizer
        self.losses = objective_losses(spec.objective)
        # Metz et al. 2017, eq. 5: an unrolled generator of a zero-sum objective minimizes the critic's
        # payoff at the unrolled critic, whose data term then depends on the generator too.
        self.unrolled_saddle = bool(spec.tricks.unrolled) and self.losses.saddle
        self.generator_reads_real = self.losses.generator_reads_real or self.unrolled_saddle
        self.pack = spec.critic.pack
        self.critic_label_input = reads_label(spec.critic)  # labels as the critic's second input
        # AC-GAN's critic predicts the label (head(label)) from the sample alone: it is given none.
        self.critic_sees_label = self.critic_label_input or label_joined(spec, spec.critic)
        rules = [(c, constraints.constraint_rule(c)) for c in spec.constraints]
        self.penalties = [(c, r) for c, r in rules if isinstance(r, (constraints.GradientRule, constraints.OutputRule))]
        self.after_updates = [(c, r) for c, r in rules if isinstance(r, constraints.AfterUpdateRule)]
        # CT-GAN's D_ term reads the critic's second-to-last layer: a model over the same layers gives it.
        reads_features = any(isinstance(r, constraints.OutputRule) and r.features(c) for c, r in self.penalties)
        self.critic_features = critic_features(critic) if reads_features else None
        self.schedule = critic_schedule(spec)
        self.generator_batch = generator_batch(spec)
        self.seed_generator = keras.random.SeedGenerator(spec.seed)
        self.seed_state = self.seed_generator.state  # saved in checkpoints
        # Keras leaves its layers' RNG states (dropout) out of saved weights; checkpoints need them.
        self.network_state = list(generator.non_trainable_variables + critic.non_trainable_variables)
        self.ema_generator = make_ema_generator(spec, generator)
        generator_optimizer.build(generator.trainable_variables)
        critic_optimizer.build(critic.trainable_variables)
        # Losses on the critic's heads (AC-GAN, InfoGAN); InfoGAN's information update has its own
        # optimizer over both networks' weights, generator's first (PyTorch-GAN's optimizer_info).
        self.auxiliary = AuxiliaryTerms(spec)
        self.information_optimizer = None
        if self.auxiliary.information:
            self.information_optimizer = make_optimizer(self.auxiliary.optimizer, spec.train.iterations, 1,
                                                        spec.train.precision)
            self.information_optimizer.build(generator.trainable_variables + critic.trainable_variables)
        self.critic_trains = trained_by(critic, self.auxiliary.critic_outputs())
        self.information_trains = trained_by(critic, self.auxiliary.information_outputs())

    def _generator_loss(self, d_real, d_fake):
        """The generator's loss from the critic's outputs (`d_real` None unless `generator_reads_real`):
        the objective's; with an unrolled critic and a saddle objective, minus the critic's loss
        without label tricks (Metz et al. 2017, eq. 5: f(theta_G, theta_D^K(theta_G)))."""
        if self.unrolled_saddle:
            targets = plain_targets(keras.ops.shape(d_real), keras.ops.shape(d_fake))
            return -self.losses.critic(self.spec.objective, d_real, d_fake, targets)
        return self.losses.generator(self.spec.objective, d_real, d_fake)

    def _generator_names(self) -> tuple[str, ...]:
        """The generator update's metrics (AC-GAN's term among them when it has one)."""
        return GENERATOR_METRICS + ((GENERATOR_METRIC,) if self.auxiliary.generator_reads_heads else ())

    def _check_critic_steps(self, real_batches, critic_steps: int) -> int:
        """`critic_steps` as a Python int (one compiled variant per value), checked against the input."""
        critic_steps = int(critic_steps)
        needed = self.schedule.real_batches_for(critic_steps)
        if real_batches.shape[0] != needed:
            raise ValueError(f"{critic_steps} critic steps need {needed} real batches, "
                             f"got {real_batches.shape[0]}")
        return critic_steps

    def _real_index(self, critic_step):
        """Which of the iteration's real batches critic step `critic_step` sees."""
        return 0 if self.schedule.share_real_batch else critic_step

    def _critic_input(self, samples, labels):
        """The critic's input for `samples` and their one-hot labels (or None): `networks.critic_input`."""
        labels = labels if self.critic_sees_label else None
        return critic_input(samples, labels, self.pack, label_input=self.critic_label_input)

    def _one_hot(self, labels):
        return keras.ops.one_hot(labels, self.spec.conditional.classes)

    # ---- random draws: the global batch's, sliced to this replica -----------------------------------

    def _draw(self, draw, batch: int):
        """`draw(n)`: random tensors (any nesting of them) whose first axis has n samples. Returns them
        for this replica's `batch` samples: drawn for the global batch (`batch * replicas`) and cut to
        this replica's rows, so that every layout consumes the seed generator alike."""
        if self.replicas == 1:
            return draw(batch)
        return keras.tree.map_structure(lambda x: self._rows(x, batch), draw(batch * self.replicas))

    def _rows(self, tensor, batch: int):
        """This replica's `batch` rows of a tensor over the global batch."""
        index = self._replica_id()
        if isinstance(index, int):
            return tensor[index * batch:(index + 1) * batch]
        blocks = keras.ops.reshape(tensor, (self.replicas, batch) + tuple(tensor.shape[1:]))
        return keras.ops.take(blocks, index, axis=0)

    def _tiled(self, tensor, batch: int):
        """`tensor` [b, ...] repeated to `batch` rows: this replica's rows of it are the tensor itself, so a
        draw that mixes random numbers with samples (penalty points) can run over the global batch."""
        if tensor.shape[0] == batch:
            return tensor
        return keras.ops.tile(tensor, (batch // tensor.shape[0],) + (1,) * (len(tensor.shape) - 1))

    def _latent(self, batch: int):
        """z ~ p(z) for `batch` samples (`priors.sample_latent`)."""
        return self._draw(lambda n: sample_latent(self.spec.latent, n, self.seed_generator), batch)

    def _sampled_labels(self, batch: int):
        """One-hot generator labels for `batch` samples (`priors.sample_labels`)."""
        return self._draw(lambda n: sample_labels(self.spec.conditional.classes, n, self.seed_generator), batch)

    def _augmentation(self, shape):
        """DiffAugment's draws for one batch of critic inputs of `shape` (Zhao et al. 2020), or None
        without `tricks.diffaugment`; drawn where the step draws its other noise."""
        policies = self.spec.tricks.diffaugment
        if not policies:
            return None
        rest = tuple(shape[1:])
        return self._draw(lambda n: augment.draw(policies, (n,) + rest, self.seed_generator), shape[0])

    def _augmented(self, samples, draws):
        """T(samples) with `draws` from `_augmentation` (differentiable), or the samples themselves."""
        return samples if draws is None else augment.apply(self.spec.tricks.diffaugment, samples, draws)

    def _augment(self, samples):
        """T(samples) with fresh draws: every real and fake batch passes here before the critic sees it."""
        return self._augmented(samples, self._augmentation(tuple(samples.shape)))

    def _penalty_points(self, real, fake):
        """Where each gradient penalty looks, drawn on every critic update (lazy ones too), in order."""
        def points(constraint, rule):
            return self._draw(lambda n: rule.points(constraint, self._tiled(real, n), self._tiled(fake, n),
                                                    self.seed_generator), real.shape[0])
        return [points(c, r) if isinstance(r, constraints.GradientRule) else None for c, r in self.penalties]

    def _targets(self, decisions):
        """How real each critic decision's sample is (1 / 0, or after the label tricks)."""
        shape = (decisions, 1)
        tricks = self.spec.tricks
        if self.losses.uses_targets and (tricks.label_smoothing or tricks.label_noise or tricks.label_flip):
            def draw(n):
                targets = critic_targets(tricks, (n, 1), (n, 1), self.seed_generator)
                return targets.real, targets.fake
            return Targets(*self._draw(draw, decisions))
        return plain_targets(shape, shape)
