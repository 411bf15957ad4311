"""Manifold metrics on features: improved precision and recall (Kynkäänniemi et al.
2019) and density and coverage (Naeem et al. 2020).

Each real feature gets a radius, the distance to its k-th nearest real neighbour; the
union of these balls estimates the real manifold (and likewise for fakes).
precision: share of fakes inside the real manifold (fidelity);
recall: share of reals inside the fake manifold (diversity);
density: mean number of real balls holding a fake, over k (fidelity, robust to outliers);
coverage: share of real balls holding at least one fake (diversity).
"""
from __future__ import annotations

import numpy as np
import torch

CHUNK = 2048  # rows of the distance matrix computed at once


def _distances(a: torch.Tensor, b: torch.Tensor):
    """Yield (start, distances of a[start:start+CHUNK] to all of b)."""
    for start in range(0, len(a), CHUNK):
        yield start, torch.cdist(a[start:start + CHUNK], b)


def knn_radii(x: torch.Tensor, k: int) -> torch.Tensor:
    """Distance from each row to its k-th nearest other row."""
    radii = torch.empty(len(x), dtype=x.dtype)
    for start, d in _distances(x, x):
        radii[start:start + len(d)] = d.kthvalue(k + 1, dim=1).values  # k+1: the row itself is at 0
    return radii


def _inside(points: torch.Tensor, centres: torch.Tensor, radii: torch.Tensor) -> torch.Tensor:
    """For each point, how many balls (centre, radius) contain it."""
    counts = torch.empty(len(points), dtype=torch.int64)
    for start, d in _distances(points, centres):
        counts[start:start + len(d)] = (d <= radii[None, :]).sum(dim=1)
    return counts


def precision_recall(real: np.ndarray, fake: np.ndarray, k: int = 3) -> tuple[float, float]:
    r, f = torch.as_tensor(real, dtype=torch.float64), torch.as_tensor(fake, dtype=torch.float64)
    precision = (_inside(f, r, knn_radii(r, k)) > 0).double().mean()
    recall = (_inside(r, f, knn_radii(f, k)) > 0).double().mean()
    return float(precision), float(recall)


def density_coverage(real: np.ndarray, fake: np.ndarray, k: int = 5) -> tuple[float, float]:
    r, f = torch.as_tensor(real, dtype=torch.float64), torch.as_tensor(fake, dtype=torch.float64)
    radii = knn_radii(r, k)
    density = _inside(f, r, radii).double().sum() / (k * len(f))
    nearest_fake = torch.empty(len(r), dtype=torch.float64)
    for start, d in _distances(r, f):
        nearest_fake[start:start + len(d)] = d.min(dim=1).values
    coverage = (nearest_fake <= radii).double().mean()
    return float(density), float(coverage)
