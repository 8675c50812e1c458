"""Two workers running the same bulk action at once (a redelivered or swept message overlapping a live run):
every item is decided once and counted once (real threads, real connections)."""

import threading

import pytest
from django.db import connection

from console import bulk
from console.models import BulkActionItem
from queues.models import Decision
from tests.console.conftest import grant
from tests.factories import enqueue, make_item, make_queue, make_user

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


def test_overlapping_runs_decide_and_count_each_item_once():
    lead = grant(make_user(username="lead"), "run_bulk_actions")
    queue = make_queue(members=[lead], name="Spam wave")
    items = [make_item(text=f"cheap followers {n}") for n in range(bulk.CHUNK * 3)]
    for n, item in enumerate(items):
        enqueue(item, queue, sort_key=float(n))
    started = bulk.start_bulk_decision(user=lead, item_ids=[i.pk for i in items], action="remove", categories=["spam"])
    gate = threading.Barrier(2)
    errors = []

    def run() -> None:
        try:
            gate.wait()
            bulk.run_bulk_action(bulk_action_id=started.pk)
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    started.refresh_from_db()
    assert (started.state, started.processed, started.succeeded) == ("done", len(items), len(items))
    assert Decision.objects.count() == len(items)
    assert set(BulkActionItem.objects.values_list("outcome", flat=True)) == {"decided"}
