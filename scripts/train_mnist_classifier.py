"""Train the MNIST classifier whose features the image metrics use, reproducibly, and ship it.

    python scripts/train_mnist_classifier.py                # -> ganspec/metrics/weights/
    python scripts/train_mnist_classifier.py --out /tmp/w   # somewhere else

Split (fixed; see shared/data/README.md and shared/BENCHMARKS.md section 2):
- trained on all of t10k (the official MNIST test set, 10,000 images) -- the set GANs train on;
- held out: all of train5k (5,000 images of the MNIST training set, disjoint from t10k), which
  is also the reference set of the image metrics. It is never used for training, augmentation
  choices or early stopping; the accuracy on it is measured once, after the last epoch.
Why this way round: the metrics compare generated images with train5k, so train5k's features
must be those of images the classifier has not seen, just as a generator's new images are
unseen; features of training images are tighter and more confident, which would raise the
real-vs-real floor. A generator that copies its training set (t10k) is not rewarded on the
distances either: its images' features are then the tighter, training-set ones.

Determinism: fixed seeds for Python, NumPy and TensorFlow, `enable_op_determinism()`, oneDNN
off, augmentation drawn by NumPy from the seed; the same machine and versions give the same
weights file, byte for byte in the tensors.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")  # oneDNN reorders float sums across runs
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "mnist"
DEFAULT_OUT = ROOT / "ganspec" / "metrics" / "weights"


def load_mnist(folder: Path, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Images (N, 28, 28, 1) in [0, 1] and labels of one IDX pair, read by ganspec's own loader."""
    from ganspec.data import load_source
    from ganspec.ir.components import Idx
    from ganspec.ir.spec import Data

    source = Idx(images=str(folder / f"{name}-images-idx3-ubyte.gz"),
                 labels=str(folder / f"{name}-labels-idx1-ubyte.gz"))
    dataset = load_source(source, Data(source=source, scale=(0.0, 1.0)))
    return dataset.table(), dataset.labels.astype(np.int64)


def augment(images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Small random affine distortions of [0, 1] digits: rotation +-12 degrees, scale 0.9..1.1,
    shear +-0.15, shift +-2.5 px (bilinear, zero fill)."""
    from scipy.ndimage import affine_transform

    out = np.empty_like(images)
    centre = np.array([13.5, 13.5])
    for i, image in enumerate(images):
        angle = np.deg2rad(rng.uniform(-12, 12))
        zoom = rng.uniform(0.9, 1.1)
        shear = rng.uniform(-0.15, 0.15)
        shift = rng.uniform(-2.5, 2.5, size=2)
        rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
        forward = rotation @ np.array([[1.0, shear], [0.0, 1.0]]) * zoom
        inverse = np.linalg.inv(forward)  # affine_transform maps output coordinates to input ones
        offset = centre - inverse @ (centre + shift)
        out[i, :, :, 0] = affine_transform(image[:, :, 0], inverse, offset=offset, order=1, cval=0.0)
    return out


def train(args) -> dict:
    import random

    import keras
    import tensorflow as tf

    from ganspec.metrics.features import CLASSIFIER_WEIGHTS, build_classifier, sha256_file

    random.seed(args.seed)
    np.random.seed(args.seed)
    keras.utils.set_random_seed(args.seed)
    tf.config.experimental.enable_op_determinism()

    x_train, y_train = load_mnist(args.data, "t10k")
    x_held, y_held = load_mnist(args.data, "train5k")
    model = build_classifier()
    steps_per_epoch = len(x_train) // args.batch
    schedule = keras.optimizers.schedules.CosineDecay(args.lr, decay_steps=args.epochs * steps_per_epoch,
                                                      alpha=0.01)
    model.compile(optimizer=keras.optimizers.Adam(schedule), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    rng = np.random.default_rng(args.seed)
    start = time.time()
    for epoch in range(args.epochs):
        order = rng.permutation(len(x_train))[:steps_per_epoch * args.batch]
        x = augment(x_train[order], rng) if epoch < args.epochs - args.clean_epochs else x_train[order]
        history = model.fit(x, y_train[order], batch_size=args.batch, epochs=1, shuffle=False, verbose=0)
        print(f"epoch {epoch + 1}/{args.epochs}: loss {history.history['loss'][0]:.4f} "
              f"train accuracy {history.history['accuracy'][0]:.4f} ({time.time() - start:.0f} s)", flush=True)
    seconds = time.time() - start

    probabilities = model.predict(x_held, batch_size=500, verbose=0)
    accuracy = float(np.mean(probabilities.argmax(axis=1) == y_held))
    per_class = [float(np.mean(probabilities[y_held == c].argmax(axis=1) == c)) for c in range(10)]
    print(f"held-out accuracy (train5k, {len(x_held)} images): {accuracy:.4f}")

    args.out.mkdir(parents=True, exist_ok=True)
    weights = args.out / CLASSIFIER_WEIGHTS.name
    shipped = build_classifier()  # uncompiled: the file holds the network's weights, no optimizer state
    shipped.set_weights(model.get_weights())
    shipped.save_weights(str(weights))
    card = {
        "name": "mnist_classifier",
        "file": weights.name,
        "sha256": sha256_file(weights),
        "bytes": weights.stat().st_size,
        "params": int(model.count_params()),
        "architecture": "conv32-3x3 pool conv64-3x3 pool conv64-3x3(valid) pool flatten dense128-relu "
                        "(features) dropout0.4 dense10-softmax",
        "input": "28x28x1 grayscale, pixels in [0, 1], 0 = background",
        "features_layer": "features (128-d, after ReLU)",
        "heldout_accuracy": round(accuracy, 4),
        "heldout_per_class_accuracy": [round(a, 4) for a in per_class],
        "heldout_count": int(len(x_held)),
        "train_count": int(len(x_train)),
        "split": "trained on all 10,000 images of t10k (MNIST test set, the set GANs train on); held out "
                 "and never used for training: all 5,000 images of train5k (MNIST training subset, the "
                 "metrics' reference set)",
        "training": {"epochs": args.epochs, "clean_epochs": args.clean_epochs, "batch": args.batch,
                     "optimizer": f"adam, cosine decay from {args.lr:g} to 1%", "seed": args.seed,
                     "augmentation": "rotation +-12 deg, scale 0.9..1.1, shear +-0.15, shift +-2.5 px",
                     "seconds": round(seconds, 1)},
        "command": " ".join(["python scripts/train_mnist_classifier.py", *map(shlex.quote, sys.argv[1:])]),
        "versions": {"python": platform.python_version(), "tensorflow": tf.__version__,
                     "keras": keras.__version__, "numpy": np.__version__},
    }
    (args.out / "mnist_classifier.json").write_text(json.dumps(card, indent=2) + "\n")
    print(f"wrote {weights} ({card['bytes']} bytes, {card['params']} parameters, sha256 {card['sha256'][:16]}...)")
    return card


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder of the MNIST IDX files")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="where the weights and card go")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--clean-epochs", type=int, default=2, help="last epochs without augmentation")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if not (args.data / "t10k-images-idx3-ubyte.gz").exists():
        print(f"MNIST not found in {args.data} (see shared/data/README.md)", file=sys.stderr)
        return 1
    train(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
