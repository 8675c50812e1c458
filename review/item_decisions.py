"""Deciding an item by its id, for agents in a ticketing system that know the item, not a queue entry.

The same rules as a reviewer in the browser: the user must be a member of the item's queue, the
decision is taken under a lease and through ``review.record_decision`` (its validation, labels and
audit event), and an item another reviewer holds is theirs.
"""

from datetime import timedelta

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from intake.models import Item
from queues import membership
from queues.models import Decision, QueueEntry
from review import decisions
from review.exceptions import LeaseLost


class NotInAQueue(LeaseLost):
    """The item waits in no queue: not routed yet, or already decided (HTTP 409)."""

    code = "not_in_a_queue"


def decide_item(
    *,
    item_id: int,
    user: AbstractBaseUser,
    action: str,
    categories: list[str],
    note: str = "",
    apply_to_group: bool = False,
) -> list[Decision]:
    """Claim the item's open queue entry for ``user``, decide it, and close it, in one transaction.

    The entry is claimed when it waits unclaimed, when its lease ran out, or when ``user`` already
    holds it (their lease is used). Any refusal (another reviewer's live lease: LeaseLost; not a
    member: NotAMember; a malformed decision: InvalidDecision) rolls the claim back with the rest,
    so a failed call leaves the item exactly as it was.
    """
    with transaction.atomic():
        entry = (
            QueueEntry.objects.select_for_update(of=("self",))
            .select_related("queue")
            .filter(item_id=item_id, status__in=[QueueEntry.Status.PENDING, QueueEntry.Status.CLAIMED])
            .first()
        )
        if entry is None:
            state = Item.objects.filter(pk=item_id).values_list("state", flat=True).first()
            raise NotInAQueue(f"Item {item_id} waits in no queue (its state is {state!r}); there is nothing to decide.")
        membership.ensure_member(user, entry.queue)
        now = timezone.now()
        live = entry.status == QueueEntry.Status.CLAIMED and entry.lease_until is not None and entry.lease_until > now
        if live and entry.claimed_by_id != user.pk:
            raise LeaseLost("Another reviewer holds this item under a lease; try again when they are done.")
        if not live:
            entry.status = QueueEntry.Status.CLAIMED
            entry.claimed_by = user
            entry.claimed_at = now
            entry.lease_until = now + timedelta(seconds=settings.REVIEW_LEASE_SECONDS)
            entry.fencing_token += 1
            entry.save(update_fields=["status", "claimed_by", "claimed_at", "lease_until", "fencing_token"])
        return decisions.record_decision(
            entry_id=entry.pk, token=entry.fencing_token, user=user, action=action, categories=categories,
            note=note, apply_to_group=apply_to_group,
        )  # fmt: skip
