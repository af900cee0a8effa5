"""A conditional GAN with the labels inside its networks learns the classes on real MNIST: samples asked
for class k are classified as k by the shipped MNIST classifier far more often than chance (10%)."""

from __future__ import annotations

import numpy as np
import pytest

from ganspec import exitcodes
from ganspec.cli import main

# Class-conditional batch norm in the generator (StudioGAN's 1 + W_g e(y)), a projection critic
# (Miyato & Koyama 2018): on 2 CPU cores 1,000 iterations take about 55 s; measured class accuracy 0.66.
SPEC = """experiment conditional_mnist {{
  seed 1
  data {{ source idx("{images}", labels: "{labels}") }}
  latent normal(64)
  conditional {{ classes 10 }}
  generator {{
    dense(256) conditional_batchnorm(momentum: 0.9) relu
    dense(512) conditional_batchnorm(momentum: 0.9) relu
    dense(784) tanh reshape(28, 28, 1)
  }}
  critic {{ flatten dense(512) leaky_relu(0.2) dense(256) leaky_relu(0.2) label_projection }}
  objective non_saturating
  optimizer.generator adam(lr: 2e-4, beta1: 0.5)
  optimizer.critic adam(lr: 2e-4, beta1: 0.5)
  train {{ batch 64 iterations 1000 log_every 100 checkpoint_every 100_000 }}
  evaluate {{ every 1000 metrics [samples(100)] }}
}}"""


@pytest.mark.slow
def test_conditional_samples_have_the_asked_class(tmp_path, mnist_dir):
    import keras

    from ganspec.metrics.features import get_extractor
    from ganspec.networks import keras_models  # noqa: F401  (registers the label layers for loading)

    spec = tmp_path / "conditional_mnist.gan"
    spec.write_text(SPEC.format(images=mnist_dir / "t10k-images-idx3-ubyte.gz",
                                labels=mnist_dir / "t10k-labels-idx1-ubyte.gz"))
    assert main(["run", str(spec), "--plain", "--out", str(tmp_path / "runs")]) == exitcodes.OK
    (run,) = (tmp_path / "runs").iterdir()
    generator = keras.models.load_model(run / "models" / "generator.keras")
    labels = np.arange(1000) % 10
    z = np.random.default_rng(0).normal(size=(1000, 64)).astype("float32")
    samples = keras.ops.convert_to_numpy(generator([z, np.eye(10, dtype="float32")[labels]], training=False))
    predicted = get_extractor("classifier").extract(samples, scale=(-1.0, 1.0)).probabilities.argmax(axis=1)
    accuracy = float(np.mean(predicted == labels))
    assert accuracy > 0.3, f"class accuracy {accuracy:.3f} (chance 0.1)"
