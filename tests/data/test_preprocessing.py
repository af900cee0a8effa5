"""Preprocessing of real images declared in `data { }`: centre `crop` before `resize`, random `flip`,
`dequantize` noise (Theis et al. 2016, sec. 3.1). The random ones are a function of (seed, batch
position): tf.data and numpy serve the same batches, and a resumed run sees the same batches."""

from __future__ import annotations

from itertools import islice

import numpy as np
import pytest

from ganspec.checks import run_checks
from ganspec.data import DataError, load_data
from ganspec.data.dataset import ArrayDataset, Preprocess, RandomPreprocess
from ganspec.diff import diff_specs
from ganspec.ir.shapes import data_sample_shape
from ganspec.load import load_text
from ganspec.syntax.fmt import format_text
from tests.data.conftest import SPEC, make_spec

RNG = np.random.default_rng(0)
PIXELS = RNG.integers(0, 256, size=(14, 9, 7, 3), dtype=np.uint8)


def dataset(*, crop=None, resize=None, flip=None, dequantize=False, scale=(-1.0, 1.0), cache=True,
            conditional=False, shuffle=10_000):
    prep = Preprocess(scale, resize, True, crop=crop, dequantize=dequantize)
    augment = RandomPreprocess(flip=flip, noise_step=prep.quantisation_step if dequantize else None)
    return ArrayDataset(PIXELS, np.arange(14) % 3, prep, shuffle=shuffle, cache=cache, conditional=conditional,
                        augment=augment)


def take(data, batch=4, seed=3, count=6, start=0):
    return list(islice(data.numpy_batches(batch, seed, start_batch=start), count))


# ---- crop ------------------------------------------------------------------------------------


def test_crop_is_centred_and_comes_before_resize():
    prep = Preprocess((0.0, 1.0), None, True, crop=(5, 4))
    assert prep.crop_box((9, 7, 3)) == (2, 1, 5, 4)  # top (9 - 5) // 2, left (7 - 4) // 2
    assert Preprocess(None, None, True, crop=(140, 140)).crop_box((218, 178, 3)) == (39, 19, 140, 140)  # CelebA
    np.testing.assert_array_equal(prep.numpy(PIXELS), PIXELS[:, 2:7, 1:5].astype(np.float32) / np.float32(255))
    resized = Preprocess((0.0, 1.0), (3, 2), True, crop=(5, 4))
    assert resized.output_shape((9, 7, 3)) == (3, 2, 3)
    np.testing.assert_array_equal(resized.numpy(PIXELS), Preprocess((0.0, 1.0), (3, 2), True).numpy(PIXELS[:, 2:7, 1:5]))


def test_shape_inference_crops_then_resizes():
    spec = make_spec('tfds("celeb_a", shape: [218, 178, 3])', (64, 64, 3), data="crop [140, 140]\n resize [64, 64]")
    assert data_sample_shape(spec, None) == ((64, 64, 3), None)
    spec = make_spec('tfds("celeb_a", shape: [218, 178, 3])', (140, 140, 3), data="crop [140, 140]")
    assert data_sample_shape(spec, None) == ((140, 140, 3), None)
    assert run_checks(spec) == []


# ---- dequantize ------------------------------------------------------------------------------


@pytest.mark.parametrize("scale", [(-1.0, 1.0), (0.0, 1.0)])
def test_dequantize_adds_one_quantisation_level_of_uniform_noise(scale):
    low, high = scale
    data = dataset(dequantize=True, scale=scale, shuffle=0)
    x = take(data, batch=14, count=1)[0]
    base = PIXELS.astype(np.float64)
    u = (x.astype(np.float64) - low) / (high - low) * 256 - base  # x = (pixel + u) / 256 on the scale
    assert u.min() >= -1e-4 and u.max() < 1 + 1e-4  # within one level above the pixel
    assert abs(u.mean() - 0.5) < 0.02 and u.std() > 0.25  # uniform on [0, 1)
    assert low <= x.min() and x.max() < high
    assert data.augment.noise_step == (high - low) / 256


def test_dequantize_draws_fresh_noise_per_batch_position():
    batches = take(dataset(dequantize=True, shuffle=0), batch=7, count=4)
    assert not np.array_equal(batches[0], batches[2])  # the same examples (epoch 2), other noise
    np.testing.assert_allclose(batches[0], batches[2], atol=2 / 256)


# ---- flip ------------------------------------------------------------------------------------


@pytest.mark.parametrize("flip, axis", [("horizontal", 2), ("vertical", 1)])
def test_flip_mirrors_about_half_the_samples(flip, axis):
    plain = take(dataset(shuffle=0), batch=7, count=20)
    flipped = take(dataset(flip=flip, shuffle=0), batch=7, count=20)
    mirrored = 0
    for a, b in zip(plain, flipped):
        for x, y in zip(a, b):
            same, mirror = np.array_equal(x, y), np.array_equal(np.flip(x, axis - 1), y)
            assert same or mirror
            mirrored += mirror and not same
    assert 40 <= mirrored <= 100  # of 140, probability 1/2


def test_metrics_samples_are_not_augmented():
    data = dataset(flip="horizontal", dequantize=True)
    plain = Preprocess((-1.0, 1.0), None, True, dequantize=True)
    x = data.sample(5, seed=1)
    np.testing.assert_array_equal(x, plain.numpy(PIXELS)[np.sort(np.random.default_rng((1, 3, 0)).choice(14, 5, False))])


# ---- the same batches everywhere ---------------------------------------------------------------

AUGMENTED = dict(crop=(6, 5), flip="horizontal", dequantize=True)


@pytest.mark.parametrize("start", [0, 3, 7])
def test_resumed_runs_see_the_same_augmented_batches(start):
    fresh = take(dataset(**AUGMENTED), count=start + 5)
    resumed = take(dataset(**AUGMENTED), count=5, start=start)
    for a, b in zip(fresh[start:], resumed):
        np.testing.assert_array_equal(a, b)


def test_cache_does_not_change_augmented_batches():
    for a, b in zip(take(dataset(**AUGMENTED, cache=True)), take(dataset(**AUGMENTED, cache=False))):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("cache", [True, False])
@pytest.mark.parametrize("conditional", [True, False])
@pytest.mark.parametrize("settings", [AUGMENTED, dict(flip="vertical"), dict(dequantize=True), dict(crop=(9, 1))])
def test_tf_batches_are_the_numpy_batches(cache, conditional, settings):
    from ganspec.data.tf_pipeline import tf_batches

    data = dataset(**settings, cache=cache, conditional=conditional)
    expected = take(data, count=7, start=2)
    served = list(tf_batches(data, 4, seed=3, start_batch=2).take(7).as_numpy_iterator())
    assert len(served) == 7
    for a, b in zip(expected, served):
        if conditional:
            np.testing.assert_array_equal(a[0], b[0])
            np.testing.assert_array_equal(a[1], b[1])
        else:
            np.testing.assert_array_equal(a, b)


def test_tf_batches_resume_with_the_same_augmented_batches():
    from ganspec.data.tf_pipeline import tf_batches

    data = dataset(**AUGMENTED)
    fresh = list(tf_batches(data, 4, seed=3).take(9).as_numpy_iterator())
    resumed = list(tf_batches(dataset(**AUGMENTED), 4, seed=3, start_batch=5).take(4).as_numpy_iterator())
    for a, b in zip(fresh[5:], resumed):
        np.testing.assert_array_equal(a, b)


def test_tf_batches_with_crop_and_resize_agree_with_numpy():
    from ganspec.data.tf_pipeline import tf_batches

    data = dataset(**AUGMENTED, resize=(4, 3))
    for a, b in zip(take(data, count=3), tf_batches(data, 4, seed=3).take(3).as_numpy_iterator()):
        assert a.shape == (4, 4, 3, 3)
        np.testing.assert_allclose(a, b, atol=2e-5)  # tf.image.resize and its numpy twin (test_pipeline)


# ---- from a spec -------------------------------------------------------------------------------

IMAGES = 'npz("faces.npz", key: "x")'


def spec_for(data: str, shape=(6, 5, 3)):
    return make_spec(IMAGES, shape, data=data, batch=4)


def test_spec_settings_reach_the_data(tmp_path):
    np.savez(tmp_path / "faces.npz", x=PIXELS)
    data = load_data(spec_for("crop [6, 5]\n flip horizontal\n dequantize true"), tmp_path)
    assert data.sample_shape == (6, 5, 3)
    assert data.preprocess.crop == (6, 5) and data.preprocess.dequantize
    assert data.augment == RandomPreprocess("horizontal", 2 / 256)
    defaults = load_data(spec_for("", (9, 7, 3)), tmp_path)
    assert defaults.augment == RandomPreprocess() and not defaults.augment.active
    assert defaults.preprocess == Preprocess((-1.0, 1.0), None, True)


def test_crop_larger_than_the_images_is_an_error_at_run(tmp_path):
    np.savez(tmp_path / "faces.npz", x=PIXELS)
    with pytest.raises(DataError) as caught:
        load_data(spec_for("crop [10, 5]", (10, 5, 3)), tmp_path)
    d = caught.value.diagnostic
    assert d.code == "E204" and "crop [10, 5] is larger than the images, 9x7" in d.message
    assert d.hint == "crop at most [9, 7]" and d.span.line == 4


def test_dequantize_needs_pixels_and_flip_needs_images(tmp_path):
    np.savez(tmp_path / "faces.npz", x=PIXELS.astype(np.float32) / 255)
    with pytest.raises(DataError, match="`dequantize` adds noise to 8-bit pixels"):
        load_data(spec_for("dequantize true", (9, 7, 3)), tmp_path)
    np.savez(tmp_path / "rows.npz", x=np.zeros((8, 4), np.float32))
    spec = make_spec('npz("rows.npz", key: "x")', (4,), data="flip horizontal")
    with pytest.raises(DataError, match="`flip` applies to images"):
        load_data(spec, tmp_path)


def test_checks_reject_image_settings_for_toy_data_and_oversized_crops():
    spec = make_spec("ring(8, 1.0, 0.01)", (2,), data="flip horizontal\n dequantize true")
    problems = run_checks(spec)
    assert [(d.code, d.message) for d in problems] == [
        ("E204", "data.flip applies to images, but ring() gives 2D points"),
        ("E204", "data.dequantize applies to images, but ring() gives 2D points")]
    assert problems[0].span.line == 4
    spec = make_spec('tfds("mnist", shape: [28, 28, 1])', (32, 32, 1), data="crop [32, 32]")
    (problem,) = [d for d in run_checks(spec) if d.code == "E204"]
    assert problem.message == "data.crop [32, 32] is larger than the images, 28x28 (height x width)"


def test_fmt_round_trip_and_diff_of_the_data_settings():
    text = SPEC.format(source=IMAGES, data="crop [ 140,140 ] resize [64, 64]\n flip   horizontal dequantize true",
                       conditional="", generator="dense(12288) reshape(64, 64, 3)", critic="flatten dense(1)",
                       batch=4)
    once = format_text(text)
    assert format_text(once) == once
    spec = load_text(once, checks=False).spec
    assert spec == load_text(text, checks=False).spec
    assert (spec.data.crop, spec.data.resize, spec.data.flip, spec.data.dequantize) == ((140, 140), (64, 64),
                                                                                      "horizontal", True)
    other = load_text(once.replace("crop [140, 140]", "crop [148, 148]").replace("horizontal", "vertical"),
                      checks=False).spec
    assert [e.to_json() for e in diff_specs(spec, other)] == [
        {"op": "changed", "path": "data.crop[0]", "old": 140, "new": 148},
        {"op": "changed", "path": "data.crop[1]", "old": 140, "new": 148},
        {"op": "changed", "path": "data.flip", "old": "horizontal", "new": "vertical"}]
