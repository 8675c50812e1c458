"""The pure statistics behind experiments and monitoring, against values worked out by hand or published."""

import math
import random

import pytest

from learning import stats


def test_the_wilson_interval_matches_the_published_values():
    half = stats.wilson_interval(5, 10)
    assert half.value == 0.5
    assert (half.low, half.high) == (pytest.approx(0.2366, abs=1e-4), pytest.approx(0.7634, abs=1e-4))
    none = stats.wilson_interval(0, 10)
    assert none.low == 0 and none.high == pytest.approx(0.2775, abs=1e-4)
    assert stats.wilson_interval(0, 0).value is None


def test_the_wilson_interval_refuses_more_successes_than_trials():
    with pytest.raises(ValueError, match="between 0 and n"):
        stats.wilson_interval(11, 10)


def test_the_difference_of_proportions_matches_newcombes_worked_example():
    # Newcombe (1998), Statistics in Medicine 17:873, example (a), method 10: 56/70 - 48/80 = 0.2 (0.0524, 0.3339).
    difference = stats.proportion_difference(48, 80, 56, 70)
    assert difference.value == pytest.approx(0.2)
    assert difference.low == pytest.approx(0.0524, abs=1e-4)
    assert difference.high == pytest.approx(0.3339, abs=1e-4)
    assert difference.excludes_zero
    assert stats.proportion_difference(0, 0, 3, 4).value is None


def test_the_median_and_its_bootstrap_interval_are_seeded_and_cover_the_median():
    values = [1.0, 2.0, 3.0, 4.0, 100.0]
    assert stats.median(values) == 3.0 and stats.median([1.0, 2.0]) == 1.5 and stats.median([]) is None
    first = stats.bootstrap_median(values, resamples=500, seed=7)
    assert first == stats.bootstrap_median(values, resamples=500, seed=7)
    assert first.value == 3.0 and first.low <= 3.0 <= first.high
    assert first.low >= 1.0 and first.high <= 100.0


def test_the_bootstrap_difference_of_medians_separates_clearly_different_arms_only():
    rng = random.Random(1)
    fast = [rng.gauss(10, 2) for _ in range(300)]
    slow = [rng.gauss(20, 2) for _ in range(300)]
    same = [rng.gauss(10, 2) for _ in range(300)]
    apart = stats.bootstrap_median_difference(fast, slow, resamples=300)
    assert apart.value == pytest.approx(10, abs=1) and apart.low > 8 and apart.excludes_zero
    alike = stats.bootstrap_median_difference(fast, same, resamples=300)
    assert not alike.excludes_zero


def test_average_precision_matches_the_hand_computed_area():
    # Ranked: 0.8 (pos) P=1 R=.5; 0.4 (neg); 0.35 (pos) P=2/3 R=1 -> 0.5*1 + 0.5*2/3.
    assert stats.average_precision([0.1, 0.4, 0.35, 0.8], [False, False, True, True]) == pytest.approx(5 / 6)
    # Tied scores are one threshold: precision 1/2 at recall 1.
    assert stats.average_precision([0.5, 0.5], [True, False]) == pytest.approx(0.5)
    assert stats.average_precision([0.3, 0.2], [True, True]) is None


def test_confusion_counts_give_precision_recall_accuracy_and_kappa():
    counts = stats.Counts(tp=20, fp=5, fn=10, tn=15)
    assert counts.precision == pytest.approx(0.8) and counts.recall == pytest.approx(2 / 3)
    assert counts.accuracy == pytest.approx(0.7)
    # p_o = .7; chance = .5 * .6 + .5 * .4 = .5; kappa = (.7 - .5) / (1 - .5).
    assert counts.kappa == pytest.approx(0.4)
    assert stats.confusion([0.9, 0.6, 0.2, 0.7], [True, False, True, True], 0.65) == stats.Counts(2, 0, 1, 1)
    assert stats.Counts().precision is None and stats.Counts().kappa is None


def test_calibration_bins_report_mean_prediction_and_observed_rate():
    bins = stats.calibration_bins([0.05, 0.15, 0.15, 0.95, 1.0], [False, True, False, True, True])
    assert len(bins) == 10
    assert (bins[0].count, bins[0].observed_rate) == (1, 0.0)
    assert (bins[1].count, bins[1].mean_predicted, bins[1].observed_rate) == (2, pytest.approx(0.15), 0.5)
    assert (bins[9].count, bins[9].observed_rate) == (2, 1.0)  # 1.0 falls in the last bin
    assert bins[5].mean_predicted is None and bins[5].observed_rate is None


def test_the_population_stability_index_matches_the_hand_computed_value():
    # Shares .5/.5 -> .25/.75: (.25-.5) ln(.5) + (.75-.5) ln(1.5).
    expected = -0.25 * math.log(0.5) + 0.25 * math.log(1.5)
    assert stats.population_stability_index([50, 50], [25, 75]) == pytest.approx(expected)
    assert stats.population_stability_index([10, 20, 30], [10, 20, 30]) == pytest.approx(0)
    assert stats.population_stability_index([0, 0], [1, 2]) is None
    # An empty bin is floored, not infinite.
    assert math.isfinite(stats.population_stability_index([100, 0], [50, 50]))
    assert stats.histogram([0.0, 0.05, 0.5, 0.99, 1.0]) == [2, 0, 0, 0, 0, 1, 0, 0, 0, 2]


@pytest.mark.parametrize("n", [1, 2, 7, 50])
def test_the_constant_time_resampled_median_has_the_distribution_of_a_real_resamples_median(n):
    rng = random.Random(n)
    ordered = sorted(rng.gauss(0, 1) for _ in range(n))
    fast_rng, slow_rng = random.Random(1), random.Random(2)
    fast = sorted(stats.resampled_median(ordered, fast_rng) for _ in range(6000))
    slow = sorted(stats.median(slow_rng.choices(ordered, k=n)) for _ in range(6000))
    for q in (0.1, 0.5, 0.9):  # away from the atoms of small samples, where noise picks a side
        # Quantiles of the two bootstrap distributions agree up to sampling noise.
        assert fast[int(q * 5999)] == pytest.approx(slow[int(q * 5999)], abs=0.15)
    assert set(fast) <= {*ordered, *((x + y) / 2 for x in ordered for y in ordered)}
