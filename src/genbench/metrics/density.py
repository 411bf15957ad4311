"""Closed-form densities of the datasets that have one: an equal-weight mixture of
isotropic Gaussians (``gaussian-mixture``, ``8gaussians``)."""
from __future__ import annotations

import numpy as np
from scipy.special import logsumexp


def mixture_log_density(x: np.ndarray, centres: np.ndarray, std: float) -> np.ndarray:
    """log p(x) for p = (1/K) sum_k N(c_k, std^2 I), per row of ``x`` (n, d)."""
    x = np.asarray(x, dtype=np.float64)
    centres = np.asarray(centres, dtype=np.float64)
    d = x.shape[1]
    sq = ((x[:, None, :] - centres[None]) ** 2).sum(-1)  # (n, K)
    return logsumexp(-sq / (2 * std**2), axis=1) - np.log(len(centres)) - 0.5 * d * np.log(2 * np.pi * std**2)
