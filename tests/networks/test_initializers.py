"""Declared initializers give the declared distributions, on both backends.

The parity test sets weights from NumPy, so it cannot see initialization; here each
initializer is built into real layers and its weights' statistics are checked: std within
a tolerance, bounds, orthogonality, PyTorch's 1/sqrt(fan_in) bound (with conv_transpose's
fan_in read from the output filters). The checks run here on the default backend and,
through `python tests/networks/test_initializers.py`, on JAX in a process of its own.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import numpy as np  # noqa: E402

SPEC = """
experiment init_distributions {
  seed %(seed)d
  data { source tfds("cifar10") }
  latent normal(256)
  generator(init: normal(0, 0.02), bias_init: zeros) {
    dense(256, bias_init: normal(0.5, 0.1))
    dense(256, init: truncated_normal(0.1, 0.05))
    dense(256, init: uniform(-0.1, 0.2), bias_init: uniform(-0.1, 0.2))
    dense(128, init: orthogonal(gain: 2))
    dense(256, init: glorot_uniform)
    dense(128, init: glorot_normal)
    dense(256, init: he_uniform)
    dense(256, init: he_normal)
    dense(256, init: lecun_normal)
    dense(4 * 4 * 64, init: pytorch, bias_init: pytorch)
    reshape(4, 4, 64)
    conv_transpose(64, kernel: 4, stride: 2, init: pytorch, bias_init: pytorch)
    conv(32, kernel: 3, init: orthogonal)
    residual { conv(64) }
    conv(3, init: zeros) tanh
  }
  critic(init: he_normal) {
    conv(64, kernel: 3, stride: 2, init: pytorch, bias_init: pytorch)
    flatten dense(1)
  }
  objective hinge
}
"""


def _spec(seed: int = 0):
    from ganspec.load import load_text

    resolved = load_text(SPEC % {"seed": seed})
    assert resolved.spec is not None, [d.message for d in resolved.diagnostics]
    return resolved.spec


def _weights(model):
    """(kernel, bias) of each weight layer, in order."""
    import keras

    pairs = []
    for layer in model.layers:
        if isinstance(layer, (keras.layers.Dense, keras.layers.Conv2D, keras.layers.Conv2DTranspose)):
            bias = layer.bias.numpy() if layer.use_bias else None
            pairs.append((layer.kernel.numpy(), bias))
    return pairs


def _std(values, expected, tolerance=0.05):
    assert abs(values.std() / expected - 1) < tolerance, (values.std(), expected)


def check_distributions() -> None:
    from ganspec.networks import build_critic, build_generator

    spec = _spec()
    g = _weights(build_generator(spec))
    (k, b), (k2, _), (k3, b3), (k4, _), (k5, _), (k6, _), (k7, _), (k8, _), (k9, _) = g[:9]
    # normal(0, 0.02) from the network; the layer's bias_init wins over the network's zeros.
    assert abs(k.mean()) < 1e-3 and k.shape == (256, 256)
    _std(k, 0.02)
    assert abs(b.mean() - 0.5) < 0.03
    _std(b, 0.1, 0.2)
    # truncated_normal: redrawn beyond 2 std, so within mean +- 2 std, std 0.8796 * std.
    assert np.all(np.abs(k2 - 0.1) <= 2 * 0.05 + 1e-6)
    assert abs(k2.mean() - 0.1) < 1e-3
    _std(k2, 0.05 * 0.8796)
    for values in (k3, b3):
        assert values.min() >= -0.1 and values.max() <= 0.2
    _std(k3, 0.3 / math.sqrt(12))
    # orthogonal(gain: 2): the (256, 128) kernel's columns are orthogonal with norm 2.
    np.testing.assert_allclose(k4.T @ k4, 4 * np.eye(128), atol=1e-4)
    assert np.abs(k5).max() <= math.sqrt(6 / (128 + 256))
    _std(k5, math.sqrt(2 / (128 + 256)))
    _std(k6, math.sqrt(2 / (256 + 128)))  # untruncated, as xavier_normal_
    assert np.abs(k6).max() > 2.5 * math.sqrt(2 / 384), "glorot_normal is not truncated"
    assert np.abs(k7).max() <= math.sqrt(6 / 128)
    _std(k7, math.sqrt(2 / 128))
    _std(k8, math.sqrt(2 / 256))
    _std(k9, math.sqrt(1 / 256))
    # pytorch: U(-1/sqrt(fan_in), 1/sqrt(fan_in)), kernel and bias; dense fan_in = inputs.
    (kd, bd), (kt, bt), (ko, bo), (kr, _), (kp, _), (kz, bz) = g[9:]
    for values, fan_in in ((kd, 256), (bd, 256), (kt, 64 * 4 * 4), (bt, 64 * 4 * 4)):
        bound = 1 / math.sqrt(fan_in)
        assert np.abs(values).max() <= bound * (1 + 1e-6)
        assert np.abs(values).max() > 0.9 * bound
    _std(kt, 1 / math.sqrt(3 * 64 * 16))
    # conv orthogonal: the kernel as a (3*3*64, 32) matrix has orthonormal columns.
    matrix = ko.reshape(-1, 32)
    np.testing.assert_allclose(matrix.T @ matrix, np.eye(32), atol=1e-4)
    assert np.all(bo == 0), "bias_init zeros from the network"
    # The residual body's conv and its 1x1 projection take the network's normal(0, 0.02).
    assert sorted([kr.shape, kp.shape]) == [(1, 1, 32, 64), (3, 3, 32, 64)]
    _std(kr, 0.02)
    _std(kp, 0.02, 0.1)
    assert np.all(kz == 0) and np.all(bz == 0)
    c = _weights(build_critic(spec))
    (kc, bc), (kdense, bdense) = c
    bound = 1 / math.sqrt(3 * 3 * 3)  # conv fan_in = in_channels * k * k
    assert np.abs(kc).max() <= bound * (1 + 1e-6) and np.abs(bc).max() <= bound * (1 + 1e-6)
    assert np.abs(bc).max() > 0
    _std(kdense, math.sqrt(2 / kdense.shape[0]))  # the network's he_normal
    assert np.all(bdense == 0), "no bias_init: Keras' zeros"


def check_seeded() -> None:
    """A spec's seed fixes every initializer's draws; another seed gives other weights."""
    from ganspec.networks import build_generator

    first, again, other = (_weights(build_generator(_spec(seed))) for seed in (0, 0, 1))
    for (a, ab), (b, bb) in zip(first, again):
        np.testing.assert_array_equal(a, b)
        if ab is not None:
            np.testing.assert_array_equal(ab, bb)
    assert not np.array_equal(first[0][0], other[0][0])
    assert not np.array_equal(first[0][1], other[0][1])


def check_declared_defaults_build_the_same_weights() -> None:
    """`init: glorot_uniform, bias_init: zeros` are Keras' defaults: the same weights as declaring nothing."""
    from ganspec.load import load_text
    from ganspec.networks import build_critic, build_generator

    plain = """experiment d { seed 3 data { source ring } latent normal(4)
      generator%s { dense(16) relu residual { dense(16) relu } dense(2) }
      critic%s { dense(16) relu dense(1) } objective hinge }"""
    declared = "(init: glorot_uniform, bias_init: zeros)"
    a = load_text(plain % ("", "")).spec
    b = load_text(plain % (declared, declared)).spec
    for build in (build_generator, build_critic):
        for x, y in zip(build(a).weights, build(b).weights):
            np.testing.assert_array_equal(x.numpy(), y.numpy())


CHECKS = (check_distributions, check_seeded, check_declared_defaults_build_the_same_weights)


def test_initializers_on_the_default_backend():
    for check in CHECKS:
        check()


def test_initializers_on_jax():
    from tests.backends.conftest import environment, require_jax

    require_jax()
    result = subprocess.run([sys.executable, __file__], env=environment("jax"), capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "jax: ok" in result.stdout


if __name__ == "__main__":
    import keras

    for check in CHECKS:
        check()
    print(f"{keras.backend.backend()}: ok")
