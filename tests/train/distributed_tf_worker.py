"""The TensorFlow data-parallel step in a process of its own (tests/train/test_distributed_tf.py):

    python tests/train/distributed_tf_worker.py layouts OUT.json
    TF_CONFIG='{"cluster": {"worker": [...]}, "task": {"type": "worker", "index": i}}' \
        python tests/train/distributed_tf_worker.py workers OUT.json

`layouts` splits the CPU into 4 logical devices before TensorFlow starts (`tf_step.place`), then trains
every case of CASES on one device (no strategy) and under MirroredStrategy over 1, 2 or 4 of them, the
same seed and global batches; then the cross-layout resumes through `ganspec.run.checkpoint` (2 replicas
-> 1 and 1 -> 2), and the errors of layouts that cannot work. `workers`: this process's part of a run
over TF_CONFIG's workers (MultiWorkerMirroredStrategy, one CPU device each). Each writes the metrics of
every iteration and the final saved variables as JSON, and whether every replica's copy of every
variable is the same.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

os.environ["KERAS_BACKEND"] = "tensorflow"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from ganspec.train import tf_step  # noqa: E402
from ganspec.train.layout import NONE, Layout, LayoutError, resolve  # noqa: E402

if __name__ == "__main__" and sys.argv[1] == "layouts":
    tf_step.place(Layout("mirrored", 4))  # splits the CPU: before anything else runs TensorFlow

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from ganspec.load import load_text  # noqa: E402
from ganspec.run import checkpoint  # noqa: E402
from ganspec.run.rundir import RunDir  # noqa: E402
from ganspec.train.schedules import critic_schedule  # noqa: E402

TOY = """
experiment distributed {
  seed 3
  data { source ring(8, 1.0, 0.05) }
  latent normal(4)
  generator { dense(16) relu dense(2) }
  critic { dense(16) leaky_relu(0.2) dense(1) }
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
  critic { dense(16) leaky_relu(0.2) head(label) { dense(3) } dense(1) }
  objective non_saturating
  auxiliary.losses class_cross_entropy(generator: 1)
  train { batch 16 iterations 20 }
  %s
}
"""
INFOGAN = """
experiment distributed_infogan {
  seed 3
  data { source ring(8, 1.0, 0.05) }
  latent product(normal(2), categorical(4), uniform(1))
  generator { dense(16) relu dense(2) }
  critic { dense(16) leaky_relu(0.2) head(code: 1) { dense(4) } head(code: 2) { dense(1) } dense(1) }
  objective non_saturating
  auxiliary { losses [code_cross_entropy(1), code_mse(2, weight: 0.1)] optimizer adam(lr: 1e-3, beta1: 0.5) }
  train { batch 16 iterations 20 }
  %s
}
"""
IMAGES = """
experiment distributed_images {
  seed 3
  data { source npz("unused.npz") }
  latent normal(4)
  generator { dense(8 * 8 * 3) reshape(8, 8, 3) tanh }
  critic { conv(4, kernel: 3, stride: 2) leaky_relu(0.2) flatten dense(1) }
  train.batch 8
  %s
}
"""
# Plain SGD: Adam's first steps move every weight by about lr * sign(gradient), which turns the last-bit
# differences of summing a batch in two halves into lr-sized ones where a gradient is near zero (a bias
# before batch norm has a gradient of exactly zero in exact arithmetic). SGD shows the equality closely.
SGD = "\n optimizer.critic sgd(lr: 0.05)\n optimizer.generator sgd(lr: 0.05)"


def batchnorm(layer: str) -> str:
    """TOY with `layer` after the first dense layer of both networks."""
    return TOY.replace("dense(16) relu", f"dense(16) {layer} relu").replace(
        "dense(16) leaky_relu", f"dense(16) {layer} leaky_relu")


CASES = {  # name: (template, settings)
    "wgan_gp": (TOY, "objective wasserstein\n constraint gradient_penalty(weight: 10)\n steps.critic 5"),
    "hinge_sn_ema": (TOY, "objective hinge\n constraint spectral_norm\n ema { decay 0.9 start 1 }" + SGD),
    "weight_clip": (TOY, "objective wasserstein\n constraint weight_clip(0.01)\n optimizer.critic rmsprop\n"
                         " steps.critic 2"),
    "label_tricks": (TOY, "objective non_saturating\n tricks { label_smoothing 0.1 label_flip 0.1 label_noise 0.1\n"
                          " instance_noise { std 0.5 decay exponential steps 10 } }"),
    "conditional": (CONDITIONAL, ""),
    "infogan": (INFOGAN, "steps.order generator_first"),
    "diffaugment": (IMAGES, "objective non_saturating\n tricks.diffaugment [color, translation, cutout]\n"
                            " constraint r1(gamma: 1, every: 2)"),
    "simultaneous": (TOY, "objective least_squares\n steps.order simultaneous\n tricks.unrolled 2"),
    "sync_batchnorm": (batchnorm("batchnorm(sync: true)"), "objective non_saturating" + SGD),
    "batchnorm": (batchnorm("batchnorm"), "objective non_saturating"),
    "dropout": (TOY.replace("leaky_relu(0.2) dense(1)", "leaky_relu(0.2) dropout(0.3) dense(1)"),
                "objective non_saturating"),
}
SAMPLES = {IMAGES: (8, 8, 3)}
ITERATIONS = 3
LAYOUTS = {"one": NONE, "m1": Layout("mirrored", 1), "m2": Layout("mirrored", 2), "m4": Layout("mirrored", 4)}
CASE_LAYOUTS = {"wgan_gp": ("one", "m1", "m2"), "hinge_sn_ema": ("one", "m2", "m4"),
                "sync_batchnorm": ("one", "m2", "m4")}
RESUMES = (("hinge_sn_ema", "m2", "one"), ("hinge_sn_ema", "one", "m2"), ("sync_batchnorm", "m2", "one"))
WORKER_CASES = ("wgan_gp", "sync_batchnorm")


def compile_case(name: str, layout: Layout):
    template, settings = CASES[name]
    resolved = load_text(template % settings)
    assert resolved.spec is not None, resolved.diagnostics
    return tf_step.compile_training(resolved.spec, SAMPLES.get(template, (2,)), layout)


def feed(step, iteration: int):
    """The global batches of `iteration`, the same in every process and layout."""
    spec = step.spec
    schedule = critic_schedule(spec)
    rng = np.random.default_rng(100 + iteration)
    shape = (schedule.real_batches(iteration), spec.train.batch) + tuple(step.critic.inputs[0].shape[1:])
    real = rng.uniform(-1, 1, size=shape).astype("float32")
    labels = rng.integers(0, 3, size=shape[:2]) if spec.conditional else None
    return real, labels, schedule.critic_steps(iteration)


def train(step, start: int, stop: int) -> list[dict]:
    history = []
    for iteration in range(start, stop):
        real, labels, critic_steps = feed(step, iteration)
        history.append({name: float(value) for name, value in step(real, labels, critic_steps=critic_steps).items()})
    return history


def models(step) -> dict:
    """What a checkpoint saves with `save_weights` (as `ganspec.run.trainer` lists them)."""
    found = {"generator": step.generator, "critic": step.critic}
    if step.ema_generator is not None:
        found["generator_ema"] = step.ema_generator
    return found


def variable_groups(step) -> dict:
    """What a checkpoint saves as arrays (as `ganspec.run.trainer` lists them)."""
    groups = {"generator_optimizer": list(step.generator_optimizer.variables),
              "critic_optimizer": list(step.critic_optimizer.variables),
              "state": [step.seed_state, step.iteration, step.critic_updates, *step.network_state]}
    if step.information_optimizer is not None:
        groups["information_optimizer"] = list(step.information_optimizer.variables)
    return groups


def every_variable(step) -> list:
    found = [v for model in models(step).values() for v in model.weights]
    return found + [v for group in variable_groups(step).values() for v in group]


def values(step) -> list:
    return [np.asarray(v.numpy()).tolist() for v in every_variable(step)]


def strategy_name(strategy) -> str:
    for name, kind in (("MultiWorkerMirroredStrategy", tf.distribute.MultiWorkerMirroredStrategy),
                       ("MirroredStrategy", tf.distribute.MirroredStrategy)):
        if isinstance(strategy, kind):
            return name
    return "none" if strategy is None else type(strategy).__name__


def replicas_agree(step) -> bool:
    """Whether each replica's copy of every variable holds the same value."""
    if step.strategy is None:
        return True
    for variable in every_variable(step):
        copies = [np.asarray(c) for c in step.strategy.experimental_local_results(getattr(variable, "value", variable))]
        if any(not np.array_equal(copies[0], c) for c in copies[1:]):
            return False
    return True


def layouts(out: Path) -> None:
    assert len(tf.config.list_logical_devices("CPU")) == 4
    result = {"cases": {}, "resume": {}, "errors": {}}
    for name in CASES:
        result["cases"][name] = {}
        for label in CASE_LAYOUTS.get(name, ("one", "m2")):
            started = time.time()
            step = compile_case(name, LAYOUTS[label])
            history = train(step, 0, ITERATIONS)
            print(name, label, f"{time.time() - started:.1f}s", file=sys.stderr)
            result["cases"][name][label] = {
                "metrics": history, "weights": values(step), "replicas_agree": replicas_agree(step),
                "layout": step.layout.to_json(), "strategy": strategy_name(step.strategy)}
            if label in ("m2", "one") and any(name == r[0] and label == r[1] for r in RESUMES):
                result["cases"][name][label]["saved"] = _save(step, out.parent / f"run-{name}-{label}")
            if label == "one" and any(name == r[0] for r in RESUMES):
                result["resume"][f"{name}:straight"] = {"metrics": train(step, ITERATIONS, 2 * ITERATIONS),
                                                        "weights": values(step)}
    # Resume across layouts: a checkpoint written from one layout, read by a step on another, which goes on.
    for name, first, second in RESUMES:
        after = compile_case(name, LAYOUTS[second])
        state = checkpoint.restore(Path(result["cases"][name][first].pop("saved")), models(after),
                                   variable_groups(after))
        assert int(after.iteration.numpy()) == state["iteration"] == ITERATIONS
        result["resume"][f"{name}:{first}->{second}"] = {
            "metrics": train(after, ITERATIONS, 2 * ITERATIONS), "weights": values(after),
            "replicas_agree": replicas_agree(after)}
    for name, case in result["cases"].items():
        for run in case.values():
            run.pop("saved", None)
    spec = load_text(TOY.replace("batch 16", "batch 6") % "objective hinge").spec
    attempts = {"too_many_devices": lambda: tf_step.place(Layout("mirrored", 8)),
                "jax_strategy": lambda: tf_step.place(Layout("data_parallel", 2)),
                "batch_does_not_divide": lambda: tf_step.compile_training(spec, (2,), Layout("mirrored", 4)),
                "xla": lambda: tf_step.compile_training(load_text(TOY % "objective hinge\n train.xla true").spec, (2,),
                                                        Layout("mirrored", 2))}
    for label, attempt in attempts.items():
        try:
            attempt()
            result["errors"][label] = None
        except LayoutError as exc:
            result["errors"][label] = {"message": exc.message, "hint": exc.hint}
    result["all_devices"] = tf_step.place(Layout("mirrored", 0)).to_json()
    out.write_text(json.dumps(result))


def _save(step, folder: Path) -> str:
    """A checkpoint of the step as `ganspec run` writes it (into the run folder `folder`); returns its folder."""
    run = RunDir(folder)
    iteration = int(step.iteration.numpy())
    return str(checkpoint.save(run, iteration, models(step), variable_groups(step), {}, keep=1))


def workers(out: Path) -> None:
    layout = tf_step.place(resolve("tensorflow", "auto", None))
    result = {"layout": layout.to_json(), "cases": {}}
    for name in WORKER_CASES:
        step = compile_case(name, layout)
        result["cases"][name] = {"metrics": train(step, 0, ITERATIONS), "weights": values(step),
                                 "replicas": step.strategy.num_replicas_in_sync,
                                 "strategy": strategy_name(step.strategy)}
    out.write_text(json.dumps(result))


if __name__ == "__main__":
    {"layouts": layouts, "workers": workers}[sys.argv[1]](Path(sys.argv[2]))
