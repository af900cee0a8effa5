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

Data-parallel training (a `ganspec.train.layout.Layout` with strategy `mirrored` or `multi_worker`):
the models, optimizers and step are built in a `tf.distribute` strategy's scope and one `tf.function`
runs the same iteration on every replica (`strategy.run`), each on its slice of every global real
batch and of every random draw (`StepBase._draw`). Each replica's losses are means over its slice,
scaled by 1 / replicas, and the step all-reduces (sums) their gradients once, before the optimizer
(whose own reduction is switched off, `_reduced_by_step`): the update and the reported gradient
norms are those of the global batch's mean loss, as on one device. The critic's updates are then
unrolled (a `tf.while_loop` body cannot hold the strategy's synchronisation points), every variable
a replica writes (counters, RNG state, clipping, spectral-norm vectors, the EMA) is computed alike on
every replica, and per-replica batch-norm statistics are averaged once an iteration.
"""

from __future__ import annotations

import itertools

import keras
import tensorflow as tf
from keras import ops

from ganspec.networks import critic_input, pack_samples
from ganspec.train import constraints
from ganspec.train.auxiliary import CRITIC_METRIC, GENERATOR_METRIC, INFORMATION_METRIC, adversarial
from ganspec.train.layout import NONE, Layout, LayoutError, with_device_count
from ganspec.train.objectives import plain_targets
from ganspec.train.optimizers import optimizer_state, unrolled_updates
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

__all__ = ["TrainStep", "compile_training", "critic_input_gradients", "per_sample", "place"]


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
    conditional) and `critic_steps=`; it returns a dict of scalar metrics.

    With a `strategy` (built, with everything else, in its scope: `compile_training`), `batch` is the
    global batch; `layout` says how it is split, `strategy` is None on one device."""

    def __init__(self, spec, generator, critic, generator_optimizer, critic_optimizer, strategy=None,
                 layout: Layout = NONE):
        super().__init__(name="train_step")
        self._set_up(spec, generator, critic, generator_optimizer, critic_optimizer)
        self.layout, self.strategy = layout, strategy
        self.iteration = tf.Variable(0, dtype=tf.int64, trainable=False, name="iteration")
        self.critic_updates = tf.Variable(0, dtype=tf.int64, trainable=False, name="critic_updates")
        self._after_update(first=True)  # the critic starts inside the clipping box
        if strategy is None:
            # autograph off: the loops are explicit, so keras.ops code is traced as written.
            self._compiled = tf.function(self._iteration, jit_compile=spec.train.xla, autograph=False)
            return
        self.replicas = strategy.num_replicas_in_sync
        self.generator_batch = layout.per_replica_batch(self.generator_batch, "train.generator_batch")
        for optimizer in (generator_optimizer, critic_optimizer, self.information_optimizer):
            _reduced_by_step(optimizer)
        # Per-replica batch norm: each replica's moving statistics follow its own slice; they are
        # averaged once an iteration so that every replica (and a checkpoint) holds the same ones.
        self._replica_statistics = [variable for model in (generator, critic) for layer in _layers(model)
                                    if isinstance(layer, keras.layers.BatchNormalization) and not layer.synchronized
                                    for variable in (layer.moving_mean, layer.moving_variance)]
        self._compiled = tf.function(self._replicated_iteration, autograph=False)

    # ---- public --------------------------------------------------------------------------

    def __call__(self, real_batches, real_labels=None, *, critic_steps: int) -> dict:
        """Run one iteration of `critic_steps` critic updates; returns {metric name: scalar tensor}."""
        real_batches = tf.convert_to_tensor(real_batches, dtype=tf.float32)
        critic_steps = self._check_critic_steps(real_batches, critic_steps)
        if real_labels is not None:
            real_labels = tf.convert_to_tensor(real_labels, dtype=tf.int32)
        if self.strategy is None:
            return self._compiled(real_batches, real_labels, critic_steps)
        return self._compiled(*self._split(real_batches, real_labels), critic_steps)

    def sync(self) -> None:
        """The Keras variables are the step's state: nothing to write back."""

    def reload(self) -> None:
        """The Keras variables are the step's state: nothing to read again."""

    # ---- data parallel -------------------------------------------------------------------

    def _split(self, real_batches, real_labels):
        """Each replica's slice (axis 1, the batch) of the global real batches and labels: replica r of R
        gets rows r * B / R .. (r + 1) * B / R (r counts across all workers)."""
        batch = self.layout.per_replica_batch(real_batches.shape[1], "the real batch")

        def rows(tensor):
            if tensor is None or self.replicas == 1:  # one replica reads the whole batch where it lies
                return tensor
            return self.strategy.experimental_distribute_values_from_function(
                lambda context: tensor[:, context.replica_id_in_sync_group * batch:
                                       (context.replica_id_in_sync_group + 1) * batch])
        return rows(real_batches), rows(real_labels)

    def _replicated_iteration(self, real_batches, real_labels, critic_steps: int):
        """One iteration on every replica; the metrics averaged over them (means of equal slices: the
        global batch's means)."""
        names = []  # the metrics' names, in the order each replica stacks them

        def replica(real_batches, real_labels):
            results = self._iteration(real_batches, real_labels, critic_steps)
            names[:] = results
            return tf.stack([tf.cast(value, tf.float32) for value in results.values()])

        stacked = self.strategy.run(replica, args=(real_batches, real_labels))
        values = tf.unstack(self.strategy.reduce(tf.distribute.ReduceOp.MEAN, stacked, axis=None))
        return dict(zip(names, values))

    def _replica_id(self):
        replica = tf.distribute.get_replica_context().replica_id_in_sync_group
        static = tf.get_static_value(replica)
        return replica if static is None else int(static)

    def _reduced(self, gradients):
        """The gradients summed over the replicas (each replica's loss carries 1 / replicas, so the sum
        is the global batch's gradient), None where a variable has none; as they are on one device."""
        if self.replicas == 1:
            return gradients
        present = [g for g in gradients if g is not None]
        summed = iter(tf.distribute.get_replica_context().all_reduce(tf.distribute.ReduceOp.SUM, present))
        return [None if g is None else next(summed) for g in gradients]

    def _apply(self, optimizer, gradients, variables):
        """One optimizer update from this replica's gradients; returns the (global) gradients applied."""
        gradients = self._reduced(gradients)
        optimizer.apply_gradients(zip(gradients, variables))
        return gradients

    def _share_statistics(self):
        """Per-replica batch norm: every replica's moving statistics set to their mean over the replicas
        (their updates are linear in the batch moments, so this is the mean of the replicas' updates)."""
        if self.replicas == 1 or not self._replica_statistics:
            return
        means = tf.distribute.get_replica_context().all_reduce(
            tf.distribute.ReduceOp.MEAN, [v.value for v in self._replica_statistics])
        for variable, mean in zip(self._replica_statistics, means):
            variable.assign(mean)

    # ---- the iteration -------------------------------------------------------------------

    def _iteration(self, real_batches, real_labels, critic_steps: int):
        spec = self.spec
        noise_std = instance_noise_std(spec, self.iteration)
        results = ITERATIONS[spec.steps.order](self, real_batches, real_labels, critic_steps, noise_std)
        if self.information_optimizer is not None:
            results[INFORMATION_METRIC] = self._information_update()
        self._share_statistics()
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
        # iteration; the JAX step unrolls because there the loop cost a quarter of its speed. Under a
        # strategy it unrolls: the all-reduces cannot sit in a while loop's body.
        totals = {name: tf.constant(0.0) for name in names}
        if self.strategy is None:
            _, totals = tf.while_loop(lambda i, _: i < critic_steps, critic_update, (tf.constant(0), totals))
        else:
            for i in range(critic_steps):
                _, totals = critic_update(i, totals)
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
        and the generator's loss from them, both gradients applied together. Unrolled (the unrolled_gan
        notebook's session.run of both train ops): the generator's loss at the critic unrolled from its
        weights before this update."""
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
            g_real, g_fake = d_real, d_fake
            if spec.tricks.unrolled:  # the unrolled_gan notebook: G's loss at the critic unrolled from here
                critic = self._unrolled_critic(real, fake, labels)
                g_real, g_fake = (critic(real, labels) if self.generator_reads_real else None), critic(fake, labels)
            generator_loss = self._generator_loss(g_real if self.generator_reads_real else None, g_fake)
            generator_auxiliary = self.auxiliary.generator(outputs[1], labels) if outputs else 0.0
            generator_scaled = self._scale(self.generator_optimizer, generator_loss + generator_auxiliary)
        generator_gradients = generator_tape.gradient(generator_scaled, generator_variables)
        critic_gradients = critic_tape.gradient(critic_scaled, critic_variables)
        generator_gradients = self._apply(self.generator_optimizer, generator_gradients, generator_variables)
        with missing_gradients_allowed():  # the heads its loss does not read
            critic_gradients = self._apply(self.critic_optimizer, critic_gradients, critic_variables)
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
            gradients = self._apply(self.critic_optimizer, gradients, variables)
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
        spec = self.spec
        if spec.conditional:
            labels = self._sampled_labels(batch)
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
            d_real = critic(real, labels) if self.generator_reads_real else None
            loss = self._generator_loss(d_real, d_fake)
            scaled = self._scale(self.generator_optimizer, loss + auxiliary)
        variables = self.generator.trainable_variables
        gradients = self._apply(self.generator_optimizer, tape.gradient(scaled, variables), variables)
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
        labels = self._sampled_labels(batch) if spec.conditional else None
        z = self._latent(batch)
        variables = self.generator.trainable_variables + self.critic.trainable_variables
        with tf.GradientTape() as tape:
            generated = self.generator([z, labels] if spec.conditional else z, training=True)
            loss = self.auxiliary.information_loss(self._critic_outputs(generated, labels), z)
            scaled = self._scale(self.information_optimizer, loss)
        gradients = tape.gradient(scaled, variables)
        with missing_gradients_allowed():  # the adversarial output's own weights
            self._apply(self.information_optimizer, gradients, variables)
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
        z = self._latent(batch)
        return [z, labels] if self.spec.conditional else z

    def _noisy(self, samples, std):
        """Every critic input: DiffAugment's T (`StepBase._augment`), then instance noise (Sonderby et al. 2017)."""
        samples = self._augment(samples)
        if self.spec.tricks.instance_noise is None:
            return samples
        rest = tuple(samples.shape[1:])
        noise = self._draw(lambda n: keras.random.normal((n,) + rest, seed=self.seed_generator), samples.shape[0])
        return samples + std * noise

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
        # CT-GAN: d_real is the first dropout pass over the real batch; one more pass is the second. With
        # D_ (the second-to-last layer), two passes of the features model give both outputs of each.
        if not rule.features(constraint):
            return rule.penalty(constraint, d_real, self._critic(real, labels))
        inputs = self._critic_input(real, labels)
        first, second = (self.critic_features(inputs, training=True) for _ in range(2))
        return rule.penalty(constraint, first[0], second[0], first[1], second[1])

    def _after_update(self, first: bool = False):
        for constraint, rule in self.after_updates:
            apply = constraints.lazy_scale(constraint, self.critic_updates)
            for variable in self.critic.trainable_variables:
                new = rule.new_value(constraint, variable)
                variable.assign(new if first or constraint.every == 1 else ops.where(apply > 0, new, variable))

    def _unrolled_critic(self, real, fake, labels):
        """Metz et al. 2017: the critic after `tricks.unrolled` updates of its own optimizer's rule, from
        that optimizer's current state (`optimizers.optimizer_state`), objective loss only, taken on
        copies of its weights inside the generator's tape, so the generator's gradient flows through the
        unrolled updates (eq. 5-6)."""
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
            return self._mean_over_replicas(tape.gradient(loss, weights))

        learning_rate = ops.cast(self.critic_optimizer.learning_rate, "float32")
        weights = [tf.convert_to_tensor(v) for v in critic.trainable_variables]
        iterations, slots = optimizer_state(self.critic_optimizer, spec.optimizer.critic.kind,
                                            critic.trainable_variables)
        slots = [tuple(None if v is None else tf.convert_to_tensor(v) for v in slot) for slot in slots]
        return unrolled(unrolled_updates(spec.optimizer.critic, learning_rate, weights, gradients,
                                         spec.tricks.unrolled, slots, tf.convert_to_tensor(iterations)))

    def _update_ema(self):
        """Yazici et al. 2019: theta_ema <- decay * theta_ema + (1 - decay) * theta (a copy before `start`)."""
        ema = self.spec.ema
        decay = tf.where(self.iteration >= ema.start, ema.decay, 0.0)
        for average, weight in zip(self.ema_generator.weights, self.generator.weights):
            d = tf.cast(decay, average.dtype)
            average.assign(d * average + (1.0 - d) * weight)

    def _mean_over_replicas(self, tensors):
        """The mean over the replicas (differentiable): an unrolled critic update takes the global
        batch's gradient, as on one device."""
        if self.replicas == 1:
            return tensors
        return tf.distribute.get_replica_context().all_reduce(tf.distribute.ReduceOp.MEAN, tensors)

    def _scale(self, optimizer, loss):
        """The loss an update differentiates: this replica's share of the global mean (1 / replicas of its
        slice's mean, the gradients being summed), loss-scaled under mixed float16."""
        if self.replicas > 1:
            loss = loss / self.replicas
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


def compile_training(spec, sample: tuple[int, ...], layout: Layout = NONE) -> TrainStep:
    """Build both networks (the critic for real samples of shape `sample`) and both optimizers, and the step;
    under a distributed `layout`, all of them in its strategy's scope (`place`). LayoutError when the layout
    cannot train this spec here."""
    if not layout.distributed:
        return make_train_step(spec, *build_parts(spec, sample))
    layout = place(layout)
    strategy = _PLACED[layout][1]
    if spec.train.xla:
        raise LayoutError(f"train.xla cannot compile a {layout.strategy} step: XLA compiles one device's "
                          "program, a tf.distribute step spans several", "drop train.xla for a distributed run")
    batch = layout.per_replica_batch(spec.train.batch)
    if batch % spec.critic.pack:
        raise LayoutError(f"each replica's {batch} samples do not make whole packs of {spec.critic.pack}",
                          f"make train.batch a multiple of {spec.critic.pack * layout.replicas}")
    with strategy.scope():
        return TrainStep(spec, *build_parts(spec, sample), strategy=strategy, layout=layout)


# ---- where the step runs ---------------------------------------------------------------------------

_PLACED: dict = {}  # a layout asked for, and as placed -> (the placed layout, its tf.distribute strategy)
_MIRRORED_MADE = itertools.count()


def place(layout: Layout) -> Layout:
    """Set up the devices of `layout` and make its strategy (once; call it before TensorFlow runs anything
    when it should split the CPU): the layout with `devices` counted (0: all). `mirrored` trains on
    `devices` GPUs when the machine has that many, else on as many logical CPU devices (the CPU is split
    while TensorFlow is not yet running); `multi_worker` on this process's GPUs (or its CPU) with the
    cluster from TF_CONFIG. LayoutError when it cannot work here."""
    if not layout.distributed:
        return layout
    if layout in _PLACED:  # a process makes its strategy once (a multi-worker one can only be made once)
        return _PLACED[layout][0]
    asked = layout
    if layout.strategy not in ("mirrored", "multi_worker"):
        raise LayoutError(f"--strategy {layout.strategy} is not a TensorFlow strategy",
                          "on tensorflow use --strategy mirrored or multi_worker (or --backend jax)")
    if layout.strategy == "mirrored":
        layout, devices = _local_devices(layout)
        strategy = _mirrored(devices)
    else:
        layout, strategy = _multi_worker(layout)
    if strategy.num_replicas_in_sync != layout.replicas:
        raise LayoutError(f"{layout.describe()}, but TensorFlow made {strategy.num_replicas_in_sync} replicas",
                          "check TF_CONFIG and the devices each worker sees")
    _PLACED[asked] = _PLACED[layout] = (layout, strategy)
    return layout


def _local_devices(layout: Layout) -> tuple[Layout, list[str]]:
    """The layout counted and the device names a MirroredStrategy over it uses."""
    gpus = tf.config.list_physical_devices("GPU")
    if gpus and len(gpus) >= layout.devices:
        layout = with_device_count(layout, len(gpus))
        return layout, [f"/gpu:{i}" for i in range(layout.devices)]
    cpu = tf.config.list_physical_devices("CPU")[0]
    configured = tf.config.get_logical_device_configuration(cpu) or [None]
    if layout.devices > len(configured):
        try:
            tf.config.set_logical_device_configuration(
                cpu, [tf.config.LogicalDeviceConfiguration()] * layout.devices)
        except RuntimeError:  # TensorFlow runs already: its devices are fixed
            pass
    available = len(tf.config.list_logical_devices("CPU"))
    if layout.devices > available:
        raise LayoutError(
            f"--devices {layout.devices}: TensorFlow already runs on {available} CPU device"
            f"{'s' * (available != 1)}{f' and {len(gpus)} GPU' if gpus else ''}",
            "the CPU is split into logical devices only before TensorFlow runs anything: place the layout "
            "(`tf_step.place`) first in the process, or ask for fewer devices")
    layout = with_device_count(layout, available)
    return layout, [f"/cpu:{i}" for i in range(layout.devices)]


def _mirrored(devices):
    """A MirroredStrategy whose collective groups are numbered apart from the process's earlier ones: TF
    numbers every MirroredStrategy's groups from 1, so a second strategy over some of the same devices
    (a notebook fitting on 2 and then on 4 devices) would join the first one's groups and fail."""
    base = 100_000 * next(_MIRRORED_MADE)
    numbered = type("MirroredStrategy", (tf.distribute.MirroredStrategy,), {"_collective_key_base": base})
    return numbered(devices)


def _multi_worker(layout: Layout):
    """A MultiWorkerMirroredStrategy over this process's devices and TF_CONFIG's workers: all-reduce by
    NCCL between GPUs, by ring (gRPC) between CPUs. TensorFlow allows it only before it runs anything."""
    gpus = tf.config.list_physical_devices("GPU")
    if not gpus and layout.devices > 1:
        raise LayoutError(f"--devices {layout.devices}: a multi-worker process trains on its GPUs or on one CPU "
                          "device", "use --devices 1 for CPU workers")
    layout = with_device_count(layout, len(gpus) or 1)
    implementation = tf.distribute.experimental.CommunicationImplementation.AUTO if gpus else \
        tf.distribute.experimental.CommunicationImplementation.RING
    options = tf.distribute.experimental.CommunicationOptions(implementation=implementation)
    try:
        if gpus and layout.devices < len(gpus):
            tf.config.set_visible_devices(gpus[:layout.devices], "GPU")
        return layout, tf.distribute.MultiWorkerMirroredStrategy(communication_options=options)
    except RuntimeError as exc:  # TensorFlow runs already: "Collective ops must be configured at program startup"
        raise LayoutError(f"a multi-worker strategy cannot start once TensorFlow runs ({exc})",
                          "place the layout (`tf_step.place`) first in the process, before any TensorFlow "
                          "operation") from None


def _reduced_by_step(optimizer) -> None:
    """Switch off the all-reduce (sum) Keras' TensorFlow optimizer does in a replica context: the step
    reduces the gradients itself (`TrainStep._reduced`), once, and reports their norm."""
    while optimizer is not None:
        optimizer._all_reduce_sum_gradients = list  # (gradient, variable) pairs, as they are
        optimizer = getattr(optimizer, "inner_optimizer", None)


def _layers(model):
    """Every layer of a model, nested ones too."""
    return model._flatten_layers(include_self=False, recursive=True)
