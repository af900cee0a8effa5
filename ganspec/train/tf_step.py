"""The TensorFlow training step: one whole GAN iteration inside one `tf.function`.

An iteration is, in the default order (`steps.order critic_first`), `critic_steps` critic
updates, each on its own real batch (the input is stacked as [critic_steps, batch, ...]; one
batch when `steps.share_real_batch`), then `spec.steps.generator` generator updates, then the
EMA of the generator weights; `ITERATIONS` holds one method per order of
`step_common.ORDERS`. `critic_steps` is a Python int the caller
passes (the step schedule's answer, `schedules.critic_schedule`), so each distinct count
traces its own variant: the WGAN warm-up schedule traces two.

All randomness (z, labels, penalty points, instance noise, label tricks) comes from one
`keras.random.SeedGenerator` seeded by `spec.seed`; its state, the iteration counters,
the models and the optimizers are tracked, so `tf.train.Checkpoint(step=step)` restores
a run exactly. This is the only TensorFlow-specific module of training: losses,
penalties and schedules are `keras.ops` functions. No logging, images or checkpoints here.

Two things make the step cheaper than the textbook code without changing what it computes
(bench/throughput.py, docs/results/throughput.md): a gradient penalty's input gradient is taken
so that its own gradient skips the terms that are exactly zero (`critic_input_gradients`), and
a critic that treats every sample on its own scores the real and the fake batch in one call
(`step_common.joins_critic_calls`).
"""

from __future__ import annotations

import keras
import tensorflow as tf
from keras import ops

from ganspec.networks import critic_input, pack_samples
from ganspec.train import constraints
from ganspec.train.auxiliary import CRITIC_METRIC, GENERATOR_METRIC, INFORMATION_METRIC, adversarial
from ganspec.train.objectives import plain_targets
from ganspec.train.optimizers import unrolled_updates
from ganspec.train.priors import sample_labels, sample_latent
from ganspec.train.schedules import instance_noise_std
from ganspec.train.step_common import (
    CRITIC_METRICS,
    GENERATOR_METRICS,
    StepBase,
    build_parts,
    joins_critic_calls,
    missing_gradients_allowed,
    per_sample,
)

__all__ = ["TrainStep", "compile_training", "critic_input_gradients", "per_sample"]


# A gradient penalty differentiates grad_x D(x) once more. Through ReLU and LeakyReLU that second
# derivative is 0, but TensorFlow's registered gradients of ReluGrad/LeakyReluGrad return
# zeros_like(features), which then flow back through the whole forward pass of D(x_hat) as dense
# zero tensors: a filter and an input backprop per layer, about a sixth of a WGAN-GP critic step.
# These gradient functions give the same first derivative with the activation's slope (a function
# of sign(x)) held constant, so the second differentiation stops there, as the mathematics does.
FIRST_ORDER_GRADIENTS = {"Relu": "ganspec_FirstOrderRelu", "LeakyRelu": "ganspec_FirstOrderLeakyRelu"}


def _first_order_relu(op, grad):
    return tf.raw_ops.ReluGrad(gradients=grad, features=tf.stop_gradient(op.outputs[0]))


def _first_order_leaky_relu(op, grad):
    return tf.raw_ops.LeakyReluGrad(gradients=grad, features=tf.stop_gradient(op.inputs[0]),
                                    alpha=op.get_attr("alpha"))


for _name, _function in (("ganspec_FirstOrderRelu", _first_order_relu),
                         ("ganspec_FirstOrderLeakyRelu", _first_order_leaky_relu)):
    try:
        tf.RegisterGradient(_name)(_function)
    except KeyError:  # registered by an earlier import of this module (a reload)
        pass


def critic_input_gradients(critic, points, labels=None, pack: int = 1, label_input: bool = False):
    """grad_x D(x) at `points` [B, ...] (data space, before packing), and D(points).

    Inside a `tf.function` (the compiled step) the gradient is built with `tf.gradients` while the
    critic's ReLU/LeakyReLU ops use `FIRST_ORDER_GRADIENTS`; an enclosing GradientTape records it
    and differentiates it as usual, the same values without the zero terms. Eagerly, a plain tape."""
    if tf.executing_eagerly():
        with tf.GradientTape() as tape:
            tape.watch(points)
            outputs = adversarial(critic(critic_input(points, labels, pack, label_input), training=True))
        return tape.gradient(outputs, points), outputs
    with tf.compat.v1.get_default_graph().gradient_override_map(FIRST_ORDER_GRADIENTS):
        outputs = adversarial(critic(critic_input(points, labels, pack, label_input), training=True))
    return tf.gradients(outputs, points)[0], outputs


def global_norm(gradients):
    """sqrt of the sum of squares of all gradient entries."""
    return tf.linalg.global_norm([g for g in gradients if g is not None])


class TrainStep(StepBase, tf.Module):
    """A compiled GAN iteration for one spec, its models and optimizers. Call it with real
    batches [critic_steps, batch, ...] (and integer labels [critic_steps, batch] when
    conditional) and `critic_steps=`; it returns a dict of scalar metrics."""

    def __init__(self, spec, generator, critic, generator_optimizer, critic_optimizer):
        super().__init__(name="train_step")
        self._set_up(spec, generator, critic, generator_optimizer, critic_optimizer)
        self.iteration = tf.Variable(0, dtype=tf.int64, trainable=False, name="iteration")
        self.critic_updates = tf.Variable(0, dtype=tf.int64, trainable=False, name="critic_updates")
        self._after_update(first=True)  # the critic starts inside the clipping box
        # autograph off: the loops are explicit, so keras.ops code is traced as written.
        self._compiled = tf.function(self._iteration, jit_compile=spec.train.xla, autograph=False)

    # ---- public --------------------------------------------------------------------------

    def __call__(self, real_batches, real_labels=None, *, critic_steps: int) -> dict:
        """Run one iteration of `critic_steps` critic updates; returns {metric name: scalar tensor}."""
        real_batches = tf.convert_to_tensor(real_batches, dtype=tf.float32)
        critic_steps = self._check_critic_steps(real_batches, critic_steps)
        if real_labels is not None:
            real_labels = tf.convert_to_tensor(real_labels, dtype=tf.int32)
        return self._compiled(real_batches, real_labels, critic_steps)

    def sync(self) -> None:
        """The Keras variables are the step's state: nothing to write back."""

    def reload(self) -> None:
        """The Keras variables are the step's state: nothing to read again."""

    # ---- the iteration -------------------------------------------------------------------

    def _iteration(self, real_batches, real_labels, critic_steps: int):
        spec = self.spec
        noise_std = instance_noise_std(spec, self.iteration)
        results = ITERATIONS[spec.steps.order](self, real_batches, real_labels, critic_steps, noise_std)
        if self.information_optimizer is not None:
            results[INFORMATION_METRIC] = self._information_update()
        if self.ema_generator is not None:
            self._update_ema()
        self.iteration.assign_add(1)
        if spec.tricks.instance_noise is not None:
            results["instance_noise_std"] = tf.cast(noise_std, tf.float32)
        return results

    def _critic_names(self):
        return (CRITIC_METRICS + ((self.losses.estimate[0],) if self.losses.estimate else ())
                + ((CRITIC_METRIC,) if self.auxiliary.critic_reads_heads else ()))

    def _critic_first(self, real_batches, real_labels, critic_steps: int, noise_std):
        """k critic updates, each on fresh fakes, then the generator update(s) (Goodfellow et al. 2014,
        Algorithm 1; Gulrajani et al. 2017, Algorithm 1)."""
        spec = self.spec
        names = self._critic_names()

        def critic_update(i, totals):
            at = self._real_index(i)
            labels = self._one_hot(real_labels[at]) if real_labels is not None else None
            metrics = self._critic_update(real_batches[at], labels, noise_std)
            return i + 1, {name: totals[name] + metrics[name] for name in names}

        # A graph while loop, traced once. Unrolled (k traced updates) it ran at the same steady speed
        # (keras.io WGAN-GP on CPU: 1.221x keras.io against 1.225x) with a 1.5x longer first
        # iteration; the JAX step unrolls because there the loop cost a quarter of its speed.
        zeros = {name: tf.constant(0.0) for name in names}
        _, totals = tf.while_loop(lambda i, _: i < critic_steps, critic_update, (tf.constant(0), zeros))
        results = {name: value / critic_steps for name, value in totals.items()}

        last_labels = self._one_hot(real_labels[-1]) if real_labels is not None else None
        generator_names = self._generator_names()
        generator_totals = {name: tf.constant(0.0) for name in generator_names}
        for _ in range(spec.steps.generator):
            metrics, _ = self._generator_update(real_batches[-1], last_labels, self.generator_batch, noise_std)
            generator_totals = {name: generator_totals[name] + metrics[name] for name in generator_names}
        results.update({name: value / spec.steps.generator for name, value in generator_totals.items()})
        return results

    def _generator_first(self, real_batches, real_labels, critic_steps: int, noise_std):
        """eriklindernoren/PyTorch-GAN, implementations/gan/gan.py: the generator update on G(z), then one
        critic update on the real batch and those fakes (made before the generator's update), detached."""
        generator_metrics, generated = self._generator_update(real_batches[0], None, self.generator_batch,
                                                              noise_std)
        results = self._critic_update(real_batches[0], None, noise_std, fake=tf.stop_gradient(generated))
        results.update(generator_metrics)
        return results

    def _simultaneous(self, real_batches, real_labels, critic_steps: int, noise_std):
        """TensorFlow's DCGAN tutorial (train_step): one G(z), D(x), D(G(z)) under two tapes, the critic's
        and the generator's loss from them, both gradients applied together."""
        spec, losses = self.spec, self.losses
        real = real_batches[0]
        labels = self._one_hot(real_labels[0]) if real_labels is not None else None
        generator_variables = self.generator.trainable_variables
        critic_variables = self.critic.trainable_variables
        with tf.GradientTape() as generator_tape, tf.GradientTape() as critic_tape:
            generated = self.generator(self._generator_inputs(self.generator_batch, labels), training=True)
            real, fake = self._noisy(real, noise_std), self._noisy(generated, noise_std)
            targets = self._targets(ops.shape(real)[0] // self.pack)
            points = self._penalty_points(real, tf.stop_gradient(fake))
            d_real, d_fake, outputs = self._critic_pair(real, fake, labels)
            critic_loss = losses.critic(spec.objective, d_real, d_fake, targets)
            penalty = self._penalty(points, real, labels, d_real)
            critic_auxiliary = self.auxiliary.critic(*outputs, labels) if outputs else 0.0
            critic_scaled = self._scale(self.critic_optimizer, critic_loss + penalty + critic_auxiliary)
            generator_loss = losses.generator(spec.objective, d_real if losses.generator_reads_real else None,
                                              d_fake)
            generator_auxiliary = self.auxiliary.generator(outputs[1], labels) if outputs else 0.0
            generator_scaled = self._scale(self.generator_optimizer, generator_loss + generator_auxiliary)
        generator_gradients = generator_tape.gradient(generator_scaled, generator_variables)
        critic_gradients = critic_tape.gradient(critic_scaled, critic_variables)
        self.generator_optimizer.apply_gradients(zip(generator_gradients, generator_variables))
        with missing_gradients_allowed():  # the heads its loss does not read
            self.critic_optimizer.apply_gradients(zip(critic_gradients, critic_variables))
        self._after_update()
        self.critic_updates.assign_add(1)
        results = self._critic_metrics(critic_loss, penalty, d_real, d_fake, critic_gradients, critic_auxiliary)
        results.update({
            "generator_loss": generator_loss,
            "generator_grad_norm": global_norm(generator_gradients) / self._loss_scale(self.generator_optimizer),
        })
        if self.auxiliary.generator_reads_heads:
            results[GENERATOR_METRIC] = generator_auxiliary
        return results

    def _critic_update(self, real, labels, noise_std, fake=None):
        """One critic update on `real` and fresh fakes (or the given `fake`, made by the generator update)."""
        spec, losses = self.spec, self.losses
        if fake is None:
            fake = self.generator(self._generator_inputs(ops.shape(real)[0], labels), training=True)
        real, fake = self._noisy(real, noise_std), self._noisy(fake, noise_std)
        targets = self._targets(ops.shape(real)[0] // self.pack)
        points = self._penalty_points(real, fake)
        with tf.GradientTape() as tape:
            d_real, d_fake, outputs = self._critic_pair(real, fake, labels)
            loss = losses.critic(spec.objective, d_real, d_fake, targets)
            penalty = self._penalty(points, real, labels, d_real)
            auxiliary = self.auxiliary.critic(*outputs, labels) if outputs else 0.0
            total = loss + penalty + auxiliary
            scaled = self._scale(self.critic_optimizer, total)
        variables = self.critic.trainable_variables
        gradients = tape.gradient(scaled, variables)
        with missing_gradients_allowed():  # the heads its loss does not read
            self.critic_optimizer.apply_gradients(zip(gradients, variables))
        self._after_update()
        self.critic_updates.assign_add(1)
        return self._critic_metrics(loss, penalty, d_real, d_fake, gradients, auxiliary)

    def _critic_metrics(self, loss, penalty, d_real, d_fake, gradients, auxiliary=0.0):
        metrics = {
            "critic_loss": loss,
            "penalty": tf.cast(penalty, tf.float32),
            "d_real": ops.mean(d_real),
            "d_fake": ops.mean(d_fake),
            "critic_grad_norm": global_norm(gradients) / self._loss_scale(self.critic_optimizer),
        }
        if self.losses.estimate:
            name, estimate = self.losses.estimate
            metrics[name] = estimate(loss, d_real, d_fake)
        if self.auxiliary.critic_reads_heads:
            metrics[CRITIC_METRIC] = tf.cast(auxiliary, tf.float32)
        return metrics

    def _generator_update(self, real, labels, batch, noise_std):
        """One generator update on `batch` fresh z; returns its metrics and G(z) (before the update)."""
        spec, losses = self.spec, self.losses
        if spec.conditional:
            labels = sample_labels(spec.conditional.classes, batch, self.seed_generator)
        real = self._noisy(real, noise_std)
        with tf.GradientTape() as tape:
            generated = self.generator(self._generator_inputs(batch, labels), training=True)
            fake = self._noisy(generated, noise_std)
            critic = self._unrolled_critic(real, fake, labels) if spec.tricks.unrolled else self._critic
            auxiliary = 0.0
            if self.auxiliary.generator_reads_heads:  # AC-GAN: G also makes its class recognisable
                outputs = self._critic_outputs(fake, labels)
                d_fake, auxiliary = outputs[0], self.auxiliary.generator(outputs, labels)
            else:
                d_fake = critic(fake, labels)
            d_real = critic(real, labels) if losses.generator_reads_real else None
            loss = losses.generator(spec.objective, d_real, d_fake)
            scaled = self._scale(self.generator_optimizer, loss + auxiliary)
        variables = self.generator.trainable_variables
        gradients = tape.gradient(scaled, variables)
        self.generator_optimizer.apply_gradients(zip(gradients, variables))
        metrics = {
            "generator_loss": loss,
            "generator_grad_norm": global_norm(gradients) / self._loss_scale(self.generator_optimizer),
        }
        if self.auxiliary.generator_reads_heads:
            metrics[GENERATOR_METRIC] = tf.cast(auxiliary, tf.float32)
        return metrics, generated

    def _information_update(self):
        """InfoGAN's information update (Chen et al. 2016, eq. 5; eriklindernoren/PyTorch-GAN,
        implementations/infogan/infogan.py: `info_loss.backward(); optimizer_info.step()`): fresh z and codes,
        the code losses on Q(G(z, c)), one step of the information optimizer over the generator's and the
        critic's weights. Q reads the fakes as they are (no DiffAugment or instance noise), as the script does."""
        spec = self.spec
        batch = self.generator_batch
        labels = sample_labels(spec.conditional.classes, batch, self.seed_generator) if spec.conditional else None
        z = sample_latent(spec.latent, batch, self.seed_generator)
        variables = self.generator.trainable_variables + self.critic.trainable_variables
        with tf.GradientTape() as tape:
            generated = self.generator([z, labels] if spec.conditional else z, training=True)
            loss = self.auxiliary.information_loss(self._critic_outputs(generated, labels), z)
            scaled = self._scale(self.information_optimizer, loss)
        gradients = tape.gradient(scaled, variables)
        with missing_gradients_allowed():  # the adversarial output's own weights
            self.information_optimizer.apply_gradients(zip(gradients, variables))
        self._after_update()  # the critic's weights moved: back inside the clipping box
        return loss

    # ---- pieces --------------------------------------------------------------------------

    def _critic(self, samples, labels):
        return adversarial(self._critic_outputs(samples, labels))

    def _critic_outputs(self, samples, labels):
        """The critic's outputs in float32: one tensor, or [adversarial, heads...] for a critic with heads."""
        outputs = self.critic(self._critic_input(samples, labels), training=True)
        if isinstance(outputs, (list, tuple)):
            return [ops.cast(output, "float32") for output in outputs]
        return ops.cast(outputs, "float32")

    def _critic_pair(self, real, fake, labels):
        """D(real), D(fake), and (real outputs, fake outputs) with the heads when the critic update reads
        them (else None): two calls, or one on both batches joined when the critic is per-sample and the
        batch small (`step_common.JOIN_MAX_BATCH`)."""
        if self.auxiliary.class_loss is not None:
            outputs = self._critic_outputs(real, labels), self._critic_outputs(fake, labels)
            return outputs[0][0], outputs[1][0], outputs
        if not joins_critic_calls(self.critic, real.shape[0]):
            return self._critic(real, labels), self._critic(fake, labels), None
        real_input, fake_input = self._critic_input(real, labels), self._critic_input(fake, labels)
        scores = ops.cast(self.critic(ops.concatenate([real_input, fake_input], axis=0), training=True), "float32")
        count = ops.shape(real_input)[0]
        return scores[:count], scores[count:], None

    def _generator_inputs(self, batch, labels):
        z = sample_latent(self.spec.latent, batch, self.seed_generator)
        return [z, labels] if self.spec.conditional else z

    def _noisy(self, samples, std):
        """Every critic input: DiffAugment's T (`StepBase._augment`), then instance noise (Sonderby et al. 2017)."""
        samples = self._augment(samples)
        if self.spec.tricks.instance_noise is None:
            return samples
        return samples + std * keras.random.normal(ops.shape(samples), seed=self.seed_generator)

    def _penalty(self, points, real, labels, d_real):
        """Sum of the gradient and output penalties, each on its lazy schedule."""
        total = tf.constant(0.0)
        for (constraint, rule), at in zip(self.penalties, points):
            term = PENALTY_TERMS[type(rule)]
            compute = lambda c=constraint, r=rule, t=term, x=at: t(self, c, r, x, real, labels, d_real)  # noqa: E731
            if constraint.every == 1:
                total += compute()
            else:
                scale = constraints.lazy_scale(constraint, self.critic_updates)
                total += tf.cond(scale > 0, lambda s=scale, f=compute: s * f(), lambda: tf.constant(0.0))
        return total

    def _gradient_term(self, constraint, rule, points, real, labels, d_real):
        gradients, _ = critic_input_gradients(self.critic, points, labels if self.critic_sees_label else None,
                                              self.pack, self.critic_label_input)
        return rule.penalty(constraint, constraints.squared_norms(pack_samples(gradients, self.pack)))

    def _output_term(self, constraint, rule, points, real, labels, d_real):
        # CT-GAN: d_real is the first dropout pass over the real batch; one more pass is the second.
        return rule.penalty(constraint, d_real, self._critic(real, labels))

    def _after_update(self, first: bool = False):
        for constraint, rule in self.after_updates:
            apply = constraints.lazy_scale(constraint, self.critic_updates)
            for variable in self.critic.trainable_variables:
                new = rule.new_value(constraint, variable)
                variable.assign(new if first or constraint.every == 1 else ops.where(apply > 0, new, variable))

    def _unrolled_critic(self, real, fake, labels):
        """Metz et al. 2017: the critic after `tricks.unrolled` updates of its own optimizer's rule (fresh
        optimizer state, objective loss only), taken on copies of its weights inside the generator's
        tape, so the generator's gradient flows through the unrolled updates (eq. 5-6)."""
        spec, critic = self.spec, self.critic
        state = [tf.convert_to_tensor(v) for v in critic.non_trainable_variables]
        targets = plain_targets((ops.shape(real)[0] // self.pack, 1), (ops.shape(fake)[0] // self.pack, 1))

        def unrolled(weights):
            def call(samples, labels_):
                inputs = self._critic_input(samples, labels_)
                return ops.cast(critic.stateless_call(weights, state, inputs, training=True)[0], "float32")
            return call

        def gradients(weights):
            with tf.GradientTape() as tape:
                tape.watch(weights)
                call = unrolled(weights)
                loss = self.losses.critic(spec.objective, call(real, labels), call(fake, labels), targets)
            return tape.gradient(loss, weights)

        learning_rate = ops.cast(self.critic_optimizer.learning_rate, "float32")
        weights = [tf.convert_to_tensor(v) for v in critic.trainable_variables]
        return unrolled(unrolled_updates(spec.optimizer.critic, learning_rate, weights, gradients,
                                         spec.tricks.unrolled))

    def _update_ema(self):
        """Yazici et al. 2019: theta_ema <- decay * theta_ema + (1 - decay) * theta (a copy before `start`)."""
        ema = self.spec.ema
        decay = tf.where(self.iteration >= ema.start, ema.decay, 0.0)
        for average, weight in zip(self.ema_generator.weights, self.generator.weights):
            d = tf.cast(decay, average.dtype)
            average.assign(d * average + (1.0 - d) * weight)

    @staticmethod
    def _scale(optimizer, loss):
        if isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
            return optimizer.scale_loss(loss)
        return loss

    @staticmethod
    def _loss_scale(optimizer):
        if isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
            return tf.cast(optimizer.dynamic_scale, tf.float32)
        return 1.0


ITERATIONS = {  # one method per order of step_common.ORDERS
    "critic_first": TrainStep._critic_first,
    "generator_first": TrainStep._generator_first,
    "simultaneous": TrainStep._simultaneous,
}

PENALTY_TERMS = {
    constraints.GradientRule: TrainStep._gradient_term,
    constraints.OutputRule: TrainStep._output_term,
}


def make_train_step(spec, generator, critic, generator_optimizer, critic_optimizer) -> TrainStep:
    """The compiled iteration for a spec and its built models and optimizers."""
    return TrainStep(spec, generator, critic, generator_optimizer, critic_optimizer)


def compile_training(spec, sample: tuple[int, ...]) -> TrainStep:
    """Build both networks (the critic for real samples of shape `sample`) and both optimizers, and the step."""
    return make_train_step(spec, *build_parts(spec, sample))
