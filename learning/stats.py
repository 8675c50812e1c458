"""Small statistics for experiments and model monitoring, in pure Python.

Web processes must not import numpy or scipy (tests/site/test_boundaries.py), and these pages
need only counts, a few sorts and a seeded bootstrap, so everything here takes plain lists and
returns plain numbers. Each function says what it does when the answer is undefined: ``None``,
never an arbitrary number.
"""

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass

Z_95 = 1.959963984540054  # the standard normal quantile for a two-sided 95% interval


@dataclass(frozen=True)
class Estimate:
    """A value with a confidence interval; ``None`` fields when there is no data."""

    value: float | None
    low: float | None
    high: float | None
    n: int = 0

    @property
    def excludes_zero(self) -> bool:
        return self.low is not None and self.high is not None and (self.low > 0 or self.high < 0)


def wilson_interval(successes: int, n: int, *, z: float = Z_95) -> Estimate:
    """A proportion with its Wilson score interval (sound near 0 and 1 and for small n, unlike p ± z·se)."""
    if n <= 0:
        return Estimate(None, None, None, 0)
    if not 0 <= successes <= n:
        raise ValueError(f"successes must be between 0 and n ({n}), not {successes}")
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return Estimate(p, max(0.0, centre - half), min(1.0, centre + half), n)


def proportion_difference(successes_a: int, n_a: int, successes_b: int, n_b: int, *, z: float = Z_95) -> Estimate:
    """``p_b - p_a`` with Newcombe's hybrid score interval (method 10), built from the two Wilson intervals."""
    a, b = wilson_interval(successes_a, n_a, z=z), wilson_interval(successes_b, n_b, z=z)
    if a.value is None or b.value is None:
        return Estimate(None, None, None, min(n_a, n_b))
    assert a.low is not None and a.high is not None and b.low is not None and b.high is not None
    difference = b.value - a.value
    low = difference - math.sqrt((b.value - b.low) ** 2 + (a.high - a.value) ** 2)
    high = difference + math.sqrt((b.high - b.value) ** 2 + (a.value - a.low) ** 2)
    return Estimate(difference, low, high, min(n_a, n_b))


def median(values: Sequence[float]) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def _percentile(ordered: Sequence[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default), on an already sorted list."""
    position = (len(ordered) - 1) * q
    below = math.floor(position)
    above = min(below + 1, len(ordered) - 1)
    return ordered[below] + (ordered[above] - ordered[below]) * (position - below)


def resampled_median(ordered: Sequence[float], rng: random.Random) -> float:
    """The median of one bootstrap resample (n draws with replacement) of ``ordered``, in constant time.

    Drawing ``ordered[floor(n * U)]`` for n uniform ``U`` is resampling with replacement, and floor
    keeps order, so the resample's k-th smallest value is ``ordered[floor(n * U_(k))]``, where the
    k-th order statistic of n uniforms is Beta(k, n - k + 1). The next one up, given ``U_(k) = u``,
    is ``u`` plus the smallest of the other n - k uniforms on (u, 1): ``u + (1 - u) * Beta(1, n - k)``.
    Exact, and no resample is built or sorted, so a page can afford thousands of resamples.
    """
    n = len(ordered)
    k = (n + 1) // 2
    u = rng.betavariate(k, n - k + 1)
    lower = ordered[min(int(u * n), n - 1)]
    if n % 2:
        return lower
    upper_u = u + (1 - u) * rng.betavariate(1, n - k)
    return (lower + ordered[min(int(upper_u * n), n - 1)]) / 2


def bootstrap_median(
    values: Sequence[float], *, resamples: int = 2000, seed: int = 0, confidence: float = 0.95
) -> Estimate:
    """The median with a percentile-bootstrap interval; seeded, so a page shows the same interval twice."""
    if not values:
        return Estimate(None, None, None, 0)
    rng = random.Random(seed)
    ordered = sorted(values)
    medians = sorted(resampled_median(ordered, rng) for _ in range(resamples))
    tail = (1 - confidence) / 2
    return Estimate(median(ordered), _percentile(medians, tail), _percentile(medians, 1 - tail), len(ordered))


def bootstrap_median_difference(
    a: Sequence[float], b: Sequence[float], *, resamples: int = 2000, seed: int = 0, confidence: float = 0.95
) -> Estimate:
    """``median(b) - median(a)`` with a percentile-bootstrap interval, resampling each arm on its own."""
    if not a or not b:
        return Estimate(None, None, None, min(len(a), len(b)))
    rng = random.Random(seed)
    ordered_a, ordered_b = sorted(a), sorted(b)
    differences = sorted(resampled_median(ordered_b, rng) - resampled_median(ordered_a, rng) for _ in range(resamples))
    tail = (1 - confidence) / 2
    point = (median(ordered_b) or 0.0) - (median(ordered_a) or 0.0)
    low, high = _percentile(differences, tail), _percentile(differences, 1 - tail)
    return Estimate(point, low, high, min(len(ordered_a), len(ordered_b)))


@dataclass(frozen=True)
class Counts:
    """A confusion matrix at one threshold."""

    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0

    @property
    def n(self) -> int:
        return self.tp + self.fp + self.fn + self.tn

    @property
    def precision(self) -> float | None:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else None

    @property
    def recall(self) -> float | None:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else None

    @property
    def accuracy(self) -> float | None:
        return (self.tp + self.tn) / self.n if self.n else None

    @property
    def kappa(self) -> float | None:
        """Cohen's kappa between the thresholded score and the label: agreement beyond chance."""
        if not self.n:
            return None
        observed = (self.tp + self.tn) / self.n
        model_yes, label_yes = (self.tp + self.fp) / self.n, (self.tp + self.fn) / self.n
        chance = model_yes * label_yes + (1 - model_yes) * (1 - label_yes)
        if chance == 1:
            return None  # both always say the same one thing: agreement is not informative
        return (observed - chance) / (1 - chance)

    def __add__(self, other: "Counts") -> "Counts":
        return Counts(self.tp + other.tp, self.fp + other.fp, self.fn + other.fn, self.tn + other.tn)


def confusion(scores: Sequence[float], truths: Sequence[bool], threshold: float) -> Counts:
    """Counts of ``score >= threshold`` against the labels."""
    tp = fp = fn = tn = 0
    for score, truth in zip(scores, truths, strict=True):
        if score >= threshold:
            tp, fp = (tp + 1, fp) if truth else (tp, fp + 1)
        else:
            fn, tn = (fn + 1, tn) if truth else (fn, tn + 1)
    return Counts(tp, fp, fn, tn)


def average_precision(scores: Sequence[float], truths: Sequence[bool]) -> float | None:
    """Area under the precision-recall curve as average precision: sum of (R_k - R_{k-1}) * P_k over thresholds.

    The same definition as scikit-learn's ``average_precision_score`` (tied scores form one
    threshold, no interpolation). ``None`` without both a positive and a negative.
    """
    positives = sum(1 for truth in truths if truth)
    if positives == 0 or positives == len(truths):
        return None
    pairs = sorted(zip(scores, truths, strict=True), key=lambda pair: -pair[0])
    area, tp, fp, previous_recall, index = 0.0, 0, 0, 0.0, 0
    while index < len(pairs):
        threshold = pairs[index][0]
        while index < len(pairs) and pairs[index][0] == threshold:
            tp, fp = (tp + 1, fp) if pairs[index][1] else (tp, fp + 1)
            index += 1
        recall = tp / positives
        area += (recall - previous_recall) * tp / (tp + fp)
        previous_recall = recall
    return area


@dataclass(frozen=True)
class CalibrationBin:
    low: float
    high: float
    count: int
    mean_predicted: float | None
    observed_rate: float | None


def calibration_bins(scores: Sequence[float], truths: Sequence[bool], *, bins: int = 10) -> list[CalibrationBin]:
    """A reliability diagram: per equal-width probability bin, the mean score and the observed positive rate."""
    totals = [0.0] * bins
    positives = [0] * bins
    counts = [0] * bins
    for score, truth in zip(scores, truths, strict=True):
        index = bin_index(score, bins)
        totals[index] += score
        positives[index] += bool(truth)
        counts[index] += 1
    return [
        CalibrationBin(
            low=i / bins,
            high=(i + 1) / bins,
            count=counts[i],
            mean_predicted=totals[i] / counts[i] if counts[i] else None,
            observed_rate=positives[i] / counts[i] if counts[i] else None,
        )
        for i in range(bins)
    ]


def bin_index(score: float, bins: int = 10) -> int:
    """Equal-width bin of a probability; 1.0 falls in the last bin."""
    return min(max(int(score * bins), 0), bins - 1)


def histogram(scores: Sequence[float], *, bins: int = 10) -> list[int]:
    counts = [0] * bins
    for score in scores:
        counts[bin_index(score, bins)] += 1
    return counts


def population_stability_index(expected: Sequence[int], actual: Sequence[int], *, floor: float = 1e-4) -> float | None:
    """PSI of two histograms over the same bins: sum of (a - e) * ln(a / e) over bin shares.

    Empty bins are floored at ``floor`` so one empty bin does not make the index infinite. Rules of
    thumb: under 0.1 stable, 0.1-0.2 some shift, over 0.2 a shift worth acting on. ``None`` when
    either histogram is empty.
    """
    if len(expected) != len(actual):
        raise ValueError("histograms must have the same bins")
    total_expected, total_actual = sum(expected), sum(actual)
    if not total_expected or not total_actual:
        return None
    index = 0.0
    for e_count, a_count in zip(expected, actual, strict=True):
        e_share = max(e_count / total_expected, floor)
        a_share = max(a_count / total_actual, floor)
        index += (a_share - e_share) * math.log(a_share / e_share)
    return index
