"""Training throughput on JAX (a GPU when there is one): ganspec against a hand-written JAX loop of the
same Keras models and a straightforward hand-written PyTorch eager loop of the same architecture.

    python bench/throughput.py --backend jax [--batches 64,256,1024] [--iterations 60] [--warmup 15]
                                             [--no-torch] [--json out.json]

Protocol (shared/BENCHMARKS.md, section 3): the keras.io WGAN-GP models of `specs/wgan_gp.gan`
(5 critic steps, gradient penalty 10, Adam), at each batch size, in one process, reported as ratios
ganspec / hand-written in generator iterations per second after warm-up.

- ganspec: the `Trainer`'s own NumPy feed and its compiled JAX step (`ganspec.train.jax_step`): all
  k critic updates and the generator update in one `jax.jit` function.
- hand-written JAX: what the Keras "training loop from scratch in JAX" guide writes: a jitted
  critic step and a jitted generator step over `stateless_call` / `stateless_apply`, called from
  Python (k + 1 dispatches an iteration), on models built layer by layer
  (`bench/reference_models.py`) with ganspec's initial weights, fed the same prefetched batches.
- PyTorch eager: the same architecture in `torch.nn` (NCHW; parameter count asserted equal), the
  WGAN-GP loop as its tutorials write it (`autograd.grad(create_graph=True)` for the penalty),
  no `torch.compile`, default precision settings.
- Each iteration runs every contender once, in a rotating order, and reads a loss back to the host.
  Steady state: the median seconds per iteration after `--warmup`. images/s = real images the
  iteration consumes (batch x critic steps) x iterations/s. TFLOP/s: XLA's FLOP count of ganspec's
  compiled iteration (`cost_analysis`) x iterations/s, for every contender (they do the same work:
  each JAX loop's own count is reported beside it as `xla_flops_per_iteration`, and the two agree),
  and as a fraction of the GPU's peak (dense FP32 and TF32 tensor-core figures of the vendor's data
  sheet; XLA uses TF32 for float32 convolutions on NVIDIA GPUs by default). XLA counts the body
  of a while loop once, which is one more reason ganspec's step unrolls its k critic updates.
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
os.environ["KERAS_BACKEND"] = "jax"
os.environ.setdefault("GANSPEC_DATA", str((ROOT.parent / "shared" / "data").resolve()))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402
from reference_models import keras_io_critic, keras_io_generator  # noqa: E402
from timing import Contender, ganspec_contender, paired_ratio, summarize  # noqa: E402

SPEC = ROOT / "specs" / "wgan_gp.gan"
GP_WEIGHT = 10.0

# Peak dense throughput in FLOP/s from NVIDIA's data sheets: (FP32 non-tensor, TF32 tensor core).
PEAKS = {
    "H200": (67e12, 495e12),
    "H100 PCIe": (51e12, 378e12),
    "H100": (67e12, 495e12),  # SXM
    "A100": (19.5e12, 156e12),
    "L4": (30.3e12, 60e12),
}


def device_peak(kind: str) -> tuple[str, float, float] | None:
    for name, (fp32, tf32) in PEAKS.items():
        if name in kind:
            return name, fp32, tf32
    return None


# ---- ganspec ---------------------------------------------------------------------------------


def load_spec(batch: int):
    from ganspec.load import load

    resolved = load(SPEC, overrides=[("train.batch", str(batch)), ("train.backend", "jax"),
                                     ("evaluate.metrics", "[]")])
    assert resolved.spec is not None, [d.message for d in resolved.diagnostics]
    return resolved.spec


def xla_flops(jitted, *args) -> float | None:
    """XLA's FLOP count of one call of a jitted function with these arguments."""
    try:
        analysis = jitted.lower(*args).compile().cost_analysis()
    except Exception:  # noqa: BLE001 - some backends have no cost model
        return None
    if isinstance(analysis, list):
        analysis = analysis[0] if analysis else {}
    flops = (analysis or {}).get("flops")
    return float(flops) if flops and flops > 0 else None


def iteration_flops(trainer) -> float | None:
    """XLA's FLOP count of one compiled ganspec iteration."""
    step = trainer.step
    real = jnp.zeros((trainer.spec.steps.critic, trainer.spec.train.batch, *trainer.dataset.sample_shape),
                     jnp.float32)
    return xla_flops(step._compiled, step._current(), real, None, trainer.spec.steps.critic)


# ---- hand-written JAX ------------------------------------------------------------------------


def same_architecture(ours, theirs) -> None:
    assert [tuple(w.shape) for w in ours.weights] == [tuple(w.shape) for w in theirs.weights], theirs.name
    theirs.set_weights(ours.get_weights())


def hand_written_jax(spec, trainer) -> Contender:
    """Jitted critic and generator steps (Keras's JAX training-loop guide), called from Python."""
    start = time.perf_counter()
    generator, critic = keras_io_generator(spec.latent.dim), keras_io_critic()
    same_architecture(trainer.step.generator, generator)
    same_architecture(trainer.step.critic, critic)
    hp = spec.optimizer.critic
    g_opt = keras.optimizers.Adam(spec.optimizer.generator.lr, beta_1=hp.beta1, beta_2=hp.beta2)
    c_opt = keras.optimizers.Adam(hp.lr, beta_1=hp.beta1, beta_2=hp.beta2)
    g_opt.build(generator.trainable_variables)
    c_opt.build(critic.trainable_variables)
    batch, dim, k = spec.train.batch, spec.latent.dim, spec.steps.critic

    def critic_loss(c_train, c_other, g_train, g_other, real, key):
        z_key, a_key = jax.random.split(key)
        z = jax.random.normal(z_key, (batch, dim))
        fake, g_other = generator.stateless_call(g_train, g_other, z, training=True)
        fake_logits, c_other = critic.stateless_call(c_train, c_other, fake, training=True)
        real_logits, c_other = critic.stateless_call(c_train, c_other, real, training=True)
        alpha = jax.random.uniform(a_key, (batch, 1, 1, 1))
        mixed = real + alpha * (fake - real)

        def score(x):
            return jnp.sum(critic.stateless_call(c_train, c_other, x, training=True)[0])

        grads = jax.grad(score)(mixed)
        norm = jnp.sqrt(jnp.sum(jnp.square(grads), axis=(1, 2, 3)))
        gp = jnp.mean((norm - 1.0) ** 2)
        loss = jnp.mean(fake_logits) - jnp.mean(real_logits) + GP_WEIGHT * gp
        return loss, (c_other, g_other)

    @jax.jit
    def critic_step(state, real, key):
        c_train, c_other, c_opt_vars, g_train, g_other = state
        (loss, (c_other, g_other)), grads = jax.value_and_grad(critic_loss, has_aux=True)(
            c_train, c_other, g_train, g_other, real, key)
        c_train, c_opt_vars = c_opt.stateless_apply(c_opt_vars, grads, c_train)
        return (c_train, c_other, c_opt_vars, g_train, g_other), loss

    def generator_loss(g_train, g_other, c_train, c_other, key):
        z = jax.random.normal(key, (batch, dim))
        fake, g_other = generator.stateless_call(g_train, g_other, z, training=True)
        logits, _ = critic.stateless_call(c_train, c_other, fake, training=True)
        return -jnp.mean(logits), g_other

    @jax.jit
    def generator_step(g_train, g_other, g_opt_vars, c_train, c_other, key):
        (loss, g_other), grads = jax.value_and_grad(generator_loss, has_aux=True)(
            g_train, g_other, c_train, c_other, key)
        g_train, g_opt_vars = g_opt.stateless_apply(g_opt_vars, grads, g_train)
        return g_train, g_other, g_opt_vars, loss

    values = lambda vs: [v.value for v in vs]  # noqa: E731
    state = {"c": (values(critic.trainable_variables), values(critic.non_trainable_variables),
                   values(c_opt.variables), values(generator.trainable_variables),
                   values(generator.non_trainable_variables)),
             "g_opt": values(g_opt.variables), "key": jax.random.PRNGKey(0)}
    from ganspec.data.feed import iteration_feed

    batches = iteration_feed(trainer.dataset, spec, 0, 0, "jax")
    build = time.perf_counter() - start

    def iteration():
        real, _, _ = next(batches)
        for i in range(k):
            state["key"], key = jax.random.split(state["key"])
            state["c"], _ = critic_step(state["c"], real[i], key)
        c_train, c_other, c_opt_vars, g_train, g_other = state["c"]
        state["key"], key = jax.random.split(state["key"])
        g_train, g_other, state["g_opt"], loss = generator_step(g_train, g_other, state["g_opt"], c_train,
                                                                c_other, key)
        state["c"] = (c_train, c_other, c_opt_vars, g_train, g_other)
        float(loss)

    def flops():
        real = jnp.zeros((batch, *trainer.dataset.sample_shape), jnp.float32)
        key = jax.random.PRNGKey(1)
        c_train, c_other, c_opt_vars, g_train, g_other = state["c"]
        critic = xla_flops(critic_step, state["c"], real, key)
        gen = xla_flops(generator_step, g_train, g_other, state["g_opt"], c_train, c_other, key)
        return k * critic + gen if critic and gen else None

    return Contender("JAX (hand-written)", build, iteration, flops=flops)


# ---- hand-written PyTorch -------------------------------------------------------------------


def torch_models(dim: int):
    """The keras.io WGAN-GP generator and critic in torch.nn (Keras "same" padding written out)."""
    import torch
    from torch import nn

    class SamePad(nn.Module):
        """TensorFlow's "same" padding for a 5x5, stride-2 convolution of an even size: 1 before, 2 after."""

        def forward(self, x):
            return nn.functional.pad(x, (1, 2, 1, 2))

    layers = [nn.ZeroPad2d(2)]
    channels = 1
    for filters, dropout in ((64, False), (128, True), (256, True), (512, False)):
        layers += [SamePad(), nn.Conv2d(channels, filters, 5, stride=2), nn.LeakyReLU(0.2)]
        layers += [nn.Dropout(0.3)] if dropout else []
        channels = filters
    # Keras flattens NHWC; the order of a flatten does not change the work.
    critic = nn.Sequential(*layers, nn.Flatten(), nn.Dropout(0.2), nn.Linear(2 * 2 * 512, 1))

    class Generator(nn.Module):
        def __init__(self):
            super().__init__()
            self.dense = nn.Sequential(nn.Linear(dim, 4 * 4 * 256, bias=False), nn.BatchNorm1d(4 * 4 * 256),
                                       nn.LeakyReLU(0.2))
            blocks = []
            for c_in, c_out, act in ((256, 128, nn.LeakyReLU(0.2)), (128, 64, nn.LeakyReLU(0.2)), (64, 1, nn.Tanh())):
                blocks += [nn.Upsample(scale_factor=2), nn.Conv2d(c_in, c_out, 3, padding=1, bias=False),
                           nn.BatchNorm2d(c_out), act]
            self.blocks = nn.Sequential(*blocks)

        def forward(self, z):
            x = self.dense(z).view(-1, 256, 4, 4)
            return self.blocks(x)[:, :, 2:-2, 2:-2]

    return Generator(), critic, torch


def hand_written_torch(spec, trainer) -> Contender:
    start = time.perf_counter()
    generator, critic, torch = torch_models(spec.latent.dim)
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    keras_count = lambda m: sum(int(np.prod(w.shape)) for w in m.trainable_weights)  # noqa: E731
    assert count(generator) == keras_count(trainer.step.generator), (count(generator),)
    assert count(critic) == keras_count(trainer.step.critic), (count(critic),)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    generator, critic = generator.to(device), critic.to(device)
    hp_g, hp_c = spec.optimizer.generator, spec.optimizer.critic
    g_opt = torch.optim.Adam(generator.parameters(), lr=hp_g.lr, betas=(hp_g.beta1, hp_g.beta2))
    c_opt = torch.optim.Adam(critic.parameters(), lr=hp_c.lr, betas=(hp_c.beta1, hp_c.beta2))
    batch, dim, k = spec.train.batch, spec.latent.dim, spec.steps.critic
    from ganspec.data.feed import iteration_feed

    batches = iteration_feed(trainer.dataset, spec, 0, 0, "jax")
    build = time.perf_counter() - start

    def iteration():
        real_np, _, _ = next(batches)
        real_all = torch.from_numpy(np.ascontiguousarray(real_np.transpose(0, 1, 4, 2, 3))).to(device)
        for i in range(k):
            real = real_all[i]
            fake = generator(torch.randn(batch, dim, device=device))
            alpha = torch.rand(batch, 1, 1, 1, device=device)
            mixed = (real + alpha * (fake - real)).requires_grad_(True)
            grads, = torch.autograd.grad(critic(mixed).sum(), mixed, create_graph=True)
            gp = ((grads.flatten(1).norm(dim=1) - 1.0) ** 2).mean()
            loss = critic(fake).mean() - critic(real).mean() + GP_WEIGHT * gp
            c_opt.zero_grad(set_to_none=True)
            loss.backward()
            c_opt.step()
        fake = generator(torch.randn(batch, dim, device=device))
        g_loss = -critic(fake).mean()
        g_opt.zero_grad(set_to_none=True)
        g_loss.backward()
        g_opt.step()
        g_loss.item()

    return Contender("PyTorch (eager)", build, iteration)


# ---- measuring -------------------------------------------------------------------------------


def measure(batch: int, iterations: int, warmup: int, with_torch: bool) -> dict:
    spec = load_spec(batch)
    keras.utils.set_random_seed(spec.seed)
    ours, trainer = ganspec_contender(spec, SPEC.parent)
    ours.flops = lambda: iteration_flops(trainer)
    theirs = [hand_written_jax(spec, trainer)]
    if with_torch:
        theirs.append(hand_written_torch(spec, trainer))
    contenders = [ours, *theirs]
    for i in range(iterations):
        shift = i % len(contenders)
        for contender in contenders[shift:] + contenders[:shift]:
            contender.timed()
    # Each compiled loop's own count, compiled once here (lowering ganspec's iteration again costs seconds).
    counts = {c.name: c.flops() for c in contenders if c.flops is not None}
    flops = counts[ours.name]
    images = batch * spec.steps.critic
    peak = device_peak(jax.devices()[0].device_kind)
    out = {"batch": batch, "critic_steps": spec.steps.critic, "flops_per_iteration": flops, "contenders": {},
           "ganspec_speed_over": {c.name: paired_ratio(ours, c, warmup) for c in theirs}}
    for c in contenders:
        s = summarize(c, warmup)
        rate = s["steady_iterations_per_second"]
        s["images_per_second"] = round(rate * images, 1)
        if flops:
            s["tflops"] = round(flops * rate / 1e12, 3)
            if peak:
                s["fraction_of_fp32_peak"] = round(flops * rate / peak[1], 4)
                s["fraction_of_tf32_peak"] = round(flops * rate / peak[2], 4)
        if c.name in counts:  # what each compiled loop costs: the same work should count the same
            s["xla_flops_per_iteration"] = counts[c.name]
        out["contenders"][c.name] = s
    return out


def machine() -> dict:
    device = jax.devices()[0]
    info = {"device": device.device_kind, "platform": device.platform, "jax": jax.__version__,
            "keras": keras.__version__, "python": platform.python_version(), "cores": os.cpu_count()}
    peak = device_peak(device.device_kind)
    if peak:
        info["peak_assumed"] = {"name": peak[0], "fp32_tflops": peak[1] / 1e12, "tf32_tflops": peak[2] / 1e12}
    try:
        import torch

        info["torch"] = torch.__version__
        info["torch_device"] = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"
    except ImportError:
        pass
    return info


def print_table(results: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"WGAN-GP (keras.io models, 5 critic steps) on {results['machine']['device']}",
                  title_justify="left")
    for column in ("batch", "contender", "it/s", "images/s", "TFLOP/s", "of TF32 peak", "ganspec speed-up"):
        table.add_column(column, justify="left" if column == "contender" else "right")
    for run in results["batches"]:
        for name, s in run["contenders"].items():
            ratio = run["ganspec_speed_over"].get(name)
            table.add_row(str(run["batch"]), name, f"{s['steady_iterations_per_second']:.2f}",
                          f"{s['images_per_second']:.0f}", f"{s.get('tflops', float('nan')):.2f}",
                          f"{100 * s['fraction_of_tf32_peak']:.1f}%" if "fraction_of_tf32_peak" in s else "-",
                          f"{ratio['paired_median']:.2f}x" if ratio else "")
    Console().print(table)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batches", default="64,256,1024")
    parser.add_argument("--iterations", type=int, default=60)
    parser.add_argument("--warmup", type=int, default=15)
    parser.add_argument("--no-torch", action="store_true", help="leave out the PyTorch loop")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    if args.iterations <= args.warmup:
        parser.error("--iterations must exceed --warmup")
    with_torch = not args.no_torch
    if with_torch:
        try:
            import torch  # noqa: F401
        except ImportError:
            print("PyTorch is not installed: leaving out its loop (pip install torch)", file=sys.stderr)
            with_torch = False
    results = {"command": " ".join(["python", "bench/throughput.py", "--backend", "jax", *(argv or sys.argv[1:])]),
               "machine": machine(), "iterations": args.iterations, "warmup": args.warmup, "batches": []}
    for batch in (int(b) for b in args.batches.split(",")):
        results["batches"].append(measure(batch, args.iterations, args.warmup, with_torch))
        if args.json:
            args.json.write_text(json.dumps(results, indent=2) + "\n")
    print_table(results)


if __name__ == "__main__":
    main()
