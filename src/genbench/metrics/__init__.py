"""Metric registry: each entry scores generated samples against a run's data.

The functions in the sibling modules are pure (arrays in, numbers out) and tested
against independent references; the entries here only say which arrays they get.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from genbench.metrics.kde import kde_log_likelihood
from genbench.metrics.mmd import mmd2_unbiased
from genbench.metrics.modes import mode_coverage
from genbench.registry import Registry


@dataclass(frozen=True)
class EvalContext:
    """What a metric may look at besides the samples."""

    train: np.ndarray
    test: np.ndarray
    # (centres, std) for mixture datasets, else None.
    modes: tuple[np.ndarray, float] | None
    kind: str = "points"  # the dataset's kind: "points" or "images"


@dataclass(frozen=True)
class MetricSpec:
    fn: Callable[[np.ndarray, EvalContext], float | None]
    description: str
    higher_is_better: bool
    kind: str = "points"  # the kind of dataset the metric scores


METRICS: Registry[MetricSpec] = Registry("metric")
METRICS.register("kde_ll_study", MetricSpec(
    lambda g, c: kde_log_likelihood(g, c.train),
    "study 000's number: KDE fit on samples, mean log-density of the training points", True))
METRICS.register("kde_ll_test", MetricSpec(
    lambda g, c: kde_log_likelihood(g, c.test),
    "KDE fit on samples, mean log-density of held-out test points", True))
METRICS.register("kde_ll_reverse", MetricSpec(
    lambda g, c: kde_log_likelihood(c.train, g),
    "KDE fit on training points, mean log-density of samples (fidelity)", True))
METRICS.register("mmd2", MetricSpec(
    lambda g, c: mmd2_unbiased(g, c.test),
    "unbiased squared MMD, RBF kernel with median bandwidth, samples vs test", False))
METRICS.register("modes_covered", MetricSpec(
    lambda g, c: None if c.modes is None else mode_coverage(g, *c.modes)[0],
    "mixture modes with >= 20 samples within 3 std (mixtures only)", True))
METRICS.register("high_quality_frac", MetricSpec(
    lambda g, c: None if c.modes is None else mode_coverage(g, *c.modes)[1],
    "share of samples within 3 std of a mode (mixtures only)", True))


def evaluate(names: list[str], samples: np.ndarray, context: EvalContext) -> dict[str, float]:
    """Score ``samples`` by each named metric; metrics that do not apply are left out."""
    out = {}
    for name in names:
        spec = METRICS.get(name)
        value = spec.fn(samples, context) if spec.kind == context.kind else None
        if value is not None:
            out[name] = float(value)
    return out
