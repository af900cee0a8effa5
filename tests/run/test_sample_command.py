"""`ganspec sample`: one row per class, latent interpolations (slerp for normal priors, White 2016),
upscaled grids, JPEG output, and 2-D samples drawn over the run's data."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from ganspec import exitcodes
from ganspec.cli import main
from ganspec.load import load_text
from ganspec.run.images import auto_scale, image_grid, label_rows, scatter, upscale
from ganspec.run.sampling import (class_latents, class_rows, describe_interpolation, interpolation_latents,
                                  interpolation_rows, latent_batch, lerp, slerp)

RING = """experiment ring {
  seed 3
  data { source ring(8, 1.0, 0.05) }
  latent normal(4)
  generator { dense(16) relu dense(2) }
  critic { dense(16) relu dense(1) }
  objective non_saturating
  train { batch 32 iterations 1 log_every 1 }
  evaluate { every 100000 metrics [] }
}
"""

# Three classes of 8 x 8 grey images; the generator reads the one-hot label beside z.
CONDITIONAL = """experiment cond {
  seed 3
  data { source npz("tiny.npz", labels_key: "y") scale [-1, 1] }
  latent %s
  conditional { classes 3 }
  generator { dense(16) relu dense(64) tanh reshape(8, 8, 1) }
  critic { flatten dense(16) relu dense(1) }
  objective non_saturating
  train { batch 32 iterations 1 log_every 1 }
  evaluate { every 100000 metrics [] }
}
"""

GREY = np.array([180, 180, 180], dtype=np.uint8)


def cli(*argv) -> int:
    return main([str(a) for a in argv])


def read(path) -> np.ndarray:
    return np.asarray(Image.open(path))


def as_pixels(samples: np.ndarray) -> np.ndarray:
    """Samples in [-1, 1] as image_grid turns them into bytes."""
    return (np.clip((samples + 1) / 2, 0, 1) * 255).round().astype(np.uint8)


def make_run(folder, name: str, text: str):
    (folder / f"{name}.gan").write_text(text)
    assert cli("run", folder / f"{name}.gan", "--plain", "--out", folder / "runs" / name) == exitcodes.OK
    (run,) = (folder / "runs" / name).iterdir()
    return run


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Two 1-iteration runs: 2-D ring points (unconditional) and 8 x 8 images of 3 classes."""
    folder = tmp_path_factory.mktemp("sample")
    rng = np.random.default_rng(0)
    np.savez(folder / "tiny.npz", x=rng.integers(0, 256, (96, 8, 8)).astype(np.uint8), y=np.arange(96) % 3)
    return {"ring": make_run(folder, "ring", RING),
            "conditional": make_run(folder, "cond", CONDITIONAL % "normal(4)")}


def conditional_generator(latent: str = "normal(4)"):
    from ganspec.networks import build_generator

    spec = load_text(CONDITIONAL % latent).spec
    return spec, build_generator(spec)


def generate_at(spec, generator, z, label):
    one_hot = np.eye(spec.conditional.classes, dtype=np.float32)[np.full(len(z), label)]
    return np.asarray(generator([np.asarray(z, np.float32), one_hot], training=False))


# ---- pictures ---------------------------------------------------------------------------------


def test_upscale_repeats_each_pixel_exactly():
    picture = np.random.default_rng(1).integers(0, 256, (5, 7, 3)).astype(np.uint8)
    big = upscale(picture, 3)
    assert big.shape == (15, 21, 3) and big.dtype == np.uint8
    for a in range(3):
        for b in range(3):
            np.testing.assert_array_equal(big[a::3, b::3], picture)
    assert upscale(picture, 1) is picture
    with pytest.raises(ValueError):
        upscale(picture, 0)
    assert (auto_scale(28, 28), auto_scale(32, 32), auto_scale(64, 64), auto_scale(200, 100)) == (3, 2, 1, 1)


def test_grid_tiles_are_upscaled_and_padded():
    images = np.random.default_rng(2).uniform(-1, 1, (5, 4, 3, 1))
    grid = image_grid(images, (-1.0, 1.0), columns=2, padding=3, scale=2)
    assert grid.shape == (3 * (8 + 3) + 3, 2 * (6 + 3) + 3, 1)
    tile = grid[3 + 11:3 + 11 + 8, 3 + 9:3 + 9 + 6]  # row 1, column 1: image 3
    np.testing.assert_array_equal(tile, upscale(as_pixels(images[3]), 2))
    assert (grid[:3] == 255).all() and (grid[-11:, 3 + 9:] == 255).all()  # the padding and the empty sixth tile


def test_row_labels_sit_in_a_left_margin():
    grid = image_grid(np.zeros((6, 8, 8, 1)), columns=3, padding=2, scale=2)
    labelled = label_rows(grid, ["0", "7"], tile_height=16, padding=2)
    assert labelled.shape[0] == grid.shape[0] and labelled.shape[1] > grid.shape[1]
    np.testing.assert_array_equal(labelled[:, -grid.shape[1]:], grid)
    margin = labelled[:, :-grid.shape[1]]
    inked = np.nonzero((margin < 128).any(axis=(1, 2)))[0]
    assert inked.min() >= 2 and inked.max() < 2 + 2 * 18  # text in both rows, none outside them
    assert (margin[2:18] < 128).any() and (margin[20:36] < 128).any()


def test_scatter_draws_the_data_grey_and_classes_in_colours():
    points = np.array([[0.0, 0.0], [1.0, 1.0]])
    plain = scatter(points, np.random.default_rng(0).normal(size=(200, 2)))
    assert (plain == GREY).all(axis=-1).sum() > 50
    coloured = scatter(points, groups=np.array([0, 1]))
    assert not (coloured == GREY).all(axis=-1).any()
    assert len({tuple(p) for p in coloured.reshape(-1, 3)} - {(255, 255, 255)}) >= 2


# ---- interpolation -------------------------------------------------------------------------------


def test_slerp_keeps_the_norm_where_a_line_does_not():
    rng = np.random.default_rng(3)
    a, b = rng.standard_normal(64), rng.standard_normal(64)
    b *= np.linalg.norm(a) / np.linalg.norm(b)
    t = np.linspace(0, 1, 9)
    path = slerp(a, b, t)
    np.testing.assert_allclose(np.linalg.norm(path, axis=1), np.linalg.norm(a), rtol=1e-9)
    np.testing.assert_array_equal(path[0], a)
    np.testing.assert_array_equal(path[-1], b)
    assert np.linalg.norm(lerp(a, b, t)[4]) < 0.85 * np.linalg.norm(a)  # the line cuts through the middle
    np.testing.assert_allclose(slerp(a, 2 * a, t), lerp(a, 2 * a, t))  # parallel: no unique great circle


def test_normal_prior_rows_follow_great_circles_between_their_end_points():
    spec = load_text(CONDITIONAL % "normal(64, std: 2.0)").spec
    z, labels = interpolation_latents(spec, pairs=4, steps=7, seed=5)
    rows = z.reshape(4, 7, 64)
    ends = latent_batch(spec, 8, seed=5)
    np.testing.assert_array_equal(rows[:, 0], ends[0::2])
    np.testing.assert_array_equal(rows[:, -1], ends[1::2])
    norms = np.linalg.norm(rows, axis=2)
    low, high = np.minimum(norms[:, :1], norms[:, -1:]), np.maximum(norms[:, :1], norms[:, -1:])
    assert ((norms >= low * 0.999) & (norms <= high * 1.001)).all()
    assert labels.tolist() == [0] * 7 + [1] * 7 + [2] * 7 + [0] * 7  # one class per row, cycling
    assert describe_interpolation(spec).startswith("spherical")


def test_product_latents_hold_their_categorical_code_along_a_row():
    spec = load_text(CONDITIONAL % "product(normal(6), categorical(3), uniform(2))").spec
    z, _ = interpolation_latents(spec, pairs=3, steps=5, seed=1, classes=[1])
    rows = z.reshape(3, 5, 11)
    ends = latent_batch(spec, 6, seed=1)
    for i, row in enumerate(rows):
        code = row[:, 6:9]
        assert (code == ends[2 * i, 6:9]).all() and code.sum(axis=1).tolist() == [1.0] * 5
        np.testing.assert_allclose(row[:, 9:], lerp(ends[2 * i, 9:], ends[2 * i + 1, 9:], np.linspace(0, 1, 5)),
                                   rtol=1e-6)  # linear for the uniform factor
        np.testing.assert_allclose(row[:, :6], slerp(ends[2 * i, :6], ends[2 * i + 1, :6], np.linspace(0, 1, 5)),
                                   rtol=1e-5, atol=1e-6)
    assert describe_interpolation(spec) == ("spherical (normal(6)), held fixed (categorical(3)), "
                                            "linear (uniform(2))")


def test_interpolation_end_points_are_the_samples_of_their_latent_points():
    spec, generator = conditional_generator()
    rows = interpolation_rows(spec, generator, pairs=3, steps=6, seed=2, classes=[2, 0])
    assert rows.shape == (3, 6, 8, 8, 1)
    ends = latent_batch(spec, 6, seed=2)
    for i, label in enumerate([2, 0, 2]):
        np.testing.assert_allclose(rows[i, 0], generate_at(spec, generator, ends[2 * i:2 * i + 1], label)[0],
                                   atol=1e-6)
        np.testing.assert_allclose(rows[i, -1], generate_at(spec, generator, ends[2 * i + 1:2 * i + 2], label)[0],
                                   atol=1e-6)
    assert np.abs(rows[:, 0] - rows[:, 1]).mean() > 1e-4  # the row moves


# ---- one row per class -------------------------------------------------------------------------


def test_class_rows_share_latents_and_depend_on_the_class():
    spec, generator = conditional_generator()
    rows = class_rows(spec, generator, per_class=4, seed=7)
    assert rows.shape == (3, 4, 8, 8, 1)
    z = latent_batch(spec, 4, seed=7)
    for label in range(3):
        np.testing.assert_allclose(rows[label], generate_at(spec, generator, z, label), atol=1e-6)
    for a, b in ((0, 1), (0, 2), (1, 2)):
        assert np.abs(rows[a] - rows[b]).mean() > 1e-3, (a, b)
    chosen = class_rows(spec, generator, per_class=4, seed=7, classes=[2, 0])
    np.testing.assert_allclose(chosen, rows[[2, 0]], atol=1e-6)
    z_all, labels = class_latents(spec, 4, 7)
    assert labels.tolist() == [0] * 4 + [1] * 4 + [2] * 4 and (z_all[:4] == z_all[8:]).all()
    with pytest.raises(ValueError, match="not one of"):
        class_rows(spec, generator, 2, 0, classes=[3])


# ---- the command --------------------------------------------------------------------------------


def test_per_class_grid_has_a_row_per_class(runs, tmp_path):
    out = tmp_path / "classes.png"
    assert cli("sample", runs["conditional"], "--per-class", 4, "--scale", 2, "--padding", 1,
               "--no-labels", "-o", out) == exitcodes.OK
    picture = read(out)
    assert picture.shape == (3 * (16 + 1) + 1, 4 * (16 + 1) + 1)
    tiles = [picture[1 + r * 17:1 + r * 17 + 16, 1:1 + 4 * 17 - 1].astype(int) for r in range(3)]
    assert np.abs(tiles[0] - tiles[1]).mean() > 0.5 and np.abs(tiles[1] - tiles[2]).mean() > 0.5
    labelled = tmp_path / "labelled.png"
    assert cli("sample", runs["conditional"], "--per-class", 4, "--scale", 2, "--padding", 1, "-o", labelled) == 0
    with_labels = read(labelled)
    assert with_labels.shape[0] == picture.shape[0] and with_labels.shape[1] > picture.shape[1]
    np.testing.assert_array_equal(with_labels[:, -picture.shape[1]:], picture)
    # The default scale makes 8-pixel tiles 64 pixels; --class picks rows.
    assert cli("sample", runs["conditional"], "--class", 1, "--per-class", 3, "--no-labels", "-o", out) == 0
    assert read(out).shape == (64 + 4, 3 * (64 + 2) + 2)


def test_interpolation_picture_is_the_interpolation_rows(runs, tmp_path):
    from ganspec.run.rundir import RunDir

    out = tmp_path / "interpolation.png"
    assert cli("sample", runs["conditional"], "--interpolate", 5, "--rows", 2, "--seed", 4, "--scale", 1,
               "--padding", 0, "--no-labels", "-o", out) == exitcodes.OK
    picture = read(out)
    assert picture.shape == (2 * 8, 5 * 8)
    run = RunDir(runs["conditional"])
    spec = run.resolved_spec()
    generator = run.load_generator(spec)[0]
    rows = interpolation_rows(spec, generator, 2, 5, seed=4)
    expected = as_pixels(rows).transpose(0, 2, 1, 3, 4).reshape(16, 40)
    assert np.abs(picture.astype(int) - expected).max() <= 1


def test_same_seed_same_picture_and_jpeg_by_extension(runs, tmp_path):
    a, b, c = tmp_path / "a.png", tmp_path / "b.png", tmp_path / "c.png"
    for path, seed in ((a, 1), (b, 1), (c, 2)):
        assert cli("sample", runs["conditional"], "-n", 6, "--columns", 3, "--seed", seed, "-o", path) == 0
    assert read(a).shape == (2 * 66 + 2, 3 * 66 + 2)
    np.testing.assert_array_equal(read(a), read(b))
    assert not np.array_equal(read(a), read(c))
    jpeg = tmp_path / "out" / "grid.jpg"
    assert cli("sample", runs["conditional"], "-n", 4, "-o", jpeg) == 0
    assert Image.open(jpeg).format == "JPEG"


def test_two_dimensional_samples_are_drawn_over_grey_data(runs, tmp_path):
    over, alone = tmp_path / "over.png", tmp_path / "alone.png"
    assert cli("sample", runs["ring"], "-n", 100, "-o", over) == exitcodes.OK
    assert cli("sample", runs["ring"], "-n", 100, "--no-data", "-o", alone) == exitcodes.OK
    grey = lambda path: int((read(path) == GREY).all(axis=-1).sum())  # noqa: E731
    assert grey(over) > 200 and grey(alone) == 0
    assert ((read(over) == (240, 150, 60)).all(axis=-1)).sum() > 50  # the 8 ring modes
    assert cli("sample", runs["ring"], "--interpolate", 4, "--rows", 3, "-o", over) == exitcodes.OK


def test_bad_sample_options_exit_2_with_a_message(runs, tmp_path, capsys):
    out = tmp_path / "x.png"
    assert cli("sample", runs["ring"], "--per-class", 4, "-o", out) == exitcodes.INVALID
    assert "--per-class needs a conditional run" in capsys.readouterr().out
    assert cli("sample", runs["conditional"], "--class", 3, "-o", out) == exitcodes.INVALID
    assert "class 3 is not one of the spec's 3 classes" in capsys.readouterr().out
    assert cli("sample", runs["conditional"], "--per-class", 2, "--interpolate", 3, "-o", out) == exitcodes.INVALID
    assert cli("sample", runs["conditional"], "--interpolate", 1, "-o", out) == exitcodes.INVALID
    assert "--interpolate must be at least 2" in capsys.readouterr().out
    assert cli("sample", runs["conditional"], "-o", tmp_path / "x.gif") == exitcodes.INVALID
    assert ".png, .jpg, .jpeg" in capsys.readouterr().out
    assert not out.exists()
