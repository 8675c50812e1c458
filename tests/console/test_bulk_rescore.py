"""Bulk re-scoring (console.bulk_rescore): failed items of the selection are scored again; others say why not."""

import pytest

from console import bulk, bulk_rescore
from console.models import BulkAction, BulkActionItem
from intake.models import Item


def test_failed_items_are_sent_for_scoring_and_the_others_left_alone_with_the_reason(team, lead):
    failed, fine, _ = team["items"]
    Item.objects.filter(pk=failed.pk).update(failure_reason="model server timed out", scoring_attempts=3)
    started = bulk_rescore.start_bulk_rescore(user=lead, item_ids=[failed.pk, fine.pk])
    done = bulk_rescore.run_bulk_rescore(bulk_action_id=started.pk)
    assert (done.state, done.processed, done.succeeded) == ("done", 2, 1)
    outcomes = dict(BulkActionItem.objects.values_list("item_id", "outcome"))
    assert outcomes == {failed.pk: "sent", fine.pk: "failed"}
    assert "only failed items" in BulkActionItem.objects.get(item_id=fine.pk).reason
    assert Item.objects.get(pk=failed.pk).scoring_attempts == 0  # waiting in a queue: rerouting scores it


def test_a_hidden_item_refuses_the_whole_rescore(team, lead):
    with pytest.raises(bulk.BulkRefused, match="1 of the 2 items"):
        bulk_rescore.start_bulk_rescore(user=lead, item_ids=[team["items"][0].pk, team["hidden"].pk])
    assert not BulkAction.objects.exists()
