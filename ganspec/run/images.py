"""Sample pictures: a tiled grid for images, a scatter plot for 2D points (Pillow only)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np


def image_grid(images: np.ndarray, value_range=(-1.0, 1.0), columns: int | None = None) -> np.ndarray:
    """(N, H, W, C) images in `value_range` -> one uint8 (rows*H, cols*W, C) grid, 1-pixel gaps."""
    n, h, w, c = images.shape
    cols = columns or int(math.ceil(math.sqrt(n)))
    rows = int(math.ceil(n / cols))
    low, high = value_range
    x = np.clip((images - low) / (high - low), 0, 1)
    grid = np.ones((rows * (h + 1) + 1, cols * (w + 1) + 1, c), dtype=np.float32)
    for i in range(n):
        r, k = divmod(i, cols)
        grid[1 + r * (h + 1):1 + r * (h + 1) + h, 1 + k * (w + 1):1 + k * (w + 1) + w] = x[i]
    return (grid * 255).round().astype(np.uint8)


def _as_2d(points: np.ndarray) -> np.ndarray:
    pts = points.reshape(len(points), -1)[:, :2]
    if pts.shape[1] == 1:  # 1D samples drawn along the x axis
        pts = np.concatenate([pts, np.zeros_like(pts)], axis=1)
    return pts[np.isfinite(pts).all(axis=1)]


def scatter(points: np.ndarray, reference: np.ndarray | None = None, size: int = 400) -> np.ndarray:
    """1D or 2D points as an RGB picture: reference points in grey, samples in blue."""
    from PIL import Image, ImageDraw

    pts = _as_2d(points)
    ref = _as_2d(reference) if reference is not None else np.zeros((0, 2))
    both = np.concatenate([pts, ref]) if len(pts) + len(ref) else np.array([[-1.0, -1.0], [1.0, 1.0]])
    lo, hi = both.min(axis=0), both.max(axis=0)
    span = max(float((hi - lo).max()), 1e-6) * 1.1
    centre = (hi + lo) / 2
    img = Image.new("RGB", (size, size), "white")
    draw = ImageDraw.Draw(img)
    for colour, radius, data in (((180, 180, 180), 0, ref), ((30, 90, 200), 1, pts)):
        for x, y in ((data - centre) / span + 0.5) * (size - 1):
            y = size - 1 - y
            draw.ellipse((x - radius, y - radius, x + radius, y + radius), fill=colour)
    return np.asarray(img)


def save_png(array: np.ndarray, path: Path) -> None:
    from PIL import Image

    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    tmp = path.with_name(path.name + ".tmp.png")
    Image.fromarray(array).save(tmp)
    tmp.replace(path)
