"""Study 003's mode-collapse check, and class coverage from a classifier's predictions."""
from __future__ import annotations

import numpy as np


def similar_pairs(images: np.ndarray, threshold: float = 0.9) -> tuple[int, float]:
    """Count and share of distinct pairs whose pixel vectors have cosine similarity above
    ``threshold``: near-copies among generated images point to collapse."""
    x = np.asarray(images, dtype=np.float64).reshape(len(images), -1)
    x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    sims = x @ x.T
    upper = sims[np.triu_indices(len(x), k=1)]
    count = int((upper > threshold).sum())
    return count, count / len(upper)


def class_coverage(predicted: np.ndarray, real_labels: np.ndarray, classes: int,
                   min_share: float = 0.2) -> tuple[int, float]:
    """(classes covered, KL(real || generated) of the class distributions). A class is
    covered when its share of the samples is at least ``min_share`` of its real share;
    shares are smoothed by one count per class so the KL stays finite."""
    gen = np.bincount(predicted, minlength=classes) + 1.0
    real = np.bincount(real_labels, minlength=classes) + 1.0
    gen, real = gen / gen.sum(), real / real.sum()
    covered = int((gen >= min_share * real).sum())
    return covered, float((real * np.log(real / gen)).sum())
