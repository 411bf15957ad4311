"""Mode coverage for mixtures of Gaussians, as in the mode-collapse literature
(Srivastava et al. 2017; Lin et al. 2018, PacGAN): a sample is high quality when it lies within
3 standard deviations of its nearest mode; a mode is covered when it receives at least
``min_count`` high-quality samples."""
from __future__ import annotations

import numpy as np
from scipy.spatial.distance import cdist


def mode_coverage(samples: np.ndarray, centres: np.ndarray, std: float, min_count: int = 20) -> tuple[int, float]:
    """(number of modes covered, share of high-quality samples)."""
    dist = cdist(np.asarray(samples, dtype=np.float64), centres)
    nearest = dist.argmin(axis=1)
    good = dist[np.arange(len(samples)), nearest] <= 3 * std
    counts = np.bincount(nearest[good], minlength=len(centres))
    return int((counts >= min_count).sum()), float(good.mean())
