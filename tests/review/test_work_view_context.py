from datetime import timedelta

from django.urls import reverse
from django.utils import timezone

from queues.models import QueueEntry
from tests.factories import enqueue, make_item, make_queue, make_user


def test_the_work_view_names_the_queue_items_left_and_the_deadline_in_words(client, db):
    mira = make_user()
    queue = make_queue(members=[mira], name="Scams & fraud")
    for n in range(3):
        enqueue(make_item(text=f"item {n}"), queue, sort_key=n)
    QueueEntry.objects.update(deadline_at=timezone.now() + timedelta(hours=3, minutes=5))
    client.force_login(mira)
    response = client.get(reverse("work", args=[queue.slug]), follow=True)
    body = response.content.decode()
    assert 'id="queue-name">Scams &amp; fraud<' in body
    assert "2 more items waiting" in body
    assert "deadline in 3 h" in body


def test_the_home_page_reads_queue_deadlines_in_words(client, db):
    mira = make_user()
    make_queue(members=[mira], deadline=timedelta(days=1))
    client.force_login(mira)
    body = client.get("/").content.decode()
    assert "1 day" in body and "1 day, 0:00:00" not in body


def test_a_score_from_a_head_that_reads_the_author_says_so_and_a_prior_or_an_anonymous_item_does_not(client, db):
    from classifiers.models import ModelVersion, PolicyCategory, Score
    from intake.models import Author

    mira = make_user()
    queue = make_queue(members=[mira])
    posted = make_item(text="Deals today", author=Author.objects.create(source="tests", external_id="deals@bulk"))
    anonymous = make_item(text="Deals today")
    ModelVersion.objects.filter(kind="text", status="active").update(status="retired")
    version = ModelVersion.objects.create(
        name="text-reads-author", kind="text", architecture="all-MiniLM-L6-v2", status="active",
        metrics={"features": {"kind": "text", "author": True}},
    )  # fmt: skip
    spam, other = PolicyCategory.objects.get(slug="spam"), PolicyCategory.objects.exclude(slug="spam").first()
    for item in (posted, anonymous):
        Score.objects.create(
            item_id=item.pk, model_version=version, category=spam, probability=0.9, from_prior=False,
            author_shift=0.42 if item is posted else None,
        )  # fmt: skip
        Score.objects.create(
            item_id=item.pk, model_version=version, category=other, probability=0.1, from_prior=True,
            prior_source="base rate",
        )  # fmt: skip
    client.force_login(mira)

    enqueue(posted, queue, sort_key=0)
    body = client.get(reverse("work", args=[queue.slug]), follow=True).content.decode()
    assert body.count('class="badge author"') == 1  # the trained spam score, not the other category's prior
    assert "author +0.42<" in body and "0.48 without the author" in body  # how far the author moved it
    QueueEntry.objects.all().delete()
    enqueue(anonymous, queue, sort_key=0)
    assert 'class="badge author"' not in client.get(reverse("work", args=[queue.slug]), follow=True).content.decode()
