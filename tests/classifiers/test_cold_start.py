"""The text cold start: low unless a signal is evidence, capped, and saying which signal raised it."""

import numpy as np
import pytest

from classifiers import cold_start
from classifiers.inference import CategoryInfo
from classifiers.inference.text import TextModel, embed_texts


def _unit(*values: float) -> np.ndarray:
    vector = np.array(values, dtype=np.float64)
    return vector / np.linalg.norm(vector)


NEUTRAL = np.stack([_unit(1, 0, 0, 0), _unit(1, 0.1, 0, 0)])
SPAM = cold_start.CategoryEvidence(slug="spam", description=_unit(0, 1, 0, 0), seeds=np.stack([_unit(0, 1, 0.1, 0)]))
HARASSMENT = cold_start.CategoryEvidence(slug="harassment", description=_unit(0, 0, 1, 0), seeds=np.zeros((0, 4)))


def test_ordinary_text_stays_at_the_base_rate_and_says_so():
    prior = cold_start.cold_start_prior(
        np.stack([_unit(1, 0.05, 0, 0)]),
        [SPAM, HARASSMENT],
        NEUTRAL,
        texts=["See you at the meeting."],
        profanity=[0.0],
    )
    assert prior.probabilities[0, 0] == pytest.approx(cold_start.BASE_RATES["spam"], abs=1e-6)
    assert prior.probabilities[0, 1] == pytest.approx(cold_start.BASE_RATES["harassment"], abs=1e-6)
    assert prior.sources == [["base rate", "base rate"]]


def test_each_signal_raises_its_category_and_is_named_as_the_source():
    texts = ["hello", "CLICK HERE for FREE cash, 100% guaranteed, order now!!!", "hello"]
    items = np.stack([_unit(0, 1, 0.05, 0), _unit(1, 0, 0, 0), _unit(1, 0, 0, 0)])
    prior = cold_start.cold_start_prior(items, [SPAM, HARASSMENT], NEUTRAL, texts=texts, profanity=[0.0, 0.0, 0.98])
    spam, harassment = prior.probabilities[:, 0], prior.probabilities[:, 1]
    assert spam[0] > 0.5 and prior.sources[0][0] == "similarity"
    assert spam[1] > 0.5 and prior.sources[1][0] == "structure"
    assert harassment[2] > 0.5 and prior.sources[2][1] == "profanity"
    assert prior.probabilities.max() <= cold_start.CAP


def test_repeating_a_phrase_adds_nothing_and_phrases_saturate():
    once, repeated = cold_start.structure_score(["free offer", "free " * 50])
    assert once == repeated == cold_start.PHRASE_LOGIT
    many = cold_start.structure_score(["click here, free, cash, mortgage, viagra, bank account, no obligation"])[0]
    assert many == cold_start.PHRASE_LOGIT * cold_start.PHRASE_CAP


def test_phrases_match_in_any_case():
    # The patterns are searched in the lower-cased text: one written with a capital would never match.
    assert all(pattern == pattern.lower() for pattern in cold_start.PHRASES)
    shouted, mixed, lower = cold_start.structure_score(
        ["CLICK HERE for a FREE gift", "Click Here, Free", "click here free"]
    )
    # (fewer than 40 letters each: no shouting)
    assert shouted == mixed == lower == cold_start.PHRASE_LOGIT * 2


def test_a_harassment_prior_without_profanity_scores_is_refused():
    with pytest.raises(ValueError, match="offensive-language probability"):
        cold_start.cold_start_prior(np.stack([_unit(1, 0, 0, 0)]), [HARASSMENT], NEUTRAL, texts=["x"])


def test_the_text_model_keeps_ordinary_news_and_adverts_low_and_raises_spam_and_seeded_categories():
    categories = [
        CategoryInfo(slug="spam", description="Unsolicited bulk promotion and advertising."),
        CategoryInfo(slug="violence", description="Graphic violence, gore, threats to kill or hurt people."),
        CategoryInfo(slug="scam_fraud", description="Attempts to deceive people out of money or credentials."),
        CategoryInfo(slug="self_harm", description="Content that encourages suicide or self-injury."),
        CategoryInfo(slug="harassment", description="Insults and threats aimed at a person."),
        CategoryInfo(
            slug="gambling",
            description="Promotion of betting.",
            seed_examples=("Bet now at our online casino and win big on slots and poker.", "Free spins on roulette."),
        ),
    ]
    model = TextModel(head=None, categories=categories)
    texts = [
        "Storm leaves thousands without power as rescue teams search flooded towns.",
        "Compare car insurance quotes and save on your premium this year.",
        "Click here to claim your FREE prize, 100% guaranteed, limited time offer, order now!!!",
        "Join the online casino tonight: bet on slots and poker and win big with free spins.",
    ]
    scores = model.predict(embed_texts(texts), texts)
    news, advert, spam, casino = scores
    assert max(s.probability for s in news.values()) < 0.2, news
    assert advert["self_harm"].probability < 0.1 and advert["violence"].probability < 0.1
    assert spam["spam"].probability > 0.5 and spam["spam"].source == "structure"
    assert casino["gambling"].probability > 0.5 and casino["gambling"].source == "similarity"
    assert news["gambling"].probability < 0.1 and news["gambling"].source == "base rate"
    assert all(s.from_prior for row in scores for s in row.values())
