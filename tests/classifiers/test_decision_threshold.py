"""The text head's decision point: chosen by F1 on out-of-fold blends of its training labels, moved to 0.5, bounded."""

import numpy as np
import pytest

from classifiers.heads import Head, HeadConfig
from classifiers.inference.text import (
    BLEND_CALIBRATION,
    DECISION_MIN_CLASS,
    DECISION_RANGE,
    DECISION_THRESHOLD,
    TextFeatures,
    choose_decision,
    text_head_proba,
    train_text_head,
)
from tests.classifiers.test_blend_calibration import corpus, unit_vectors


def logit(p: float) -> float:
    return float(np.log(p / (1 - p)))


def _scores(rng: np.random.Generator, positives: tuple[float, float], negatives: tuple[float, float], n: int = 400):
    z = np.concatenate([rng.uniform(*positives, n), rng.uniform(*negatives, n)])
    return z, np.concatenate([np.ones(n, int), np.zeros(n, int)])


def test_positives_just_under_even_odds_move_the_decision_down_to_catch_them():
    # Every positive above log-odds -0.8 (p 0.31), every negative below -1.2 (p 0.23): F1 rises as the
    # threshold falls from 0.5 to the range's floor, 0.3.
    z, labels = _scores(np.random.default_rng(0), (-0.8, 3.0), (-6.0, -1.2))
    chosen = choose_decision(z, labels)
    assert chosen == pytest.approx(logit(DECISION_RANGE[0]))
    assert ((z >= chosen) == (labels == 1)).all()  # every row right, where 0.5 missed a fifth of the positives


def test_the_decision_never_leaves_its_range_however_far_the_best_f1_lies():
    z, labels = _scores(np.random.default_rng(1), (-3.0, 3.0), (-9.0, -4.0))  # the best cut is near p 0.02
    assert choose_decision(z, labels) == pytest.approx(logit(DECISION_RANGE[0]))
    z, labels = _scores(np.random.default_rng(2), (4.0, 9.0), (-3.0, 3.0))  # and here near p 0.98
    assert choose_decision(z, labels) == pytest.approx(logit(DECISION_RANGE[1]))


def test_a_tie_keeps_even_odds_and_too_few_labels_of_a_class_keep_it_too():
    z, labels = _scores(np.random.default_rng(3), (1.0, 4.0), (-4.0, -1.0))  # separated: F1 1 from 0.3 to 0.7
    assert choose_decision(z, labels) == 0.0
    z, labels = _scores(np.random.default_rng(4), (-0.8, 3.0), (-6.0, -1.2))
    few = np.concatenate([np.flatnonzero(labels == 1)[: DECISION_MIN_CLASS - 1], np.flatnonzero(labels == 0)])
    assert choose_decision(z[few], labels[few]) == 0.0


def test_rows_without_a_label_or_a_score_are_left_out():
    z, labels = _scores(np.random.default_rng(5), (-0.8, 3.0), (-6.0, -1.2))
    labels[::7] = -1
    z[1::11] = np.nan
    assert choose_decision(z, labels) == pytest.approx(logit(DECISION_RANGE[0]))


@pytest.fixture(scope="module")
def trained() -> Head:
    texts, truth = corpus(200, 7)
    return train_text_head(
        unit_vectors(len(texts), 7),
        texts,
        truth[:, None],
        categories=["spam"],
        features=TextFeatures(lexical=True),
        config=HeadConfig(epochs=30),
    )


def test_a_trained_head_calls_positive_at_0_5_what_its_calibrated_blend_put_over_the_chosen_threshold(
    trained, tmp_path
):
    threshold = float(trained.extras[DECISION_THRESHOLD][0])
    assert DECISION_RANGE[0] <= threshold <= DECISION_RANGE[1]
    texts, _ = corpus(300, 8)
    vectors = unit_vectors(len(texts), 8)
    shipped = text_head_proba(trained, vectors, texts)[:, 0]
    trained.save(tmp_path / "head.pt")
    before = Head.load(tmp_path / "head.pt")  # the same head with the decision move taken back out of its bias
    before.extras[BLEND_CALIBRATION] = before.extras[BLEND_CALIBRATION] + [[0.0, logit(threshold)]]
    calibrated = text_head_proba(before, vectors, texts)[:, 0]
    away = np.abs(calibrated - threshold) > 1e-4  # float32 rounding at the cut itself
    np.testing.assert_array_equal((shipped >= 0.5)[away], (calibrated >= threshold)[away])
