"""One backend's side of the parity test (tests/backends/test_parity.py), run in its own process:

    KERAS_BACKEND=jax python tests/backends/parity_worker.py OUT.npz

For every case of CASES: build the spec's models, set their weights from NumPy, run one generator
iteration of the backend's compiled step on fixed real batches, and save the metrics and every
updated weight. `keras.random` draws (and dropout masks) are replaced by a counter-based sequence
computed with `keras.ops`, so both backends see the same noise in the same order: the step's
SeedGenerator still advances as usual, and each draw is a function of the generator's state.
"""

from __future__ import annotations

import math
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import numpy as np  # noqa: E402

from ganspec import backend  # noqa: E402

TOY = """
experiment parity {
  seed 5
  data { source ring(8, 1.0, 0.05) }
  latent normal(3)
  generator { dense(8) relu dense(8) relu dense(2) }
  critic { dense(8) leaky_relu(0.2) dense(8) relu dense(1) }
  steps.critic 2
  train { batch 8 iterations 10 }
  %s
}
"""
CONDITIONAL = """
experiment parity_conditional {
  seed 5
  data { source npz("unused.npz", labels_key: "y") }
  latent uniform(3)
  conditional { classes 3 }
  generator { dense(8) batchnorm relu dense(2) }
  critic(pack: 2) { dense(8) relu dense(1) }
  steps.critic 2
  train { batch 8 iterations 10 }
  %s
}
"""

# name: (template, settings)
CASES = {
    "minimax": (TOY, "objective minimax"),
    "non_saturating": (TOY, "objective non_saturating"),
    "wasserstein_gp": (TOY, "objective wasserstein\n constraint gradient_penalty(weight: 10)"),
    "gp_one_sided": (TOY, "objective wasserstein\n constraint gradient_penalty(weight: 5, one_sided: true, at: fake)"),
    "gp_real_target": (TOY, "objective wasserstein\n constraint gradient_penalty(weight: 2, target: 0.5, at: real)"),
    "dragan": (TOY, "objective non_saturating\n constraint gradient_penalty(at: perturbed_real)"),
    "weight_clip": (TOY, "objective wasserstein\n constraint weight_clip(0.05)\n optimizer.critic rmsprop(lr: 5e-3)"),
    "hinge_spectral_norm": (TOY, "objective hinge\n constraint spectral_norm"),
    "least_squares": (TOY, "objective least_squares(a: -1, b: 1, c: 0)"),
    "relativistic_average": (TOY, "objective relativistic(standard)"),
    "relativistic_paired_ls": (TOY, "objective relativistic(least_squares, average: false)"),
    "r1_r2_lazy": (TOY, "objective non_saturating\n constraint r1(gamma: 1)\n constraint r2(gamma: 2, every: 2)"),
    "consistency": (TOY.replace("dense(8) relu dense(1)", "dense(8) relu dropout(0.5) dense(1)"),
                    "objective wasserstein\n constraint gradient_penalty\n constraint consistency(weight: 2)"),
    "label_tricks": (TOY, "objective non_saturating\n tricks { label_smoothing 0.1 label_flip 0.2 label_noise 0.1 }"),
    "instance_noise": (TOY, "objective minimax\n tricks { instance_noise { std 0.3 decay linear steps 5 } }"),
    "unrolled_adam": (TOY, "objective non_saturating\n tricks.unrolled 2"),
    "unrolled_sgd": (TOY, "objective minimax\n tricks.unrolled 2\n optimizer.critic sgd(lr: 0.1, momentum: 0.5)"),
    "ema_lr_schedule": (TOY, "objective hinge\n ema { decay 0.9 }\n"
                             " optimizer.generator adam(lr: 1e-3, schedule: linear(end: 0))"),
    "two_generator_steps": (TOY, "objective non_saturating\n steps.generator 2"),
    "conditional_packed_bn": (CONDITIONAL, "objective non_saturating\n constraint gradient_penalty"),
} | {
    f"f_{name}": (TOY, f"objective f_divergence({name})")
    for name in ("total_variation", "kl", "reverse_kl", "pearson", "neyman", "squared_hellinger", "jeffrey",
                 "jensen_shannon", "gan")
}


# ---- the same noise on every backend --------------------------------------------------------

PHI = 0.6180339887  # additive recurrence (golden ratio): exact float32 multiply, add and floor


def install_counter_noise() -> None:
    import keras
    from keras import ops
    from keras.src.random.seed_generator import draw_seed

    def frac(x):
        return x - ops.floor(x)

    def unit(shape, seed):
        # Small exact integers first (a float32 of a large seed has no fractional digits left), and
        # fractional parts of small numbers, so fused multiply-adds change nothing but the last bit.
        state = ops.cast(ops.mod(ops.cast(draw_seed(seed), "int32"), 1009), "float32")
        n = math.prod(shape)
        offset = frac(state[0] * 0.1234567) + frac(state[1] * 0.7548776662)
        x = frac(frac(ops.arange(1, n + 1, dtype="float32") * PHI) + offset)
        return ops.reshape(ops.clip(x, 1e-4, 1.0 - 1e-4), shape)

    def uniform(shape, minval=0.0, maxval=1.0, dtype=None, seed=None):
        return minval + (maxval - minval) * unit(tuple(shape), seed)

    def normal(shape, mean=0.0, stddev=1.0, dtype=None, seed=None):
        u = unit(tuple(shape) + (2,), seed)  # Box-Muller
        z = ops.sqrt(-2.0 * ops.log(u[..., 0])) * ops.cos(2.0 * math.pi * u[..., 1])
        return mean + stddev * z

    def randint(shape, minval, maxval, dtype="int32", seed=None):
        return ops.cast(ops.floor(minval + (maxval - minval) * unit(tuple(shape), seed)), dtype)

    def dropout(inputs, rate, noise_shape=None, seed=None):
        keep = unit(tuple(inputs.shape), seed) >= rate
        return ops.where(keep, inputs / (1.0 - rate), ops.zeros_like(inputs))

    keras.random.uniform, keras.random.normal, keras.random.randint = uniform, normal, randint
    import keras.src.backend as kb

    kb.random.dropout = dropout


def set_weights(models, seed: int) -> None:
    """Every trainable weight and spectral-norm vector from NumPy (initializers differ by backend)."""
    rng = np.random.default_rng(seed)
    for model in models:
        for variable in model.trainable_variables + [v for v in model.non_trainable_variables
                                                     if v.path.endswith("/u")]:
            variable.assign(rng.normal(scale=0.4, size=variable.shape).astype("float32"))


def run_case(name: str, template: str, settings: str) -> dict[str, np.ndarray]:
    from ganspec.load import load_text

    resolved = load_text(template % settings)
    assert resolved.spec is not None, [d.message for d in resolved.diagnostics]
    spec = resolved.spec
    module = backend.step_module()
    parts = module.build_parts(spec, sample=(2,))
    set_weights(parts[:2], seed=11)
    step = module.make_train_step(spec, *parts)
    initial = {"g": [np.asarray(v) for v in step.generator.weights], "c": [np.asarray(v) for v in step.critic.weights]}
    if step.ema_generator is not None:
        step.ema_generator.set_weights(step.generator.get_weights())
    rng = np.random.default_rng(3)
    real = rng.normal(size=(spec.steps.critic, spec.train.batch, 2)).astype("float32")
    labels = rng.integers(0, 3, size=real.shape[:2]).astype("int32") if spec.conditional else None
    metrics = step(real, labels, critic_steps=spec.steps.critic)
    step.sync()
    out = {f"{name}/metric/{k}": np.asarray(v, dtype=np.float64) for k, v in metrics.items()}
    weights = {"g": step.generator.weights, "c": step.critic.weights}
    if step.ema_generator is not None:
        weights["ema"] = step.ema_generator.weights
    for group, variables in weights.items():
        for i, v in enumerate(variables):
            out[f"{name}/{group}/{i:02d}"] = np.asarray(v)
    for group, values in initial.items():
        for i, value in enumerate(values):
            out[f"{name}/initial/{group}/{i:02d}"] = value
    out[f"{name}/counters"] = np.array([int(np.asarray(step.iteration)),
                                        int(np.asarray(step.critic_updates))])
    return out


def main(path: str, names: list[str]) -> None:
    backend.activate(os.environ["KERAS_BACKEND"])
    install_counter_noise()
    arrays = {}
    for name in names or CASES:
        arrays.update(run_case(name, *CASES[name]))
    np.savez(path, **arrays)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
