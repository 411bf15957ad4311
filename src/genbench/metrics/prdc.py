"""Manifold metrics on features: improved precision and recall (Kynkäänniemi et al.
2019) and density and coverage (Naeem et al. 2020).

Each real feature gets a radius, the distance to its k-th nearest real neighbour; the
union of these balls estimates the real manifold (and likewise for fakes).
precision: share of fakes inside the real manifold (fidelity);
recall: share of reals inside the fake manifold (diversity);
density: mean number of real balls holding a fake, over k (fidelity, robust to outliers);
coverage: share of real balls holding at least one fake (diversity).

Distances are computed in row blocks, each pair once per pass, so 10,000 x 10,000
features take seconds and little memory.
"""
from __future__ import annotations

import numpy as np
import torch

CHUNK = 2048  # rows of a distance block


def _blocks(a: torch.Tensor, b: torch.Tensor):
    """Yield (row slice, distances of those rows of ``a`` to all of ``b``)."""
    for start in range(0, len(a), CHUNK):
        rows = slice(start, min(start + CHUNK, len(a)))
        yield rows, torch.cdist(a[rows], b)


def knn_radii(x: torch.Tensor, k: int) -> torch.Tensor:
    """Distance from each row to its k-th nearest other row."""
    radii = torch.empty(len(x), dtype=x.dtype)
    for rows, d in _blocks(x, x):
        radii[rows] = d.topk(k + 1, dim=1, largest=False).values[:, k]  # k+1: the row itself is at 0
    return radii


def _tensor(x: np.ndarray) -> torch.Tensor:
    return torch.as_tensor(np.asarray(x), dtype=torch.float32)


def precision_recall(real: np.ndarray, fake: np.ndarray, k: int = 3) -> tuple[float, float]:
    r, f = _tensor(real), _tensor(fake)
    real_radii, fake_radii = knn_radii(r, k), knn_radii(f, k)
    fake_inside = torch.zeros(len(f), dtype=torch.bool)
    real_inside = torch.zeros(len(r), dtype=torch.bool)
    for rows, d in _blocks(f, r):  # d[i, j] = |fake_i - real_j|
        fake_inside[rows] = (d <= real_radii[None, :]).any(dim=1)
        real_inside |= (d <= fake_radii[rows, None]).any(dim=0)
    return float(fake_inside.double().mean()), float(real_inside.double().mean())


def density_coverage(real: np.ndarray, fake: np.ndarray, k: int = 5) -> tuple[float, float]:
    r, f = _tensor(real), _tensor(fake)
    radii = knn_radii(r, k)
    balls_holding = torch.zeros((), dtype=torch.float64)
    nearest_fake = torch.full((len(r),), float("inf"))
    for _, d in _blocks(f, r):
        balls_holding += (d <= radii[None, :]).sum()
        nearest_fake = torch.minimum(nearest_fake, d.min(dim=0).values)
    density = balls_holding / (k * len(f))
    coverage = (nearest_fake <= radii).double().mean()
    return float(density), float(coverage)
