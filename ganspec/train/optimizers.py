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
# the critic's own optimizer. These functions start from fresh optimizer state (zero moments)
# and return new weight tensors, so gradients can flow through the updates.


def _sgd_unrolled(o, lr, weight, grad, slot, step):
    velocity = o.momentum * slot - lr * grad
    update = o.momentum * velocity - lr * grad if o.nesterov else velocity
    return weight + update, velocity


def _rmsprop_unrolled(o, lr, weight, grad, slot, step):
    mean_square = o.rho * slot + (1.0 - o.rho) * ops.square(grad)
    # With fresh state, momentum only rescales the first step; it is left out.
    return weight - lr * grad / ops.sqrt(mean_square + o.eps), mean_square


def _adam_unrolled(o, lr, weight, grad, slot, step):
    first, second = slot
    first = o.beta1 * first + (1.0 - o.beta1) * grad
    second = o.beta2 * second + (1.0 - o.beta2) * ops.square(grad)
    first_hat = first / (1.0 - o.beta1 ** step)
    second_hat = second / (1.0 - o.beta2 ** step)
    # 1e-16 keeps the derivative of sqrt finite where a gradient is exactly 0 (dead units).
    return weight - lr * first_hat / (ops.sqrt(second_hat + 1e-16) + o.eps), (first, second)


UNROLLED_RULES: dict[str, tuple[Callable, Callable]] = {
    # kind: (update, fresh slot for a weight)
    "sgd": (_sgd_unrolled, lambda w: ops.zeros_like(w)),
    "rmsprop": (_rmsprop_unrolled, lambda w: ops.zeros_like(w)),
    "adam": (_adam_unrolled, lambda w: (ops.zeros_like(w), ops.zeros_like(w))),
}


def unrolled_updates(optimizer, lr, weights, gradient_fn, steps: int):
    """K updates of `weights` by the rule of IR optimizer `optimizer` (Metz et al. 2017, eq. 4-5);
    `gradient_fn(weights) -> gradients`. Returns the updated weight tensors."""
    update, fresh = UNROLLED_RULES[optimizer.kind]
    slots = [fresh(w) for w in weights]
    for step in range(1, steps + 1):
        grads = gradient_fn(weights)
        pairs = [update(optimizer, lr, w, g, s, step) for w, g, s in zip(weights, grads, slots)]
        weights = [p[0] for p in pairs]
        slots = [p[1] for p in pairs]
    return weights
