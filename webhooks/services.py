"""Writing events to the outbox and delivering them; managing subscriptions.

``emit`` and ``emit_many`` are called inside the transaction of the change they describe, so the
event exists if and only if the change does. Messages to workers are sent after commit; if one is
lost, or a worker dies mid-delivery, the sweeper finds the delivery row and sends it again.
"""

import logging
import time
import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from celery import current_app
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import connection, transaction
from django.db.models import F, Q, QuerySet
from django.utils import timezone

from audit.request_context import MESSAGE_HEADER, current_request_id
from audit.services import record_event
from webhooks.models import (
    Delivery,
    DeliveryAttempt,
    WebhookEvent,
    WebhookSubscription,
    new_event_id,
    new_secret,
    pause_after,
    retry_delay,
)
from webhooks.signing import signature_headers

logger = logging.getLogger(__name__)

USER_AGENT = "moderation-webhooks/1"


class UnknownEventType(ValueError):
    """An event type that is not in ``WEBHOOK_EVENT_TYPES`` (a typo in the caller)."""


def subscribers_of(event_type: str) -> list[int]:
    """Ids of the active subscriptions that receive ``event_type`` (one small query)."""
    rows = WebhookSubscription.objects.filter(is_active=True).values_list("pk", "event_types")
    return [pk for pk, types in rows if event_type in types]


def emit(*, event_type: str, payload: dict[str, Any]) -> str | None:
    """Record one event for delivery to its subscribers; returns its ``webhook-id``, None when nobody subscribes."""
    event_ids = emit_many(event_type=event_type, payloads=[payload])
    return event_ids[0] if event_ids else None


def emit_many(*, event_type: str, payloads: Iterable[dict[str, Any]]) -> list[str]:
    """Record one event per payload, and a delivery per subscriber, in the caller's transaction.

    Returns the events' ids. Costs one query when nobody subscribes to ``event_type``, and
    ``payloads`` (a generator, say) is then never iterated. Otherwise two INSERT statements, whatever
    the number of events: this runs inside item ingestion, where building a model instance per row
    (``bulk_create``) cost a third of a 500-item request. Workers are told after commit; a
    rolled-back change leaves no event behind.
    """
    if event_type not in settings.WEBHOOK_EVENT_TYPES:
        raise UnknownEventType(f"{event_type!r} is not one of WEBHOOK_EVENT_TYPES")
    subscribers = subscribers_of(event_type)
    if not subscribers:
        return []
    payloads = list(payloads)
    if not payloads:
        return []
    with transaction.atomic(savepoint=False):
        event_ids, delivery_ids = _insert_outbox(event_type, payloads, subscribers)
        # robust: a broker that is down must not fail the change; the sweeper sends these later.
        transaction.on_commit(lambda: enqueue_deliveries(delivery_ids), robust=True)
    return event_ids


def _insert_outbox(event_type: str, payloads: list[dict[str, Any]], subscribers: list[int]) -> tuple[list, list]:
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    payload_field = WebhookEvent._meta.get_field("payload")
    event_ids = [new_event_id() for _ in payloads]
    request_id = current_request_id() or ""
    rows = [
        (event_id, event_type, payload_field.get_db_prep_save(payload, connection), now, request_id)
        for event_id, payload in zip(event_ids, payloads, strict=True)
    ]
    events, deliveries, subscriptions = (
        model._meta.db_table for model in (WebhookEvent, Delivery, WebhookSubscription)
    )
    delivery_ids: list[int] = []
    with connection.cursor() as cursor:
        for start in range(0, len(rows), 1000):  # SQLite allows 32,766 parameters per statement
            chunk = rows[start : start + 1000]
            cursor.execute(
                f"INSERT INTO {events} (event_id, type, payload, created_at, request_id) VALUES "
                + ", ".join(["(%s, %s, %s, %s, %s)"] * len(chunk)),
                [value for row in chunk for value in row],
            )
            cursor.execute(
                f"INSERT INTO {deliveries} (event_id, subscription_id, state, attempts, next_attempt_at, enqueued_at,"
                f" created_at) SELECT e.id, s.id, %s, 0, %s, %s, %s FROM {events} e CROSS JOIN {subscriptions} s"
                f" WHERE e.event_id IN ({', '.join(['%s'] * len(chunk))})"
                f" AND s.id IN ({', '.join(['%s'] * len(subscribers))}) RETURNING id",
                [Delivery.State.PENDING, now, now, now, *(row[0] for row in chunk), *subscribers],
            )
            delivery_ids += [row[0] for row in cursor.fetchall()]
    return event_ids, delivery_ids


def enqueue_deliveries(delivery_ids: Sequence[int], *, request_id: str = "") -> None:
    """Send the ids to workers in small batches (one message per delivery would cost the sender more).

    ``request_id``: the id of the request that caused these deliveries' events, when it is not the one being
    served now (the sweeper's retries); the task then logs under it.
    """
    size = settings.WEBHOOK_TASK_BATCH
    headers = {MESSAGE_HEADER: request_id} if request_id else {}
    for start in range(0, len(delivery_ids), size):
        # By name: the task module calls this one, so importing it here would make a circle.
        current_app.signature("webhooks.tasks.deliver", args=[list(delivery_ids[start : start + size])]).apply_async(
            headers=headers
        )


def deliver(*, delivery_id: int) -> str | None:
    """Make one attempt at a due delivery and record its outcome; returns the new state.

    The claim is one conditional UPDATE (pending, due, subscription active and not paused), so two
    workers never send the same delivery at once and a redelivered message changes nothing. Returns
    None when the delivery was not claimable (done, in flight elsewhere, not due, or its endpoint
    inactive or paused after not answering: the sweeper sends it once the pause is over).
    """
    # Imported here: the HTTP client is the workers' business; web processes only write the outbox.
    from webhooks import transport

    now = timezone.now()
    token = uuid.uuid4()
    # subscription__in, not subscription__is_active: a join would move the whole condition into a subquery,
    # which PostgreSQL does not re-check after waiting for a concurrent claim's row lock (both would win).
    active = WebhookSubscription.objects.filter(is_active=True).exclude(paused_until__gt=now).values("pk")
    with transaction.atomic():
        _without_waiting_for_disk()
        claimed = Delivery.objects.filter(
            pk=delivery_id, state=Delivery.State.PENDING, next_attempt_at__lte=now, subscription__in=active
        ).update(
            state=Delivery.State.DELIVERING,
            lease_token=token,
            lease_until=now + timedelta(seconds=settings.WEBHOOK_LEASE_SECONDS),
            attempts=F("attempts") + 1,
        )
    if not claimed:
        return None
    delivery = Delivery.objects.select_related("event", "subscription").get(pk=delivery_id)
    event, subscription = delivery.event, delivery.subscription
    body = event.body()
    started_at = timezone.now()
    headers = signature_headers(secret=subscription.secret, message_id=event.event_id, timestamp=started_at, body=body)
    headers |= {"content-type": "application/json", "user-agent": USER_AGENT}
    clock = time.monotonic()
    status_code, excerpt, error = None, "", ""
    try:
        answer = transport.post(
            subscription.url, body=body.encode(), headers=headers, excerpt_bytes=DeliveryAttempt.EXCERPT_BYTES
        )
        status_code, excerpt = answer.status_code, answer.excerpt
    except Exception as exc:  # noqa: BLE001 - whatever went wrong is this attempt's outcome, logged below
        error = f"{type(exc).__name__}: {exc}"[:500] if str(exc) else type(exc).__name__
    latency_ms = round((time.monotonic() - clock) * 1000)
    if status_code is not None and not 200 <= status_code < 300 and not error:
        error = f"HTTP {status_code}"
    return _record_attempt(
        delivery, token=token, started_at=started_at, status_code=status_code, latency_ms=latency_ms,
        excerpt=excerpt, error=error,
    )  # fmt: skip


def _without_waiting_for_disk() -> None:
    """On PostgreSQL, let this transaction's commit return before its WAL reaches the disk.

    Delivery is at least once: if the server crashed in that instant, a claim or an outcome would be
    lost and the event sent again, which receivers handle already (they dedupe on ``webhook-id``).
    Waiting for the disk was most of a delivery's time (two flushes of ~5 ms each, bench/webhooks.py).
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit TO OFF")


def _record_attempt(
    delivery: Delivery,
    *,
    token: uuid.UUID,
    started_at: datetime,
    status_code: int | None,
    latency_ms: int,
    excerpt: str,
    error: str,
) -> str:
    now = timezone.now()
    delivered = status_code is not None and 200 <= status_code < 300
    if delivered:
        outcome = {"state": Delivery.State.DELIVERED, "delivered_at": now}
    elif (delay := retry_delay(delivery.attempts)) is not None:
        outcome = {"state": Delivery.State.PENDING, "next_attempt_at": now + delay}
    else:
        outcome = {"state": Delivery.State.FAILED}
    with transaction.atomic():
        _without_waiting_for_disk()
        DeliveryAttempt.objects.create(
            delivery=delivery, number=delivery.attempts, started_at=started_at, status_code=status_code,
            latency_ms=latency_ms, response_excerpt=excerpt, error=error,
        )  # fmt: skip
        # Only the lease holder writes the outcome: one that overran its lease lost the delivery to the sweeper.
        Delivery.objects.filter(pk=delivery.pk, lease_token=token, state=Delivery.State.DELIVERING).update(
            lease_token=None, lease_until=None, enqueued_at=None, **outcome
        )
    subscription = delivery.subscription
    if status_code is None:
        # No answer at all: the endpoint is down or hangs; its other deliveries wait instead of each costing a worker
        # the whole timeout. (An HTTP error is about this event: the others still go.)
        WebhookSubscription.objects.filter(pk=subscription.pk).update(
            unanswered_in_a_row=F("unanswered_in_a_row") + 1,
            paused_until=now + pause_after(subscription.unanswered_in_a_row + 1),
        )
    elif subscription.unanswered_in_a_row:
        WebhookSubscription.objects.filter(pk=subscription.pk).update(unanswered_in_a_row=0, paused_until=None)
    if not delivered:
        logger.info("webhook %s to %s: attempt %d failed (%s)", delivery.event, subscription.url,
                    delivery.attempts, error)  # fmt: skip
    return outcome["state"]


def requeue_deliveries(*, limit: int = 5_000) -> int:
    """Periodic: send due retries, and deliveries whose message was lost or whose worker died.

    A delivery whose lease ran out while ``delivering`` gets that attempt logged as unfinished and is
    retried at once (or failed, when it was the last). A due ``pending`` delivery with no message
    sent within the last lease is sent again. Returns how many were sent.
    """
    now = timezone.now()
    lease = timedelta(seconds=settings.WEBHOOK_LEASE_SECONDS)
    for delivery in Delivery.objects.filter(state=Delivery.State.DELIVERING, lease_until__lt=now)[:limit]:
        DeliveryAttempt.objects.create(
            delivery=delivery, number=delivery.attempts, started_at=delivery.lease_until - lease,
            latency_ms=0, error="No outcome recorded: the worker stopped or overran its lease.",
        )  # fmt: skip
        exhausted = retry_delay(delivery.attempts) is None
        Delivery.objects.filter(pk=delivery.pk, lease_token=delivery.lease_token).update(
            state=Delivery.State.FAILED if exhausted else Delivery.State.PENDING,
            next_attempt_at=now, lease_token=None, lease_until=None, enqueued_at=None,
        )  # fmt: skip
    not_sent_lately = Q(enqueued_at__isnull=True) | Q(enqueued_at__lt=now - lease)
    due = list(
        Delivery.objects.filter(not_sent_lately, state=Delivery.State.PENDING, next_attempt_at__lte=now)
        .filter(subscription__is_active=True)
        .exclude(subscription__paused_until__gt=now)
        .order_by("next_attempt_at")
        .values_list("pk", "event__request_id")[:limit]
    )
    if due:
        Delivery.objects.filter(pk__in=[pk for pk, _ in due]).update(enqueued_at=now)
        # One message per originating request, so that each retry logs under the id of the request that caused it.
        by_request: dict[str, list[int]] = defaultdict(list)
        for pk, request_id in due:
            by_request[request_id].append(pk)
        for request_id, ids in by_request.items():
            enqueue_deliveries(ids, request_id=request_id)
    return len(due)


def redeliver(
    *, deliveries: QuerySet[Delivery], actor: AbstractBaseUser | None = None, ip_address: str | None = None
) -> int:
    """Start the selected deliveries over (a full new retry schedule), whatever their state; audited.

    Deliveries in flight are left alone. The event keeps its ``webhook-id``, so a receiver that
    already has it can recognise the copy. Returns how many were restarted.
    """
    now = timezone.now()
    with transaction.atomic():
        chosen = list(
            deliveries.select_for_update(of=("self",)).exclude(state=Delivery.State.DELIVERING).select_related("event")
        )
        Delivery.objects.filter(pk__in=[d.pk for d in chosen]).update(
            state=Delivery.State.PENDING, attempts=0, next_attempt_at=now, enqueued_at=now, delivered_at=None
        )
        # Sent now, even to an endpoint paused after not answering: whoever asked expects an attempt.
        WebhookSubscription.objects.filter(pk__in={d.subscription_id for d in chosen}).update(paused_until=None)
        for delivery in chosen:
            record_event(
                action="webhook_delivery.redelivered", target=delivery, actor=actor, ip_address=ip_address,
                before={"state": delivery.state, "attempts": delivery.attempts}, after={"state": "pending"},
            )  # fmt: skip
        ids = [d.pk for d in chosen]
        transaction.on_commit(lambda: enqueue_deliveries(ids), robust=True)
    return len(chosen)


def _snapshot(subscription: WebhookSubscription) -> dict[str, Any]:
    return {
        "url": subscription.url,
        "description": subscription.description,
        "event_types": subscription.event_types,
        "is_active": subscription.is_active,
    }


def create_subscription(
    *,
    url: str,
    event_types: list[str],
    description: str = "",
    is_active: bool = True,
    actor: AbstractBaseUser | None = None,
    ip_address: str | None = None,
) -> WebhookSubscription:
    """Validate and store a subscription with a new secret; audited (the secret is never in the log)."""
    subscription = WebhookSubscription(
        url=url, event_types=event_types, description=description, is_active=is_active, created_by=actor
    )
    subscription.full_clean()
    with transaction.atomic():
        subscription.save()
        record_event(
            action="webhooksubscription.created", target=subscription, actor=actor, ip_address=ip_address,
            after=_snapshot(subscription),
        )  # fmt: skip
    return subscription


def update_subscription(
    *,
    subscription: WebhookSubscription,
    changes: dict[str, Any],
    actor: AbstractBaseUser | None = None,
    ip_address: str | None = None,
) -> WebhookSubscription:
    """Change url, description, event_types or is_active; audited with before and after."""
    before = _snapshot(subscription)
    for field, value in changes.items():
        if field not in before:
            raise ValueError(f"{field} cannot be changed")
        setattr(subscription, field, value)
    subscription.full_clean()
    with transaction.atomic():
        subscription.save()
        record_event(
            action="webhooksubscription.changed", target=subscription, actor=actor, ip_address=ip_address,
            before=before, after=_snapshot(subscription),
        )  # fmt: skip
    return subscription


def delete_subscription(
    *, subscription: WebhookSubscription, actor: AbstractBaseUser | None = None, ip_address: str | None = None
) -> None:
    """Delete a subscription and its delivery history; audited."""
    with transaction.atomic():
        record_event(
            action="webhooksubscription.deleted", target=subscription, actor=actor, ip_address=ip_address,
            before=_snapshot(subscription),
        )  # fmt: skip
        subscription.delete()


def rotate_secret(
    *, subscription: WebhookSubscription, actor: AbstractBaseUser | None = None, ip_address: str | None = None
) -> str:
    """Give the subscription a new signing secret and return it; audited (without the secret)."""
    with transaction.atomic():
        subscription.secret = new_secret()
        subscription.save(update_fields=["secret", "updated_at"])
        record_event(
            action="webhooksubscription.secret_rotated", target=subscription, actor=actor, ip_address=ip_address
        )
    return subscription.secret
