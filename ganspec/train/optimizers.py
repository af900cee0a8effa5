"""Keras optimizers and learning-rate schedules from the spec, one small builder per kind;
and the same update rules as pure functions, for unrolled critic steps."""

from __future__ import annotations

from typing import Callable

import keras
from keras import ops

from ganspec.ir.components import LR_SCHEDULES, OPTIMIZERS
from ganspec.plugins import Implementations


def _constant(schedule, lr: float, decay_steps: int, updates_per_iteration: int):
    return lr


def _linear(schedule, lr, decay_steps, updates_per_iteration):
    """Linear decay from lr to end * lr over the run (WGAN-GP reference code)."""
    return keras.optimizers.schedules.PolynomialDecay(lr, decay_steps, end_learning_rate=schedule.end * lr, power=1.0)


def _exponential(schedule, lr, decay_steps, updates_per_iteration):
    """lr * rate^(iteration / every), counted in generator iterations."""
    return keras.optimizers.schedules.ExponentialDecay(lr, schedule.every * updates_per_iteration, schedule.rate)


def _cosine(schedule, lr, decay_steps, updates_per_iteration):
    """Cosine decay from lr to end * lr over the run (Loshchilov & Hutter 2017, without restarts)."""
    return keras.optimizers.schedules.CosineDecay(lr, decay_steps, alpha=schedule.end)


LR_SCHEDULE_BUILDERS: dict[str, Callable] = Implementations(LR_SCHEDULES, {  # + plugins', lazily
    "constant": _constant,
    "linear": _linear,
    "exponential": _exponential,
    "cosine": _cosine,
})

OPTIMIZER_BUILDERS: dict[str, Callable] = Implementations(OPTIMIZERS, {  # + plugins', lazily
    "adam": lambda o, lr: keras.optimizers.Adam(lr, beta_1=o.beta1, beta_2=o.beta2, epsilon=o.eps),
    "rmsprop": lambda o, lr: keras.optimizers.RMSprop(lr, rho=o.rho, momentum=o.momentum, epsilon=o.eps),
    "sgd": lambda o, lr: keras.optimizers.SGD(lr, momentum=o.momentum, nesterov=o.nesterov),
})


def learning_rate(optimizer, iterations: int, updates_per_iteration: int = 1):
    """The optimizer's learning rate or schedule; optimizer steps = iterations * updates_per_iteration."""
    decay_steps = max(iterations * updates_per_iteration, 1)
    schedule = optimizer.schedule
    return LR_SCHEDULE_BUILDERS[schedule.kind](schedule, optimizer.lr, decay_steps, updates_per_iteration)


def make_optimizer(optimizer, iterations: int, updates_per_iteration: int = 1,
                   precision: str = "float32") -> keras.optimizers.Optimizer:
    """A Keras optimizer from an IR optimizer; loss-scaled under mixed float16."""
    built = OPTIMIZER_BUILDERS[optimizer.kind](optimizer, learning_rate(optimizer, iterations, updates_per_iteration))
    if precision == "mixed_float16":
        built = keras.optimizers.LossScaleOptimizer(built)
    return built


def make_optimizers(spec):
    """(generator optimizer, critic optimizer) for a spec."""
    run = spec.train
    return (
        make_optimizer(spec.optimizer.generator, run.iterations, spec.steps.generator, run.precision),
        make_optimizer(spec.optimizer.critic, run.iterations, spec.steps.critic, run.precision),
    )


# ---- the critic's update rule as a pure function, for unrolled GANs (Metz et al. 2017) ------
# Metz et al. 2017, sec. 2.2: the generator's loss is taken through K critic updates that use
# the critic's own optimizer. As in their code (the unrolled_gan notebook unrolls the updates of
# the discriminator's Keras Adam, moments and step count included), the K updates continue from
# the optimizer's current state: `optimizer_state` reads it, and the rules below are Keras's own
# update steps written as functions that return new tensors, so gradients flow through them.
# The learning rate is the optimizer's current one for all K steps.

# Each rule's slots, as the Keras optimizer's attributes (an empty list: the optimizer keeps none).
UNROLLED_SLOTS: dict[str, tuple[str, ...]] = {
    "sgd": ("momentums",),
    "rmsprop": ("_velocities", "_momentums"),
    "adam": ("_momentums", "_velocities"),
}


def optimizer_state(optimizer, kind: str, variables):
    """The state a built Keras optimizer keeps for `variables`: (its step-count variable, one tuple of
    slot variables per variable in `UNROLLED_SLOTS[kind]` order, None where it keeps none)."""
    inner = getattr(optimizer, "inner_optimizer", optimizer)  # under a LossScaleOptimizer
    slots = []
    for variable in variables:
        index = inner._get_variable_index(variable)
        slots.append(tuple(getattr(inner, name)[index] if getattr(inner, name, None) else None
                           for name in UNROLLED_SLOTS[kind]))
    return inner.iterations, slots


def _sgd_unrolled(o, lr, weight, grad, slots, step):
    (momentum,) = slots
    if momentum is None:
        return weight - lr * grad, slots
    momentum = o.momentum * momentum - lr * grad
    update = o.momentum * momentum - lr * grad if o.nesterov else momentum
    return weight + update, (momentum,)


def _rmsprop_unrolled(o, lr, weight, grad, slots, step):
    velocity, momentum = slots
    velocity = o.rho * velocity + (1.0 - o.rho) * ops.square(grad)
    increment = lr * grad / ops.sqrt(velocity + o.eps)
    if momentum is None:
        return weight - increment, (velocity, momentum)
    momentum = o.momentum * momentum + increment
    return weight - momentum, (velocity, momentum)


def _adam_unrolled(o, lr, weight, grad, slots, step):
    first, second = slots
    first = first + (grad - first) * (1.0 - o.beta1)
    second = second + (ops.square(grad) - second) * (1.0 - o.beta2)
    alpha = lr * ops.sqrt(1.0 - ops.power(o.beta2, step)) / (1.0 - ops.power(o.beta1, step))
    # 1e-16 keeps the derivative of sqrt finite where a second moment is exactly 0 (dead units).
    return weight - first * alpha / (ops.sqrt(second + 1e-16) + o.eps), (first, second)


UNROLLED_RULES: dict[str, Callable] = {"sgd": _sgd_unrolled, "rmsprop": _rmsprop_unrolled, "adam": _adam_unrolled}


def fresh_slots(optimizer, weights) -> list[tuple]:
    """A new optimizer's state for `weights`: zeros in every slot (a zero momentum slot with momentum 0
    updates as no slot does)."""
    return [tuple(ops.zeros_like(w) for _ in UNROLLED_SLOTS[optimizer.kind]) for w in weights]


def unrolled_updates(optimizer, lr, weights, gradient_fn, steps: int, slots=None, iterations=0):
    """K updates of `weights` by the rule of IR optimizer `optimizer` (Metz et al. 2017, eq. 4-5), from the
    optimizer's state: `slots` (values of `optimizer_state`'s slots, per weight; default a fresh optimizer's)
    after `iterations` steps; `gradient_fn(weights) -> gradients`. Returns the updated weight tensors."""
    update = UNROLLED_RULES[optimizer.kind]
    slots = fresh_slots(optimizer, weights) if slots is None else slots
    iterations = ops.cast(iterations, "float32")
    for step in range(1, steps + 1):
        grads = gradient_fn(weights)
        pairs = [update(optimizer, lr, w, g, s, iterations + step) for w, g, s in zip(weights, grads, slots)]
        weights = [p[0] for p in pairs]
        slots = [p[1] for p in pairs]
    return weights
