"""Storing computed scores (classifiers.runtime.store_scores): an upsert by (item, version, category)."""

import pytest

from classifiers.models import ModelVersion, PolicyCategory, Score
from classifiers.runtime import ScoringReport, store_scores
from tests.factories import make_item

pytestmark = pytest.mark.django_db


def report_of(rows: list[tuple[int, str, float, bool, str]]) -> ScoringReport:
    version = ModelVersion.objects.get(kind="text", status="active")
    categories = {category.slug: category.pk for category in PolicyCategory.objects.all()}
    report = ScoringReport()
    report.scores = [
        Score(
            item_id=item_id,
            model_version_id=version.pk,
            category_id=categories[slug],
            probability=probability,
            from_prior=from_prior,
            prior_source=source,
        )  # fmt: skip
        for item_id, slug, probability, from_prior, source in rows
    ]
    return report


def stored() -> dict[tuple[int, str], tuple[float, bool, str]]:
    return {
        (item_id, slug): (probability, from_prior, source)
        for item_id, slug, probability, from_prior, source in Score.objects.values_list(
            "item_id", "category__slug", "probability", "from_prior", "prior_source"
        )
    }


def test_scoring_an_item_again_updates_its_scores_in_place_and_adds_new_ones():
    one, two = make_item().pk, make_item().pk
    first = report_of([(one, "spam", 0.25, True, "base rate"), (one, "harassment", 0.5, True, "insult words")])
    store_scores(first)
    assert first.scores_written == 2
    created = dict(Score.objects.values_list("category__slug", "created_at"))

    again = report_of([(one, "spam", 0.75, False, ""), (two, "spam", 0.125, True, "base rate")])
    store_scores(again)

    assert again.scores_written == 2
    assert stored() == {
        (one, "spam"): (0.75, False, ""),  # the new version of the score replaces the old
        (one, "harassment"): (0.5, True, "insult words"),  # not scored again: left as it was
        (two, "spam"): (0.125, True, "base rate"),
    }
    assert Score.objects.get(item_id=one, category__slug="spam").created_at == created["spam"]
    assert Score.objects.get(item_id=two).created_at is not None


def test_storing_nothing_writes_nothing(django_assert_num_queries):
    report = ScoringReport()
    with django_assert_num_queries(0):
        store_scores(report)
    assert report.scores_written == 0
