import pytest
from scipy import stats

from genbench.report.stats import paired_p_value, verdict


def test_paired_p_value_is_scipys_paired_t_test_on_common_seeds():
    a = {0: 1.0, 1: 2.0, 2: 2.5, 3: 4.0, 9: 100.0}  # seed 9 has no partner: left out
    b = {0: 0.5, 1: 1.9, 2: 1.0, 3: 3.0}
    expected = stats.ttest_rel([1.0, 2.0, 2.5, 4.0], [0.5, 1.9, 1.0, 3.0]).pvalue
    assert paired_p_value(a, b) == pytest.approx(expected)
    assert paired_p_value({0: 1.0}, {0: 2.0}) is None
    assert paired_p_value({0: 1.0, 1: 2.0}, {0: 0.5, 1: 1.5}) == 0.0  # constant gap: certain
    assert paired_p_value({0: 1.0, 1: 2.0}, {0: 1.0, 1: 2.0}) == 1.0


def test_verdict_picks_the_better_model_by_direction_and_tests_the_gap():
    gan = {0: 10.0, 1: 11.0, 2: 12.0}
    vae = {0: 20.0, 1: 23.0, 2: 21.0}
    lower = verdict({"gan": gan, "vae": vae}, higher_is_better=False)
    assert lower["best"] == "gan" and lower["runner_up"] == "vae"
    assert lower["gap"] == pytest.approx(64 / 3 - 11.0)
    assert lower["significant"] and "holds across seeds" in lower["text"]
    higher = verdict({"gan": gan, "vae": vae}, higher_is_better=True)
    assert higher["best"] == "vae"
    noisy = verdict({"a": {0: 1.0, 1: 3.0, 2: 2.0}, "b": {0: 2.0, 1: 1.0, 2: 2.5}}, higher_is_better=True)
    assert not noisy["significant"] and "no significant difference" in noisy["text"]
    assert verdict({"a": {0: 1.0}, "b": {}}, True) is None


def test_costs_are_shown_in_human_units():
    from genbench.report import human_rate, human_seconds

    assert [human_seconds(s) for s in (0.0123, 29.4, 754.0, 5472.0)] == ["0.0123 s", "29.4 s", "12.6 min", "1.52 h"]
    assert [human_rate(r) for r in (850.0, 295_400.0, 1.2e6)] == ["850/s", "295k/s", "1.2M/s"]
