"""Moving items through scoring: enqueue after commit, claim under a lease, record the outcome.

The database is the source of truth: an item waits in ``received`` until a worker claims it with a
conditional update (state and lease in the WHERE clause), so two workers never score the same item
at once and a lost message or a killed worker only delays an item until the sweeper re-queues it.
"""

import logging
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Max, Q
from django.utils import timezone

from intake import events as intake_events
from intake.dispatch import enqueue_scoring
from intake.models import Item, author_key
from queues.retry_batches import retry_batch_size
from queues.write_behind import WriteBehind

if TYPE_CHECKING:
    from classifiers.runtime import ScoringReport

logger = logging.getLogger(__name__)


def _claimable(now) -> Q:  # noqa: ANN001
    expired = Q(state=Item.State.SCORING, scoring_lease_until__lt=now)
    return (Q(state=Item.State.RECEIVED) | expired) & Q(scoring_attempts__lt=settings.SCORING_MAX_ATTEMPTS)


def waiting_retry_level(*, item_ids: list[int] | None = None) -> int:
    """The most claims already spent on a claimable item (of ``item_ids`` when some are claimable): 0 when
    none was in a lost batch. Those items are scored first, in smaller batches (``queues.retry_batches``)."""
    claimable = Item.objects.filter(_claimable(timezone.now()))
    if item_ids:
        mine = claimable.filter(id__in=item_ids).aggregate(level=Max("scoring_attempts"))["level"]
        if mine is not None:
            return mine
    return claimable.filter(scoring_attempts__gt=0).aggregate(level=Max("scoring_attempts"))["level"] or 0


def claim_for_scoring(item_ids: list[int], *, token: uuid.UUID, limit: int, prior_attempts: int | None = None) -> int:
    """Claim up to ``limit`` items that were claimed ``prior_attempts`` times before: ``item_ids`` first,
    then the oldest others waiting. Returns how many.

    Without ``prior_attempts``, the items that waited after a lost batch go first, as many as
    ``retry_batch_size`` allows for their attempt count: a batch never mixes attempt counts, so a batch
    that dies again charges its attempt to fewer items each time, down to the one that kills the worker.
    """
    now = timezone.now()
    if prior_attempts is None:
        prior_attempts = waiting_retry_level(item_ids=item_ids)
        limit = retry_batch_size(
            prior_attempts=prior_attempts, batch_size=limit, max_attempts=settings.SCORING_MAX_ATTEMPTS
        )
    claimable = _claimable(now) & Q(scoring_attempts=prior_attempts)
    lease = {
        "state": Item.State.SCORING,
        "scoring_token": token,
        "scoring_lease_until": now + timedelta(seconds=settings.SCORING_LEASE_SECONDS),
        "scoring_attempts": F("scoring_attempts") + 1,
    }
    claimed = Item.objects.filter(claimable, id__in=item_ids[:limit]).update(**lease) if item_ids else 0
    if claimed < limit:
        # Fill the micro-batch with other waiting items: a model scores 32 items far faster than 32 x 1.
        others = list(
            Item.objects.filter(claimable)
            .exclude(scoring_token=token)
            .order_by("id")
            .values_list("id", flat=True)[: limit - claimed]
        )
        if others:
            claimed += Item.objects.filter(claimable, id__in=others).update(**lease)
    return claimed


# One task scores at most this many batches in a row while items wait, then lets the broker hand out the next message.
MAX_BATCHES_PER_TASK = 8


@dataclass
class _Batch:
    """A computed batch waiting to be written: the items held under ``token`` and what the models gave them."""

    token: uuid.UUID
    item_ids: list[int]
    report: "ScoringReport"


def score_pending_items(*, item_ids: list[int], batch_size: int | None = None, fill_wait_ms: int | None = None) -> int:
    """Claim micro-batches (``item_ids`` first), score them, and record each item's outcome.

    Waits up to ``fill_wait_ms`` for a batch to fill when fewer items are waiting. Items that were in a lost
    batch are claimed first and in smaller batches. While items are waiting the task goes on with the next
    batch, and on PostgreSQL it writes each batch (scores, outcome, routing) in a background thread while it
    computes the next one (``queues.write_behind``), so the model does not wait for the database. It returns
    only after every write is done. Returns how many items this call scored; 0 when every one was already
    taken or done (a redelivery).
    """
    # Not on SQLite: one writer at a time there, so the next batch's claim would queue behind the write anyway,
    # on a file lock with a busy timeout. Not inside a caller's transaction: another connection cannot see it.
    overlap = connection.vendor == "postgresql" and not connection.in_atomic_block
    with WriteBehind(_write_batch) as writer:
        for _ in range(MAX_BATCHES_PER_TASK):
            claimed = _claim_batch(item_ids=item_ids, batch_size=batch_size, fill_wait_ms=fill_wait_ms)
            if claimed is None:
                break
            token, retried = claimed
            if retried:
                # Items of a lost batch run alone: were this batch to kill the worker, no other batch's items
                # (mid-write) would be charged an attempt with it (queues.retry_batches).
                writer.wait()
            batch = _compute_batch(token)
            more = Item.objects.filter(_claimable(timezone.now())).exists()
            if overlap and more and not retried:
                writer.write_behind(batch)
            else:
                writer.write_now(batch)
            if not more or writer.failed:
                break  # after a failed write, no new batch: the one in hand is written, then the error raised
    return writer.written


def _claim_batch(
    *, item_ids: list[int], batch_size: int | None, fill_wait_ms: int | None
) -> tuple[uuid.UUID, int] | None:
    """Claim the next batch under a new token: (token, how many claims its items had before), or None."""
    batch_size = batch_size or settings.SCORING_BATCH_SIZE
    fill_wait_ms = settings.SCORING_FILL_WAIT_MS if fill_wait_ms is None else fill_wait_ms
    token = uuid.uuid4()
    level = waiting_retry_level(item_ids=item_ids)
    size = retry_batch_size(prior_attempts=level, batch_size=batch_size, max_attempts=settings.SCORING_MAX_ATTEMPTS)
    claimed = claim_for_scoring(item_ids, token=token, limit=size, prior_attempts=level)
    if not claimed and level:
        # Another worker took the retried items meanwhile: score fresh ones.
        level, size = 0, batch_size
        claimed = claim_for_scoring(item_ids, token=token, limit=size, prior_attempts=level)
    deadline = time.monotonic() + fill_wait_ms / 1000
    while claimed and claimed < size and time.monotonic() < deadline:
        time.sleep(0.05)
        claimed += claim_for_scoring([], token=token, limit=size - claimed, prior_attempts=level)
    return (token, level) if claimed else None


def _compute_batch(token: uuid.UUID) -> _Batch:
    # Imported here: the runtime pulls in numpy, and web processes (which only enqueue) never need it.
    from classifiers.runtime import Content, compute_scores

    items = list(
        Item.objects.filter(scoring_token=token, state=Item.State.SCORING).values(
            "id", "text", "image", "author__source", "author__external_id"
        )
    )
    report = compute_scores(
        [
            Content(
                item_id=i["id"],
                text=i["text"],
                image_name=i["image"],
                author=author_key(i["author__source"], i["author__external_id"]),
            )
            for i in items
        ]
    )
    return _Batch(token=token, item_ids=[item["id"] for item in items], report=report)


def _write_batch(batch: _Batch) -> int:
    """Store a batch's scores and its items' outcome, then route the items. Returns how many it recorded."""
    from classifiers.runtime import store_scores

    now = timezone.now()
    held = Q(scoring_token=batch.token, state=Item.State.SCORING)
    # Scores and the items' outcome in one transaction (one commit per batch instead of two): a worker killed
    # before it commits leaves the items held under their lease, to be scored again, and none is marked
    # scored without its scores.
    with transaction.atomic():
        store_scores(batch.report)
        failed = list(batch.report.failures.items())
        for item_id, reason in failed:
            Item.objects.filter(held, id=item_id).update(
                state=Item.State.FAILED,
                failure_reason=reason,
                scoring_token=None,
                scoring_lease_until=None,
                scored_at=now,
            )
        done = Item.objects.filter(held).update(
            state=Item.State.SCORED, scoring_token=None, scoring_lease_until=None, scored_at=now
        )
        intake_events.items_scored(item_ids=batch.item_ids, scored_at=now)
    logger.info("scored %d items (%d failed, %d scores)", done, len(failed), batch.report.scores_written)
    _route(batch.item_ids)
    return done + len(failed)


def _route(item_ids: list[int]) -> None:
    from queues.enqueue import NoDefaultQueue, route_items

    try:
        route_items(item_ids=item_ids)
    except NoDefaultQueue as exc:
        # The items stay scored; the sweeper routes them once an admin creates a default queue.
        logger.error("cannot route %d scored items: %s", len(item_ids), exc)


def requeue_stuck_scoring(*, older_than_seconds: int | None = None) -> int:
    """Re-queue items whose message was lost or whose worker died; fail those that keep crashing.

    An item waiting in ``received`` longer than ``older_than_seconds`` (default: the lease), or
    holding an expired lease, gets a new message. One that has used every attempt is marked
    failed with a reason, so it still reaches a reviewer instead of looping forever.
    """
    now = timezone.now()
    age = timedelta(seconds=older_than_seconds if older_than_seconds is not None else settings.SCORING_LEASE_SECONDS)
    exhausted = Item.objects.filter(
        state=Item.State.SCORING, scoring_lease_until__lt=now, scoring_attempts__gte=settings.SCORING_MAX_ATTEMPTS
    ).update(
        state=Item.State.FAILED,
        failure_reason=(
            f"Scoring did not finish after {settings.SCORING_MAX_ATTEMPTS} attempts (the worker crashed or timed out)."
        ),
        scoring_token=None,
        scoring_lease_until=None,
    )
    stuck = list(
        Item.objects.filter(
            Q(state=Item.State.RECEIVED, created_at__lt=now - age)
            | Q(state=Item.State.SCORING, scoring_lease_until__lt=now)
        ).values_list("id", flat=True)[:10_000]
    )
    if stuck:
        enqueue_scoring(stuck)
    unrouted = list(
        Item.objects.filter(state__in=[Item.State.SCORED, Item.State.FAILED], updated_at__lt=now - age)
        .exclude(entries__status__in=["pending", "claimed"])
        .values_list("id", flat=True)[:2_000]
    )
    if unrouted:
        _route(unrouted)
    if stuck or exhausted:
        logger.warning("sweeper: re-queued %d items, failed %d after too many attempts", len(stuck), exhausted)
    return len(stuck)
