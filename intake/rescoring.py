"""Scoring failed items again: from the admin, the API, and when a new model version becomes active.

A failed item still reaches reviewers (it is routed unscored). Scoring it again depends on where it is:
* not routed yet (state ``failed``): back to ``received`` with its attempts reset, and a scoring message;
* waiting in a queue (a pending entry): the rerouting task scores pending items that have no score from an
  active version and refreshes their entry, so the item keeps its place and deadline instead of being routed
  twice. Sent by name: rerouting is the queues app's, a layer above intake.
Items a reviewer holds or has decided are left alone.
"""

import logging

from celery import current_app
from django.db import transaction
from django.db.models import Q

from intake.dispatch import enqueue_scoring
from intake.models import Item

logger = logging.getLogger(__name__)

REROUTE_TASK = "queues.tasks.reroute_pending"


def failed_items(item_ids: list[int] | None = None):  # noqa: ANN201 - a QuerySet[Item]
    """Items whose scoring failed and that no reviewer holds or decided."""
    items = Item.objects.exclude(failure_reason="").filter(state__in=[Item.State.FAILED, Item.State.QUEUED])
    return items if item_ids is None else items.filter(id__in=item_ids)


def rescore_failed_items(*, item_ids: list[int] | None = None) -> int:
    """Score failed items again (all of them without ``item_ids``); returns how many were sent."""
    with transaction.atomic():
        # Locked first, so a worker or a second click does not change them between the reads and the update.
        locked = list(failed_items(item_ids).select_for_update().values_list("id", flat=True))
        candidates = Item.objects.filter(id__in=locked)
        unrouted = list(
            candidates.filter(state=Item.State.FAILED)
            .exclude(entries__status__in=["pending", "claimed"])
            .values_list("id", flat=True)
        )
        waiting = list(
            candidates.filter(state=Item.State.QUEUED, entries__status="pending")
            .exclude(entries__status="claimed")
            .values_list("id", flat=True)
            .distinct()
        )
        Item.objects.filter(id__in=unrouted).update(
            state=Item.State.RECEIVED,
            failure_reason="",
            scoring_attempts=0,
            scoring_token=None,
            scoring_lease_until=None,
            scored_at=None,
        )
        Item.objects.filter(id__in=waiting).update(scoring_attempts=0)
        if unrouted:
            enqueue_scoring(unrouted)
        if waiting:
            transaction.on_commit(lambda: _send_reroute(waiting), robust=True)
    if unrouted or waiting:
        logger.info("scoring again %d failed items (%d waiting in a queue)", len(unrouted) + len(waiting), len(waiting))
    return len(unrouted) + len(waiting)


def _send_reroute(item_ids: list[int]) -> None:
    current_app.signature(REROUTE_TASK, kwargs={"item_ids": item_ids}).apply_async(retry=False)


def is_rescorable(item: Item) -> bool:
    return failed_items([item.pk]).filter(~Q(entries__status="claimed")).exists()
