"""Deciding many held entries with the same verdict in a handful of statements instead of ~15 per item.

Written to become the body of the review decision service (phase 2 of the layout move puts it in review/,
where ``record_decision`` decides its entry and its near-duplicate group through it): every entry gets what
``_decide_one`` gives it, its own decision, categories, labels, closed entry, decided item, audit event,
``decision.created`` webhook and second-review draw, but the rows of a chunk are written together.
Gold entries are not handled here: they are scored against their known answer one by one.
"""

from collections.abc import Sequence

from django.contrib.auth.models import AbstractBaseUser
from django.utils import timezone

from audit.middleware import current_client_ip
from audit.models import AuditEvent
from classifiers.models import PolicyCategory
from queues import quality
from queues.models import Decision, Item, Label, QueueEntry
from webhooks.services import emit_many


def decide_entries(
    entries: Sequence[QueueEntry],
    *,
    user: AbstractBaseUser,
    action: str,
    categories: list[PolicyCategory],
    note: str,
    all_categories: list[PolicyCategory],
) -> list[Decision]:
    """Decide ``entries`` (locked, held by ``user``, none gold) in the caller's transaction; their decisions."""
    if not entries:
        return []
    now = timezone.now()
    decisions = Decision.objects.bulk_create(
        [
            Decision(item_id=e.item_id, entry=e, reviewer=user, action=action, note=note, claimed_at=e.claimed_at)
            for e in entries
        ]
    )
    Decision.categories.through.objects.bulk_create(
        [Decision.categories.through(decision=d, policycategory=c) for d in decisions for c in categories]
    )
    if action != Decision.Action.NEEDS_CONTEXT:
        violated = {category.pk for category in categories}
        Label.objects.bulk_create(
            [
                Label(
                    item_id=e.item_id,
                    category=c,
                    value=c.pk in violated,
                    decision=d,
                    reviewer=user,
                    queue_id=e.queue_id,
                    selection=e.selection,
                )  # fmt: skip
                for e, d in zip(entries, decisions, strict=True)
                for c in all_categories
            ]
        )
    QueueEntry.objects.filter(pk__in=[e.pk for e in entries]).update(
        status=QueueEntry.Status.DONE, closed_at=now, lease_until=None
    )
    for entry in entries:
        entry.status, entry.closed_at, entry.lease_until = QueueEntry.Status.DONE, now, None
    Item.objects.filter(pk__in=[e.item_id for e in entries]).update(state=Item.State.DECIDED, updated_at=now)
    slugs = sorted(c.slug for c in categories)
    label, ip = user.get_username()[:150], current_client_ip()
    AuditEvent.objects.bulk_create(
        [
            AuditEvent(
                actor=user,
                actor_label=label,
                action="decision.created",
                object_type=Decision._meta.label_lower,
                object_id=str(d.pk),
                object_repr=str(d)[:200],
                ip_address=ip,
                after={
                    "item": e.item_id,
                    "action": action,
                    "categories": slugs,
                    "queue": e.queue.name,
                    "group_of": None,
                },
            )  # fmt: skip
            for e, d in zip(entries, decisions, strict=True)
        ]
    )
    emit_many(
        event_type="decision.created",
        payloads=(_webhook_payload(e, d, categories=slugs, user=user) for e, d in zip(entries, decisions, strict=True)),
    )
    for entry, decision in zip(entries, decisions, strict=True):
        quality.sample_second_review(entry, decision, user=user)
    return decisions


def _webhook_payload(entry: QueueEntry, decision: Decision, *, categories: list[str], user: AbstractBaseUser) -> dict:
    """The ``decision.created`` payload, field for field what ``queues.events.decision_created`` sends."""
    return {
        "item_id": entry.item_id,
        "source": entry.item.source,
        "external_id": entry.item.external_id,
        "decision_id": decision.pk,
        "action": decision.action,
        "categories": categories,
        "automatic": False,
        "second_review": entry.selection == QueueEntry.Selection.SECOND_REVIEW,
        "reviewer": user.get_username(),
        "queue": entry.queue.name,
        "decided_at": decision.created_at,
    }
