"""Second independent review: which decisions are sampled, who may take them, and what they may see."""

import re
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from intake.models import Author, Item
from queues.models import Decision, QueueEntry
from review import second_review
from review.claims import claim_next_item, release_item
from review.decisions import record_decision, undo_decision
from review.exceptions import LeaseLost
from review.models import Label
from tests.factories import enqueue, make_item, make_queue, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def mira():
    return make_user(username="first-reviewer-mira")


@pytest.fixture
def ada():
    return make_user(username="ada")


@pytest.fixture
def queue(mira, ada):
    return make_queue(members=[mira, ada], name="Scams & spam", second_review_rate=1.0)


def decide(queue, reviewer, *, action="remove", categories=("spam",), note="", apply_to_group=False):
    claim = claim_next_item(queue=queue, user=reviewer)
    assert claim is not None
    return record_decision(
        entry_id=claim.entry_id, token=claim.token, user=reviewer, action=action, categories=list(categories),
        note=note, apply_to_group=apply_to_group,
    )  # fmt: skip


def second_reviews(queue):
    return QueueEntry.objects.filter(queue=queue, selection=QueueEntry.Selection.SECOND_REVIEW)


def test_sampling_is_a_stable_hash_that_hits_the_configured_share():
    hits = sum(second_review.is_sampled(entry_id, 0.2) for entry_id in range(1, 20_001))
    assert 0.19 < hits / 20_000 < 0.21
    assert [second_review.is_sampled(i, 0.2) for i in range(50)] == [
        second_review.is_sampled(i, 0.2) for i in range(50)
    ]
    assert not any(second_review.is_sampled(i, 0.0) for i in range(1000))
    assert all(second_review.is_sampled(i, 1.0) for i in range(1000))


def test_exactly_the_sampled_decisions_get_a_second_review(queue, mira):
    queue.second_review_rate = 0.3
    queue.save()
    entries = [enqueue(make_item(), queue) for _ in range(40)]
    for _ in entries:
        decide(queue, mira)
    sampled = {entry.item_id for entry in entries if second_review.is_sampled(entry.pk, 0.3)}
    assert 4 <= len(sampled) <= 24  # 0.3 of 40, give or take three standard deviations
    assert set(second_reviews(queue).values_list("item_id", flat=True)) == sampled


def test_no_second_review_without_a_rate_or_for_needs_context(queue, mira):
    enqueue(make_item(), queue)
    decide(queue, mira, action="needs_context", categories=())
    queue.second_review_rate = 0.0
    queue.save()
    enqueue(make_item(), queue)
    decide(queue, mira)
    assert not second_reviews(queue).exists()


def test_the_second_review_goes_to_someone_else_never_back_to_the_first_reviewer(queue, mira, ada):
    item = make_item()
    enqueue(item, queue)
    decide(queue, mira)
    second = second_reviews(queue).get()
    assert second.status == "pending" and second.item_id == item.pk and second.excluded_reviewer_id == mira.pk
    assert claim_next_item(queue=queue, user=mira) is None
    claim = claim_next_item(queue=queue, user=ada)
    assert claim.entry_id == second.pk
    # Skipping it must not make it the first reviewer's: the skip fields change, the exclusion does not.
    release_item(entry_id=claim.entry_id, token=claim.token, user=ada)
    assert claim_next_item(queue=queue, user=mira) is None


def test_the_first_reviewer_cannot_decide_it_even_holding_it(queue, mira):
    enqueue(make_item(), queue)
    decide(queue, mira)
    second = second_reviews(queue).get()
    # However the entry reached them (a stale claim, an API path): the decision itself refuses.
    QueueEntry.objects.filter(pk=second.pk).update(
        status="claimed", claimed_by=mira, lease_until=timezone.now() + timedelta(minutes=5)
    )
    with pytest.raises(LeaseLost, match="second, independent review"):
        record_decision(entry_id=second.pk, token=second.fencing_token, user=mira, action="remove", categories=["spam"])


def test_second_decision_keeps_both_decisions_labels_and_opens_no_third_review(queue, mira, ada):
    item = make_item()
    enqueue(item, queue)
    [first] = decide(queue, mira)
    [second] = decide(queue, ada, action="no_violation", categories=())
    assert second.entry.selection == "second_review"
    spam = Label.objects.current().filter(item=item, category__slug="spam").order_by("created_at", "pk")
    assert [(label.decision_id, label.value, label.selection) for label in spam] == [
        (first.pk, True, "routed"),
        (second.pk, False, "second_review"),
    ]
    assert not QueueEntry.objects.filter(item=item, status__in=["pending", "claimed"]).exists()
    assert Item.objects.get(pk=item.pk).state == "decided"


def test_both_decisions_are_webhook_events_and_the_second_says_so(queue, mira, ada):
    from webhooks.models import WebhookEvent, WebhookSubscription

    WebhookSubscription.objects.create(url="https://tickets.example/hooks", event_types=["decision.created"])
    item = make_item()
    enqueue(item, queue)
    [first] = decide(queue, mira)
    [second] = decide(queue, ada, action="no_violation", categories=())
    sent = {
        event.payload["decision_id"]: event.payload for event in WebhookEvent.objects.filter(type="decision.created")
    }
    assert sent[first.pk]["second_review"] is False and sent[first.pk]["action"] == "remove"
    assert sent[second.pk]["second_review"] is True and sent[second.pk]["action"] == "no_violation"
    assert sent[second.pk]["external_id"] == item.external_id


def test_training_takes_the_later_of_the_two_reviews_unless_a_senior_overturns(queue, mira, ada):
    from learning.training_data import resolve_labels

    item = make_item()
    enqueue(item, queue)
    decide(queue, mira)
    [second] = decide(queue, ada, action="no_violation", categories=())
    winners = resolve_labels(timezone.now())[item.pk]
    assert winners["spam"].decision_id == second.pk and winners["spam"].value is False


def test_applying_a_decision_to_the_group_leaves_a_waiting_second_review_alone(queue, mira, ada):
    first_item, twin = make_item(), make_item()
    Item.objects.filter(pk__in=[first_item.pk, twin.pk]).update(duplicate_group=first_item.pk)
    enqueue(first_item, queue, sort_key=0.0)
    decide(queue, mira)  # the first item's second review now waits, for ada
    enqueue(twin, queue, sort_key=-1.0)
    [decision] = decide(queue, ada, apply_to_group=True)  # ada decides the twin, and applies it to its group
    assert decision.item_id == twin.pk
    assert second_reviews(queue).get(item=first_item).status == "pending"


def test_the_work_view_shows_neither_the_first_decision_nor_its_copies(queue, mira, ada):
    author = Author.objects.create(source="tests", external_id="spammer", handle="spammer")
    first_item = make_item(text="Cheap watches, buy now", author=author)
    twin = make_item(text="Cheap watches, buy now!", author=author)
    Item.objects.filter(pk__in=[first_item.pk, twin.pk]).update(duplicate_group=first_item.pk)
    enqueue(first_item, queue, sort_key=0.0)
    enqueue(twin, queue, sort_key=1.0)
    decide(queue, mira, note="FIRST-CALL-NOTE", apply_to_group=True)  # the twin gets a copy of the decision
    assert Decision.objects.filter(item=twin, applied_from__isnull=False).exists()
    client = Client()
    client.force_login(ada)
    page = client.get(f"/queues/{queue.slug}/", follow=True)
    html = page.content.decode()
    assert page.status_code == 200 and "Cheap watches, buy now" in html
    assert "FIRST-CALL-NOTE" not in html and "first-reviewer-mira" not in html
    history = re.search(r'<ul class="history">(.*?)</ul>', html, re.S).group(1)
    assert f"#{twin.pk}" in history and "Remove" not in history


def test_undoing_a_sampled_decision_withdraws_its_second_review(queue, mira):
    item = make_item()
    enqueue(item, queue)
    [decision] = decide(queue, mira)
    assert second_reviews(queue).exists()
    claim = undo_decision(decision_id=decision.pk, user=mira)
    assert not second_reviews(queue).exists()
    assert QueueEntry.objects.get(pk=claim.entry_id).claimed_by == mira
