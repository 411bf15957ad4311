"""The in-memory form every image loader returns."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from genbench.errors import GenbenchError

SPLITS = ("train", "test")


@dataclass(frozen=True)
class ImageData:
    images: np.ndarray  # uint8 (N, C, H, W)
    labels: np.ndarray | None  # int64 (N,) where the dataset has labels


def to_float(images: np.ndarray, value_range: tuple[float, float]) -> np.ndarray:
    """uint8 pixels to float32 in ``value_range`` (e.g. (0, 1) or (-1, 1))."""
    lo, hi = value_range
    return (images.astype(np.float32) / 255.0) * (hi - lo) + lo


def check_split(dataset: str, split: str, choices) -> None:
    if split not in choices:
        raise GenbenchError(f"{dataset} has no split {split!r}; choose one of: {', '.join(choices)}")


def to_uint8(images: np.ndarray, value_range: tuple[float, float]) -> np.ndarray:
    """Float images in ``value_range`` back to uint8 pixels (rounded, clipped)."""
    lo, hi = value_range
    return np.clip(np.round((np.asarray(images, dtype=np.float32) - lo) / (hi - lo) * 255.0), 0, 255).astype(np.uint8)
