import numpy as np
import pytest

from genbench.metrics.collapse import class_coverage, similar_pairs
from genbench.metrics.frechet import frechet_distance, frechet_features
from genbench.metrics.inception_score import inception_score
from genbench.metrics.kid import kid, mmd2_polynomial
from genbench.metrics.prdc import density_coverage, precision_recall
from genbench.metrics.ssim import ssim


def test_frechet_distance_of_gaussians_matches_the_closed_form():
    # Diagonal covariances commute: Tr((S1 S2)^1/2) = sum sqrt(s1 s2).
    mu1, mu2 = np.array([0.0, 1.0, 2.0]), np.array([1.0, 1.0, 0.0])
    s1, s2 = np.array([1.0, 4.0, 0.25]), np.array([4.0, 1.0, 1.0])
    expected = 1 + 0 + 4 + np.sum(s1 + s2 - 2 * np.sqrt(s1 * s2))
    assert frechet_distance(mu1, np.diag(s1), mu2, np.diag(s2)) == pytest.approx(expected, rel=1e-9)
    # A full covariance against itself, shifted: only the mean term is left.
    a = np.random.default_rng(0).normal(size=(4, 4))
    cov = a @ a.T + np.eye(4)
    assert frechet_distance(np.zeros(4), cov, np.full(4, 0.5), cov) == pytest.approx(1.0, abs=1e-6)


def test_frechet_of_samples_converges_to_the_population_value():
    rng = np.random.default_rng(1)
    a, b = rng.normal(0, 1, (20000, 2)), rng.normal([1, 0], [1, 2], (20000, 2))
    assert frechet_features(a, b) == pytest.approx(1 + (1 + 4 - 2 * 2), abs=0.05)


def test_kid_is_the_unbiased_polynomial_mmd():
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(6, 3)), rng.normal(1.0, 1.0, size=(6, 3))
    k = lambda a, b: (a @ b / 3 + 1) ** 3  # noqa: E731
    xx = sum(k(x[i], x[j]) for i in range(6) for j in range(6) if i != j) / 30
    yy = sum(k(y[i], y[j]) for i in range(6) for j in range(6) if i != j) / 30
    xy = sum(k(x[i], y[j]) for i in range(6) for j in range(6)) / 36
    assert mmd2_polynomial(x, y) == pytest.approx(xx + yy - 2 * xy)
    same = kid(rng.normal(size=(2000, 8)), rng.normal(size=(2000, 8)), subsets=20, subset_size=500)
    shifted = kid(rng.normal(size=(2000, 8)), rng.normal(0.5, 1, size=(2000, 8)), subsets=20, subset_size=500)
    assert abs(same[0]) < 3 * same[1] + 1e-3 and shifted[0] > 10 * same[1]


def test_inception_score_bounds():
    confident_uniform = np.eye(10)[np.arange(1000) % 10]
    assert inception_score(confident_uniform, splits=1)[0] == pytest.approx(10, rel=1e-6)
    one_class = np.tile(np.eye(10)[3], (1000, 1))
    assert inception_score(one_class)[0] == pytest.approx(1.0, abs=1e-6)
    assert inception_score(np.full((1000, 10), 0.1))[0] == pytest.approx(1.0, abs=1e-9)


def test_precision_recall_density_coverage_on_hand_made_sets():
    real = np.array([[0.0], [1.0], [2.0], [3.0], [4.0], [5.0], [6.0]])
    # k=1: every real ball has radius 1. Fakes: one on the manifold, one far away.
    fake = np.array([[2.5], [100.0]])
    p, r = precision_recall(real, fake, k=1)
    assert p == 0.5
    # fake radii (k=1): both 97.5, so every real lies in the first fake's ball.
    assert r == 1.0
    d, c = density_coverage(real, fake, k=1)
    assert d == pytest.approx(2 / 2)  # 2.5 lies in the balls of 2 and 3; 100 in none
    assert c == pytest.approx(2 / 7)  # reals 2 and 3 have a fake within radius 1
    rng = np.random.default_rng(3)
    same = rng.normal(size=(500, 4))
    assert precision_recall(same, same) == (1.0, 1.0)
    assert density_coverage(same, same)[1] == 1.0
    far = precision_recall(same, same + 100)
    assert far == (0.0, 0.0)


def test_ssim_is_one_for_identical_images_and_matches_the_constant_image_formula():
    x = np.random.default_rng(4).random((3, 1, 28, 28))
    np.testing.assert_allclose(ssim(x, x), 1.0)
    a, b = np.full((1, 1, 16, 16), 0.2), np.full((1, 1, 16, 16), 0.6)
    c1 = 0.01**2
    assert ssim(a, b)[0] == pytest.approx((2 * 0.2 * 0.6 + c1) / (0.2**2 + 0.6**2 + c1))
    assert ssim(x, np.random.default_rng(5).random((3, 1, 28, 28))).max() < 0.2
    assert ssim(np.ones((1, 3, 8, 8)), np.ones((1, 3, 8, 8)))[0] == pytest.approx(1.0)  # small images, RGB


def test_collapse_counts_near_copies():
    rng = np.random.default_rng(6)
    distinct = rng.normal(size=(50, 100))
    assert similar_pairs(distinct) == (0, 0.0)
    copies = np.repeat(distinct[:1], 10, axis=0) + 1e-3 * rng.normal(size=(10, 100))
    assert similar_pairs(copies) == (45, 1.0)


def test_class_coverage_counts_classes_and_kl():
    real = np.repeat(np.arange(4), 100)
    assert class_coverage(real, real, 4) == (4, pytest.approx(0.0))
    covered, kl = class_coverage(np.zeros(400, dtype=int), real, 4)
    assert covered == 1 and kl > 1.0
