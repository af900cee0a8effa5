"""Differential check against the reference code (issue 13): the TensorFlow DCGAN tutorial's own
training loop and `specs/dcgan.gan` (the tutorial's architecture, losses, optimizers and batch),
trained on the same data for the same number of iterations, over several seeds, scored alike.

    python bench/tutorial_differential.py [--seeds 0,1,2] [--iterations 1500] [--samples 5000]

The tutorial (tensorflow.org/tutorials/generative/dcgan) as written there: its models
(bench/reference_models.py), its `train_step` (bench/throughput.py: one pass, both gradients, a
simultaneous update with Adam 1e-4), its input pipeline (`from_tensor_slices(x).shuffle(60000)
.batch(256)`, the last batch of an epoch short). ganspec trains specs/dcgan.gan with the seed set
(its update is alternating: the critic first, then the generator against the updated critic).

Both generators are scored by one function: 5,000 samples from a fixed latent batch, the generator
in inference mode (moving-average batch norm, as the tutorial draws its images), the shipped MNIST
classifier's Inception Score and Frechet distance against train5k. Data: t10k for training, as
bench/mnist_quality.py. A difference of the means well beyond their standard errors is a defect;
small differences are expected from the update order. Writes docs/results/tutorial_differential.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
os.environ.setdefault("GANSPEC_DATA", str(ROOT.parent / "shared" / "data"))
os.environ["KERAS_BACKEND"] = "tensorflow"  # the tutorial is TensorFlow code

import numpy as np  # noqa: E402

TUTORIAL_BATCH, TUTORIAL_BUFFER, NOISE_DIM = 256, 60000, 100


def mnist(name: str) -> np.ndarray:
    """An MNIST IDX image file (found as the specs find it) as float32 in [-1, 1], (N, 28, 28, 1): the
    tutorial's own normalisation, (x - 127.5) / 127.5."""
    from ganspec.data import load_source
    from ganspec.ir.components import Idx

    dataset = load_source(Idx(images=f"mnist/{name}-images-idx3-ubyte.gz"), spec_dir=ROOT / "specs")
    return (dataset.examples.astype("float32") - 127.5) / 127.5


class Scorer:
    """IS and FD of a generator's inference-mode samples, with the shipped classifier."""

    def __init__(self, samples: int):
        from ganspec.metrics.features import get_extractor
        from ganspec.metrics.images import gaussian_statistics

        self.extractor = get_extractor("classifier")
        self.samples = samples
        real = self.extractor.extract(mnist("train5k"), (-1.0, 1.0)).features
        self.real = gaussian_statistics(real)
        self.z = np.random.default_rng(12345).normal(size=(samples, NOISE_DIM)).astype("float32")

    def __call__(self, generator) -> dict:
        from ganspec.metrics.images import frechet_distance, gaussian_statistics, inception_score

        images = np.concatenate([np.asarray(generator(self.z[i:i + 500], training=False))
                                 for i in range(0, self.samples, 500)])
        extracted = self.extractor.extract(images, (-1.0, 1.0))
        score, spread = inception_score(extracted.probabilities)
        mean, cov = gaussian_statistics(extracted.features)
        return {"inception_score": float(score), "inception_score_std": float(spread),
                "fid": float(frechet_distance(mean, cov, *self.real))}


def train_tutorial(seed: int, iterations: int, images: np.ndarray):
    """The tutorial's loop for `iterations` batches: its models, train_step and tf.data pipeline."""
    import keras
    import tensorflow as tf

    from reference_models import tutorial_discriminator, tutorial_generator
    from throughput import tf_tutorial_dcgan_step

    keras.utils.set_random_seed(seed)
    generator, discriminator = tutorial_generator(NOISE_DIM), tutorial_discriminator()
    train_step = tf_tutorial_dcgan_step(generator, discriminator, TUTORIAL_BATCH, NOISE_DIM)
    dataset = tf.data.Dataset.from_tensor_slices(images).shuffle(TUTORIAL_BUFFER).batch(TUTORIAL_BATCH)
    done = 0
    while done < iterations:  # epochs, as the tutorial's `train` loops over them
        for batch in dataset:
            train_step(batch)
            done += 1
            if done == iterations:
                break
    return generator


def train_ganspec(seed: int, iterations: int, out: Path):
    import ganspec

    overrides = {"seed": seed, "train.iterations": iterations, "train.checkpoint_every": iterations,
                 "train.log_every": 50, "evaluate.every": iterations, "evaluate.metrics": "[samples(64)]",
                 "train.backend": "tensorflow"}
    experiment = ganspec.load_spec(ROOT / "specs" / "dcgan.gan", overrides)
    run = ganspec.fit(experiment, out=out, display="plain")
    if run.outcome.code != 0:
        raise SystemExit(f"ganspec run failed (exit {run.outcome.code}): {run.path}")
    return run.generator()


def summary(values: list[float]) -> tuple[float, float]:
    mean = statistics.fmean(values)
    se = statistics.stdev(values) / math.sqrt(len(values)) if len(values) > 1 else float("nan")
    return mean, se


def markdown(rows: list[dict], command: str) -> str:
    lines = ["# Differential check: the TensorFlow DCGAN tutorial's loop against specs/dcgan.gan", "",
             f"Command: `{command}`", "",
             "Same data (MNIST t10k), same architecture, losses, optimizers (Adam 1e-4) and batch (256), same "
             "number of iterations; the tutorial's update is simultaneous, ganspec's alternating. Both scored by "
             "one function: 5,000 samples, generator in inference mode, shipped MNIST classifier (IS; FD against "
             "train5k, real-vs-real floor 2.48).", "",
             "| seed | iterations | tutorial IS | ganspec IS | tutorial FD | ganspec FD | tutorial s | ganspec s |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        lines.append(f"| {r['seed']} | {r['iterations']} | {r['tutorial']['inception_score']:.2f} | "
                     f"{r['ganspec']['inception_score']:.2f} | {r['tutorial']['fid']:.1f} | {r['ganspec']['fid']:.1f} | "
                     f"{r['tutorial_seconds']:.0f} | {r['ganspec_seconds']:.0f} |")
    lines += ["", "| metric | tutorial mean ± se | ganspec mean ± se | difference ± se |", "| --- | --- | --- | --- |"]
    for key, label in (("inception_score", "IS"), ("fid", "FD")):
        tutorial = summary([r["tutorial"][key] for r in rows])
        ours = summary([r["ganspec"][key] for r in rows])
        spread = math.sqrt(tutorial[1] ** 2 + ours[1] ** 2)
        lines.append(f"| {label} | {tutorial[0]:.2f} ± {tutorial[1]:.2f} | {ours[0]:.2f} ± {ours[1]:.2f} | "
                     f"{ours[0] - tutorial[0]:+.2f} ± {spread:.2f} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--iterations", type=int, default=1500)
    parser.add_argument("--samples", type=int, default=5000)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "results")
    parser.add_argument("--name", default="tutorial_differential")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    results_path = args.out / f"{args.name}.json"
    rows = json.loads(results_path.read_text()) if results_path.exists() else []
    rows = [r for r in rows if r["iterations"] == args.iterations]  # a finished seed is kept, not rerun
    scorer, images = Scorer(args.samples), mnist("t10k")
    for seed in (int(s) for s in args.seeds.split(",")):
        if any(r["seed"] == seed for r in rows):
            continue
        start = time.perf_counter()
        tutorial = scorer(train_tutorial(seed, args.iterations, images))
        middle = time.perf_counter()
        with tempfile.TemporaryDirectory() as folder:
            ours = scorer(train_ganspec(seed, args.iterations, Path(folder)))
        rows.append({"seed": seed, "iterations": args.iterations, "tutorial": tutorial, "ganspec": ours,
                     "tutorial_seconds": round(middle - start, 1),
                     "ganspec_seconds": round(time.perf_counter() - middle, 1)})
        rows.sort(key=lambda r: r["seed"])
        results_path.write_text(json.dumps(rows, indent=1) + "\n")
        print(f"seed {seed}: tutorial IS {tutorial['inception_score']:.2f} FD {tutorial['fid']:.1f}; "
              f"ganspec IS {ours['inception_score']:.2f} FD {ours['fid']:.1f}", flush=True)
    command = "python bench/tutorial_differential.py " + " ".join(sys.argv[1:])
    (args.out / f"{args.name}.md").write_text(markdown(rows, command.strip()))
    print(markdown(rows, command.strip()))


if __name__ == "__main__":
    main()
