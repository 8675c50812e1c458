"""Webhook subscriptions, the outbox of events, and each subscription's delivery of each event.

An event row is written in the same transaction as the change it describes, with one delivery row
per subscription that wants it. The delivery row is the unit of work: its state, attempt count,
next attempt time and lease say everything a worker or the sweeper needs, so a lost message or a
killed worker only delays a delivery (DESIGN.md invariant 1).
"""

import base64
import json
import secrets
import time
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.utils import timezone

from webhooks.destinations import validate_destination


def new_secret() -> str:
    """A signing secret in the Standard Webhooks form: ``whsec_`` and 32 random bytes in base64."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def new_event_id() -> str:
    """``msg_`` and a time-ordered unique id; receivers use it to recognise a message they already have."""
    return f"msg_{time.time_ns() // 1_000_000:012x}{secrets.token_hex(10)}"


class WebhookSubscription(models.Model):
    """An integrator's endpoint and the event types it receives, signed with its own secret."""

    url = models.URLField(
        max_length=2000, validators=[validate_destination], help_text="Where events are POSTed (http or https)."
    )
    description = models.CharField(max_length=200, blank=True, help_text="Who receives it, e.g. 'Zendesk bridge'.")
    event_types = models.JSONField(default=list, help_text="The event types sent to this endpoint.")
    # Not editable: forms never show it and the audit log's before/after never contains it.
    secret = models.CharField(max_length=100, default=new_secret, editable=False)
    is_active = models.BooleanField(default=True, help_text="Inactive: new events are not sent, pending ones wait.")
    # An endpoint that does not answer (refused, timed out, unresolvable) costs a worker up to WEBHOOK_TIMEOUT per
    # attempt: after each such attempt its other deliveries wait, longer each time, and are not charged an attempt.
    unanswered_in_a_row = models.PositiveIntegerField(default=0, editable=False)
    paused_until = models.DateTimeField(null=True, blank=True, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", editable=False
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["url", "id"]
        verbose_name = "webhook subscription"

    def __str__(self) -> str:
        return self.description or self.url

    def clean(self) -> None:
        known = settings.WEBHOOK_EVENT_TYPES
        if not isinstance(self.event_types, list) or not self.event_types:
            raise ValidationError({"event_types": "Choose at least one event type."})
        unknown = sorted(set(self.event_types) - set(known))
        if unknown:
            raise ValidationError({"event_types": f"Unknown event types: {', '.join(unknown)}."})

    @property
    def masked_secret(self) -> str:
        return f"whsec_…{self.secret[-4:]}"


class WebhookEvent(models.Model):
    """One outbound event (the outbox row). Its ``event_id`` is the ``webhook-id`` of every attempt."""

    event_id = models.CharField(max_length=40, unique=True, default=new_event_id, editable=False)
    type = models.CharField(max_length=64, db_index=True)
    payload = models.JSONField(encoder=DjangoJSONEncoder)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    # The request (or task) that caused the event: every delivery attempt, the sweeper's retries included,
    # is sent and logged under it, so one id finds the whole story in the logs.
    # db_default: outbox writers in raw SQL (intake.ingest_postgres) that do not name it still insert a row.
    request_id = models.CharField(max_length=64, blank=True, db_default="", editable=False)

    class Meta:
        ordering = ["-id"]
        verbose_name = "webhook event"

    def __str__(self) -> str:
        return f"{self.type} {self.event_id}"

    def body(self) -> str:
        """The JSON document POSTed for this event (the Standard Webhooks payload structure)."""
        envelope = {"type": self.type, "timestamp": self.created_at.isoformat(), "data": self.payload}
        return json.dumps(envelope, cls=DjangoJSONEncoder, separators=(",", ":"))


class Delivery(models.Model):
    """One event on its way to one subscription: attempted until a 2xx answer or the retry schedule ends."""

    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        DELIVERING = "delivering", "Delivering"
        DELIVERED = "delivered", "Delivered"
        FAILED = "failed", "Failed"

    event = models.ForeignKey(WebhookEvent, on_delete=models.CASCADE, related_name="deliveries")
    subscription = models.ForeignKey(WebhookSubscription, on_delete=models.CASCADE, related_name="deliveries")
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveIntegerField(default=0, help_text="Attempts since the delivery was (re)started.")
    next_attempt_at = models.DateTimeField(default=timezone.now)
    # When a task message was last sent for it: the sweeper leaves it alone for a lease, then re-sends.
    enqueued_at = models.DateTimeField(null=True, blank=True)
    lease_token = models.UUIDField(null=True, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-id"]
        verbose_name_plural = "deliveries"
        constraints = [models.UniqueConstraint(fields=["event", "subscription"], name="delivery_once_per_subscription")]
        indexes = [
            # The sweeper's scan: only unfinished deliveries are in it, however long the history grows.
            models.Index(
                fields=["next_attempt_at"],
                name="delivery_unfinished",
                condition=models.Q(state__in=["pending", "delivering"]),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event} → {self.subscription}"


def retry_delay(attempts: int) -> timedelta | None:
    """How long to wait after the ``attempts``-th failed attempt; None once the schedule is used up."""
    schedule = settings.WEBHOOK_RETRY_SCHEDULE
    return timedelta(seconds=schedule[attempts - 1]) if attempts <= len(schedule) else None


def pause_after(unanswered_in_a_row: int) -> timedelta:
    """How long an endpoint's other deliveries wait after that many attempts in a row got no answer."""
    schedule = settings.WEBHOOK_RETRY_SCHEDULE
    return timedelta(seconds=schedule[min(unanswered_in_a_row, len(schedule)) - 1])


class DeliveryAttempt(models.Model):
    """The log of one HTTP attempt: what came back (or what went wrong) and how long it took."""

    EXCERPT_BYTES = 1024

    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="attempt_log")
    number = models.PositiveIntegerField()
    started_at = models.DateTimeField()
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    latency_ms = models.PositiveIntegerField()
    response_excerpt = models.TextField(blank=True, help_text="The first kilobyte of the response body.")
    error = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["started_at", "id"]

    def __str__(self) -> str:
        return f"attempt {self.number}: {self.status_code or self.error}"
