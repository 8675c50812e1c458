"""A poison item (one that kills the worker scoring it) fails alone: after a lost batch its items are
retried in smaller batches of one attempt count, down to one item, so the bystanders are scored.

Workers are played by this test against the real database: a "crash" leaves the claimed batch with its
lease, as a SIGKILL does, and the lease then expires; everything else is the real claim and sweeper code.
(bench/fault_injection.py does the same with real worker processes killed with SIGKILL.)"""

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from intake.models import Item
from intake.payloads import ItemSubmission
from intake.submission import submit_items
from queues.scoring import claim_for_scoring, requeue_stuck_scoring, waiting_retry_level

pytestmark = pytest.mark.django_db


def make_items(n: int) -> list[int]:
    results = submit_items(
        submissions=[ItemSubmission(source="t", external_id=f"p{i}", text=f"text {i}") for i in range(n)]
    )
    return [r.item_id for r in results]


def crash(token: uuid.UUID) -> None:
    """The worker holding ``token`` died: its lease runs out with the items still in "scoring"."""
    Item.objects.filter(scoring_token=token).update(scoring_lease_until=timezone.now() - timedelta(seconds=1))


def finish(token: uuid.UUID) -> None:
    Item.objects.filter(scoring_token=token).update(
        state=Item.State.SCORED, scoring_token=None, scoring_lease_until=None, scored_at=timezone.now()
    )


def test_a_batch_never_mixes_attempt_counts_and_shrinks_after_each_loss(settings):
    settings.SCORING_MAX_ATTEMPTS = 3
    ids = make_items(40)
    first = uuid.uuid4()
    assert claim_for_scoring(ids, token=first, limit=32) == 32
    crash(first)
    assert waiting_retry_level() == 1
    second = uuid.uuid4()
    assert claim_for_scoring([], token=second, limit=32) == 8  # retried items first, 32 // 4 of them
    assert set(Item.objects.filter(scoring_token=second).values_list("scoring_attempts", flat=True)) == {2}
    crash(second)
    third = uuid.uuid4()
    assert claim_for_scoring([], token=third, limit=32) == 1  # the last attempt is alone
    fresh = uuid.uuid4()
    # A task with a fresh item's message claims fresh items only: 8 fresh are left, none of the retried ones.
    fresh_ids = list(Item.objects.filter(scoring_attempts=0).values_list("id", flat=True))
    assert claim_for_scoring(fresh_ids[:1], token=fresh, limit=32) == 8
    assert set(Item.objects.filter(scoring_token=fresh).values_list("scoring_attempts", flat=True)) == {1}


def test_a_poison_item_fails_alone_and_its_31_bystanders_are_scored(settings):
    settings.SCORING_MAX_ATTEMPTS = 3
    ids = make_items(32)
    poison = ids[16]
    crashes = 0
    for _ in range(200):  # workers take batches until nothing is claimable
        token = uuid.uuid4()
        if not claim_for_scoring([], token=token, limit=32):
            requeue_stuck_scoring(older_than_seconds=0)  # what beat runs: fails exhausted items
            if not Item.objects.filter(state__in=[Item.State.RECEIVED, Item.State.SCORING]).exists():
                break
            continue
        if Item.objects.filter(scoring_token=token, id=poison).exists():
            crash(token)
            crashes += 1
        else:
            finish(token)
    poison_item = Item.objects.get(id=poison)
    assert crashes == 3
    # Failed, with the reason, and then routed to reviewers like any failed item.
    assert "did not finish after 3 attempts" in poison_item.failure_reason
    bystanders = Item.objects.exclude(id=poison)
    assert bystanders.filter(scored_at__isnull=False).count() == 31
    assert not bystanders.exclude(failure_reason="").exists()
