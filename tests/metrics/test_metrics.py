import numpy as np
import pytest
from scipy.stats import gaussian_kde

from genbench.metrics import METRICS, EvalContext, evaluate
from genbench.metrics.kde import kde_log_likelihood
from genbench.metrics.mmd import median_bandwidth, mmd2_unbiased
from genbench.metrics.modes import mode_coverage


def test_kde_matches_scipy_logpdf_and_a_hand_formula():
    rng = np.random.default_rng(0)
    fit, ev = rng.normal(size=(300, 2)) @ [[1, 0.4], [0, 0.5]], rng.normal(size=(200, 2))
    assert kde_log_likelihood(fit, ev) == pytest.approx(gaussian_kde(fit.T).logpdf(ev.T).mean(), abs=1e-10)
    # Scott: kernel covariance = sample covariance * n^(-2/(d+4)), d = 2.
    cov = np.cov(fit.T) * len(fit) ** (-2 / 6)
    inv, det = np.linalg.inv(cov), np.linalg.det(cov)
    diff = ev[:, None, :] - fit[None, :, :]
    dens = np.exp(-0.5 * np.einsum("ijk,kl,ijl->ij", diff, inv, diff)).mean(1) / (2 * np.pi * np.sqrt(det))
    assert kde_log_likelihood(fit, ev) == pytest.approx(np.log(dens).mean(), abs=1e-10)


def _gauss_kernel_mean(mu1, var1, mu2, var2, sigma):
    """E k(x, y) for x ~ N(mu1, var1 I), y ~ N(mu2, var2 I) in 2D, RBF kernel width sigma."""
    s = var1 + var2 + sigma**2
    return (sigma**2 / s) * np.exp(-np.sum((np.asarray(mu1) - mu2) ** 2) / (2 * s))


def test_mmd2_matches_the_closed_form_for_gaussians():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(3000, 2))
    y = rng.normal(size=(3000, 2)) * np.sqrt(0.5) + [1.0, 0.0]
    sigma = 1.3
    expected = (_gauss_kernel_mean(0, 1, 0, 1, sigma) + _gauss_kernel_mean([1, 0], 0.5, [1, 0], 0.5, sigma)
                - 2 * _gauss_kernel_mean([0, 0], 1, [1, 0], 0.5, sigma))
    assert mmd2_unbiased(x, y, bandwidth=sigma) == pytest.approx(expected, rel=0.05)


def test_mmd2_is_unbiased_near_zero_and_matches_brute_force():
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(7, 2)), rng.normal(size=(5, 2)) + 0.3
    k = lambda a, b: np.exp(-np.sum((a - b) ** 2) / (2 * 0.8**2))
    kxx = sum(k(a, b) for i, a in enumerate(x) for j, b in enumerate(x) if i != j) / (7 * 6)
    kyy = sum(k(a, b) for i, a in enumerate(y) for j, b in enumerate(y) if i != j) / (5 * 4)
    kxy = sum(k(a, b) for a in x for b in y) / 35
    assert mmd2_unbiased(x, y, bandwidth=0.8) == pytest.approx(kxx + kyy - 2 * kxy, abs=1e-12)
    same = [mmd2_unbiased(rng.normal(size=(500, 2)), rng.normal(size=(500, 2))) for _ in range(10)]
    assert abs(np.mean(same)) < 2e-3


def test_median_bandwidth_of_two_points():
    assert median_bandwidth(np.array([[0.0, 0.0]]), np.array([[3.0, 4.0]])) == pytest.approx(5.0)


def test_mode_coverage_counts_modes_and_quality():
    centres = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    rng = np.random.default_rng(3)
    near = np.concatenate([centres[0] + rng.uniform(-0.2, 0.2, (30, 2)), centres[1] + rng.uniform(-0.2, 0.2, (19, 2))])
    far = np.full((51, 2), 5.0)
    covered, quality = mode_coverage(np.concatenate([near, far]), centres, std=0.1)
    assert covered == 1  # mode 1 has 19 < 20 samples, mode 2 none
    assert quality == pytest.approx(49 / 100)


def test_evaluate_skips_mode_metrics_without_modes():
    rng = np.random.default_rng(4)
    data = rng.normal(size=(200, 2))
    ctx = EvalContext(train=data, test=data, modes=None)
    out = evaluate(list(METRICS), data, ctx)
    assert set(out) == {"kde_ll_study", "kde_ll_test", "kde_ll_reverse", "mmd2"}
    assert out["kde_ll_study"] == pytest.approx(out["kde_ll_test"])


def test_both_mode_metrics_share_one_mode_coverage_pass(monkeypatch):
    import genbench.metrics as metrics

    calls = []
    monkeypatch.setattr(metrics, "mode_coverage", lambda *a, **k: calls.append(1) or mode_coverage(*a, **k))
    centres = np.array([[0.0, 0.0], [10.0, 0.0]])
    rng = np.random.default_rng(5)
    test, samples = rng.normal(size=(100, 2)) * 0.1, rng.normal(size=(100, 2)) * 0.1
    ctx = EvalContext(train=test, test=test, modes=(centres, 0.1))
    assert evaluate(["modes_covered", "high_quality_frac"], samples, ctx) == {"modes_covered": 1.0,
                                                                              "high_quality_frac": 1.0}
    assert len(calls) == 1
    assert not [k for k in ctx.cache if k[0] == "modes"]  # forgotten once the samples are scored


def test_mixture_log_density_matches_scipy_and_integrates_to_one():
    from scipy.stats import multivariate_normal

    from genbench.metrics.density import mixture_log_density

    centres, std = np.array([[0.0, 0.0], [1.0, 2.0], [-1.5, 0.5]]), 0.3
    x = np.random.default_rng(0).normal(size=(50, 2))
    ref = np.log(sum(multivariate_normal(c, std**2 * np.eye(2)).pdf(x) for c in centres) / 3)
    np.testing.assert_allclose(mixture_log_density(x, centres, std), ref, rtol=1e-10)
    grid = np.stack(np.meshgrid(np.linspace(-4, 4, 401), np.linspace(-3, 5, 401)), -1).reshape(-1, 2)
    mass = np.exp(mixture_log_density(grid, centres, std)).sum() * (8 / 400) ** 2
    assert abs(mass - 1) < 1e-3
