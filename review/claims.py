"""Working a queue: claim the next item under a lease, renew it, release (skip) it, escalate it.

Deciding is ``review.decisions``.

A reviewer holds an item only through a lease that carries a fencing token. Every write that acts
on a held item names the token it was given; a token that is no longer current (the lease expired
and someone else claimed the item, or the reviewer already decided) is refused with ``LeaseLost``.
The web views and the REST API call these same functions.
"""

from dataclasses import dataclass
from datetime import timedelta
from functools import cache

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import connection, transaction
from django.utils import timezone

from api.prepared import prepared_cursor
from audit.services import record_event
from classifiers.models import PolicyCategory
from queues import events
from queues.entries import copy_entry, new_entry
from queues.membership import NotAMember, ensure_member
from queues.models import Decision, Queue, QueueEntry
from queues.scores import active_scores
from review.exceptions import InvalidDecision, LeaseLost
from wellness import exposure


@dataclass(frozen=True)
class Claim:
    entry_id: int
    item_id: int
    token: int
    lease_until: object


def _lease() -> timedelta:
    return timedelta(seconds=settings.REVIEW_LEASE_SECONDS)


@cache
def claim_sql(*, relax_durability: bool) -> str:
    """The whole claim as one statement: membership, "already holding one?", and the claim itself.

    One round trip instead of five (membership query, held-lease query, BEGIN, UPDATE, COMMIT).
    The pending scan only runs when the user is a member and holds nothing in the queue (a one-time
    filter), then walks the partial index ``entry_pending_order`` skipping rows other claimers locked.
    """
    user_groups = get_user_model().groups.through._meta.db_table
    durability = (
        # A claim lost in a crash costs nothing: the reviewer's decision would carry a token the
        # database never saw and be refused. So the claim need not wait for the WAL flush. Local to
        # this statement's own transaction, which is why it is only used outside atomic blocks.
        ", durability AS (SELECT set_config('synchronous_commit', 'off', true) AS setting)"
        if relax_durability
        else ", durability AS (SELECT '' AS setting)"
    )
    return f"""
WITH member AS (
    SELECT EXISTS (SELECT 1 FROM {Queue.members.through._meta.db_table}
                    WHERE queue_id = %(queue)s AND user_id = %(user)s)
        OR EXISTS (SELECT 1 FROM {Queue.member_groups.through._meta.db_table} qg
                     JOIN {user_groups} ug ON ug.group_id = qg.group_id
                    WHERE qg.queue_id = %(queue)s AND ug.user_id = %(user)s) AS ok
), held AS (
    SELECT id, item_id, fencing_token, lease_until, risk_category, false AS fresh FROM queues_queueentry
     WHERE status = 'claimed' AND queue_id = %(queue)s AND claimed_by_id = %(user)s AND lease_until > %(now)s
     LIMIT 1
), claimed AS (
    UPDATE queues_queueentry
       SET status = 'claimed', claimed_by_id = %(user)s, claimed_at = %(now)s, lease_until = %(until)s,
           fencing_token = fencing_token + 1
     WHERE id = (
            SELECT id FROM queues_queueentry
             WHERE (SELECT ok FROM member) AND NOT EXISTS (SELECT 1 FROM held)
               AND queue_id = %(queue)s AND status = 'pending'
               AND (skipped_by_id IS DISTINCT FROM %(user)s OR skip_until IS NULL OR skip_until <= %(now)s)
               AND excluded_reviewer_id IS DISTINCT FROM %(user)s
               AND risk_category <> ALL(%(capped)s::varchar[])
             ORDER BY sort_key
             LIMIT 1
               FOR UPDATE SKIP LOCKED)
    RETURNING id, item_id, fencing_token, lease_until, risk_category, true AS fresh
){durability}
SELECT member.ok, found.id, found.item_id, found.fencing_token, found.lease_until, found.risk_category, found.fresh
  FROM member CROSS JOIN durability
  LEFT JOIN (SELECT * FROM held UNION ALL SELECT * FROM claimed) found ON true
 WHERE durability.setting IS NOT NULL
"""


def claim_next_item(*, queue: Queue, user: AbstractBaseUser) -> Claim | None:
    """Hand ``user`` the best unclaimed item of ``queue`` under a fresh lease, or None when it is empty.

    A reviewer who already holds a live lease in this queue gets that item back (a reload or a
    second tab does not take a second item). On PostgreSQL the claim is one statement over the
    partial index of pending entries, skipping rows other claimers have locked; on SQLite the
    immediate-mode transaction serialises writers, so the select-then-update pair is just as safe.
    Raises NotAMember when ``user`` may not work ``queue``.

    Exposure budgets (``wellness``): a reviewer past a sensitive category's daily cap is not served entries of
    that category (others are), and each newly served entry of a sensitive category is counted.
    """
    now = timezone.now()
    exposure_now = exposure.exposure_state(user_id=user.pk)
    params = {
        "user": user.pk, "now": now, "until": now + _lease(), "queue": queue.pk, "capped": sorted(exposure_now.capped)
    }  # fmt: skip
    if connection.vendor == "postgresql":
        # Prepared (api.prepared): planning the statement took ~4 ms, three times its execution.
        with prepared_cursor() as cursor:
            cursor.execute(claim_sql(relax_durability=not connection.in_atomic_block), params)
            is_member, *found, risk_category, fresh = cursor.fetchone()
        if not is_member:
            raise NotAMember(f"You are not a member of the queue {queue.name!r}.")
        if found[0] is None:
            return None
        if fresh and risk_category in exposure_now.sensitive:
            exposure.record_exposure(user_id=user.pk, category_slug=risk_category)
        return Claim(*found)
    ensure_member(user, queue)
    held = (
        QueueEntry.objects.filter(queue=queue, status=QueueEntry.Status.CLAIMED, claimed_by=user, lease_until__gt=now)
        .values_list("id", "item_id", "fencing_token", "lease_until")
        .first()
    )
    if held:
        return Claim(*held)
    with transaction.atomic():
        row = _claim_serialised(params)
        if row and row[-1] in exposure_now.sensitive:
            exposure.record_exposure(user_id=user.pk, category_slug=row[-1])
    return Claim(*row[:4]) if row else None


def _claim_serialised(params: dict) -> tuple | None:
    candidate = (
        QueueEntry.objects.filter(queue_id=params["queue"], status=QueueEntry.Status.PENDING)
        .exclude(skipped_by_id=params["user"], skip_until__gt=params["now"])
        .exclude(excluded_reviewer_id=params["user"])
        .exclude(risk_category__in=params["capped"])
        .order_by("sort_key")
        .values_list("id", flat=True)
        .first()
    )
    if candidate is None:
        return None
    entry = QueueEntry.objects.get(pk=candidate)
    entry.status = QueueEntry.Status.CLAIMED
    entry.claimed_by_id = params["user"]
    entry.claimed_at = params["now"]
    entry.lease_until = params["until"]
    entry.fencing_token += 1
    entry.save(update_fields=["status", "claimed_by", "claimed_at", "lease_until", "fencing_token"])
    return entry.pk, entry.item_id, entry.fencing_token, entry.lease_until, entry.risk_category


def _held_entry(*, entry_id: int, token: int, user: AbstractBaseUser) -> QueueEntry:
    """Lock and return the entry if ``user`` holds it under ``token`` with a live lease; else LeaseLost."""
    # of=self: lock the entry only. Without it PostgreSQL also locks the joined queue row, and every
    # decision in a queue waited for the previous one (measured by bench/claims.py).
    entry = (
        QueueEntry.objects.select_for_update(of=("self",)).select_related("queue", "item").filter(pk=entry_id).first()
    )
    if entry is None:
        raise LeaseLost("No such queue entry.")
    if entry.status != QueueEntry.Status.CLAIMED or entry.claimed_by_id != user.pk:
        raise LeaseLost("You no longer hold this item: it was released, decided, or claimed by someone else.")
    if entry.excluded_reviewer_id == user.pk:
        raise LeaseLost("This item is a second, independent review of your own decision: someone else decides it.")
    if entry.fencing_token != token:
        raise LeaseLost("This lease was replaced by a newer claim; reload to get the current item.")
    if entry.lease_until <= timezone.now():
        raise LeaseLost("Your lease on this item expired; it went back to the queue.")
    return entry


def held_entry(*, entry_id: int, token: int, user: AbstractBaseUser) -> QueueEntry:
    """The entry ``user`` holds under ``token``, locked, for a decision made elsewhere (an account case); else
    LeaseLost. Call inside the transaction that records the decision, then ``close_entry``."""
    return _held_entry(entry_id=entry_id, token=token, user=user)


def close_entry(entry: QueueEntry) -> None:
    """Mark a held entry decided (the subject's own app recorded what was decided)."""
    _close(entry, QueueEntry.Status.DONE)


def renew_lease(*, entry_id: int, token: int, user: AbstractBaseUser) -> QueueEntry:
    """Heartbeat: extend the lease while the reviewer has the item open."""
    with transaction.atomic():
        entry = _held_entry(entry_id=entry_id, token=token, user=user)
        entry.lease_until = timezone.now() + _lease()
        entry.save(update_fields=["lease_until"])
    return entry


def release_item(*, entry_id: int, token: int, user: AbstractBaseUser) -> QueueEntry:
    """Skip: put the item back, and keep it away from this reviewer for a short cooldown."""
    with transaction.atomic():
        entry = _held_entry(entry_id=entry_id, token=token, user=user)
        entry.status = QueueEntry.Status.PENDING
        entry.claimed_by = None
        entry.lease_until = None
        entry.skipped_by = user
        entry.skip_until = timezone.now() + timedelta(seconds=settings.REVIEW_SKIP_COOLDOWN_SECONDS)
        entry.save(update_fields=["status", "claimed_by", "lease_until", "skipped_by", "skip_until"])
        record_event(action="entry.skipped", target=entry, actor=user, after={"item": entry.item_id})
    return entry


def escalate_item(*, entry_id: int, token: int, user: AbstractBaseUser, to_queue: Queue, note: str) -> QueueEntry:
    """Move a held item to another queue with a note; the item keeps its risk there (recomputed from its scores)."""
    return _escalate(entry_id=entry_id, token=token, user=user, to_queue=to_queue, note=note, subject=False)


def escalate_subject(*, entry_id: int, token: int, user: AbstractBaseUser, to_queue: Queue, note: str) -> QueueEntry:
    """Move a held entry of another app's subject (an account case) to another queue with a note, at its risk.

    Call inside the transaction in which that app points its subject at the returned entry: the content views
    and API refuse such entries (``escalate_item``), as they could not move the subject with it.
    """
    return _escalate(entry_id=entry_id, token=token, user=user, to_queue=to_queue, note=note, subject=True)


def _escalate(
    *, entry_id: int, token: int, user: AbstractBaseUser, to_queue: Queue, note: str, subject: bool
) -> QueueEntry:
    if not note.strip():
        raise InvalidDecision("An escalation needs a note saying why.")
    with transaction.atomic():
        entry = _held_entry(entry_id=entry_id, token=token, user=user)
        if (entry.item_id is None) != subject:
            raise InvalidDecision(
                "This entry is an account case: escalate it from the case view." if entry.item_id is None
                else "This entry is a content item: escalate it from the work view."
            )  # fmt: skip
        if to_queue.pk == entry.queue_id:
            raise InvalidDecision("The item is already in that queue.")
        _close(entry, QueueEntry.Status.MOVED)
        if entry.item_id is None:
            moved = copy_entry(entry, queue=to_queue, selection=QueueEntry.Selection.ESCALATED, note=note)
        else:
            severities = dict(PolicyCategory.objects.values_list("slug", "severity"))
            moved = new_entry(
                item=entry.item,
                queue=to_queue,
                scores=active_scores([entry.item_id], for_risk=True).get(entry.item_id, {}),
                severities=severities,
                selection=QueueEntry.Selection.ESCALATED,
                note=note,
            )
        moved.save()
        decision = Decision.objects.create(
            item=entry.item, entry=entry, reviewer=user, action=Decision.Action.ESCALATE, note=note,
            claimed_at=entry.claimed_at,
        )  # fmt: skip
        record_event(
            action="item.escalated" if entry.item_id else "entry.escalated",
            target=entry.item or entry,
            actor=user,
            before={"queue": entry.queue.name},
            after={"queue": to_queue.name, "note": note, "decision": decision.pk},
        )
        if entry.item_id is not None:  # the item.escalated webhook describes an item; cases have their own
            events.item_escalated(entry=entry, to_queue=to_queue, decision=decision, user=user)
    return moved


def _close(entry: QueueEntry, status: str) -> None:
    entry.status = status
    entry.closed_at = timezone.now()
    entry.lease_until = None
    entry.save(update_fields=["status", "closed_at", "lease_until"])


def release_expired_leases() -> int:
    """Periodic: return items whose reviewer's lease ran out to their queue."""
    return QueueEntry.objects.filter(status=QueueEntry.Status.CLAIMED, lease_until__lt=timezone.now()).update(
        status=QueueEntry.Status.PENDING, claimed_by=None, lease_until=None
    )
