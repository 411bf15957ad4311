import numpy as np
import pytest

from genbench.data import DATASETS, make_splits, toy2d
from genbench.errors import GenbenchError
from genbench.metrics.kde import kde_log_likelihood


@pytest.mark.parametrize("name", [n for n, s in DATASETS.items() if s.kind == "points"])
def test_every_dataset_gives_n_float32_points_deterministically(name):
    spec = DATASETS.get(name)
    a = spec.generate(1001, np.random.default_rng(5))
    b = spec.generate(1001, np.random.default_rng(5))
    assert a.shape == (1001, 2) and a.dtype == np.float32
    assert np.isfinite(a).all()
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, spec.generate(1001, np.random.default_rng(6)))


def test_study000_protocol_replays_the_study_stream():
    # By hand: the study's first call is pinwheel arm 0 with 2000 // 3 = 666 points.
    rng = np.random.default_rng(54301)
    t = np.linspace(0, 4, 666) + rng.standard_normal(666) * 0.2
    r = np.linspace(0, 1, 666)
    splits = make_splits("pinwheel", {}, "study000", 2000, 500, 2000, 54301)
    assert splits.train.shape == (1998, 2)  # the study kept 3 * (2000 // 3) points
    assert splits.holdout.shape == (498, 2)
    np.testing.assert_allclose(splits.train[:666, 0], r * np.sin(t), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(splits.train[:666, 1], r * np.cos(t), rtol=1e-6, atol=1e-7)


def test_study000_mixture_comes_after_the_other_three_sets():
    rng = np.random.default_rng(54301)
    toy2d.pinwheel_study(2000, rng)
    toy2d.spiral(2000, rng)
    toy2d.checkerboard(2000, rng)
    expected = toy2d.gaussian_mixture(2000, rng)
    got = make_splits("gaussian-mixture", {}, "study000", 2000, 500, 2000, 54301).train
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("name,published_real_level", [
    ("pinwheel", -0.651), ("spiral", -0.745), ("checkerboard", -4.011), ("gaussian-mixture", -1.357)])
def test_real_data_kde_level_matches_the_study_code(name, published_real_level):
    """A KDE fit on 2000 fresh real samples, scored on the study's training points, gives
    the real-data level measured with the study's own code (seeds README)."""
    splits = make_splits(name, {}, "study000", 2000, 500, 2000, 54301)
    fresh = DATASETS.get(name).generate(2000, np.random.default_rng(1))
    assert kde_log_likelihood(fresh, splits.train) == pytest.approx(published_real_level, abs=0.04)


def test_genbench_protocol_splits_are_disjoint_draws():
    s = make_splits("spiral", {}, "genbench", 300, 100, 200, 1)
    assert (len(s.train), len(s.holdout), len(s.test)) == (300, 100, 200)
    assert not np.isin(s.test[:, 0], s.train[:, 0]).any()


def test_mixture_parameters_are_configurable():
    x = DATASETS.get("gaussian-mixture").generate(4000, np.random.default_rng(0), modes=4, radius=3.0, std=0.01)
    angles = np.degrees(np.arctan2(x[:, 1], x[:, 0])) % 360
    nearest = np.round(angles / 90) % 4
    assert set(np.unique(nearest)) == {0, 1, 2, 3}
    assert np.abs((angles + 45) % 90 - 45).max() < 2
    np.testing.assert_allclose(np.linalg.norm(x, axis=1), 3.0, atol=0.06)


def test_bad_names_and_parameters_are_one_line_errors():
    with pytest.raises(GenbenchError, match="unknown dataset 'pinwheal'.*did you mean 'pinwheel'"):
        make_splits("pinwheal", {}, "genbench", 10, 10, 10, 0)
    with pytest.raises(GenbenchError, match="no parameter 'arms'.*valid parameters: modes, radius, std"):
        make_splits("gaussian-mixture", {"arms": 3}, "genbench", 10, 10, 10, 0)
    with pytest.raises(GenbenchError, match="protocol 'study000' covers only"):
        make_splits("moons", {}, "study000", 10, 10, 10, 0)
