"""Inception Score (Salimans et al. 2016): exp(E_x KL(p(y|x) || p(y))), per split."""
from __future__ import annotations

import numpy as np


def inception_score(probs: np.ndarray, splits: int = 10) -> tuple[float, float]:
    """Mean and std over ``splits`` consecutive splits of the class probabilities (N, K).
    Between 1 (every image the same class mix) and K (confident and uniform over classes)."""
    p = np.clip(np.asarray(probs, dtype=np.float64), 1e-12, 1.0)
    scores = []
    for part in np.array_split(p, splits):
        marginal = part.mean(axis=0, keepdims=True)
        scores.append(np.exp((part * (np.log(part) - np.log(marginal))).sum(axis=1).mean()))
    return float(np.mean(scores)), float(np.std(scores))
