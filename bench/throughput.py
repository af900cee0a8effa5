"""Training throughput: ganspec against hand-written TensorFlow loops of the same models, in one process.

    python bench/throughput.py [--iterations 30] [--warmup 10] [--only wgan_gp|dcgan] [--json out.json]
    python bench/throughput.py --backend jax ...   (bench/throughput_jax.py: JAX and PyTorch, GPU)

Protocol (shared/BENCHMARKS.md, section 3): the same architecture, batch, step ratio, data and
machine, measured in one run and reported as a ratio ganspec / hand-written, in generator
iterations per second after warm-up.

- ganspec: `specs/wgan_gp.gan` (keras.io WGAN-GP, batch 64, 5 critic steps) and `specs/dcgan.gan`
  (TensorFlow DCGAN tutorial, batch 256, 1:1), run the way `ganspec run` runs them: the
  data feed of `ganspec run` (`data.feed.iteration_feed`) and its compiled step (`compile_training`).
- hand-written: `keras_io_wgan_gp_step` and `tf_tutorial_dcgan_step` below (the references), the
  code of the keras.io example and of the TensorFlow tutorial, on Keras models built layer by
  layer with the same layers as the spec (weight shapes and parameter counts are asserted equal
  and the initial weights are copied from ganspec's models), fed the same tf.data batches of real
  MNIST (ganspec's own loader). For DCGAN, `tutorial_dcgan_alternating_step` is also timed: the
  tutorial's code with ganspec's alternating updates, to tell the algorithm from the engine; and
  so is ganspec with the tutorial's own order declared (`steps.order simultaneous`, row
  "ganspec-simultaneous"): one forward pass for both updates, as the tutorial's `train_step`.
- Every iteration runs each contender once, in an order that rotates, so background load falls
  on all alike; each iteration reads a loss back to the host, so its time covers finished work.
  ganspec builds and compiles first (one-time process costs land on it). The first `--warmup`
  iterations are left out of the steady state (the median seconds per iteration of the rest);
  the headline ratio is the median over iterations of the paired ratio (their seconds / ganspec's
  seconds), i.e. ganspec iterations per second over theirs, with its quartiles.
- Compile overhead is reported separately: model building, the first iteration (tracing, graph
  optimization, first run), and "compile s" = build + first iteration - one steady iteration.
  "2x at" is the first iteration (1-based) after the first whose time is at most twice the
  steady-state time; "@20" is steady time / time of the 20th iteration (its speed relative to
  the steady speed).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("GANSPEC_DATA", str((ROOT.parent / "shared" / "data").resolve()))


def _backend(argv: list[str]) -> str:
    for i, arg in enumerate(argv):
        if arg.startswith("--backend="):
            return arg.split("=", 1)[1]
        if arg == "--backend" and i + 1 < len(argv):
            return argv[i + 1]
    return "tensorflow"


if __name__ == "__main__" and _backend(sys.argv[1:]) == "jax":  # before Keras is imported
    import throughput_jax

    argv = [a for i, a in enumerate(sys.argv[1:]) if not a.startswith("--backend")
            and not (i > 0 and sys.argv[i] == "--backend")]
    throughput_jax.main(argv)
    sys.exit(0)

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

from timing import Contender, cpu_name, ganspec_contender, paired_ratio, summarize  # noqa: E402  (bench/: shared with throughput_jax.py)
from reference_models import (  # noqa: E402  (bench/: the models of the hand-written loops)
    keras_io_critic,
    keras_io_generator,
    tutorial_discriminator,
    tutorial_generator,
)

SPECS = ROOT / "specs"

# ---- the hand-written training steps ---------------------------------------------------------


def keras_io_wgan_gp_step(generator, critic, critic_steps: int, latent_dim: int, gp_weight: float = 10.0):
    """The keras.io WGAN-GP `WGAN.train_step`, as a plain `@tf.function` (what `model.fit` compiles on a
    CPU-only machine, where Keras' jit_compile="auto" turns XLA off), called with real [k, batch, ...].

    Exactly as keras.io writes it: a Python `for` loop over the critic steps (unrolled when traced);
    in each, z ~ N(0, 1), one GradientTape over G(z), D(fake), D(real), the Wasserstein loss
    mean(D(fake)) - mean(D(real)) and the gradient penalty (a nested tape at
    x_hat = real + alpha (fake - real), alpha ~ U(0, 1) per sample; mean((||grad|| - 1)^2)), then
    Adam on the critic; then one generator step on -mean(D(G(z))). One deviation, so that both
    contenders do the same work: critic step i reads its own real batch real[i] (Gulrajani et al.
    2017, Algorithm 1, and ganspec), where keras.io reuses its one batch for every critic step.
    Returns the last critic loss and the generator loss."""
    critic_optimizer = keras.optimizers.Adam(learning_rate=2e-4, beta_1=0.5, beta_2=0.9)
    generator_optimizer = keras.optimizers.Adam(learning_rate=2e-4, beta_1=0.5, beta_2=0.9)

    def gradient_penalty(batch_size, real_images, fake_images):
        alpha = tf.random.uniform([batch_size, 1, 1, 1], 0.0, 1.0)
        interpolated = real_images + alpha * (fake_images - real_images)
        with tf.GradientTape() as gp_tape:
            gp_tape.watch(interpolated)
            pred = critic(interpolated, training=True)
        grads = gp_tape.gradient(pred, [interpolated])[0]
        norm = tf.sqrt(tf.reduce_sum(tf.square(grads), axis=[1, 2, 3]))
        return tf.reduce_mean((norm - 1.0) ** 2)

    @tf.function
    def train_step(real_batches):
        batch_size = tf.shape(real_batches)[1]
        for i in range(critic_steps):
            real_images = real_batches[i]
            random_latent_vectors = tf.random.normal(shape=(batch_size, latent_dim))
            with tf.GradientTape() as tape:
                fake_images = generator(random_latent_vectors, training=True)
                fake_logits = critic(fake_images, training=True)
                real_logits = critic(real_images, training=True)
                d_cost = tf.reduce_mean(fake_logits) - tf.reduce_mean(real_logits)
                gp = gradient_penalty(batch_size, real_images, fake_images)
                d_loss = d_cost + gp * gp_weight
            d_gradient = tape.gradient(d_loss, critic.trainable_variables)
            critic_optimizer.apply_gradients(zip(d_gradient, critic.trainable_variables))
        random_latent_vectors = tf.random.normal(shape=(batch_size, latent_dim))
        with tf.GradientTape() as tape:
            generated_images = generator(random_latent_vectors, training=True)
            gen_img_logits = critic(generated_images, training=True)
            g_loss = -tf.reduce_mean(gen_img_logits)
        gen_gradient = tape.gradient(g_loss, generator.trainable_variables)
        generator_optimizer.apply_gradients(zip(gen_gradient, generator.trainable_variables))
        return {"d_loss": d_loss, "g_loss": g_loss}

    return train_step


def tf_tutorial_dcgan_step(generator, discriminator, batch_size: int, noise_dim: int):
    """The TensorFlow DCGAN tutorial's `train_step`, as written there: `@tf.function`, one batch;
    z ~ N(0, 1); one forward pass of G and D (on real and fake) under two GradientTapes; the
    cross-entropy losses from logits; both gradients from that one pass, then Adam(1e-4) on each
    network (a simultaneous update: the generator's gradient is taken against the critic before
    its update). Returns both losses."""
    cross_entropy = keras.losses.BinaryCrossentropy(from_logits=True)
    generator_optimizer = keras.optimizers.Adam(1e-4)
    discriminator_optimizer = keras.optimizers.Adam(1e-4)

    @tf.function
    def train_step(images):
        noise = tf.random.normal([batch_size, noise_dim])
        with tf.GradientTape() as gen_tape, tf.GradientTape() as disc_tape:
            generated_images = generator(noise, training=True)
            real_output = discriminator(images, training=True)
            fake_output = discriminator(generated_images, training=True)
            gen_loss = cross_entropy(tf.ones_like(fake_output), fake_output)
            disc_loss = (cross_entropy(tf.ones_like(real_output), real_output)
                         + cross_entropy(tf.zeros_like(fake_output), fake_output))
        gradients_of_generator = gen_tape.gradient(gen_loss, generator.trainable_variables)
        gradients_of_discriminator = disc_tape.gradient(disc_loss, discriminator.trainable_variables)
        generator_optimizer.apply_gradients(zip(gradients_of_generator, generator.trainable_variables))
        discriminator_optimizer.apply_gradients(zip(gradients_of_discriminator, discriminator.trainable_variables))
        return {"d_loss": disc_loss, "g_loss": gen_loss}

    return train_step


def tutorial_dcgan_alternating_step(generator, discriminator, batch_size: int, noise_dim: int):
    """The tutorial's code with its two updates taken one after the other, as ganspec (and
    Goodfellow et al. 2014, Algorithm 1) does: a discriminator update on G(z) and the real batch,
    then a generator update on a fresh z against the updated discriminator. Not a reference of
    BENCHMARKS.md; it tells the algorithm's extra work (one more G and D forward) from ganspec's."""
    cross_entropy = keras.losses.BinaryCrossentropy(from_logits=True)
    generator_optimizer = keras.optimizers.Adam(1e-4)
    discriminator_optimizer = keras.optimizers.Adam(1e-4)

    @tf.function
    def train_step(images):
        noise = tf.random.normal([batch_size, noise_dim])
        generated_images = generator(noise, training=True)
        with tf.GradientTape() as disc_tape:
            real_output = discriminator(images, training=True)
            fake_output = discriminator(generated_images, training=True)
            disc_loss = (cross_entropy(tf.ones_like(real_output), real_output)
                         + cross_entropy(tf.zeros_like(fake_output), fake_output))
        gradients_of_discriminator = disc_tape.gradient(disc_loss, discriminator.trainable_variables)
        discriminator_optimizer.apply_gradients(zip(gradients_of_discriminator, discriminator.trainable_variables))
        noise = tf.random.normal([batch_size, noise_dim])
        with tf.GradientTape() as gen_tape:
            fake_output = discriminator(generator(noise, training=True), training=True)
            gen_loss = cross_entropy(tf.ones_like(fake_output), fake_output)
        gradients_of_generator = gen_tape.gradient(gen_loss, generator.trainable_variables)
        generator_optimizer.apply_gradients(zip(gradients_of_generator, generator.trainable_variables))
        return {"d_loss": disc_loss, "g_loss": gen_loss}

    return train_step


# ---- the contenders --------------------------------------------------------------------------


def same_architecture(ours: keras.Model, theirs: keras.Model) -> None:
    """Assert equal parameter counts and weight shapes, then start `theirs` from `ours`' weights."""
    ours_shapes = [tuple(w.shape) for w in ours.weights]
    theirs_shapes = [tuple(w.shape) for w in theirs.weights]
    assert ours.count_params() == theirs.count_params(), (ours.name, ours.count_params(), theirs.count_params())
    assert ours_shapes == theirs_shapes, (ours.name, ours_shapes, theirs_shapes)
    theirs.set_weights(ours.get_weights())


def hand_written_contender(name: str, make_step, make_models, spec, trainer, critic_steps: int = 1) -> Contender:
    """A hand-written loop on models equal to ganspec's, fed the same tf.data batches of real data."""
    from ganspec.data.tf_pipeline import tf_batches

    start = time.perf_counter()
    generator, critic = make_models()
    same_architecture(trainer.step.generator, generator)
    same_architecture(trainer.step.critic, critic)
    step = make_step(generator, critic)
    ds = tf_batches(trainer.dataset, spec.train.batch, spec.seed, start_batch=0)
    if critic_steps > 1:
        ds = ds.batch(critic_steps, drop_remainder=True)
    batches = iter(ds.prefetch(2))
    build = time.perf_counter() - start

    def iteration():
        float(step(next(batches))["g_loss"])

    return Contender(name, build, iteration)


def hand_written_contenders(kind: str, spec, trainer) -> list[Contender]:
    """The reference loop of BENCHMARKS.md for `kind` first, then any variant worth telling apart."""
    batch, dim = spec.train.batch, spec.latent.dim
    if kind == "wgan_gp":
        k = spec.steps.critic
        return [hand_written_contender("keras.io", lambda g, c: keras_io_wgan_gp_step(g, c, k, dim),
                                       lambda: (keras_io_generator(dim), keras_io_critic()), spec, trainer, k)]

    def tutorial_models():
        return tutorial_generator(dim), tutorial_discriminator()

    return [
        hand_written_contender("tf-tutorial", lambda g, c: tf_tutorial_dcgan_step(g, c, batch, dim),
                               tutorial_models, spec, trainer),
        hand_written_contender("tf-tutorial-alternating",
                               lambda g, c: tutorial_dcgan_alternating_step(g, c, batch, dim),
                               tutorial_models, spec, trainer),
    ]


# ---- measuring -------------------------------------------------------------------------------


def measure(kind: str, iterations: int, warmup: int) -> dict:
    from ganspec.load import load

    path = SPECS / f"{kind}.gan"
    resolved = load(path)
    assert resolved.spec is not None, resolved.diagnostics
    spec = resolved.spec
    tf.random.set_seed(spec.seed)
    ours, trainer = ganspec_contender(spec, path.parent)
    declared = declared_variants(kind, spec, path.parent)
    theirs = hand_written_contenders(kind, spec, trainer)
    contenders = [ours, *declared, *theirs]
    # ganspec compiles first, so one-time process costs land on it; then each iteration runs every
    # contender once, in an order that rotates, so that background load falls on all alike.
    for i in range(iterations):
        shift = i % len(contenders)
        for contender in contenders[shift:] + contenders[:shift]:
            contender.timed()
    return {
        "spec": str(path.relative_to(ROOT)),
        "batch": spec.train.batch,
        "critic_steps": spec.steps.critic,
        "generator_steps": spec.steps.generator,
        "xla": spec.train.xla,
        "reference": theirs[0].name,
        "contenders": {c.name: summarize(c, warmup) for c in contenders},
        "ganspec_speed_over": {c.name: paired_ratio(ours, c, warmup) for c in theirs},
        "declared_variants_speed_over": {v.name: {c.name: paired_ratio(v, c, warmup) for c in theirs}
                                         for v in declared},
    }


# The spec's own settings changed to the reference loop's update order (a declared choice, not an
# engine change): `steps.order simultaneous` is the TensorFlow tutorial's one-pass train_step.
DECLARED_VARIANTS = {"dcgan": {"ganspec-simultaneous": {"order": "simultaneous"}}}


def declared_variants(kind: str, spec, spec_dir) -> list[Contender]:
    """ganspec on the same spec with `steps` settings of the reference loop (DECLARED_VARIANTS)."""
    contenders = []
    for name, steps in DECLARED_VARIANTS.get(kind, {}).items():
        variant = spec.model_copy(update={"steps": spec.steps.model_copy(update=steps)})
        contender, _ = ganspec_contender(variant, spec_dir)
        contender.name = name
        contenders.append(contender)
    return contenders


def machine() -> dict:
    return {"cpu": cpu_name(), "cores": os.cpu_count(), "gpus": len(tf.config.list_physical_devices("GPU")),
            "python": platform.python_version(), "tensorflow": tf.__version__, "keras": keras.__version__,
            "intra_op_threads": tf.config.threading.get_intra_op_parallelism_threads(),
            "inter_op_threads": tf.config.threading.get_inter_op_parallelism_threads()}


def print_table(results: dict) -> None:
    rows = [("spec", "contender", "build s", "1st iter s", "compile s", "steady s/it", "it/s", "2x at", "@20",
             "ganspec speed / this")]
    for kind, r in results["benchmarks"].items():
        for name, s in r["contenders"].items():
            ratio = r["ganspec_speed_over"].get(name)
            rows.append((kind, name, f"{s['build_seconds']:.2f}", f"{s['first_iteration_seconds']:.2f}",
                         f"{s['compile_overhead_seconds']:.2f}", f"{s['steady_seconds_per_iteration']:.3f}",
                         f"{s['steady_iterations_per_second']:.3f}", str(s["within_2x_of_steady_at_iteration"]),
                         "-" if s["speed_at_iteration_20_over_steady"] is None
                         else f"{s['speed_at_iteration_20_over_steady']:.2f}",
                         "-" if ratio is None else f"{ratio['paired_median']:.3f}x ({ratio['paired_quartiles'][0]:.2f}"
                                                   f"-{ratio['paired_quartiles'][1]:.2f})"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())
    print()
    for kind, r in results["benchmarks"].items():
        ratio = r["ganspec_speed_over"][r["reference"]]
        print(f"{kind} (batch {r['batch']}, {r['critic_steps']}:{r['generator_steps']} steps): ganspec / "
              f"{r['reference']} = {ratio['paired_median']:.3f}x (paired median, quartiles "
              f"{ratio['paired_quartiles'][0]:.3f}-{ratio['paired_quartiles'][1]:.3f}; "
              f"ratio of steady medians {ratio['of_steady_medians']:.3f}x)")
        for name, over in r.get("declared_variants_speed_over", {}).items():
            ratio = over[r["reference"]]
            print(f"{kind} as {name}: {name} / {r['reference']} = {ratio['paired_median']:.3f}x (paired median, "
                  f"quartiles {ratio['paired_quartiles'][0]:.3f}-{ratio['paired_quartiles'][1]:.3f})")
    if "wgan_gp" in results["benchmarks"]:
        r = results["benchmarks"]["wgan_gp"]
        speed = r["ganspec_speed_over"][r["reference"]]["paired_median"]
        warm = r["contenders"]["ganspec"]["within_2x_of_steady_at_iteration"]
        print(f"target, wgan_gp at least 1.2x the hand-written loop: {'met' if speed >= 1.2 else 'NOT met'} "
              f"({speed:.3f}x); ganspec within 2x of its steady speed by iteration 20: "
              f"{'met' if warm is not None and warm <= 20 else 'NOT met'} (iteration {warm})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--iterations", type=int, default=30, help="generator iterations per contender")
    parser.add_argument("--warmup", type=int, default=10, help="iterations left out of the steady state")
    parser.add_argument("--only", choices=("wgan_gp", "dcgan"), action="append")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    if args.iterations <= args.warmup:
        parser.error("--iterations must exceed --warmup")
    keras.utils.set_random_seed(0)
    results = {"command": " ".join(["python", "bench/throughput.py", *sys.argv[1:]]), "machine": machine(),
               "iterations": args.iterations, "warmup": args.warmup, "benchmarks": {}}
    for kind in args.only or ("wgan_gp", "dcgan"):
        results["benchmarks"][kind] = measure(kind, args.iterations, args.warmup)
    print_table(results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
