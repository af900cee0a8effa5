"""The shipped MNIST classifier, the InceptionV3 path, cached reference statistics, and the
registered image metrics end to end on real MNIST (../shared/data; a failure under CI=true)."""

from __future__ import annotations

import json
import shutil
from functools import cache
from pathlib import Path

import numpy as np
import pytest

from ganspec.metrics import METRIC_FUNCTIONS, Reference
from ganspec.metrics import features as F
from ganspec.metrics.comparison import check_comparable
from ganspec.metrics.images import frechet_distance, inception_score
from ganspec.ir.components import Fid, InceptionScore, Kid, PrecisionRecall


@cache
def mnist(folder: Path, name: str, scale=(-1.0, 1.0)) -> tuple[np.ndarray, np.ndarray]:
    """Images in `scale` and labels of one MNIST file pair, by ganspec's own loader."""
    from ganspec.data import load_source
    from ganspec.ir.components import Idx
    from ganspec.ir.spec import Data

    source = Idx(images=str(folder / f"{name}-images-idx3-ubyte.gz"),
                 labels=str(folder / f"{name}-labels-idx1-ubyte.gz"))
    dataset = load_source(source, Data(source=source, scale=scale))
    return dataset.table(), dataset.labels


def noise(n: int, seed: int = 0) -> np.ndarray:
    """Uniform noise images in [-1, 1]."""
    return np.random.default_rng(seed).uniform(-1.0, 1.0, (n, 28, 28, 1)).astype(np.float32)


@pytest.fixture(scope="module")
def classifier():
    return F.get_extractor("classifier")


@pytest.fixture
def fresh_extractors():
    F.forget_extractors()
    yield
    F.forget_extractors()


# ---- the shipped classifier ------------------------------------------------------------------


def test_shipped_weights_match_their_card(classifier):
    card = F.classifier_card()
    assert F.sha256_file(F.CLASSIFIER_WEIGHTS) == card["sha256"] == classifier.weights_sha256
    assert card["bytes"] == F.CLASSIFIER_WEIGHTS.stat().st_size < 700_000
    assert card["params"] == classifier.model.count_params() < 150_000
    assert card["heldout_accuracy"] >= 0.99 and card["heldout_count"] == 5000
    assert "train5k" in card["split"] and card["command"].startswith("python scripts/train_mnist_classifier.py")
    assert classifier.describe() == {"features": "classifier", "features_sha256": card["sha256"],
                                     "features_heldout_accuracy": card["heldout_accuracy"]}


def test_heldout_accuracy_is_at_least_99_percent(mnist_dir, classifier):
    images, labels = mnist(mnist_dir, "train5k")  # never seen in training (see the card's split)
    out = classifier.extract(images, scale=(-1.0, 1.0))
    accuracy = float(np.mean(out.probabilities.argmax(axis=1) == labels))
    assert accuracy >= 0.99
    assert accuracy == pytest.approx(F.classifier_card()["heldout_accuracy"], abs=1e-3)  # the card tells the truth
    assert out.features.shape == (5000, F.CLASSIFIER_FEATURES)
    np.testing.assert_allclose(out.probabilities.sum(axis=1), 1.0, rtol=1e-5)


def test_images_are_converted_from_the_spec_pixel_range(mnist_dir, classifier):
    images, _ = mnist(mnist_dir, "train5k")
    images = images[::50]
    reference = classifier.extract(images, (-1.0, 1.0)).features
    np.testing.assert_allclose(classifier.extract((images + 1) / 2, (0.0, 1.0)).features, reference, atol=1e-4)
    np.testing.assert_allclose(classifier.extract((images + 1) * 127.5, (0.0, 255.0)).features, reference, atol=1e-4)
    rgb = np.repeat(images, 3, axis=-1)  # gray copied to three channels
    np.testing.assert_allclose(classifier.extract(rgb, (-1.0, 1.0)).features, reference, atol=1e-4)


def test_classifier_inception_score_is_high_on_real_digits_and_low_on_noise(mnist_dir, classifier):
    images, _ = mnist(mnist_dir, "train5k")
    order = np.random.default_rng(0).permutation(len(images))  # the file is sorted by class
    real_score, real_std = inception_score(classifier.extract(images[order], (-1.0, 1.0)).probabilities, 10)
    assert real_score > 9.0 and real_std < 0.2
    noise_score, _ = inception_score(classifier.extract(noise(1000), (-1.0, 1.0)).probabilities, 10)
    assert noise_score < 2.0


def test_a_card_that_does_not_describe_the_weights_is_refused(tmp_path):
    weights = tmp_path / F.CLASSIFIER_WEIGHTS.name
    shutil.copy(F.CLASSIFIER_WEIGHTS, weights)
    card = json.loads(F.CLASSIFIER_CARD.read_text())
    (tmp_path / "card.json").write_text(json.dumps({**card, "sha256": "0" * 64}))
    with pytest.raises(F.FeatureError, match="is not the file its card describes"):
        F.ClassifierExtractor(weights, tmp_path / "card.json")
    with pytest.raises(F.FeatureError, match="weights are missing") as error:
        F.ClassifierExtractor(tmp_path / "gone.weights.h5", tmp_path / "card.json")
    assert "scripts/train_mnist_classifier.py" in str(error.value)


def test_unknown_extractor_names_the_known_ones():
    with pytest.raises(F.FeatureError, match="unknown feature extractor 'vgg'") as error:
        F.get_extractor("vgg")
    assert "classifier, inception" in str(error.value)


# ---- InceptionV3 -----------------------------------------------------------------------------


def no_network():
    raise OSError("URL fetch failure: no network")


def test_inception_without_weights_says_how_to_supply_them(monkeypatch, fresh_extractors):
    monkeypatch.delenv(F.INCEPTION_ENV, raising=False)
    monkeypatch.setattr(F, "_download_inception_weights", no_network)  # never touch the network here
    with pytest.raises(F.FeatureError) as error:
        F.get_extractor("inception")
    text = str(error.value)
    assert text.startswith("InceptionV3 features need the Keras ImageNet weights, and they could not be downloaded "
                           "(OSError: URL fetch failure: no network)")
    assert f"set GANSPEC_INCEPTION_WEIGHTS=/path/to/{F.INCEPTION_FILE}" in text
    assert F.INCEPTION_URL in text and "~/.keras/models/" in text and "features: classifier" in text


def test_inception_weights_variable_naming_a_missing_file(monkeypatch, tmp_path, fresh_extractors):
    monkeypatch.setenv(F.INCEPTION_ENV, str(tmp_path / "nothing.h5"))
    with pytest.raises(F.FeatureError, match="names .*nothing.h5, which is not a file"):
        F.get_extractor("inception")


def tiny_inception(weights=None, include_top=True):
    """A randomly initialised stand-in with InceptionV3's input and its "avg_pool" and "predictions"
    layers: the real network needs a 92 MB download."""
    import keras
    from keras import layers

    inputs = keras.Input((F.INCEPTION_SIZE, F.INCEPTION_SIZE, 3))
    x = layers.Conv2D(6, 13, strides=13, activation="relu", name="stem")(inputs)
    x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    return keras.Model(inputs, layers.Dense(7, activation="softmax", name="predictions")(x))


@pytest.fixture
def tiny_weights(monkeypatch, tmp_path, fresh_extractors):
    import keras

    keras.utils.set_random_seed(0)
    path = tmp_path / "tiny_inception.weights.h5"
    tiny_inception().save_weights(str(path))
    monkeypatch.setenv(F.INCEPTION_ENV, str(path))
    monkeypatch.setitem(F.EXTRACTORS, "inception", lambda: F.InceptionExtractor(architecture=tiny_inception))
    return path


def test_inception_path_with_a_stand_in_network(tiny_weights):
    extractor = F.get_extractor("inception")
    assert extractor.weights_path == tiny_weights and extractor.weights_sha256 == F.sha256_file(tiny_weights)
    digits = noise(5, seed=1)
    digits[0] = 1.0  # all ink
    inputs = F.inception_inputs(F.unit_range(digits, (-1.0, 1.0)))
    assert inputs.shape == (5, 299, 299, 3) and inputs.min() >= -1.0 and inputs.max() <= 1.0
    np.testing.assert_allclose(inputs[0], 1.0, atol=1e-6)  # ink stays ink through the resize
    assert np.array_equal(inputs[..., 0], inputs[..., 2])  # gray to 3 channels
    out = extractor.extract(digits, (-1.0, 1.0))
    network = tiny_inception()
    network.load_weights(str(tiny_weights))
    np.testing.assert_allclose(out.probabilities, network.predict(inputs, verbose=0), rtol=1e-4, atol=1e-6)
    assert out.features.shape == (5, 6)


def test_inception_scores_record_the_inception_weights(tiny_weights):
    fake, real = noise(64, seed=2), noise(64, seed=3)
    reference = Reference(real=real, name="noise", value_range=(-1.0, 1.0))
    result = METRIC_FUNCTIONS["fid"](Fid(features="inception", samples=64), fake, reference)
    assert result["fid_features"] == "inception" and result["fid_weights_sha256"] == F.sha256_file(tiny_weights)
    assert "fid_classifier_accuracy" not in result
    assert np.isfinite(result["fid"])


# ---- reference statistics on disk ------------------------------------------------------------


def test_reference_statistics_are_cached_per_set_extractor_and_count(monkeypatch, tmp_path, classifier):
    images = noise(200, seed=4)
    stats = F.reference_statistics(classifier, images, (-1.0, 1.0), dataset="noise", split="test")
    path = F.reference_cache_path(classifier, "noise", "test", 200)
    assert path.exists() and path.parent == tmp_path / "cache" / "reference"
    assert classifier.weights_sha256[:16] in path.name and path.name.startswith("noise-test-200-classifier-")
    assert stats.meta["features_sha256"] == classifier.weights_sha256 and stats.meta["count"] == 200

    def must_not_load():
        raise AssertionError("the cache should have answered")

    again = F.reference_statistics(classifier, must_not_load, (-1.0, 1.0), dataset="noise", split="test", count=200)
    np.testing.assert_array_equal(again.mean, stats.mean)
    np.testing.assert_array_equal(again.features, stats.features)
    other = F.reference_statistics(classifier, noise(200, seed=5), (-1.0, 1.0), dataset="noise", split="test")
    assert not np.array_equal(other.mean, stats.mean)  # same key, other pictures: computed again


def test_default_cache_folder(monkeypatch):
    monkeypatch.delenv(F.CACHE_ENV, raising=False)
    assert F.cache_dir() == Path.home() / ".cache" / "ganspec"


# ---- the registered metrics on real MNIST ----------------------------------------------------


def test_registered_metrics_on_real_digits_and_noise(mnist_dir, monkeypatch, tmp_path):
    reference_images, _ = mnist(mnist_dir, "train5k")
    test_images, _ = mnist(mnist_dir, "t10k")
    rng = np.random.default_rng(0)
    reference = Reference(real=reference_images[rng.choice(5000, 1000, replace=False)], name="mnist-train5k",
                          value_range=(-1.0, 1.0))
    real = test_images[rng.choice(10_000, 1000, replace=False)]
    nodes = [Fid(samples=1000), Kid(samples=1000, subsets=10, subset_size=500), InceptionScore(samples=1000),
             PrecisionRecall(samples=1000)]
    scores = {}
    for name, fake in (("real", real), ("noise", noise(1000))):
        scores[name] = {k: v for node in nodes for k, v in METRIC_FUNCTIONS[node.kind](node, fake, reference).items()}
    real_scores, noise_scores = scores["real"], scores["noise"]
    assert real_scores["fid"] < 0.05 * noise_scores["fid"]
    assert real_scores["kid"] < 0.05 * noise_scores["kid"] and noise_scores["kid_std_error"] > 0
    assert real_scores["inception_score"] > 9.0 and noise_scores["inception_score"] < 2.0
    assert real_scores["precision"] > 0.6 and real_scores["recall"] > 0.6
    # Noise covers none of the digits; its features sit in a tight clump that a few ambiguous real
    # digits' wide k-NN balls can reach, so its precision is not asserted (Kynkaanniemi et al. sec. 3).
    assert noise_scores["recall"] == 0.0
    fid = METRIC_FUNCTIONS["fid"](nodes[0], real, reference)
    assert fid == {"fid": real_scores["fid"], "fid_features": "classifier",
                   "fid_weights_sha256": F.sha256_file(F.CLASSIFIER_WEIGHTS), "fid_samples": 1000,
                   "fid_reference": "mnist-train5k", "fid_reference_samples": 1000,
                   "fid_classifier_accuracy": F.classifier_card()["heldout_accuracy"]}
    assert real_scores["kid_parameters"] == "subsets=10 subset_size=500"
    assert real_scores["precision_recall_parameters"] == "k=3"
    assert real_scores["inception_score_parameters"] == "splits=10" and "inception_score_reference" not in real_scores
    assert len(list((tmp_path / "cache" / "reference").glob("mnist-train5k-all-1000-classifier-*.npz"))) == 1
    check_comparable({"real": real_scores, "noise": noise_scores})
    stats = F.statistics_of(F.get_extractor("classifier"), real, (-1.0, 1.0))
    cached = F.reference_statistics(F.get_extractor("classifier"), reference.real, (-1.0, 1.0),
                                    dataset="mnist-train5k", count=1000)
    assert real_scores["fid"] == pytest.approx(frechet_distance(stats.mean, stats.cov, cached.mean, cached.cov))
