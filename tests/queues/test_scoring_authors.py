"""The scoring worker gives the text model each item's author, so an author's labelled history counts."""

import pytest

from classifiers.models import Score
from classifiers.runtime import forget_loaded_models
from intake.payloads import AuthorSubmission, ItemSubmission
from intake.submission import submit_items
from queues.scoring import score_pending_items
from tests.factories import train_author_model

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    forget_loaded_models()


def test_two_items_with_the_same_text_are_scored_by_what_their_authors_posted_before(tmp_path):
    bulk, friend = "creatorhub.messages:deals@bulk.example", "creatorhub.messages:ann@friends.example"
    version = train_author_model(tmp_path, bulk=bulk, friend=friend)

    text = "Are you coming to the party tonight?"
    results = submit_items(
        submissions=[
            ItemSubmission(
                source="creatorhub.messages",
                external_id=f"m-{n}",
                text=text,
                author=AuthorSubmission(external_id=address),
            )
            for n, address in enumerate(["deals@bulk.example", "ann@friends.example"])
        ]
    )
    ids = [result.item_id for result in results]
    score_pending_items(item_ids=ids, fill_wait_ms=0)

    spam = dict(
        Score.objects.filter(model_version=version, category__slug="spam").values_list("item_id", "probability")
    )
    assert spam[ids[0]] > 0.5 > spam[ids[1]]
    # Stored with each trained score: how far the author moved it (the same text, so the same score without).
    shift = dict(
        Score.objects.filter(model_version=version, category__slug="spam").values_list("item_id", "author_shift")
    )
    assert shift[ids[0]] > 0.3 and abs(shift[ids[1]]) < 0.05  # the bulk sender raised it, the friend not
    assert spam[ids[0]] - shift[ids[0]] == pytest.approx(spam[ids[1]] - shift[ids[1]], abs=1e-6)


def test_an_item_without_an_author_has_no_author_shift(tmp_path):
    version = train_author_model(
        tmp_path, bulk="creatorhub.messages:deals@bulk.example", friend="creatorhub.messages:ann@friends.example"
    )
    [result] = submit_items(
        submissions=[ItemSubmission(source="creatorhub.messages", external_id="m-anon", text="Party tonight?")]
    )
    score_pending_items(item_ids=[result.item_id], fill_wait_ms=0)
    score = Score.objects.get(item_id=result.item_id, model_version=version, category__slug="spam")
    assert score.author_shift is None
