"""The scoring worker gives the text model each item's author, so an author's labelled history counts."""

import json

import pytest
from django.core.management import call_command

from classifiers.models import ModelVersion, Score
from classifiers.runtime import forget_loaded_models
from intake.payloads import AuthorSubmission, ItemSubmission
from intake.submission import submit_items
from queues.scoring import score_pending_items

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    forget_loaded_models()


def test_two_items_with_the_same_text_are_scored_by_what_their_authors_posted_before(tmp_path):
    texts = [
        "See you at the game on Saturday",
        "Thanks for the photos from the trip",
        "The meeting moved to noon",
        "Happy birthday, have a great day",
        "Did you finish the book yet?",
        "Lunch tomorrow at the usual place",
    ]
    bulk, friend = "creatorhub.messages:deals@bulk.example", "creatorhub.messages:ann@friends.example"
    records = [
        {"text": f"{text} ({n})", "author": author, "labels": {"spam": int(author == bulk)}}
        for n in range(2) for text in texts for author in (bulk, friend)
    ]  # fmt: skip
    dataset = tmp_path / "authors.jsonl"
    dataset.write_text("".join(json.dumps(record) + "\n" for record in records))
    call_command("train_classifier", kind="text", dataset=dataset, name="text-authors", activate=True)

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
        ]  # fmt: skip
    )
    ids = [result.item_id for result in results]
    score_pending_items(item_ids=ids, fill_wait_ms=0)

    version = ModelVersion.objects.get(name="text-authors")
    spam = dict(
        Score.objects.filter(model_version=version, category__slug="spam").values_list("item_id", "probability")
    )
    assert spam[ids[0]] > 0.5 > spam[ids[1]]
