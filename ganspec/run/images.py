"""Sample pictures: a tiled grid for images, a scatter plot for 2D points (Pillow only).

Every function takes and returns NumPy arrays (uint8 pictures of shape (H, W, C)), so the trainer,
`ganspec sample` and the Python API draw the same pictures."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

# File extensions a picture can be written to, and Pillow's name for the format.
PICTURE_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG"}
# Colours of sample groups (classes, interpolation rows) in a scatter plot; the first is the plain one.
PALETTE = ((30, 90, 200), (220, 80, 40), (40, 160, 70), (150, 70, 180), (230, 160, 20),
           (20, 170, 190), (200, 60, 130), (110, 110, 40), (90, 60, 30), (60, 60, 60))
DATA_GREY = (180, 180, 180)
MODE_COLOUR = (240, 150, 60)


def upscale(picture: np.ndarray, factor: int) -> np.ndarray:
    """Integer nearest-neighbour upscaling: each pixel repeated `factor` times along both axes."""
    if factor < 1:
        raise ValueError(f"the scale factor must be a positive integer, not {factor}")
    if factor == 1:
        return picture
    return np.repeat(np.repeat(picture, factor, axis=0), factor, axis=1)


def auto_scale(height: int, width: int, minimum: int = 64) -> int:
    """The smallest integer factor that makes a height x width tile at least `minimum` pixels on its
    shorter side (3 for 28 x 28 MNIST, 2 for 32 x 32, 1 from 64 on)."""
    return max(1, math.ceil(minimum / max(1, min(height, width))))


def image_grid(images: np.ndarray, value_range=(-1.0, 1.0), columns: int | None = None, padding: int = 1,
               scale: int = 1) -> np.ndarray:
    """(N, H, W, C) images in `value_range` -> one uint8 grid, row-major, `columns` wide (default about
    square), each tile upscaled `scale` times (nearest neighbour) and `padding` white pixels around
    tiles: shape (rows*(H*scale+padding)+padding, columns*(W*scale+padding)+padding, C)."""
    n, h, w, c = images.shape
    cols = columns or int(math.ceil(math.sqrt(n)))
    rows = int(math.ceil(n / cols))
    low, high = value_range
    tiles = (np.clip((images - low) / (high - low), 0, 1) * 255).round().astype(np.uint8)
    th, tw = h * scale, w * scale
    grid = np.full((rows * (th + padding) + padding, cols * (tw + padding) + padding, c), 255, dtype=np.uint8)
    for i in range(n):
        r, k = divmod(i, cols)
        top, left = padding + r * (th + padding), padding + k * (tw + padding)
        grid[top:top + th, left:left + tw] = upscale(tiles[i], scale)
    return grid


def rows_grid(rows: np.ndarray, value_range=(-1.0, 1.0), scale: int | None = None, padding: int = 2,
              row_labels: list[str] | None = None) -> np.ndarray:
    """(R, C, H, W, channels) images (class_rows, interpolation_rows) -> one uint8 grid of R rows and C
    columns, each tile upscaled `scale` times (default auto_scale) with `padding` pixels between, and
    `row_labels` (e.g. class numbers) in a left margin when given (label_rows)."""
    count, columns, height, width = rows.shape[:4]
    scale = scale or auto_scale(height, width)
    grid = image_grid(rows.reshape(count * columns, *rows.shape[2:]), value_range, columns, padding, scale)
    return label_rows(grid, row_labels, height * scale, padding) if row_labels is not None else grid


def _font(size: int):
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1: the fixed bitmap font only
        return ImageFont.load_default()


def label_rows(grid: np.ndarray, labels: list[str], tile_height: int, padding: int) -> np.ndarray:
    """A grid with a white left margin holding one short label per row (Pillow's default font), each
    centred on its row of tiles `tile_height` high with `padding` pixels between rows. The grid's
    own pixels are unchanged: they are the right-hand columns of the result."""
    from PIL import Image, ImageDraw

    font = _font(max(10, min(24, tile_height // 3)))
    measure = ImageDraw.Draw(Image.new("L", (1, 1)))
    boxes = [measure.textbbox((0, 0), text, font=font) for text in labels]
    margin = max((box[2] for box in boxes), default=0) + 6
    height, _, channels = grid.shape
    mode, ink = ("L", 40) if channels == 1 else ("RGB", (40, 40, 40))
    strip = Image.new(mode, (margin, height), 255 if channels == 1 else (255, 255, 255))
    draw = ImageDraw.Draw(strip)
    for row, (text, box) in enumerate(zip(labels, boxes)):
        middle = padding + row * (tile_height + padding) + tile_height / 2
        draw.text((margin - 3 - box[2], middle - (box[1] + box[3]) / 2), text, fill=ink, font=font)
    margin_pixels = np.asarray(strip, dtype=np.uint8).reshape(height, margin, channels)
    return np.concatenate([margin_pixels, grid], axis=1)


def _as_2d(points: np.ndarray) -> np.ndarray:
    pts = points.reshape(len(points), -1)[:, :2]
    if pts.shape[1] == 1:  # 1D samples drawn along the x axis
        pts = np.concatenate([pts, np.zeros_like(pts)], axis=1)
    return pts


def scatter(points: np.ndarray, reference: np.ndarray | None = None, size: int = 400, *,
            groups: np.ndarray | None = None, joined: bool = False, modes: np.ndarray | None = None,
            mode_radius: float = 0.0) -> np.ndarray:
    """1D or 2D points as an RGB picture `size` pixels square: `reference` (real) points in grey, the
    mode centres of toy data as orange rings of `mode_radius` (data units; a dot when 0), then the
    samples in blue, or coloured by `groups` (one integer per point, e.g. its class), with the
    consecutive points of a group joined by lines when `joined` (interpolation paths)."""
    from PIL import Image, ImageDraw

    pts = _as_2d(points)
    keep = np.isfinite(pts).all(axis=1)
    pts = pts[keep]
    group = np.zeros(len(keep), dtype=int)[keep] if groups is None else np.asarray(groups, dtype=int)[keep]
    ref = _as_2d(reference) if reference is not None else np.zeros((0, 2))
    ref = ref[np.isfinite(ref).all(axis=1)]
    centres = _as_2d(np.asarray(modes, dtype=np.float64)) if modes is not None else np.zeros((0, 2))
    extent = [pts, ref, centres - mode_radius, centres + mode_radius]
    both = np.concatenate(extent) if sum(map(len, extent)) else np.array([[-1.0, -1.0], [1.0, 1.0]])
    lo, hi = both.min(axis=0), both.max(axis=0)
    span = max(float((hi - lo).max()), 1e-6) * 1.1
    centre = (hi + lo) / 2

    def to_pixels(data):
        xy = ((data - centre) / span + 0.5) * (size - 1)
        return np.stack([xy[:, 0], size - 1 - xy[:, 1]], axis=1)

    img = Image.new("RGB", (size, size), "white")
    draw = ImageDraw.Draw(img)
    for x, y in to_pixels(ref):
        draw.point((x, y), fill=DATA_GREY)
    ring = max(2.0, mode_radius / span * (size - 1))
    for x, y in to_pixels(centres):
        draw.ellipse((x - ring, y - ring, x + ring, y + ring), outline=MODE_COLOUR, width=2)
    pixels = to_pixels(pts)
    if joined:
        for g in np.unique(group):
            path = pixels[group == g]
            if len(path) > 1:
                draw.line([tuple(p) for p in path], fill=PALETTE[g % len(PALETTE)], width=1)
    for (x, y), g in zip(pixels, group):
        draw.ellipse((x - 1, y - 1, x + 1, y + 1), fill=PALETTE[g % len(PALETTE)])
    return np.asarray(img)


def picture_format(path: Path) -> str | None:
    """Pillow's format for a picture file, from its extension (.png, .jpg, .jpeg); None for others."""
    return PICTURE_FORMATS.get(Path(path).suffix.lower())


def save_picture(array: np.ndarray, path: Path) -> None:
    """Write a uint8 picture atomically, in the format its extension names (PNG or JPEG)."""
    from PIL import Image

    path = Path(path)
    fmt = picture_format(path)
    if fmt is None:
        raise ValueError(f"cannot write {path.name}: use one of {', '.join(PICTURE_FORMATS)}")
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    tmp = path.with_name(path.name + ".tmp" + path.suffix)
    Image.fromarray(array).save(tmp, format=fmt, **({"quality": 95} if fmt == "JPEG" else {}))
    tmp.replace(path)


def save_png(array: np.ndarray, path: Path) -> None:
    """Write a uint8 picture as PNG (atomically)."""
    from PIL import Image

    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    tmp = path.with_name(path.name + ".tmp.png")
    Image.fromarray(array).save(tmp, format="PNG")
    tmp.replace(path)
