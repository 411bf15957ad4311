"""Summaries over seeds."""
from __future__ import annotations

import math

import numpy as np
from scipy import stats


def mean_ci(values: list[float] | np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """Mean and half-width of the Student-t confidence interval over seeds (0 for one seed)."""
    x = np.asarray(values, dtype=np.float64)
    if len(x) < 2:
        return float(x.mean()), 0.0
    half = stats.t.ppf(0.5 + level / 2, len(x) - 1) * x.std(ddof=1) / math.sqrt(len(x))
    return float(x.mean()), float(half)


def paired_p_value(a: dict[int, float], b: dict[int, float]) -> float | None:
    """Two-sided paired t-test over the seeds both have (None below two seeds).

    Seeds pair naturally: the same seed fixes the data order and noise of both models'
    runs. Differences that are all equal give p = 0 (or 1 when they are all zero), where
    the t statistic is undefined."""
    seeds = sorted(set(a) & set(b))
    if len(seeds) < 2:
        return None
    diff = np.array([a[s] - b[s] for s in seeds])
    if np.allclose(diff, diff[0]):
        return 1.0 if diff[0] == 0 else 0.0
    return float(stats.ttest_rel([a[s] for s in seeds], [b[s] for s in seeds]).pvalue)


def verdict(scores: dict[str, dict[int, float]], higher_is_better: bool, alpha: float = 0.05) -> dict | None:
    """Which model is best on one metric, by how much over the runner-up, and whether the
    gap holds across seeds. ``scores``: model -> seed -> value; None under two models."""
    ranked = sorted((m for m in scores if scores[m]), key=lambda m: np.mean(list(scores[m].values())),
                    reverse=higher_is_better)
    if len(ranked) < 2:
        return None
    best, second = ranked[0], ranked[1]
    mean_best, mean_second = (float(np.mean(list(scores[m].values()))) for m in (best, second))
    p = paired_p_value(scores[best], scores[second])
    if p is None:
        text = "one seed: no test"
    elif p < alpha:
        text = f"holds across seeds (paired t-test p={p:.3g})"
    else:
        text = f"no significant difference (paired t-test p={p:.3g})"
    return {"best": best, "runner_up": second, "gap": abs(mean_best - mean_second),
            "relative": abs(mean_best - mean_second) / abs(mean_second) if mean_second else float("inf"),
            "p": p, "significant": p is not None and p < alpha, "text": text}
