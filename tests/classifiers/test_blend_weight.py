"""The text blend's weight is chosen per head by the out-of-fold log-loss of its training labels, stored, and used."""

import numpy as np
import pytest

from classifiers.heads import Head, HeadConfig
from classifiers.inference import CategoryInfo
from classifiers.inference.text import (
    BLEND_WEIGHT,
    BLEND_WEIGHTS,
    TextFeatures,
    TextModel,
    choose_blend,
    text_head_proba,
    train_text_head,
)
from tests.classifiers.test_blend_calibration import corpus, unit_vectors


def _signal_and_noise(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    informative = rng.normal(-1.0, 3.0, size=2000)  # calibrated log-odds: the labels are drawn from them
    truth = (rng.random(2000) < 1 / (1 + np.exp(-informative))).astype(int)
    noise = rng.normal(size=2000)
    return truth, informative, noise


def test_the_weight_follows_the_part_that_predicts_the_training_labels_out_of_fold():
    truth, informative, noise = _signal_and_noise(0)
    sigmoid = 1 / (1 + np.exp(-noise))
    weight, (slope, _) = choose_blend(sigmoid, informative, truth)
    # Mostly the regression (in-sample, a noise column always buys a little log-loss: 0.9 here, 1.0 a hair behind).
    assert weight >= 0.85 and slope > 0
    weight, _ = choose_blend(1 / (1 + np.exp(-informative)), noise, truth)
    assert weight == min(BLEND_WEIGHTS)  # as much of the head as the grid allows


def test_rows_without_a_label_or_an_out_of_fold_score_are_left_out_of_the_choice():
    truth, informative, noise = _signal_and_noise(1)
    labels = truth.copy()
    labels[:50] = -1
    lexical = informative.copy()
    lexical[50:60] = np.nan
    weight, (slope, bias) = choose_blend(1 / (1 + np.exp(-noise)), lexical, labels)
    assert weight >= 0.85 and np.isfinite([slope, bias]).all()


@pytest.fixture(scope="module")
def trained() -> Head:
    texts, truth = corpus(120, 0)
    return train_text_head(
        unit_vectors(len(texts), 0),  # embeddings without signal: the words carry it
        texts,
        truth[:, None],
        categories=["spam"],
        features=TextFeatures(lexical=True),
        config=HeadConfig(epochs=30),
    )


def test_a_trained_head_stores_its_chosen_weight_and_scores_with_it(trained, tmp_path):
    assert trained.extras[BLEND_WEIGHT].tolist() == [1.0]  # the embedding half carries nothing here
    probes, vectors = ["claim your free prize now", "agenda of the thursday meeting"], unit_vectors(2, 2)
    chosen = text_head_proba(trained, vectors, probes)
    trained.save(tmp_path / "head.pt")
    loaded = Head.load(tmp_path / "head.pt")
    np.testing.assert_array_equal(text_head_proba(loaded, vectors, probes), chosen)
    loaded.extras[BLEND_WEIGHT] = np.array([0.5])
    assert not np.allclose(text_head_proba(loaded, vectors, probes), chosen)


def test_a_weight_outside_zero_to_one_is_refused_when_the_model_loads(trained, tmp_path):
    trained.save(tmp_path / "head.pt")
    head = Head.load(tmp_path / "head.pt")
    head.extras[BLEND_WEIGHT] = np.array([1.5])
    with pytest.raises(ValueError, match="blend weights must be 1 numbers in"):
        TextModel(head=head, categories=[CategoryInfo(slug="spam", description="Unsolicited advertising")])
