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
IMAGE = """
experiment parity_image {
  seed 5
  data { source npz("unused.npz") }
  latent normal(3)
  generator { dense(8 * 8 * 3) reshape(8, 8, 3) tanh }
  critic { flatten dense(8) leaky_relu(0.2) dense(1) }
  steps.critic 2
  train { batch 8 iterations 10 }
  %s
}
"""
SAMPLES = {IMAGE: (8, 8, 3)}  # one real sample of a template's data; (2,) for the others
# Published-configuration layers: initializers, PyTorch's explicit padding and output_padding,
# channel dropout (Dropout2d) and global sum pooling.
CONV = """
experiment parity_conv {
  seed 5
  data { source npz("unused.npz") }
  latent normal(3)
  generator(init: normal(0, 0.02), bias_init: pytorch) {
    dense(4 * 4 * 4, init: orthogonal) reshape(4, 4, 4)
    conv_transpose(4, kernel: 3, stride: 2, padding: 1, output_padding: 1, init: pytorch) relu
    conv(3, kernel: 3, padding: [1, 1]) tanh
  }
  critic(init: he_normal) {
    conv(4, kernel: 3, stride: 2, padding: 1) leaky_relu(0.2) dropout(0.5, channels: true)
    conv(4, kernel: 4, stride: 2, padding: [1, 2], bias_init: zeros) leaky_relu(0.2)
    global_pool(sum) dense(1)
  }
  steps.critic 2
  train { batch 8 iterations 10 }
  %s
}
"""
SAMPLES[CONV] = (8, 8, 3)
# SAGAN self-attention (its gamma leaves 0 at the first step) and zero-insertion upsampling.
ATTENTION = """
experiment parity_attention {
  seed 5
  data { source npz("unused.npz") }
  latent normal(3)
  generator(init: normal(0, 0.2)) {
    dense(4 * 4 * 8) reshape(4, 4, 8) attention relu
    upsample(2, interpolation: zeros) conv(3, kernel: 3) tanh
  }
  critic {
    conv(8, kernel: 3, stride: 2) leaky_relu(0.2) attention(init: orthogonal)
    global_pool(sum) dense(1)
  }
  steps.critic 2
  train { batch 8 iterations 10 }
  %s
}
"""
SAMPLES[ATTENTION] = (8, 8, 3)
# Residual blocks with declared shortcuts, written with a parameterised block and a named layer. (No
# biases before batch norm: their gradient is zero up to rounding, which Adam turns into +-lr steps.)
RESIDUAL = """
let bn = batchnorm(momentum: 0.9, epsilon: 1e-4)
block gblock(c) {
  residual(shortcut: [upsample, conv(c, kernel: 1, bias: false)]) {
    bn relu upsample conv(c, padding: 1, bias: false) bn relu conv(c, padding: 1, bias: false)
  }
}
block dblock(c, down: pool(2, mode: avg)) {
  residual(shortcut: [conv(c, kernel: 1), down]) { relu conv(c, padding: 1) relu conv(c, padding: 1) down }
}
experiment parity_residual {
  seed 5
  data { source npz("unused.npz") }
  latent normal(3)
  generator(init: orthogonal) { dense(2 * 2 * 8) reshape(2, 2, 8) gblock(8) gblock(4) bn relu conv(3, padding: 1) tanh }
  critic { dblock(8) dblock(8, down: none) residual(shortcut: [conv(8)]) { relu conv(8) } relu global_pool(sum) dense(1) }
  steps.critic 2
  train { batch 8 iterations 10 }
  %s
}
"""
SAMPLES[RESIDUAL] = (8, 8, 3)
# Conditioning inside the networks: a label embedding joined to z, both parameterisations of
# conditional batch norm, a packed critic reading its labels with join_label and label_projection
# (its gradient penalty differentiates w.r.t. the samples only).
CONDITIONAL_LAYERS = """
experiment parity_conditional_layers {
  seed 5
  data { source npz("unused.npz", labels_key: "y") }
  latent normal(3)
  conditional { classes 3 }
  generator {
    join_label(embed: 2) dense(8) conditional_batchnorm(momentum: 0.9) relu
    dense(8) conditional_batchnorm(gain: direct, statistics: batch) relu dense(2)
  }
  critic(pack: 2) { join_label dense(8) leaky_relu(0.2) dense(8) relu label_projection }
  steps.critic 2
  train { batch 8 iterations 10 }
  %s
}
"""
# BigGAN's hierarchical latent: z split into 3 chunks inside the generator, each later chunk joined with
# the shared class embedding in a conditional batch norm (no biases before the batch norms, see WEIGHT_ATOL).
HIERARCHICAL = """
experiment parity_hierarchical_latent {
  seed 5
  data { source npz("unused.npz", labels_key: "y") }
  latent normal(6)
  conditional { classes 3 }
  generator(latent_chunks: 3, shared_embedding: 4) {
    dense(8, bias: false) conditional_batchnorm(chunk: 1, momentum: 0.9) relu
    dense(8, bias: false) conditional_batchnorm(chunk: 2) relu dense(2)
  }
  critic { dense(8) relu label_projection }
  steps.critic 2
  train { batch 8 iterations 10 }
  %s
}
"""

# name: (template, settings)
INFOGAN = """
experiment parity_infogan {
  seed 5
  data { source ring(8, 1.0, 0.05) }
  latent product(normal(2), categorical(3), uniform(2))
  generator { dense(8) relu dense(2) }
  critic { dense(8) leaky_relu(0.2) head(code: 1) { dense(3) } dense(8) relu head(code: 2) { dense(2) } dense(1) }
  steps.critic 2
  train { batch 8 iterations 10 }
  %s
}
"""
ACGAN = """
experiment parity_acgan {
  seed 5
  data { source npz("unused.npz", labels_key: "y") }
  latent normal(3)
  conditional { classes 3 }
  generator { dense(8) relu dense(2) }
  critic { dense(8) leaky_relu(0.2) head(label) { dense(4) relu dense(3) } dense(1) }
  steps.critic 2
  train { batch 8 iterations 10 }
  %s
}
"""
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
    "unrolled_rmsprop_wasserstein": (TOY, "objective wasserstein\n tricks.unrolled 2\n"
                                          " optimizer.critic rmsprop(lr: 0.01, momentum: 0.5)"),
    "unrolled_simultaneous": (TOY, "objective minimax\n steps { critic 1 order simultaneous }\n tricks.unrolled 2"),
    "ema_lr_schedule": (TOY, "objective hinge\n ema { decay 0.9 }\n"
                             " optimizer.generator adam(lr: 1e-3, schedule: linear(end: 0))"),
    "two_generator_steps": (TOY, "objective non_saturating\n steps.generator 2"),
    "conditional_packed_bn": (CONDITIONAL, "objective non_saturating\n constraint gradient_penalty"),
    # update orders and batching (steps.order, steps.share_real_batch, train.generator_batch)
    "order_generator_first": (TOY, "objective non_saturating\n steps { critic 1 order generator_first }\n"
                                   " tricks { instance_noise { std 0.3 } label_smoothing 0.1 }"),
    "order_generator_first_gp": (TOY.replace("dense(8) relu dense(1)", "dense(8) relu dropout(0.5) dense(1)"),
                                 "objective wasserstein\n constraint gradient_penalty\n"
                                 " steps { critic 1 order generator_first }"),
    "order_simultaneous": (TOY, "objective non_saturating\n steps { critic 1 order simultaneous }\n"
                                " tricks { instance_noise { std 0.3 } label_noise 0.1 }"),
    "order_simultaneous_gp_clip": (TOY, "objective wasserstein\n constraint gradient_penalty\n"
                                        " constraint weight_clip(0.3)\n steps { critic 1 order simultaneous }\n"
                                        " ema { decay 0.9 }"),
    "order_simultaneous_relativistic_bn": (CONDITIONAL, "objective relativistic(least_squares, average: false)\n"
                                                        " steps { critic 1 order simultaneous }"),
    "share_real_batch": (TOY, "objective wasserstein\n constraint gradient_penalty\n"
                              " steps { critic 3 share_real_batch true }"),
    "share_real_batch_conditional": (CONDITIONAL, "objective hinge\n steps { critic 3 share_real_batch true }"),
    "generator_batch": (TOY, "objective relativistic(standard)\n train.generator_batch 16"),
    "generator_batch_conditional": (CONDITIONAL, "objective least_squares\n train.generator_batch 12\n"
                                                 " ema { decay 0.5 }"),
    "generator_batch_unrolled": (TOY, "objective minimax\n train.generator_batch 4\n tricks.unrolled 1"),
    # DiffAugment (Zhao et al. 2020): T on every critic input, drawn in order with the other noise
    "diffaugment": (IMAGE, "objective non_saturating\n tricks.diffaugment [color, translation, cutout]"),
    "diffaugment_gp_noise": (IMAGE, "objective wasserstein\n constraint gradient_penalty\n"
                                    " tricks { diffaugment [cutout(0.375), translation(0.25)] instance_noise { std 0.1 } }"),
} | {
    # initializers, explicit padding, output_padding, channel dropout, sum pooling (CONV)
    "conv_padding_init": (CONV, "objective hinge"),
    "conv_padding_gp": (CONV, "objective wasserstein\n constraint gradient_penalty"),
    "conv_padding_spectral_norm": (CONV, "objective non_saturating\n constraint spectral_norm"),
    "attention_zeros": (ATTENTION, "objective hinge"),
    "attention_spectral_norm": (ATTENTION, "objective non_saturating\n constraint spectral_norm"),
    "residual_shortcuts": (RESIDUAL, "objective hinge"),
    "split_hinge_non_saturating": (TOY, "objective split(critic: hinge, generator: non_saturating)"),
    "split_least_squares_relativistic": (TOY, "objective split(critic: least_squares, generator: relativistic)\n"
                                              " tricks.label_smoothing 0.1"),
    "residual_shortcuts_spectral_norm_gp": (RESIDUAL, "objective non_saturating\n constraint spectral_norm\n"
                                                      " constraint gradient_penalty\n"
                                                      # SGD: a weight whose gradient is zero up to rounding
                                                      # (a padded 3x3 tap here) moves by ~0, not Adam's +-lr
                                                      " optimizer.critic sgd(lr: 0.01)"),
    "conditional_layers_gp": (CONDITIONAL_LAYERS, "objective wasserstein\n constraint gradient_penalty"),
    "conditional_layers_spectral_norm": (CONDITIONAL_LAYERS, "objective hinge\n constraint spectral_norm"),
    "hierarchical_latent_ema": (HIERARCHICAL, "objective hinge\n ema { decay 0.9 }"),
    "hierarchical_latent_spectral_norm": (
        HIERARCHICAL.replace("shared_embedding: 4) {", "shared_embedding: 4) { spectral_norm {").replace(
            "relu dense(2)", "relu dense(2) }"), "objective hinge\n constraint spectral_norm"),
    # Critic heads and auxiliary losses (ganspec.train.auxiliary): InfoGAN's information update, AC-GAN's class term.
    "infogan_generator_first": (INFOGAN, "objective least_squares\n steps { critic 1 order generator_first }\n"
                                         "auxiliary { losses [code_cross_entropy(1), code_mse(2, weight: 0.1)]\n"
                                         " optimizer adam(lr: 1e-3, beta1: 0.5) }"),
    "infogan_gaussian_gp": (INFOGAN, "objective wasserstein\n constraint gradient_penalty\n"
                                     "auxiliary { losses [code_cross_entropy(1, weight: 2), code_gaussian(2, std: 0.5)]\n"
                                     " optimizer rmsprop(lr: 1e-3) }"),
    "acgan_wgan_gp": (ACGAN, "objective wasserstein\n constraint gradient_penalty\n"
                             "auxiliary.losses class_cross_entropy(real: 1, fake: 0, generator: 0.1)"),
    "acgan_simultaneous": (ACGAN, "objective non_saturating\n steps { critic 1 order simultaneous }\n"
                                  "auxiliary.losses class_cross_entropy(fake: 0.5)"),
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
        # A noise_shape with 1s (SpatialDropout2D: [batch, 1, 1, channels]) broadcasts one draw per map.
        shape = tuple(inputs.shape) if noise_shape is None else tuple(
            size if want is None else want for want, size in zip(noise_shape, inputs.shape))
        keep = unit(shape, seed) >= rate
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
    from ganspec.train.schedules import critic_steps_at, real_batches_at

    resolved = load_text(template % settings)
    assert resolved.spec is not None, [d.message for d in resolved.diagnostics]
    spec = resolved.spec
    module = backend.step_module()
    sample = SAMPLES.get(template, (2,))
    parts = module.build_parts(spec, sample=sample)
    set_weights(parts[:2], seed=11)
    step = module.make_train_step(spec, *parts)
    initial = {"g": [np.asarray(v) for v in step.generator.weights], "c": [np.asarray(v) for v in step.critic.weights]}
    if step.ema_generator is not None:
        step.ema_generator.set_weights(step.generator.get_weights())
    rng = np.random.default_rng(3)
    real = rng.normal(size=(real_batches_at(spec, 0), spec.train.batch, *sample)).astype("float32")
    labels = rng.integers(0, 3, size=real.shape[:2]).astype("int32") if spec.conditional else None
    metrics = step(real, labels, critic_steps=critic_steps_at(spec, 0))
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
