"""The JAX training step: one whole GAN iteration as one `jax.jit`-compiled pure function.

The same iteration as `ganspec.train.tf_step` (see `step_common` for the shared interface): in the
default order `critic_steps` critic updates, each on its own real batch (an unrolled `lax.scan` over
the stacked [critic_steps, batch, ...] input; over the one batch when `steps.share_real_batch`),
then `spec.steps.generator` generator updates, then the EMA; `ITERATIONS` holds one method per
order of `step_common.ORDERS`.
`critic_steps` is a static argument the caller passes (the step schedule's answer): one compiled
variant per distinct count.
The models run through `stateless_call`, gradients come from `jax.value_and_grad` and the
optimizers' `stateless_apply`; the penalties' input gradients from `jax.grad`. Losses, penalties,
priors and schedules are the shared `keras.ops` functions; only this module is JAX-specific.

State: the step keeps every value the iteration reads and writes (weights, optimizer slots,
layer states, the EMA, its RNG state and counters) as one named pytree, `StepState`, between
calls (cf. flax's `TrainState`; Keras's own JAX trainer keeps such values too), and writes them
into the Keras variables on `sync()` (before a checkpoint, sampling or evaluation); `reload()`
reads them back after a checkpoint was restored.
Randomness: the step's `keras.random.SeedGenerator(spec.seed)` runs inside a `StatelessScope`, so
its state is a value threaded through the compiled function.

Devices (`ganspec.train.layout`): with no strategy the step runs on JAX's default device. With
`data_parallel`, a `Placement` puts it on a 1-D mesh (axis "batch") over `layout.devices` devices of
each of `layout.workers` processes: the state replicated, the real batches [k, B, ...] and labels
split along B, the metrics replicated scalars. The compiled function is the same; XLA's SPMD
partitioner splits it and adds the all-reduces, so it still computes the global-batch iteration: the
same random draws, batch-norm statistics over the global batch (synchronised; TensorFlow's
MirroredStrategy keeps them per replica), results equal to one device's up to the order of float
reductions. This is what `keras.distribution.DataParallel` does for a Keras trainer; the step holds its
own state between `sync()`s, so it places that pytree with `jax.sharding` itself and leaves the Keras
variables on the default device, whatever the layout (checkpoints, sampling and evaluation are
unchanged, and a checkpoint resumes on any layout).
"""

from __future__ import annotations

import os
from typing import NamedTuple

from ganspec.backend import claim_backend

claim_backend("jax")  # before Keras is imported: Keras fixes its backend then

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402
from jax.experimental import multihost_utils  # noqa: E402
from jax.sharding import Mesh, NamedSharding, PartitionSpec  # noqa: E402
from keras import ops  # noqa: E402

from ganspec.networks import pack_samples  # noqa: E402
from ganspec.train import constraints  # noqa: E402
from ganspec.train.auxiliary import (  # noqa: E402
    CRITIC_METRIC, GENERATOR_METRIC, INFORMATION_METRIC, adversarial,
)
from ganspec.train.layout import NONE, Layout, LayoutError, host_device_flags, with_device_count  # noqa: E402
from ganspec.train.objectives import plain_targets  # noqa: E402
from ganspec.train.optimizers import optimizer_state, unrolled_updates  # noqa: E402
from ganspec.train.priors import sample_labels, sample_latent  # noqa: E402
from ganspec.train.schedules import instance_noise_std  # noqa: E402
from ganspec.train.step_common import (  # noqa: E402
    CRITIC_METRICS,
    GENERATOR_METRICS,
    StepBase,
    build_parts,
    joins_critic_calls,
    missing_gradients_allowed,
)

if keras.backend.backend() != "jax":  # pragma: no cover - Keras was imported before with another backend
    raise ImportError(f"ganspec.train.jax_step needs the JAX backend; Keras runs on {keras.backend.backend()}")


class StepState(NamedTuple):
    """Every value a compiled iteration reads and writes (a JAX pytree): arrays, or the Keras
    variables that hold them between `sync()`s (`JaxTrainStep._variables`)."""

    generator_trainable: tuple
    generator_other: tuple  # non-trainable: batch-norm statistics, the layers' RNG states
    critic_trainable: tuple
    critic_other: tuple  # non-trainable: spectral-norm vectors, the layers' RNG states
    generator_optimizer: tuple
    critic_optimizer: tuple
    ema: tuple  # the EMA generator's weights (empty without `ema`)
    seed: object  # the step's SeedGenerator state
    iteration: object  # generator iterations so far
    critic_updates: object  # critic updates so far (the lazy penalties' clock)
    information_optimizer: tuple = ()  # InfoGAN's third optimizer (empty without one)


class CriticCarry(NamedTuple):
    """What each critic update of an iteration reads and writes (the `lax.scan` carry)."""

    critic_trainable: tuple
    critic_other: tuple
    critic_optimizer: tuple
    generator_other: tuple  # the generator runs (batch norm, dropout) to make each fake batch
    seed: object
    critic_updates: object


class GeneratorCarry(NamedTuple):
    """What each generator update of an iteration reads and writes."""

    generator_trainable: tuple
    generator_other: tuple
    generator_optimizer: tuple
    critic_other: tuple  # the critic's layer states advance as it scores the fakes
    seed: object


# ---- where the step runs ---------------------------------------------------------------------------


def place(layout: Layout) -> Layout:
    """Set up the processes and count the devices of `layout` (call it before the data touches JAX):
    the layout with `devices` filled in (0: every local device). LayoutError when it cannot work here."""
    if not layout.distributed:
        return layout
    if layout.strategy != "data_parallel":
        raise LayoutError(f"--strategy {layout.strategy} is a TensorFlow strategy",
                          "on jax use --strategy data_parallel (or --backend tensorflow)")
    start_processes(layout)
    local = jax.local_devices()
    if layout.devices > len(local):
        hint = "ask for fewer devices"
        if local[0].platform == "cpu":
            hint = (f"JAX splits the CPU into as many devices as XLA_FLAGS asks for when it is first imported: "
                    f"start the process with {host_device_flags(layout.devices)} "
                    f"(`ganspec run --devices {layout.devices}` sets it itself)")
        raise LayoutError(f"--devices {layout.devices}: this process sees {len(local)} "
                          f"{local[0].platform} device{'s' * (len(local) != 1)}", hint)
    return with_device_count(layout, len(local))


def start_processes(layout: Layout) -> None:
    """`jax.distributed.initialize` for a layout of several processes (once; JAX reads the coordinator from
    JAX_COORDINATOR_ADDRESS, the count and this process's index come from the layout). On CPU, JAX's
    cross-process collectives are gloo's (`jax_cpu_collectives_implementation`, JAX's default)."""
    if layout.workers <= 1:
        return
    if not jax.distributed.is_initialized():
        address = os.environ.get("JAX_COORDINATOR_ADDRESS")
        if not address:
            raise LayoutError(f"JAX_NUM_PROCESSES={layout.workers} but JAX_COORDINATOR_ADDRESS is not set",
                              "set JAX_COORDINATOR_ADDRESS=host:port of process 0, the same in every process")
        try:
            jax.distributed.initialize(address, num_processes=layout.workers, process_id=layout.worker)
        except (RuntimeError, ValueError) as exc:
            raise LayoutError(f"JAX could not join process {layout.worker} of {layout.workers} "
                              f"at {address}: {exc}",
                              "start every process with the same JAX_COORDINATOR_ADDRESS and JAX_NUM_PROCESSES "
                              "before JAX runs anything") from None
    if (jax.process_count(), jax.process_index()) != (layout.workers, layout.worker):
        raise LayoutError(f"JAX runs process {jax.process_index()} of {jax.process_count()}, the layout asks for "
                          f"process {layout.worker} of {layout.workers}",
                          "JAX_NUM_PROCESSES and JAX_PROCESS_ID must match how JAX was initialised")


class OneDevice:
    """Where the step runs without a strategy: JAX's default device."""

    layout = NONE

    def compile(self, iteration):
        # The state is donated: XLA updates it in place (the arrays of the previous iteration die).
        return jax.jit(iteration, donate_argnums=(0,), static_argnames=("critic_steps",))

    @staticmethod
    def state(values: StepState) -> StepState:
        """The step's state from the Keras variables' values (copies: the compiled step donates its input)."""
        return jax.tree.map(jnp.array, values)

    @staticmethod
    def inputs(real_batches, real_labels):
        real_batches = jnp.asarray(real_batches, dtype=jnp.float32)
        if real_labels is not None:
            real_labels = jnp.asarray(real_labels, dtype=jnp.int32)
        return real_batches, real_labels

    @staticmethod
    def local(value):
        """A state array as a Keras variable holds it (a copy: the next iteration donates the state)."""
        return jnp.array(value)


class Placement:
    """Data parallelism over a 1-D device mesh (axis "batch": `layout.devices` devices of each process, in
    process order): the state and the metrics replicated, the real batches and labels split along the
    batch axis (axis 1 of [k, B, ...]). Every process passes the whole global batch; each places the rows
    of its own devices."""

    AXIS = "batch"

    def __init__(self, layout: Layout):
        self.layout = layout
        by_process = {}
        for device in jax.devices():
            by_process.setdefault(device.process_index, []).append(device)
        devices = [d for p in sorted(by_process) for d in sorted(by_process[p], key=lambda d: d.id)[:layout.devices]]
        self.mesh = Mesh(np.array(devices), (self.AXIS,))
        self.replicated = NamedSharding(self.mesh, PartitionSpec())
        self.split = NamedSharding(self.mesh, PartitionSpec(None, self.AXIS))
        self.processes = jax.process_count()

    def compile(self, iteration):
        return jax.jit(iteration, donate_argnums=(0,), static_argnames=("critic_steps",),
                       out_shardings=self.replicated)

    def state(self, values: StepState) -> StepState:
        """The state replicated on every device of the mesh; with several processes, process 0's values."""
        host = jax.tree.map(np.asarray, values)
        if self.processes > 1:  # one source of truth, whatever each process built or restored
            host = multihost_utils.broadcast_one_to_all(host)
        return jax.tree.map(lambda value: self._put(np.asarray(value), self.replicated), host)

    def inputs(self, real_batches, real_labels):
        real_batches = self._put(np.asarray(real_batches, dtype=np.float32), self.split)
        if real_labels is not None:
            real_labels = self._put(np.asarray(real_labels, dtype=np.int32), self.split)
        return real_batches, real_labels

    @staticmethod
    def local(value):
        """A replicated array as a Keras variable holds it: this process's first copy, on one device."""
        return jnp.array(value.addressable_data(0))

    def _put(self, value: np.ndarray, sharding):
        if self.processes == 1:
            return jax.device_put(value, sharding)
        # The global array from the rows each of this process's devices holds.
        return jax.make_array_from_callback(value.shape, sharding, lambda index: value[index])


def global_norm(gradients):
    """sqrt of the sum of squares of all gradient entries."""
    return jnp.sqrt(sum(jnp.sum(jnp.square(g.astype(jnp.float32))) for g in gradients if g is not None))


class JaxTrainStep(StepBase):
    """A compiled GAN iteration for one spec on JAX, with the same interface as the TensorFlow step."""

    def __init__(self, spec, generator, critic, generator_optimizer, critic_optimizer, placement=None):
        self._set_up(spec, generator, critic, generator_optimizer, critic_optimizer)
        self._placement = placement or OneDevice()
        self.layout = self._placement.layout
        self.iteration = keras.Variable(0, dtype="int32", trainable=False, name="iteration")  # int64 needs x64
        self.critic_updates = keras.Variable(0, dtype="int32", trainable=False, name="critic_updates")
        for constraint, rule in self.after_updates:  # the critic starts inside the clipping box
            for variable in critic.trainable_variables:
                variable.assign(rule.new_value(constraint, variable.value))
        # Where each generator weight sits among (trainable + other) variables, for the EMA.
        generator_variables = [id(v) for v in generator.trainable_variables + generator.non_trainable_variables]
        self._ema_sources = [generator_variables.index(id(v)) for v in generator.weights]
        self._fake_shape = tuple(generator.output_shape[1:])
        self._state = None
        self._compiled = self._placement.compile(self._iteration)

    # ---- the state and the Keras variables ---------------------------------------------------

    def _variables(self) -> StepState:
        """The Keras variables that hold the state between `sync()`s, field by field."""
        g, c = self.generator, self.critic
        return StepState(
            generator_trainable=tuple(g.trainable_variables),
            generator_other=tuple(g.non_trainable_variables),
            critic_trainable=tuple(c.trainable_variables),
            critic_other=tuple(c.non_trainable_variables),
            generator_optimizer=tuple(self.generator_optimizer.variables),
            critic_optimizer=tuple(self.critic_optimizer.variables),
            ema=tuple(self.ema_generator.weights) if self.ema_generator is not None else (),
            seed=self.seed_state,
            iteration=self.iteration,
            critic_updates=self.critic_updates,
            information_optimizer=(tuple(self.information_optimizer.variables)
                                   if self.information_optimizer is not None else ()),
        )

    def reload(self) -> None:
        """Read the state from the Keras variables again (after a checkpoint was restored into them); in every
        process of a multi-process run (the next iteration places process 0's values on every device)."""
        self._state = None

    def _current(self) -> StepState:
        if self._state is None:
            values = StepState(*(tuple(v.value for v in field) if isinstance(field, tuple) else field.value
                                 for field in self._variables()))
            self._state = self._placement.state(values)
        return self._state

    def sync(self) -> None:
        """Write the state into the Keras variables (before saving, sampling or evaluating)."""
        if self._state is None:
            return
        for variables, values in zip(self._variables(), self._state):
            if not isinstance(variables, tuple):
                variables, values = (variables,), (values,)
            for variable, value in zip(variables, values):
                variable.assign(self._placement.local(value))

    # ---- public ------------------------------------------------------------------------------

    def __call__(self, real_batches, real_labels=None, *, critic_steps: int) -> dict:
        """Run one iteration of `critic_steps` critic updates; returns {metric name: scalar array}."""
        real_batches, real_labels = self._placement.inputs(real_batches, real_labels)
        critic_steps = self._check_critic_steps(real_batches, critic_steps)
        self._state, metrics = self._compiled(self._current(), real_batches, real_labels, critic_steps=critic_steps)
        return metrics

    # ---- the iteration -----------------------------------------------------------------------

    def _iteration(self, state: StepState, real_batches, real_labels, critic_steps: int):
        spec = self.spec
        noise_std = instance_noise_std(spec, state.iteration)
        # Each order returns the state with new weights, optimizer slots, layer states, seed and
        # critic-update count; the EMA and the iteration count follow here, as on TensorFlow.
        state, results = ITERATIONS[spec.steps.order](self, state, real_batches, real_labels, critic_steps,
                                                      noise_std)
        if self.information_optimizer is not None:
            state, results[INFORMATION_METRIC] = self._information_update(state)
        ema = state.ema
        if self.ema_generator is not None:
            ema = self._update_ema(ema, state.generator_trainable + state.generator_other, state.iteration)
        if spec.tricks.instance_noise is not None:
            results["instance_noise_std"] = jnp.asarray(noise_std, jnp.float32)
        return state._replace(ema=ema, iteration=state.iteration + 1), results

    def _critic_names(self):
        return (CRITIC_METRICS + ((self.losses.estimate[0],) if self.losses.estimate else ())
                + ((CRITIC_METRIC,) if self.auxiliary.critic_reads_heads else ()))

    def _critic_first(self, state: StepState, real_batches, real_labels, critic_steps: int, noise_std):
        """k critic updates, each on fresh fakes, then the generator update(s) (Goodfellow et al. 2014,
        Algorithm 1; Gulrajani et al. 2017, Algorithm 1)."""
        spec = self.spec
        names = self._critic_names()

        def critic_update(carry, inputs):
            real, labels = inputs
            labels = self._one_hot(labels) if labels is not None else None
            carry, metrics = self._critic_update(carry, state.generator_trainable, real, labels, noise_std)
            return carry, {name: metrics[name] for name in names}

        carry = CriticCarry(state.critic_trainable, state.critic_other, state.critic_optimizer,
                            state.generator_other, state.seed, state.critic_updates)
        # Unrolled: XLA compiles the k updates as straight-line code it can schedule across. As a
        # while loop the same iteration ran 0.72x a hand-written loop of k separate jitted calls
        # (keras.io WGAN-GP, batch 16, CPU); unrolled, 0.97x (bench/throughput.py --backend jax).
        if self.schedule.share_real_batch:  # every critic step sees the iteration's one real batch
            shared = (real_batches[0], real_labels[0] if real_labels is not None else None)
            critic, per_step = jax.lax.scan(lambda c, _: critic_update(c, shared), carry, None, length=critic_steps,
                                            unroll=True)
        else:
            critic, per_step = jax.lax.scan(critic_update, carry, (real_batches, real_labels), length=critic_steps,
                                            unroll=True)
        results = {name: jnp.mean(values) for name, values in per_step.items()}

        last_labels = self._one_hot(real_labels[-1]) if real_labels is not None else None
        generator = GeneratorCarry(state.generator_trainable, critic.generator_other, state.generator_optimizer,
                                   critic.critic_other, critic.seed)
        generator_names = self._generator_names()
        totals = {name: jnp.float32(0.0) for name in generator_names}
        for _ in range(spec.steps.generator):
            generator, metrics, _ = self._generator_update(generator, critic.critic_trainable, real_batches[-1],
                                                           last_labels, self.generator_batch, noise_std,
                                                           critic.critic_optimizer)
            totals = {name: totals[name] + metrics[name] for name in generator_names}
        results.update({name: value / spec.steps.generator for name, value in totals.items()})
        return state._replace(
            generator_trainable=generator.generator_trainable,
            generator_other=generator.generator_other,
            critic_trainable=critic.critic_trainable,
            critic_other=generator.critic_other,
            generator_optimizer=generator.generator_optimizer,
            critic_optimizer=critic.critic_optimizer,
            seed=generator.seed,
            critic_updates=critic.critic_updates,
        ), results

    def _generator_first(self, state: StepState, real_batches, real_labels, critic_steps: int, noise_std):
        """eriklindernoren/PyTorch-GAN, implementations/gan/gan.py: the generator update on G(z), then one
        critic update on the real batch and those fakes (made before the generator's update), detached."""
        generator = GeneratorCarry(state.generator_trainable, state.generator_other, state.generator_optimizer,
                                   state.critic_other, state.seed)
        generator, generator_metrics, generated = self._generator_update(
            generator, state.critic_trainable, real_batches[0], None, self.generator_batch, noise_std,
            state.critic_optimizer)
        carry = CriticCarry(state.critic_trainable, generator.critic_other, state.critic_optimizer,
                            generator.generator_other, generator.seed, state.critic_updates)
        critic, results = self._critic_update(carry, None, real_batches[0], None, noise_std,
                                              fake=jax.lax.stop_gradient(generated))
        results.update(generator_metrics)
        return state._replace(
            generator_trainable=generator.generator_trainable,
            generator_other=critic.generator_other,
            critic_trainable=critic.critic_trainable,
            critic_other=critic.critic_other,
            generator_optimizer=generator.generator_optimizer,
            critic_optimizer=critic.critic_optimizer,
            seed=critic.seed,
            critic_updates=critic.critic_updates,
        ), results

    def _simultaneous(self, state: StepState, real_batches, real_labels, critic_steps: int, noise_std):
        """TensorFlow's DCGAN tutorial (train_step): one G(z), D(x), D(G(z)), the critic's and the generator's
        loss from them, both gradients (one forward pass, `jax.vjp`) applied together. Unrolled (the
        unrolled_gan notebook's session.run of both train ops): the generator's loss at the critic unrolled
        from its weights before this update."""
        spec, losses = self.spec, self.losses
        real = real_batches[0]
        labels = self._one_hot(real_labels[0]) if real_labels is not None else None
        g_opt, c_opt = state.generator_optimizer, state.critic_optimizer
        unrolled = bool(spec.tricks.unrolled)

        def forward(g_train, c_train):
            with self._random(state.seed) as scope:
                generated, g_other = self._generate(g_train, state.generator_other, self.generator_batch, labels)
                noisy_real, fake = self._noisy(real, noise_std), self._noisy(generated, noise_std)
                targets = self._targets(ops.shape(noisy_real)[0] // self.pack)
                points = self._penalty_points(noisy_real, jax.lax.stop_gradient(fake))
                seed = scope.get_current_value(self.seed_state)
            # Unrolled, the critic's loss reads the fakes stopped and the generator's the critic's weights
            # stopped (below), so one gradient of the two losses' sum holds both updates' gradients.
            (d_real, d_fake, outputs), c_other = self._critic_pair(
                c_train, state.critic_other, noisy_real, jax.lax.stop_gradient(fake) if unrolled else fake, labels)
            critic_loss = losses.critic(spec.objective, d_real, d_fake, targets)
            penalty, c_other = self._penalty(c_train, c_other, points, noisy_real, labels, d_real,
                                             state.critic_updates)
            critic_auxiliary = self.auxiliary.critic(*outputs, labels) if outputs else 0.0
            g_real, g_fake = d_real, d_fake
            if unrolled:
                critic = self._unrolled_critic(jax.lax.stop_gradient(c_train), state.critic_other, c_opt, noisy_real,
                                               fake, labels)
                g_real = critic(noisy_real, labels) if self.generator_reads_real else None
                g_fake = critic(fake, labels)
            generator_loss = self._generator_loss(g_real if self.generator_reads_real else None, g_fake)
            generator_auxiliary = self.auxiliary.generator(outputs[1], labels) if outputs else 0.0
            scaled = (self._scale(self.generator_optimizer, g_opt, generator_loss + generator_auxiliary),
                      self._scale(self.critic_optimizer, c_opt, critic_loss + penalty + critic_auxiliary))
            return scaled, (critic_loss, penalty, d_real, d_fake, generator_loss, g_other, c_other, seed,
                            jnp.float32(critic_auxiliary), jnp.float32(generator_auxiliary))

        if unrolled:
            def total(g_train, c_train):
                scaled, aux = forward(g_train, c_train)
                return scaled[0] + scaled[1], aux
            (_, aux), (g_gradients, c_gradients) = jax.value_and_grad(total, argnums=(0, 1), has_aux=True)(
                state.generator_trainable, state.critic_trainable)
        else:
            scaled, pullback, aux = jax.vjp(forward, state.generator_trainable, state.critic_trainable, has_aux=True)
            one, zero = jnp.ones_like(scaled[0]), jnp.zeros_like(scaled[0])
            g_gradients, c_gradients = pullback((one, zero))[0], pullback((zero, one))[1]
        critic_loss, penalty, d_real, d_fake, generator_loss, g_other, c_other, seed, c_aux, g_aux = aux
        c_gradients = self._trained(c_gradients, self.critic_trains)
        g_train, g_opt = self.generator_optimizer.stateless_apply(list(g_opt), list(g_gradients),
                                                                  list(state.generator_trainable))
        with missing_gradients_allowed():  # the heads its loss does not read
            new_train, c_opt = self.critic_optimizer.stateless_apply(list(c_opt), list(c_gradients),
                                                                     list(state.critic_trainable))
        c_train = self._after_update(state.critic_trainable, new_train, state.critic_updates)
        results = self._critic_metrics(critic_loss, penalty, d_real, d_fake, c_gradients, c_opt, c_aux)
        results.update({
            "generator_loss": generator_loss,
            "generator_grad_norm": global_norm(g_gradients) / self._loss_scale(self.generator_optimizer, g_opt),
        })
        if self.auxiliary.generator_reads_heads:
            results[GENERATOR_METRIC] = g_aux
        return state._replace(
            generator_trainable=tuple(g_train), generator_other=tuple(g_other),
            critic_trainable=tuple(c_train), critic_other=tuple(c_other),
            generator_optimizer=tuple(g_opt), critic_optimizer=tuple(c_opt),
            seed=seed, critic_updates=state.critic_updates + 1,
        ), results

    def _critic_update(self, carry: CriticCarry, g_train, real, labels, noise_std, fake=None):
        """One critic update on `real` and fresh fakes (or the given `fake`, made by the generator update)."""
        spec, losses = self.spec, self.losses
        c_train, c_other, c_opt, g_other, seed, critic_updates = carry
        with self._random(seed) as scope:
            if fake is None:
                fake, g_other = self._generate(g_train, g_other, ops.shape(real)[0], labels)
            real, fake = self._noisy(real, noise_std), self._noisy(fake, noise_std)
            targets = self._targets(ops.shape(real)[0] // self.pack)
            points = self._penalty_points(real, fake)
            seed = scope.get_current_value(self.seed_state)

        def objective(weights):
            (d_real, d_fake, outputs), other = self._critic_pair(weights, c_other, real, fake, labels)
            loss = losses.critic(spec.objective, d_real, d_fake, targets)
            penalty, other = self._penalty(weights, other, points, real, labels, d_real, critic_updates)
            auxiliary = jnp.float32(self.auxiliary.critic(*outputs, labels) if outputs else 0.0)
            total = loss + penalty + auxiliary
            return self._scale(self.critic_optimizer, c_opt, total), (loss, penalty, d_real, d_fake, other, auxiliary)

        (_, (loss, penalty, d_real, d_fake, c_other, auxiliary)), gradients = jax.value_and_grad(
            objective, has_aux=True)(c_train)
        gradients = self._trained(gradients, self.critic_trains)
        with missing_gradients_allowed():  # the heads its loss does not read
            new_train, c_opt = self.critic_optimizer.stateless_apply(list(c_opt), list(gradients), list(c_train))
        c_train = tuple(self._after_update(c_train, new_train, critic_updates))
        metrics = self._critic_metrics(loss, penalty, d_real, d_fake, gradients, c_opt, auxiliary)
        return CriticCarry(c_train, tuple(c_other), tuple(c_opt), tuple(g_other), seed, critic_updates + 1), metrics

    def _critic_metrics(self, loss, penalty, d_real, d_fake, gradients, c_opt, auxiliary=0.0):
        metrics = {
            "critic_loss": loss,
            "penalty": jnp.asarray(penalty, jnp.float32),
            "d_real": ops.mean(d_real),
            "d_fake": ops.mean(d_fake),
            "critic_grad_norm": global_norm(gradients) / self._loss_scale(self.critic_optimizer, c_opt),
        }
        if self.losses.estimate:
            name, estimate = self.losses.estimate
            metrics[name] = estimate(loss, d_real, d_fake)
        if self.auxiliary.critic_reads_heads:
            metrics[CRITIC_METRIC] = jnp.asarray(auxiliary, jnp.float32)
        return metrics

    def _generator_update(self, carry: GeneratorCarry, c_train, real, labels, batch, noise_std, c_opt):
        """One generator update on `batch` fresh z: the carry, its metrics and G(z) (before the update)."""
        spec = self.spec
        g_train, g_other, g_opt, c_other, seed = carry
        with self._random(seed) as scope:
            if spec.conditional:
                labels = sample_labels(spec.conditional.classes, batch, self.seed_generator)
            real = self._noisy(real, noise_std)
            z = sample_latent(spec.latent, batch, self.seed_generator)
            fake_view = self._augmentation((batch,) + self._fake_shape)  # drawn here, applied to G(z) below
            fake_noise = self._noise((batch,) + self._fake_shape, noise_std)
            seed = scope.get_current_value(self.seed_state)

        def objective(weights):
            inputs = [z, labels] if spec.conditional else z
            generated, other = self.generator.stateless_call(weights, g_other, inputs, training=True)
            fake = self._augmented(generated, fake_view)
            fake = fake + fake_noise if fake_noise is not None else fake
            if spec.tricks.unrolled:
                critic, c_state = self._unrolled_critic(c_train, c_other, c_opt, real, fake, labels), c_other
            else:
                critic, c_state = self._critic_call(c_train), c_other
            auxiliary = jnp.float32(0.0)
            if self.auxiliary.generator_reads_heads:  # AC-GAN: G also makes its class recognisable
                outputs, c_state = self._critic_outputs_call(c_train)(fake, labels, c_state)
                d_fake, auxiliary = outputs[0], self.auxiliary.generator(outputs, labels)
            else:
                d_fake, c_state = critic(fake, labels, c_state)
            d_real = None
            if self.generator_reads_real:
                d_real, c_state = critic(real, labels, c_state)
            loss = self._generator_loss(d_real, d_fake)
            return (self._scale(self.generator_optimizer, g_opt, loss + auxiliary),
                    (loss, other, c_state, generated, auxiliary))

        (_, (loss, g_other, c_other, generated, auxiliary)), gradients = jax.value_and_grad(
            objective, has_aux=True)(g_train)
        g_train, g_opt = self.generator_optimizer.stateless_apply(list(g_opt), list(gradients), list(g_train))
        metrics = {
            "generator_loss": loss,
            "generator_grad_norm": global_norm(gradients) / self._loss_scale(self.generator_optimizer, g_opt),
        }
        if self.auxiliary.generator_reads_heads:
            metrics[GENERATOR_METRIC] = jnp.asarray(auxiliary, jnp.float32)
        return GeneratorCarry(tuple(g_train), tuple(g_other), tuple(g_opt), tuple(c_other), seed), metrics, generated

    def _information_update(self, state: StepState):
        """InfoGAN's information update (Chen et al. 2016, eq. 5; eriklindernoren/PyTorch-GAN,
        implementations/infogan/infogan.py: `info_loss.backward(); optimizer_info.step()`), as on TensorFlow:
        fresh z and codes, the code losses on Q(G(z, c)), one step over both networks' weights."""
        spec = self.spec
        batch = self.generator_batch
        with self._random(state.seed) as scope:
            labels = sample_labels(spec.conditional.classes, batch, self.seed_generator) if spec.conditional else None
            z = sample_latent(spec.latent, batch, self.seed_generator)
            seed = scope.get_current_value(self.seed_state)
        i_opt = state.information_optimizer

        def objective(g_train, c_train):
            inputs = [z, labels] if spec.conditional else z
            generated, g_other = self.generator.stateless_call(g_train, state.generator_other, inputs, training=True)
            outputs, c_other = self._critic_outputs_call(c_train)(generated, labels, state.critic_other)
            loss = self.auxiliary.information_loss(outputs, z)
            return self._scale(self.information_optimizer, i_opt, loss), (loss, g_other, c_other)

        (_, (loss, g_other, c_other)), (g_gradients, c_gradients) = jax.value_and_grad(
            objective, argnums=(0, 1), has_aux=True)(state.generator_trainable, state.critic_trainable)
        gradients = list(g_gradients) + list(self._trained(c_gradients, self.information_trains))
        weights = list(state.generator_trainable) + list(state.critic_trainable)
        with missing_gradients_allowed():  # the adversarial output's own weights
            new, i_opt = self.information_optimizer.stateless_apply(list(i_opt), gradients, weights)
        count = len(state.generator_trainable)
        c_train = self._after_update(state.critic_trainable, new[count:], state.critic_updates)
        return state._replace(
            generator_trainable=tuple(new[:count]), generator_other=tuple(g_other),
            critic_trainable=tuple(c_train), critic_other=tuple(c_other),
            information_optimizer=tuple(i_opt), seed=seed,
        ), loss

    # ---- pieces ------------------------------------------------------------------------------

    @staticmethod
    def _trained(gradients, trains):
        """The gradients, None where the update leaves a variable alone (`step_common.trained_by`)."""
        return [g if trained else None for g, trained in zip(gradients, trains)]

    def _random(self, seed):
        """A scope in which the step's SeedGenerator reads and advances the traced `seed` value."""
        return keras.StatelessScope(state_mapping=[(self.seed_state, seed)])

    def _generate(self, g_train, g_other, batch, labels):
        z = sample_latent(self.spec.latent, batch, self.seed_generator)
        inputs = [z, labels] if self.spec.conditional else z
        fake, g_other = self.generator.stateless_call(g_train, g_other, inputs, training=True)
        return fake, g_other

    def _critic_outputs_call(self, c_train):
        """The critic's outputs in float32 (one array, or [adversarial, heads...]) with given weights,
        threading the critic's layer state (spectral-norm vectors)."""
        def call(samples, labels, c_other):
            out, c_other = self.critic.stateless_call(c_train, c_other, self._critic_input(samples, labels),
                                                      training=True)
            if isinstance(out, (list, tuple)):
                return [ops.cast(o, "float32") for o in out], c_other
            return ops.cast(out, "float32"), c_other
        return call

    def _critic_call(self, c_train):
        """D(samples): the adversarial output only (`_critic_outputs_call`)."""
        outputs_call = self._critic_outputs_call(c_train)

        def call(samples, labels, c_other):
            outputs, c_other = outputs_call(samples, labels, c_other)
            return adversarial(outputs), c_other
        return call

    def _critic_pair(self, c_train, c_other, real, fake, labels):
        """(D(real), D(fake), (real outputs, fake outputs) with the heads when an update reads them, else
        None), and the critic's layer state; one joined call where `joins_critic_calls` allows."""
        if self.auxiliary.class_loss is not None:
            call = self._critic_outputs_call(c_train)
            real_outputs, c_other = call(real, labels, c_other)
            fake_outputs, c_other = call(fake, labels, c_other)
            return (real_outputs[0], fake_outputs[0], (real_outputs, fake_outputs)), c_other
        call = self._critic_call(c_train)
        if not joins_critic_calls(self.critic, real.shape[0]):
            d_real, c_other = call(real, labels, c_other)
            d_fake, c_other = call(fake, labels, c_other)
            return (d_real, d_fake, None), c_other
        real_input, fake_input = self._critic_input(real, labels), self._critic_input(fake, labels)
        scores, c_other = self.critic.stateless_call(c_train, c_other, ops.concatenate([real_input, fake_input]),
                                                     training=True)
        scores = ops.cast(scores, "float32")
        count = real_input.shape[0]
        return (scores[:count], scores[count:], None), c_other

    def _noise(self, shape, std):
        if self.spec.tricks.instance_noise is None:
            return None
        return std * keras.random.normal(shape, seed=self.seed_generator)

    def _noisy(self, samples, std):
        """Every critic input: DiffAugment's T (`StepBase._augment`), then instance noise (Sonderby et al. 2017)."""
        samples = self._augment(samples)
        noise = self._noise(ops.shape(samples), std)
        return samples if noise is None else samples + noise

    def _penalty(self, c_train, c_other, points, real, labels, d_real, critic_updates):
        """Sum of the gradient and output penalties, each on its lazy schedule; threads the layer state."""
        total = jnp.float32(0.0)
        for (constraint, rule), at in zip(self.penalties, points):
            def compute(other, c=constraint, r=rule, x=at):
                if isinstance(r, constraints.GradientRule):
                    return self._gradient_term(c_train, other, c, r, x, labels)
                if r.features(c):  # CT-GAN with D_: two passes of the features model
                    first, other = self._features_call(c_train, other, real, labels)
                    second, other = self._features_call(c_train, other, real, labels)
                    return r.penalty(c, first[0], second[0], first[1], second[1]), other
                second, other = self._critic_call(c_train)(real, labels, other)
                # CT-GAN: d_real is the first dropout pass over the real batch; this is the second.
                return r.penalty(c, d_real, second), other
            if constraint.every == 1:
                term, c_other = compute(c_other)
            else:
                scale = constraints.lazy_scale(constraint, critic_updates)
                term, c_other = jax.lax.cond(
                    scale > 0, lambda other, s=scale, f=compute: _scaled(s, f(other)),
                    lambda other: (jnp.float32(0.0), other), c_other)
            total = total + term
        return total, c_other

    def _features_call(self, c_train, c_other, samples, labels):
        """([D(samples), D_(samples)], the critic's layer state): `critic_features` over the critic's own
        variables, picked out of its state by identity, the state it changes written back."""
        model = self.critic_features
        trainable = {id(v): i for i, v in enumerate(self.critic.trainable_variables)}
        other = {id(v): i for i, v in enumerate(self.critic.non_trainable_variables)}
        train_at = [trainable[id(v)] for v in model.trainable_variables]
        other_at = [other[id(v)] for v in model.non_trainable_variables]
        outputs, new_other = model.stateless_call([c_train[i] for i in train_at], [c_other[i] for i in other_at],
                                                  self._critic_input(samples, labels), training=True)
        state = list(c_other)
        for i, value in zip(other_at, new_other):
            state[i] = value
        return [ops.cast(o, "float32") for o in outputs], type(c_other)(state)

    def _gradient_term(self, c_train, c_other, constraint, rule, points, labels):
        def outputs(x):
            out, other = self.critic.stateless_call(c_train, c_other, self._critic_input(x, labels),
                                                    training=True)
            return jnp.sum(adversarial(out).astype(jnp.float32)), other
        gradients, c_other = jax.grad(outputs, has_aux=True)(points)
        penalty = rule.penalty(constraint, constraints.squared_norms(pack_samples(gradients, self.pack)))
        return jnp.asarray(penalty, jnp.float32), tuple(c_other)

    def _after_update(self, old, new, critic_updates):
        if not self.after_updates:
            return new
        for constraint, rule in self.after_updates:
            apply = constraints.lazy_scale(constraint, critic_updates)
            clipped = [rule.new_value(constraint, w) for w in new]
            new = clipped if constraint.every == 1 else [jnp.where(apply > 0, c, w) for c, w in zip(clipped, new)]
        return new

    def _unrolled_critic(self, c_train, c_other, c_opt, real, fake, labels):
        """Metz et al. 2017: the critic after `tricks.unrolled` updates of its own optimizer's rule, from that
        optimizer's current state (`optimizers.optimizer_state`), objective loss only; the generator's gradient
        flows through the updates (eq. 5-6)."""
        spec, critic = self.spec, self.critic
        state = [jax.lax.stop_gradient(v) for v in c_other]
        targets = plain_targets((real.shape[0] // self.pack, 1), (fake.shape[0] // self.pack, 1))

        def unrolled(weights):
            def call(samples, labels_, c_state=None):
                inputs = self._critic_input(samples, labels_)
                out = ops.cast(adversarial(critic.stateless_call(weights, state, inputs, training=True)[0]), "float32")
                return out if c_state is None else (out, c_state)
            return call

        def gradients(weights):
            def loss(w):
                call = unrolled(w)
                return self.losses.critic(spec.objective, call(real, labels), call(fake, labels), targets)
            return jax.grad(loss)(list(weights))

        with keras.StatelessScope(state_mapping=list(zip(self.critic_optimizer.variables, c_opt))):
            learning_rate = ops.cast(self.critic_optimizer.learning_rate, "float32")
        # The optimizer's state for the critic's weights, found in the stateless `c_opt` by position.
        position = {id(v): i for i, v in enumerate(self.critic_optimizer.variables)}
        iterations, slots = optimizer_state(self.critic_optimizer, spec.optimizer.critic.kind,
                                            critic.trainable_variables)
        slots = [tuple(None if v is None else jax.lax.stop_gradient(c_opt[position[id(v)]]) for v in slot)
                 for slot in slots]
        weights = unrolled_updates(spec.optimizer.critic, learning_rate, list(c_train), gradients, spec.tricks.unrolled,
                                   slots, c_opt[position[id(iterations)]])
        return unrolled(weights)

    def _update_ema(self, ema, generator_values, iteration):
        """Yazici et al. 2019: theta_ema <- decay * theta_ema + (1 - decay) * theta (a copy before `start`)."""
        spec_ema = self.spec.ema
        decay = jnp.where(iteration >= spec_ema.start, spec_ema.decay, 0.0)
        out = []
        for average, source in zip(ema, self._ema_sources):
            weight = generator_values[source]
            d = decay.astype(average.dtype)
            out.append(d * average + (1.0 - d) * weight.astype(average.dtype))
        return tuple(out)

    @staticmethod
    def _scale(optimizer, values, loss):
        if isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
            return loss * _variable_value(optimizer, values, optimizer.dynamic_scale)
        return loss

    @staticmethod
    def _loss_scale(optimizer, values):
        if isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
            return _variable_value(optimizer, values, optimizer.dynamic_scale).astype(jnp.float32)
        return 1.0


ITERATIONS = {  # one method per order of step_common.ORDERS
    "critic_first": JaxTrainStep._critic_first,
    "generator_first": JaxTrainStep._generator_first,
    "simultaneous": JaxTrainStep._simultaneous,
}


def _scaled(scale, term_and_state):
    term, state = term_and_state
    return jnp.asarray(scale * term, jnp.float32), state


def _variable_value(optimizer, values, variable):
    """The value of one of an optimizer's variables in a tuple of its variables' values."""
    for v, value in zip(optimizer.variables, values):
        if v is variable:
            return value
    raise KeyError(variable.path)


def make_train_step(spec, generator, critic, generator_optimizer, critic_optimizer,
                    layout: Layout = NONE) -> JaxTrainStep:
    """The compiled iteration for a spec and its built models and optimizers, on the devices of `layout`."""
    placement = Placement(_placed(spec, layout)) if layout.distributed else None
    return JaxTrainStep(spec, generator, critic, generator_optimizer, critic_optimizer, placement)


def compile_training(spec, sample: tuple[int, ...], layout: Layout = NONE) -> JaxTrainStep:
    """Build both networks (the critic for real samples of shape `sample`) and both optimizers, and the step
    on the devices of `layout` (`place`: processes started, devices counted, the batch checked)."""
    if layout.distributed:
        layout = _placed(spec, layout)  # before the models touch JAX: several processes join first
    return make_train_step(spec, *build_parts(spec, sample), layout=layout)


def _placed(spec, layout: Layout) -> Layout:
    """`place(layout)`, its replicas checked against the spec's global batch (LayoutError)."""
    layout = place(layout)
    layout.per_replica_batch(spec.train.batch)
    return layout
