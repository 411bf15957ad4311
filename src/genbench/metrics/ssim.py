"""Structural similarity (Wang et al. 2004): local means, variances and covariance under
an 11x11 Gaussian window (sigma 1.5, narrower for images under 11 pixels), valid region
only, as the paper's reference code; C1 = (0.01 L)^2, C2 = (0.03 L)^2."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


def _window(size: int, sigma: float) -> torch.Tensor:
    x = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-(x**2) / (2 * sigma**2))
    g = g / g.sum()
    return torch.outer(g, g)


def ssim(a: np.ndarray, b: np.ndarray, data_range: float = 1.0) -> np.ndarray:
    """Per-image mean SSIM of two (N, C, H, W) batches (channels averaged)."""
    x, y = torch.as_tensor(a, dtype=torch.float64), torch.as_tensor(b, dtype=torch.float64)
    n, c, h, _ = x.shape
    size = min(11, h - (1 - h % 2))  # odd, at most the image
    win = _window(size, 1.5 * size / 11).expand(c, 1, size, size)
    blur = lambda t: F.conv2d(t, win, groups=c)  # noqa: E731
    mx, my = blur(x), blur(y)
    vx, vy, cxy = blur(x * x) - mx**2, blur(y * y) - my**2, blur(x * y) - mx * my
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    smap = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx**2 + my**2 + c1) * (vx + vy + c2))
    return smap.mean(dim=(1, 2, 3)).numpy()
