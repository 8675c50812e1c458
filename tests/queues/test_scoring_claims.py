"""Claiming items for scoring under a lease, and the sweeper that recovers lost work."""

import threading
import uuid
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from intake.models import Item
from intake.payloads import ItemSubmission
from intake.submission import submit_items
from queues.scoring import claim_for_scoring, requeue_stuck_scoring

pytestmark = pytest.mark.django_db


def make_items(n: int) -> list[int]:
    results = submit_items(
        submissions=[ItemSubmission(source="t", external_id=f"e{i}", text=f"t{i}") for i in range(n)]
    )
    return [r.item_id for r in results]


def test_a_claim_takes_the_hinted_items_first_then_fills_with_the_oldest_waiting():
    ids = make_items(10)
    token = uuid.uuid4()
    assert claim_for_scoring([ids[7], ids[8]], token=token, limit=4) == 4
    claimed = set(Item.objects.filter(scoring_token=token).values_list("id", flat=True))
    assert claimed == {ids[7], ids[8], ids[0], ids[1]}
    assert set(Item.objects.filter(id__in=claimed).values_list("state", flat=True)) == {"scoring"}


def test_an_item_held_under_a_live_lease_cannot_be_claimed_again():
    ids = make_items(3)
    first, second = uuid.uuid4(), uuid.uuid4()
    assert claim_for_scoring(ids, token=first, limit=3) == 3
    assert claim_for_scoring(ids, token=second, limit=3) == 0


def test_an_expired_lease_can_be_claimed_by_another_worker():
    ids = make_items(2)
    first, second = uuid.uuid4(), uuid.uuid4()
    claim_for_scoring(ids, token=first, limit=2)
    Item.objects.filter(id=ids[0]).update(scoring_lease_until=timezone.now() - timedelta(seconds=1))
    assert claim_for_scoring(ids, token=second, limit=2) == 1
    assert Item.objects.get(id=ids[0]).scoring_token == second
    assert Item.objects.get(id=ids[0]).scoring_attempts == 2


def test_the_sweeper_fails_an_item_that_crashed_every_attempt_so_a_human_still_sees_it(settings):
    settings.SCORING_MAX_ATTEMPTS = 2
    [item_id] = make_items(1)
    Item.objects.filter(id=item_id).update(
        state="scoring", scoring_attempts=2, scoring_lease_until=timezone.now() - timedelta(seconds=1)
    )
    requeue_stuck_scoring()
    item = Item.objects.get(id=item_id)
    assert item.state == "failed"
    assert "after 2 attempts" in item.failure_reason


def test_the_sweeper_requeues_items_whose_message_was_lost(django_capture_on_commit_callbacks):
    ids = make_items(3)
    Item.objects.filter(id__in=ids).update(created_at=timezone.now() - timedelta(hours=1))
    with django_capture_on_commit_callbacks() as callbacks:
        assert requeue_stuck_scoring() == 3
    assert len(callbacks) == 1  # one micro-batch message for the three items


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_concurrent_claimers_never_share_an_item():
    if connection.vendor != "postgresql":
        pytest.skip("needs concurrent writers: PostgreSQL")
    make_items(200)
    won: dict[uuid.UUID, int] = {}
    errors = []

    def claimer() -> None:
        from django.db import connection as thread_connection

        token = uuid.uuid4()
        try:
            for _ in range(20):
                won[token] = won.get(token, 0) + claim_for_scoring([], token=token, limit=8)
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)
        finally:
            thread_connection.close()

    threads = [threading.Thread(target=claimer) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert sum(won.values()) == 200
    held = Item.objects.filter(state="scoring").values_list("scoring_token", flat=True)
    assert len(held) == 200
    assert {token: list(held).count(token) for token in won} == won
