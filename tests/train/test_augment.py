"""DiffAugment (Zhao et al. 2020) against a NumPy reference written from the authors' code
(mit-han-lab/data-efficient-gans, DiffAugment_pytorch.py / DiffAugment_tf.py): every policy's
maths, the ranges of its draws, and that the generator's gradient flows through T.
TF/JAX parity of a whole step with DiffAugment: tests/backends/parity_worker.py (diffaugment*)."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

from ganspec.diff import diff_specs  # noqa: E402
from ganspec.ir.augmentations import AUGMENTATIONS, Color, Cutout, Translation  # noqa: E402
from ganspec.load import load_text  # noqa: E402
from ganspec.syntax.fmt import format_text  # noqa: E402
from ganspec.train import augment  # noqa: E402

RNG = np.random.default_rng(0)


# ---- the reference: the authors' code, transcribed to NumPy on NHWC batches ---------------------


def reference_color(x, brightness, saturation, contrast):
    """rand_brightness, rand_saturation, rand_contrast; one magnitude u in [0, 1) per sample each."""
    x = x + (brightness[:, None, None, None] - 0.5)
    mean = x.mean(axis=3, keepdims=True)
    x = (x - mean) * (saturation[:, None, None, None] * 2) + mean
    mean = x.mean(axis=(1, 2, 3), keepdims=True)
    return (x - mean) * (contrast[:, None, None, None] + 0.5) + mean


def reference_translation(x, shift_h, shift_w):
    """rand_translation: gather from the image padded by one zero pixel at clamp(i + t + 1, 0, size + 1)."""
    n, h, w, _ = x.shape
    padded = np.pad(x, [(0, 0), (1, 1), (1, 1), (0, 0)])
    grid_b, grid_h, grid_w = np.meshgrid(np.arange(n), np.arange(h), np.arange(w), indexing="ij")
    grid_h = np.clip(grid_h + shift_h[:, None, None] + 1, 0, h + 1)
    grid_w = np.clip(grid_w + shift_w[:, None, None] + 1, 0, w + 1)
    return padded[grid_b, grid_h, grid_w]


def reference_cutout(x, centre_h, centre_w, size):
    """rand_cutout: zeros scattered at the clamped indices of a size[0] x size[1] square around the centre."""
    n, h, w, _ = x.shape
    grid_b, grid_h, grid_w = np.meshgrid(np.arange(n), np.arange(size[0]), np.arange(size[1]), indexing="ij")
    grid_h = np.clip(grid_h + centre_h[:, None, None] - size[0] // 2, 0, h - 1)
    grid_w = np.clip(grid_w + centre_w[:, None, None] - size[1] // 2, 0, w - 1)
    mask = np.ones((n, h, w), x.dtype)
    mask[grid_b, grid_h, grid_w] = 0
    return x * mask[..., None]


def images(shape):
    return RNG.uniform(-1, 1, size=shape).astype("float32")


# ---- each policy against the reference ---------------------------------------------------------


@pytest.mark.parametrize("shape", [(5, 8, 8, 3), (4, 7, 9, 1)])
def test_color_is_the_authors_brightness_saturation_contrast(shape):
    x = images(shape)
    draws = tuple(RNG.uniform(size=(shape[0], 1, 1, 1)).astype("float32") for _ in range(3))
    out = keras.ops.convert_to_numpy(augment.apply_color(Color(), tf.constant(x), draws))
    expected = reference_color(x, *(d.reshape(-1) for d in draws))
    assert out.shape == shape
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)


def test_color_formulas_one_at_a_time():
    x = images((3, 4, 4, 3))
    half = np.full((3, 1, 1, 1), 0.5, "float32")  # saturation 2u = 1 and contrast u + 0.5 = 1: identities
    brightness = np.array([0.0, 0.5, 0.9], "float32").reshape(3, 1, 1, 1)
    out = keras.ops.convert_to_numpy(augment.apply_color(Color(), tf.constant(x), (brightness, half, half)))
    np.testing.assert_allclose(out, x + brightness - 0.5, atol=1e-6)
    grey = keras.ops.convert_to_numpy(augment.apply_color(Color(), tf.constant(x), (half, np.zeros_like(half), half)))
    np.testing.assert_allclose(grey, np.repeat(x.mean(axis=3, keepdims=True), 3, axis=3), atol=1e-6)  # u = 0
    flat = keras.ops.convert_to_numpy(augment.apply_color(Color(), tf.constant(x), (half, half, half - 0.5)))
    np.testing.assert_allclose(flat, 0.5 * x + 0.5 * x.mean(axis=(1, 2, 3), keepdims=True), atol=1e-6)


@pytest.mark.parametrize("shape, ratio, limits", [((6, 8, 8, 2), 0.125, (1, 1)), ((6, 28, 28, 1), 0.125, (3, 3)),
                                                  ((6, 16, 12, 3), 0.25, (4, 3))])
def test_translation_is_the_authors_zero_padded_gather(shape, ratio, limits):
    policy = Translation(ratio=ratio)
    assert augment.translation_limits(policy, shape) == limits  # floor(ratio * size): the root files' size // 8
    x = images(shape)
    shift_h = RNG.integers(-limits[0], limits[0] + 1, size=shape[0]).astype("int32")
    shift_w = RNG.integers(-limits[1], limits[1] + 1, size=shape[0]).astype("int32")
    out = keras.ops.convert_to_numpy(augment.apply_translation(policy, tf.constant(x), (shift_h, shift_w)))
    np.testing.assert_array_equal(out, reference_translation(x, shift_h, shift_w))


def test_translation_moves_content_by_the_drawn_shift():
    x = np.zeros((3, 8, 8, 1), "float32")
    x[:, 4, 5, 0] = 1.0
    shift_h, shift_w = np.array([1, -1, 0], "int32"), np.array([0, 2, -2], "int32")
    out = keras.ops.convert_to_numpy(augment.apply_translation(Translation(), tf.constant(x), (shift_h, shift_w)))
    for i in range(3):  # out[i] = x[i + t]: content at row r moves to r - t
        (row,), (col,) = np.nonzero(out[i, :, :, 0])
        assert (row, col) == (4 - shift_h[i], 5 - shift_w[i])
    edge = np.ones((1, 4, 4, 1), "float32")
    moved = keras.ops.convert_to_numpy(augment.apply_translation(Translation(ratio=0.5), tf.constant(edge),
                                                                 (np.array([2], "int32"), np.array([-1], "int32"))))
    assert moved[0, 2:, :, 0].sum() == 0 and moved[0, :, 0, 0].sum() == 0  # zero padding comes in
    assert moved.sum() == 2 * 3


@pytest.mark.parametrize("shape, ratio", [((8, 8, 8, 3), 0.5), ((8, 9, 7, 1), 0.5), ((8, 12, 12, 1), 0.375)])
def test_cutout_is_the_authors_clamped_square(shape, ratio):
    policy = Cutout(ratio=ratio)
    size = augment.cutout_size(policy, shape)
    x = images(shape)
    centre_h = RNG.integers(0, shape[1] + 1 - size[0] % 2, size=shape[0]).astype("int32")
    centre_w = RNG.integers(0, shape[2] + 1 - size[1] % 2, size=shape[0]).astype("int32")
    centre_h[:2], centre_w[:2] = 0, shape[2] - size[1] % 2  # corners: the clipped squares
    out = keras.ops.convert_to_numpy(augment.apply_cutout(policy, tf.constant(x), (centre_h, centre_w)))
    np.testing.assert_array_equal(out, reference_cutout(x, centre_h, centre_w, size))


def test_cutout_zeroes_a_square_of_the_declared_size():
    x = np.ones((2, 16, 16, 3), "float32")
    centres = np.array([8, 0], "int32")
    out = keras.ops.convert_to_numpy(augment.apply_cutout(Cutout(), tf.constant(x), (centres, centres)))
    assert augment.cutout_size(Cutout(), x.shape) == (8, 8)
    inside = out[0, 4:12, 4:12]
    assert (inside == 0).all() and (out[0] == 0).sum() == 8 * 8 * 3  # rows 8 - 4 .. 8 + 3
    assert (out[1, :4, :4] == 0).all() and (out[1] == 0).sum() == 4 * 4 * 3  # clipped at the corner


# ---- draws -----------------------------------------------------------------------------------


def test_draws_cover_the_authors_ranges_and_follow_the_seed():
    shape = (4000, 16, 16, 3)
    policies = (Color(), Translation(), Cutout())
    color, (shift_h, shift_w), (centre_h, centre_w) = [
        [keras.ops.convert_to_numpy(d) for d in drawn]
        for drawn in augment.draw(policies, shape, keras.random.SeedGenerator(3))]
    for u in color:
        assert u.shape == (4000, 1, 1, 1) and 0 <= u.min() and u.max() < 1
    for shifts in (shift_h, shift_w):
        assert sorted(set(shifts.tolist())) == [-2, -1, 0, 1, 2]  # 16 // 8 each way
    for centres in (centre_h, centre_w):
        assert sorted(set(centres.tolist())) == list(range(17))  # 0 .. 16 + (1 - 8 % 2) - 1
    again = augment.draw(policies, shape, keras.random.SeedGenerator(3))
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(again[1][0]), shift_h)


def test_policies_apply_in_the_order_written_and_keep_the_shape():
    x = tf.constant(images((4, 8, 8, 3)))
    policies = (Cutout(), Translation(), Color())
    draws = augment.draw(policies, x.shape, keras.random.SeedGenerator(1))
    out = augment.apply(policies, x, draws)
    expected = x
    for policy, drawn in zip(policies, draws):
        expected = augment.AUGMENT_RULES[policy.kind].apply(policy, expected, drawn)
    assert out.shape == x.shape
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(out), keras.ops.convert_to_numpy(expected))
    assert set(augment.AUGMENT_RULES) == set(AUGMENTATIONS.names())


# ---- gradients and the step ------------------------------------------------------------------

SPEC = """experiment diffaugment {
  seed 3
  data { source npz("unused.npz") }
  latent normal(4)
  generator { dense(8 * 8 * 3) reshape(8, 8, 3) tanh }
  critic { conv(4, kernel: 3, stride: 2) leaky_relu(0.2) flatten dense(1) }
  objective non_saturating
  train.batch 8
  %s
}
"""


def spec_with(settings: str):
    resolved = load_text(SPEC % settings, checks=False)
    assert resolved.spec is not None, resolved.diagnostics
    return resolved.spec


def test_generator_gradient_flows_through_every_policy():
    generator = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8 * 8 * 3), keras.layers.Reshape((8, 8, 3))])
    z = tf.constant(RNG.normal(size=(6, 4)).astype("float32"))
    weights = tf.constant(RNG.normal(size=(1, 8, 8, 3)).astype("float32"))
    for policies in ((Color(),), (Translation(),), (Cutout(),), (Color(), Translation(), Cutout())):
        draws = augment.draw(policies, (6, 8, 8, 3), keras.random.SeedGenerator(0))
        with tf.GradientTape() as tape:
            score = tf.reduce_sum(augment.apply(policies, generator(z), draws) * weights)
        gradients = tape.gradient(score, generator.trainable_variables)
        assert all(g is not None for g in gradients)
        assert sum(float(tf.reduce_sum(tf.abs(g))) for g in gradients) > 0, policies


def test_step_augments_every_critic_input():
    from ganspec.train.tf_step import compile_training

    real = RNG.uniform(-1, 1, size=(1, 8, 8, 8, 3)).astype("float32")
    results = {}
    for name, settings in (("plain", ""), ("augmented", "tricks.diffaugment [color, translation, cutout]")):
        keras.utils.set_random_seed(0)
        step = compile_training(spec_with(settings), (8, 8, 3))
        calls = []
        original = step._augment
        step._augment = lambda samples: calls.append(samples.shape) or original(samples)
        metrics = step(real, None, critic_steps=1)
        results[name] = {k: float(v) for k, v in metrics.items()}
        assert calls == [(8, 8, 8, 3)] * 4  # real and fake in the critic update, real and fake in the generator's
        assert np.isfinite(list(results[name].values())).all()
    assert results["plain"]["d_real"] != results["augmented"]["d_real"]


def test_no_diffaugment_draws_nothing():
    step_base = type("S", (), {})()
    from ganspec.train.step_common import StepBase

    step_base.spec = spec_with("")
    assert StepBase._augmentation(step_base, (8, 8, 8, 3)) is None
    x = tf.constant(images((2, 8, 8, 3)))
    assert StepBase._augmented(step_base, x, None) is x


# ---- the language: syntax, IR, fmt, diff -------------------------------------------------------


def test_syntax_defaults_and_order():
    tricks = spec_with("tricks.diffaugment [color, translation(0.25), cutout(ratio: 0.375)]").tricks
    assert [p.kind for p in tricks.diffaugment] == ["color", "translation", "cutout"]
    assert (tricks.diffaugment[1].ratio, tricks.diffaugment[2].ratio) == (0.25, 0.375)
    assert spec_with("tricks.diffaugment translation").tricks.diffaugment == (Translation(ratio=0.125),)
    assert spec_with("").tricks.diffaugment == ()


def test_unknown_policy_suggests_the_nearest():
    resolved = load_text(SPEC % "tricks.diffaugment [colour, translation]", checks=False)
    (problem,) = resolved.diagnostics
    assert (problem.code, problem.hint) == ("E201", "did you mean 'color'?")
    assert (problem.span.line, problem.span.column) == (9, 23)  # at `colour`


def test_fmt_keeps_diffaugment():
    text = SPEC % "tricks {\n diffaugment [ color,translation( 0.25 ),cutout ]\n}"
    once = format_text(text)
    assert format_text(once) == once
    assert load_text(once, checks=False).spec == load_text(text, checks=False).spec


def test_diff_shows_a_changed_policy():
    a = spec_with("tricks.diffaugment [color, translation]")
    b = spec_with("tricks.diffaugment [color, translation(0.25)]")
    edits = [e.to_json() for e in diff_specs(a, b)]
    assert edits == [{"op": "changed", "path": "tricks.diffaugment[1].ratio", "old": 0.125, "new": 0.25}]
    assert [e.path for e in diff_specs(spec_with(""), a)] == ["tricks.diffaugment[0]", "tricks.diffaugment[1]"]
