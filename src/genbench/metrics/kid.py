"""Kernel Inception Distance (Bińkowski et al. 2018): the unbiased squared MMD with the
cubic polynomial kernel k(x, y) = (x.y / d + 1)^3, averaged over random subsets."""
from __future__ import annotations

import numpy as np


def mmd2_polynomial(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased MMD^2 of two equal-size samples under the cubic polynomial kernel."""
    d = x.shape[1]
    kxx, kyy, kxy = ((a @ b.T / d + 1) ** 3 for a, b in ((x, x), (y, y), (x, y)))
    m = len(x)
    off = lambda k: (k.sum() - np.trace(k)) / (m * (m - 1))  # noqa: E731
    return float(off(kxx) + off(kyy) - 2 * kxy.mean())


def kid(real: np.ndarray, fake: np.ndarray, subsets: int = 100, subset_size: int = 1000,
        seed: int = 0) -> tuple[float, float]:
    """Mean and std of the MMD^2 over ``subsets`` random subsets of ``subset_size`` (capped
    at the smaller set), as torch-fidelity computes it."""
    real, fake = np.asarray(real, np.float64), np.asarray(fake, np.float64)
    size = min(subset_size, len(real), len(fake))
    rng = np.random.default_rng(seed)
    values = [mmd2_polynomial(real[rng.choice(len(real), size, replace=False)],
                              fake[rng.choice(len(fake), size, replace=False)]) for _ in range(subsets)]
    return float(np.mean(values)), float(np.std(values))
