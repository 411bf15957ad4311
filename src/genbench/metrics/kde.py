"""KDE log-likelihood: how well one point set explains another (study 000's metric)."""
from __future__ import annotations

import numpy as np
import torch
from scipy.stats import gaussian_kde


def kde_log_likelihood(fit_points: np.ndarray, eval_points: np.ndarray) -> float:
    """Mean log-density of ``eval_points`` under a Gaussian KDE fit on ``fit_points``,
    in nats per point: scipy's ``gaussian_kde`` with Scott's-rule bandwidth (kernel
    covariance = data covariance x n^(-2/(d+4))).

    scipy fits the kernel; the density is evaluated here in whitened coordinates with one
    batched distance matrix and a log-sum-exp, which gives scipy's ``logpdf`` to ~1e-12
    at a third of its time (the study scores 2000 x 2000 points several times per run).
    """
    fit = np.asarray(fit_points, dtype=np.float64)
    kde = gaussian_kde(fit.T, bw_method="scott")
    chol = np.linalg.cholesky(kde.covariance)
    white_fit = torch.from_numpy(np.linalg.solve(chol, fit.T).T.copy())
    white_eval = torch.from_numpy(np.linalg.solve(chol, np.asarray(eval_points, dtype=np.float64).T).T.copy())
    # Distances from coordinate differences, not the matrix-product expansion: exact, and
    # free of the BLAS GEMM whose rounding can change with memory alignment and threads
    # (a score must not change when a killed study recomputes it in another process).
    sq = torch.cdist(white_eval, white_fit, compute_mode="donot_use_mm_for_euclid_dist").pow_(2).mul_(-0.5)
    log_norm = np.log(len(fit)) + np.log(np.diag(chol)).sum() + 0.5 * fit.shape[1] * np.log(2 * np.pi)
    return float(torch.logsumexp(sq, dim=1).mean()) - float(log_norm)
