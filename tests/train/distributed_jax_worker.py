"""The JAX data-parallel step in a process of its own (tests/train/test_distributed_jax.py):

    XLA_FLAGS=--xla_force_host_platform_device_count=4 KERAS_BACKEND=jax \
        python tests/train/distributed_jax_worker.py layouts OUT.json
    JAX_COORDINATOR_ADDRESS=127.0.0.1:PORT JAX_NUM_PROCESSES=2 JAX_PROCESS_ID=i KERAS_BACKEND=jax \
        python tests/train/distributed_jax_worker.py processes OUT.json

`layouts`: every case of CASES on one device (no strategy) and on data_parallel meshes of 4 devices, some
on 2 and 1 too (CASE_LAYOUTS), the same seed and global batches; then the cross-layout resumes (RESUMES:
4 devices -> 1, 2 -> 1, 1 -> 2) and the errors of layouts that cannot work. `processes`: this process's part of a run over JAX_NUM_PROCESSES
processes (the MULTI_PROCESS_CASES). Each writes the metrics of every iteration and the final Keras
variables (after `sync()`) as JSON.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

STARTED = time.time()

os.environ["KERAS_BACKEND"] = "jax"
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import numpy as np  # noqa: E402

from ganspec.load import load_text  # noqa: E402
from ganspec.train.layout import NONE, Layout, LayoutError, resolve  # noqa: E402
from ganspec.train.schedules import critic_schedule  # noqa: E402

TOY = """
experiment distributed {
  seed 3
  data { source ring(8, 1.0, 0.05) }
  latent normal(4)
  generator { dense(16) relu dense(2) }
  critic { dense(16) leaky_relu(0.2) dropout(0.1) dense(1) }
  train { batch 16 iterations 20 }
  %s
}
"""
CONDITIONAL = """
experiment distributed_conditional {
  seed 3
  data { source npz("unused.npz", labels_key: "y") }
  latent uniform(4)
  conditional { classes 3 }
  generator { dense(16) relu dense(2) }
  critic { dense(16) leaky_relu(0.2) dense(1) }
  train { batch 16 iterations 20 }
  %s
}
"""
CASES = {  # name: (template, settings)
    "wgan_gp": (TOY, "objective wasserstein\n constraint gradient_penalty(weight: 10)\n steps.critic 5"),
    "hinge_sn_ema": (TOY, "objective hinge\n constraint spectral_norm\n ema { decay 0.9 start 1 }"),
    "weight_clip": (TOY, "objective wasserstein\n constraint weight_clip(0.01)\n optimizer.critic rmsprop\n"
                         " steps.critic 2"),
    "conditional": (CONDITIONAL, "objective non_saturating"),
    # No bias before the batch norm: its gradient is zero up to rounding, which Adam turns into +-lr steps
    # that differ with the order of the sums.
    "batchnorm_generator": (TOY.replace("dense(16) relu dense(2)", "dense(16, bias: false) batchnorm relu dense(2)"),
                            "objective non_saturating"),
}
ITERATIONS = 4
MULTI_PROCESS_CASES = ("conditional", "batchnorm_generator")


def compile_case(name: str, layout: Layout):
    from ganspec.train.jax_step import compile_training

    template, settings = CASES[name]
    resolved = load_text(template % settings)
    assert resolved.spec is not None, resolved.diagnostics
    return compile_training(resolved.spec, (2,), layout)


def feed(step, iteration: int):
    """The global batches of `iteration`, the same in every process and layout."""
    spec = step.spec
    schedule = critic_schedule(spec)
    critic_steps = schedule.critic_steps(iteration)
    rng = np.random.default_rng(100 + iteration)
    real = rng.normal(size=(schedule.real_batches(iteration), spec.train.batch, 2)).astype("float32")
    labels = rng.integers(0, 3, size=real.shape[:2]) if spec.conditional else None
    return real, labels, critic_steps


def train(step, start: int, stop: int) -> list[dict]:
    history = []
    for iteration in range(start, stop):
        real, labels, critic_steps = feed(step, iteration)
        metrics = step(real, labels, critic_steps=critic_steps)
        history.append({name: float(value) for name, value in metrics.items()})
    return history


def saved(step) -> list:
    """Every variable a checkpoint holds (as `ganspec.run.trainer` lists them), in order."""
    step.sync()
    models = [step.generator, step.critic] + ([step.ema_generator] if step.ema_generator is not None else [])
    variables = [v for model in models for v in model.weights]
    variables += list(step.generator_optimizer.variables) + list(step.critic_optimizer.variables)
    variables += [step.seed_state, step.iteration, step.critic_updates, *step.network_state]
    return variables


def values(step) -> list:
    return [np.asarray(v.value).tolist() for v in saved(step)]


def parts(step) -> dict:
    """The generator's weights, the EMA generator's and the critic's layer state (spectral-norm vectors)."""
    def read(variables):
        return [np.asarray(v.value).tolist() for v in variables]
    return {"generator": read(step.generator.weights),
            "ema": read(step.ema_generator.weights) if step.ema_generator is not None else None,
            "critic_state": read(step.critic.non_trainable_variables)}


def restore(step, arrays) -> None:
    """A checkpoint's arrays into `step`'s variables, then `reload()` (what a resume does)."""
    for variable, value in zip(saved(step), arrays, strict=True):
        variable.assign(np.asarray(value, dtype=variable.dtype))
    step.reload()


# The layouts each case trains on in `layouts` (one device and 4 for all; 2 or 1 for some, to keep the
# compiles few), and the resumes from one layout's saved variables onto another (onto layouts compiled
# before, so that JAX's compilation cache, when the test sets one, serves them).
LAYOUTS = {"one": NONE, "dp1": Layout("data_parallel", 1), "dp2": Layout("data_parallel", 2),
           "dp4": Layout("data_parallel", 4)}
CASE_LAYOUTS = {"wgan_gp": ("one", "dp2", "dp4"), "hinge_sn_ema": ("one", "dp1", "dp4"), "weight_clip": ("one", "dp4"),
                "conditional": ("one", "dp4"), "batchnorm_generator": ("one", "dp2", "dp4")}
RESUMES = (("hinge_sn_ema", "dp4", "one"), ("batchnorm_generator", "dp2", "one"), ("batchnorm_generator", "one", "dp2"))


def layouts(out: Path) -> None:
    import jax

    from ganspec.train.jax_step import compile_training, place

    assert len(jax.devices()) == 4, jax.devices()
    result = {"cases": {}, "resume": {}, "errors": {}, "shardings": {}}
    steps = {}
    for name, labels in CASE_LAYOUTS.items():
        result["cases"][name] = {}
        for label in labels:
            step = steps[name, label] = compile_case(name, LAYOUTS[label])
            history = train(step, 0, ITERATIONS)
            result["cases"][name][label] = {"metrics": history, "weights": values(step),
                                            "layout": step.layout.to_json(), "parts": parts(step)}
    # The state a data-parallel step keeps, and the metrics it returns, are replicated arrays.
    step = steps["hinge_sn_ema", "dp4"]
    real, labels, critic_steps = feed(step, 0)
    metrics = step(real, labels, critic_steps=critic_steps)
    state = jax.tree.leaves(step._current())
    result["shardings"] = {
        "state_replicated": all(a.sharding.is_fully_replicated for a in state),
        "state_devices": sorted({len(a.sharding.device_set) for a in state}),
        "metrics_replicated": all(a.sharding.is_fully_replicated and len(a.sharding.device_set) == 4
                                  for a in metrics.values()),
        "batch_shards": [list(shard.data.shape)
                         for shard in step._placement.inputs(real, labels)[0].addressable_shards],
    }
    # Resume across layouts: a step on one layout reads another's saved variables after ITERATIONS and goes
    # on; the one-device step going on without a break is the reference.
    for name, first, second in RESUMES:
        after = compile_case(name, LAYOUTS[second])
        restore(after, result["cases"][name][first]["weights"])
        tail = train(after, ITERATIONS, 2 * ITERATIONS)
        result["resume"][f"{name}:{first}->{second}"] = {"metrics": tail, "weights": values(after)}
    for name in sorted({name for name, _, _ in RESUMES}):
        step = steps[name, "one"]
        result["resume"][f"{name}:straight"] = {"metrics": train(step, ITERATIONS, 2 * ITERATIONS),
                                                "weights": values(step)}
    # Layouts that cannot work here: a LayoutError with its hint.
    spec = load_text(TOY.replace("batch 16", "batch 6") % "objective non_saturating").spec
    attempts = {"too_many_devices": lambda: place(Layout("data_parallel", 8)),
                "tensorflow_strategy": lambda: place(Layout("mirrored", 2)),
                "batch_does_not_divide": lambda: compile_training(spec, (2,), Layout("data_parallel", 4))}
    for label, attempt in attempts.items():
        try:
            attempt()
            result["errors"][label] = None
        except LayoutError as exc:
            result["errors"][label] = {"message": exc.message, "hint": exc.hint}
    result["all_devices"] = place(Layout("data_parallel", 0)).to_json()
    out.write_text(json.dumps(result))


def processes(out: Path) -> None:
    import jax

    layout = resolve("jax", "auto", os.environ["GANSPEC_TEST_DEVICES"])
    result = {"layout": None, "cases": {}}
    for name in MULTI_PROCESS_CASES:
        step = compile_case(name, layout)
        result["layout"] = step.layout.to_json()
        result["cases"][name] = {"metrics": train(step, 0, ITERATIONS), "weights": values(step)}
    result["process"] = [jax.process_index(), jax.process_count(), len(jax.devices()), len(jax.local_devices())]
    out.write_text(json.dumps(result))


if __name__ == "__main__":
    {"layouts": layouts, "processes": processes}[sys.argv[1]](Path(sys.argv[2]))
    print(f"{sys.argv[1]}: {time.process_time():.1f} s of CPU, {time.time() - STARTED:.1f} s")
