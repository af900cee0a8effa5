"""Feature extractors for the image metrics, and reference statistics cached on disk.

    extractor = get_extractor("classifier")                  # or "inception"
    out = extractor.extract(images, scale=(-1.0, 1.0))       # images in the spec's pixel range
    out.features       # (N, D) penultimate features: Frechet distance, KID, precision/recall
    out.probabilities  # (N, classes): Inception Score

Extractors (one entry each in `EXTRACTORS`):

- "classifier": the project's small MNIST CNN; its weights ship inside the package
  (`weights/mnist_classifier.weights.h5`, trained by `scripts/train_mnist_classifier.py`, its
  card with held-out accuracy and sha256 in `weights/mnist_classifier.json`).
- "inception": Keras InceptionV3, pool3 (2048-d) features and the ImageNet logits, images
  resized to 299x299 and given 3 channels. Its weights come from $GANSPEC_INCEPTION_WEIGHTS
  or from Keras' own download (cached in ~/.keras/models). Keras' weights are not the 2015 TF
  graph that published FID/IS numbers used, so scores are comparable only with each other.

Every extractor names itself and the sha256 of its weights file, so scores record exactly what
computed them. Keras (never TensorFlow itself) is imported only when an extractor is built.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from ganspec.diagnostics import SpecError, error

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
CLASSIFIER_WEIGHTS = WEIGHTS_DIR / "mnist_classifier.weights.h5"
CLASSIFIER_CARD = WEIGHTS_DIR / "mnist_classifier.json"
CLASSIFIER_SHAPE = (28, 28, 1)  # grayscale, pixels in [0, 1], 0 = background
CLASSIFIER_FEATURES = 128

INCEPTION_ENV = "GANSPEC_INCEPTION_WEIGHTS"
INCEPTION_FILE = "inception_v3_weights_tf_dim_ordering_tf_kernels.h5"
INCEPTION_URL = "https://storage.googleapis.com/tensorflow/keras-applications/inception_v3/" + INCEPTION_FILE
INCEPTION_MD5 = "9a0d58056eeedaa3f26cb7ebd46da564"  # Keras' own check of the download
INCEPTION_SIZE = 299

CACHE_ENV = "GANSPEC_CACHE"


class FeatureError(SpecError):
    """A feature extractor cannot be used: missing or mismatched weights, unusable images (E506)."""

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(error("E506", message, hint=hint))

    @property
    def message(self) -> str:
        return self.diagnostics[0].message

    @property
    def hint(self) -> str | None:
        return self.diagnostics[0].hint

    def __str__(self) -> str:
        return self.message + (f"\n  hint: {self.hint}" if self.hint else "")


def sha256_file(path: str | Path) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True)
class Extracted:
    """What an extractor computes for a batch of images."""

    features: np.ndarray  # (N, D) float32
    probabilities: np.ndarray  # (N, classes) float32, rows sum to 1


# ---- pixels --------------------------------------------------------------------------------


def unit_range(images: np.ndarray, scale: tuple[float, float]) -> np.ndarray:
    """Images (N, H, W[, C]) in the spec's pixel range `scale` = (low, high) -> float32 (N, H, W, C) in
    [0, 1]. Values outside the range are clipped, as they are when samples are saved as images."""
    x = np.asarray(images, dtype=np.float32)
    if x.ndim == 3:
        x = x[..., None]
    if x.ndim != 4:
        raise FeatureError(f"image metrics need images of shape (N, H, W) or (N, H, W, C); got {x.shape}")
    low, high = float(scale[0]), float(scale[1])
    if not high > low:
        raise FeatureError(f"pixel range {tuple(scale)} is empty; expected (low, high) with low < high")
    return np.clip((x - np.float32(low)) / np.float32(high - low), 0.0, 1.0)


def infer_scale(images: np.ndarray) -> tuple[float, float]:
    """The pixel range real images were scaled to, when nobody said: [-1, 1], [0, 1] or [0, 255]."""
    x = np.asarray(images)
    if x.size and float(x.min()) < -0.5:
        return (-1.0, 1.0)
    if x.size and float(x.max()) > 1.5:
        return (0.0, 255.0)
    return (0.0, 1.0)


def grayscale_28(x: np.ndarray) -> np.ndarray:
    """[0, 1] images (N, H, W, C) -> (N, 28, 28, 1), the classifier's input."""
    if x.shape[-1] == 3:
        x = x.mean(axis=-1, keepdims=True)  # equal weights: MNIST-like data has gray ink
    elif x.shape[-1] != 1:
        raise FeatureError(f"the MNIST classifier takes 1- or 3-channel images; got {x.shape[-1]} channels")
    if x.shape[1:3] != CLASSIFIER_SHAPE[:2]:
        from ganspec.data.dataset import resize_bilinear

        x = resize_bilinear(x, CLASSIFIER_SHAPE[:2])
    return x.astype(np.float32)


# ---- extractors ----------------------------------------------------------------------------


class FeatureExtractor:
    """A network that maps images to features and class probabilities, named by its weights."""

    name: str
    weights_path: Path
    weights_sha256: str
    batch_size: int = 500

    def describe(self) -> dict:
        """What a score computed with this extractor must record."""
        return {"features": self.name, "features_sha256": self.weights_sha256}

    def network_inputs(self, unit: np.ndarray) -> np.ndarray:
        """[0, 1] images (N, H, W, C) -> the network's own input range and shape."""
        raise NotImplementedError

    def forward(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(features, probabilities) of one batch of network inputs."""
        raise NotImplementedError

    def extract(self, images: np.ndarray, scale: tuple[float, float]) -> Extracted:
        """Features and probabilities of images given in the pixel range `scale`."""
        unit = unit_range(images, scale)
        features, probabilities = [], []
        for start in range(0, len(unit), self.batch_size):
            f, p = self.forward(self.network_inputs(unit[start:start + self.batch_size]))
            features.append(np.asarray(f, dtype=np.float32))
            probabilities.append(np.asarray(p, dtype=np.float32))
        if not features:
            raise FeatureError("no images to compute features of")
        return Extracted(np.concatenate(features), np.concatenate(probabilities))


def build_classifier():
    """The MNIST classifier: 28x28x1 pixels in [0, 1] -> 10 class probabilities; its 128-d
    penultimate layer ("features", after ReLU) is what the distances compare. ~131k parameters."""
    import keras
    from keras import layers

    inputs = keras.Input(CLASSIFIER_SHAPE, name="pixels")
    x = layers.Conv2D(32, 3, padding="same", activation="relu", name="conv1")(inputs)
    x = layers.MaxPooling2D(2, name="pool1")(x)  # 14x14
    x = layers.Conv2D(64, 3, padding="same", activation="relu", name="conv2")(x)
    x = layers.MaxPooling2D(2, name="pool2")(x)  # 7x7
    x = layers.Conv2D(64, 3, activation="relu", name="conv3")(x)  # 5x5
    x = layers.MaxPooling2D(2, padding="same", name="pool3")(x)  # 3x3
    x = layers.Flatten(name="flatten")(x)
    features = layers.Dense(CLASSIFIER_FEATURES, activation="relu", name="features")(x)
    x = layers.Dropout(0.4, name="dropout")(features)
    outputs = layers.Dense(10, activation="softmax", name="probabilities")(x)
    return keras.Model(inputs, outputs, name="mnist_classifier")


def classifier_card(path: Path = CLASSIFIER_CARD) -> dict:
    """The shipped classifier's card: held-out accuracy, split, sha256, parameter count, command."""
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise FeatureError(f"the MNIST classifier's card is missing: {path}",
                           "reinstall ganspec, or run scripts/train_mnist_classifier.py") from None


class ClassifierExtractor(FeatureExtractor):
    """The shipped MNIST classifier: 128-d penultimate features, 10 class probabilities."""

    name = "classifier"

    def __init__(self, weights_path: str | Path = CLASSIFIER_WEIGHTS, card_path: str | Path = CLASSIFIER_CARD):
        self.weights_path = Path(weights_path)
        if not self.weights_path.exists():
            raise FeatureError(f"the MNIST classifier's weights are missing: {self.weights_path}",
                               "reinstall ganspec, or run scripts/train_mnist_classifier.py")
        self.weights_sha256 = sha256_file(self.weights_path)
        self.card = classifier_card(Path(card_path))
        if self.card.get("sha256") != self.weights_sha256:
            raise FeatureError(f"{self.weights_path.name} (sha256 {self.weights_sha256[:12]}...) is not the file its "
                               f"card describes (sha256 {str(self.card.get('sha256'))[:12]}...)",
                               "run scripts/train_mnist_classifier.py to write both again")
        import keras

        classifier = build_classifier()
        classifier.load_weights(str(self.weights_path))
        self.model = keras.Model(classifier.input, [classifier.get_layer("features").output, classifier.output])

    def describe(self) -> dict:
        return {**super().describe(), "features_heldout_accuracy": self.card.get("heldout_accuracy")}

    def network_inputs(self, unit):
        return grayscale_28(unit)

    def forward(self, batch):
        features, probabilities = self.model(batch, training=False)
        return np.asarray(features), np.asarray(probabilities)


def _download_inception_weights() -> str:
    """Keras' copy of the InceptionV3 ImageNet weights, downloaded once into ~/.keras/models."""
    import keras

    return keras.utils.get_file(INCEPTION_FILE, INCEPTION_URL, cache_subdir="models", file_hash=INCEPTION_MD5)


def inception_weights_path() -> Path:
    """The InceptionV3 weights file: $GANSPEC_INCEPTION_WEIGHTS, else Keras' download, else a FeatureError."""
    given = os.environ.get(INCEPTION_ENV)
    if given:
        path = Path(given).expanduser()
        if not path.is_file():
            raise FeatureError(f"${INCEPTION_ENV} names {path}, which is not a file",
                               f"point ${INCEPTION_ENV} at the Keras InceptionV3 weights file "
                               f"({INCEPTION_FILE}, from {INCEPTION_URL})")
        return path
    try:
        return Path(_download_inception_weights())
    except Exception as exc:  # noqa: BLE001  (any download failure means the same to the user)
        raise FeatureError(
            f"InceptionV3 features need the Keras ImageNet weights, and they could not be downloaded "
            f"({type(exc).__name__}: {exc})",
            f"download {INCEPTION_URL} on a machine with network access, then either set "
            f"{INCEPTION_ENV}=/path/to/{INCEPTION_FILE} or put the file in ~/.keras/models/; "
            f"or score with `features: classifier`, which needs no download") from None


class InceptionExtractor(FeatureExtractor):
    """Keras InceptionV3: pool3 (2048-d) features and the ImageNet class probabilities.

    `architecture` builds the network without weights (`keras.applications.InceptionV3` by
    default; tests pass a tiny stand-in with the same "avg_pool" and "predictions" layers).
    """

    name = "inception"
    batch_size = 32

    def __init__(self, weights_path: str | Path | None = None, architecture: Callable | None = None):
        import keras

        self.weights_path = Path(weights_path) if weights_path is not None else inception_weights_path()
        self.weights_sha256 = sha256_file(self.weights_path)
        build = architecture or keras.applications.InceptionV3
        network = build(weights=None, include_top=True)
        network.load_weights(str(self.weights_path))
        pool = network.get_layer("avg_pool")
        # the top Dense layer on pool3, applied here without its softmax: the logits
        top = network.get_layer("predictions").get_weights()
        self.kernel, self.bias = (np.asarray(w, dtype=np.float64) for w in top)
        self.input_size = tuple(network.input.shape[1:3])
        self.model = keras.Model(network.input, pool.output)

    def network_inputs(self, unit):
        return inception_inputs(unit, self.input_size)

    def forward(self, batch):
        pool = np.asarray(self.model(batch, training=False), dtype=np.float64)
        logits = pool @ self.kernel + self.bias
        logits -= logits.max(axis=1, keepdims=True)
        probabilities = np.exp(logits)
        return pool, probabilities / probabilities.sum(axis=1, keepdims=True)


def inception_inputs(unit: np.ndarray, size: tuple[int, int] = (INCEPTION_SIZE, INCEPTION_SIZE)) -> np.ndarray:
    """[0, 1] images (N, H, W, C) -> (N, 299, 299, 3) in [-1, 1], InceptionV3's preprocessing
    ("tf" mode of keras.applications): bilinear antialiased resize (the NumPy twin of tf.image.resize,
    so every backend feeds the same pixels), gray copied to three channels."""
    from ganspec.data.dataset import resize_bilinear

    if unit.shape[-1] not in (1, 3):
        raise FeatureError(f"InceptionV3 takes 1- or 3-channel images; got {unit.shape[-1]} channels")
    resized = resize_bilinear(unit.astype(np.float32), tuple(size))
    if resized.shape[-1] == 1:  # gray to three identical channels, after the (3x cheaper) resize
        resized = np.repeat(resized, 3, axis=-1)
    return (np.clip(resized, 0.0, 1.0) * 2.0 - 1.0).astype(np.float32)


EXTRACTORS: dict[str, Callable[[], FeatureExtractor]] = {
    "classifier": ClassifierExtractor,
    "inception": InceptionExtractor,
}
_BUILT: dict[tuple, FeatureExtractor] = {}


def get_extractor(name: str) -> FeatureExtractor:
    """The extractor `name`, built once per process (per weights file for InceptionV3)."""
    if name not in EXTRACTORS:
        raise FeatureError(f"unknown feature extractor {name!r}", f"use one of: {', '.join(EXTRACTORS)}")
    key = (name, os.environ.get(INCEPTION_ENV) if name == "inception" else None)
    if key not in _BUILT:
        _BUILT[key] = EXTRACTORS[name]()
    return _BUILT[key]


def forget_extractors() -> None:
    """Drop built extractors (tests that change weights or environment variables)."""
    _BUILT.clear()


# ---- reference statistics, cached on disk ----------------------------------------------------


@dataclass
class ReferenceStatistics:
    """What the image metrics need of a real image set, for one extractor."""

    mean: np.ndarray  # (D,) float64
    cov: np.ndarray  # (D, D) float64
    features: np.ndarray  # (N, D) float32: KID, precision/recall
    probabilities: np.ndarray  # (N, classes) float32
    meta: dict  # dataset, split, count, features, features_sha256, fingerprint


def cache_dir() -> Path:
    """Where computed statistics are kept: $GANSPEC_CACHE, else ~/.cache/ganspec."""
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "ganspec").expanduser()


def _slug(text: str) -> str:
    """A file-name-safe form of a name (long ones shortened, with a hash of the whole)."""
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", str(text)).strip("_") or "unnamed"
    if len(slug) > 60:
        slug = f"{slug[:48]}-{hashlib.sha256(str(text).encode()).hexdigest()[:10]}"
    return slug


def image_fingerprint(images: np.ndarray, scale: tuple[float, float]) -> str:
    """sha256 of the images as 8-bit pixels: the same for the same pictures in any pixel range."""
    pixels = np.round(unit_range(images, scale) * 255.0).astype(np.uint8)
    return hashlib.sha256(pixels.tobytes() + str(pixels.shape).encode()).hexdigest()


def gaussian_statistics(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and (unbiased) covariance of features (N, D), in float64."""
    f = np.asarray(features, dtype=np.float64)
    if len(f) < 2:
        raise FeatureError(f"mean and covariance need at least 2 samples; got {len(f)}")
    return f.mean(axis=0), np.cov(f, rowvar=False)


def statistics_of(extractor: FeatureExtractor, images: np.ndarray, scale: tuple[float, float],
                  meta: dict | None = None) -> ReferenceStatistics:
    """Reference statistics computed now (no cache)."""
    out = extractor.extract(images, scale)
    mean, cov = gaussian_statistics(out.features)
    return ReferenceStatistics(mean, cov, out.features, out.probabilities, dict(meta or {}))


def reference_cache_path(extractor: FeatureExtractor, dataset: str, split: str, count: int) -> Path:
    """The cache file of one (data set, extractor, weights, split, count)."""
    name = f"{_slug(dataset)}-{_slug(split)}-{count}-{extractor.name}-{extractor.weights_sha256[:16]}.npz"
    return cache_dir() / "reference" / name


def reference_statistics(extractor: FeatureExtractor, images: np.ndarray | Callable[[], np.ndarray],
                         scale: tuple[float, float], *, dataset: str, split: str = "all",
                         count: int | None = None) -> ReferenceStatistics:
    """Statistics of a named real image set, read from the cache when computed before.

    images: the images, or a function that loads them (called only when the cache misses).
    The cache is keyed by (dataset, split, count, extractor, weights sha256); when images are
    given, their fingerprint must match the cached one too, else the entry is computed again.
    """
    loaded = None if callable(images) else np.asarray(images)
    if count is None:
        if loaded is None:
            raise ValueError("give `count` when images come from a loader")
        count = len(loaded)
    path = reference_cache_path(extractor, dataset, split, count)
    fingerprint = image_fingerprint(loaded, scale) if loaded is not None else None
    cached = _read_cached(path)
    if cached is not None and (fingerprint is None or cached.meta.get("fingerprint") == fingerprint):
        return cached
    if loaded is None:
        loaded = np.asarray(images())
        fingerprint = image_fingerprint(loaded, scale)
    if len(loaded) != count:
        raise ValueError(f"reference {dataset}/{split}: expected {count} images, got {len(loaded)}")
    meta = {"dataset": dataset, "split": split, "count": int(count), **extractor.describe(),
            "fingerprint": fingerprint}
    stats = statistics_of(extractor, loaded, scale, meta)
    _write_cached(path, stats)
    return stats


def _read_cached(path: Path) -> ReferenceStatistics | None:
    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as f:
            meta = json.loads(str(f["meta"]))
            return ReferenceStatistics(f["mean"], f["cov"], f["features"], f["probabilities"], meta)
    except (OSError, ValueError, KeyError):
        return None  # a damaged entry is computed again


def _write_cached(path: Path, stats: ReferenceStatistics) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.stem}.{os.getpid()}.tmp.npz")
    np.savez(partial, mean=stats.mean, cov=stats.cov, features=stats.features,
             probabilities=stats.probabilities, meta=np.array(json.dumps(stats.meta, sort_keys=True)))
    os.replace(partial, path)  # readers never see half a file
