"""Image grids without torchvision: tile a batch into one picture and save it as PNG
(sample grids over epochs, reconstructions, interpolations)."""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image

from genbench.data.image_data import to_uint8
from genbench.io import atomic_write_bytes


def make_grid(images: np.ndarray, nrow: int = 8, padding: int = 2, value_range: tuple[float, float] = (0.0, 1.0),
              pad_value: int = 255) -> np.ndarray:
    """Tile (N, C, H, W) images, ``nrow`` per row, into one uint8 (H', W', C) array.

    Values are mapped from ``value_range`` to 0..255 and clipped; a short last row is
    padded with ``pad_value``, as is the ``padding``-pixel border around every tile.
    """
    if np.ndim(images) != 4:
        raise ValueError(f"make_grid expects (N, C, H, W) images, got shape {np.shape(images)}")
    pixels = to_uint8(images, value_range)
    n, c, h, w = pixels.shape
    cols = min(nrow, n)
    rows = -(-n // cols)
    grid = np.full((c, rows * (h + padding) + padding, cols * (w + padding) + padding), pad_value, dtype=np.uint8)
    for i in range(n):
        top = (i // cols) * (h + padding) + padding
        left = (i % cols) * (w + padding) + padding
        grid[:, top:top + h, left:left + w] = pixels[i]
    return grid.transpose(1, 2, 0)


def save_image(path: Path, images: np.ndarray, nrow: int = 8, value_range: tuple[float, float] = (0.0, 1.0)) -> None:
    """Write a grid of ``images`` as a PNG, atomically."""
    grid = make_grid(images, nrow=nrow, value_range=value_range)
    picture = Image.fromarray(grid[:, :, 0] if grid.shape[2] == 1 else grid)
    buf = io.BytesIO()
    picture.save(buf, format="PNG")
    atomic_write_bytes(path, buf.getvalue())
