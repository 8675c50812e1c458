"""Deciding an item held under a lease (with its near-duplicate group), and undoing a decision in its window."""

from collections.abc import Collection, Sequence
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import connection, transaction
from django.utils import timezone

from audit.services import record_event, record_events
from classifiers.models import PolicyCategory
from intake.models import Item
from queues import events, models
from queues.membership import queues_for
from queues.models import Decision, QueueEntry
from review import gold_answers, second_review
from review.claims import Claim, _close, _held_entry, _lease
from review.exceptions import InvalidDecision, LeaseLost, UnknownCategories
from review.models import Label


def check_decision(*, action: str, categories: Collection[str]) -> dict[str, PolicyCategory]:
    """The rules every verdict follows, a reviewer's (UI or API) and a senior's QA call alike.

    A known action, known active categories, at least one category for a removal and none for "no
    violation". Returns the active categories by slug; raises InvalidDecision naming the problem.
    """
    if action not in {Decision.Action.NO_VIOLATION, Decision.Action.REMOVE, Decision.Action.NEEDS_CONTEXT}:
        raise InvalidDecision(
            f"Unknown action {action!r}; use no_violation, remove or needs_context (escalate has its own call)."
        )
    known = {c.slug: c for c in PolicyCategory.objects.filter(is_active=True)}
    unknown = sorted(set(categories) - set(known))
    if unknown:
        raise UnknownCategories(f"Unknown categories: {', '.join(unknown)}. Known: {', '.join(sorted(known))}.")
    if action == Decision.Action.REMOVE and not categories:
        raise InvalidDecision("A removal needs at least one policy category.")
    if action == Decision.Action.NO_VIOLATION and categories:
        raise InvalidDecision("'No violation' cannot name violated categories.")
    return known


def record_decision(
    *,
    entry_id: int,
    token: int,
    user: AbstractBaseUser,
    action: str,
    categories: list[str],
    note: str = "",
    apply_to_group: bool = False,
) -> list[Decision]:
    """Decide a held item: the decision, one label per category and an audit event, in one transaction.

    With ``apply_to_group``, the same decision is applied to every pending item of the item's
    near-duplicate group; each gets its own decision, labels and audit event. Items of the group
    that another reviewer holds are left to them.
    """
    known = check_decision(action=action, categories=categories)
    with transaction.atomic():
        entry = _held_entry(entry_id=entry_id, token=token, user=user)
        if entry.item_id is None:  # its app decides it (accounts.case_decisions), with the account's action
            raise InvalidDecision("This entry is an account case: decide it from the case view.")
        entries = [entry]
        if apply_to_group and entry.item.duplicate_group is not None:
            entries += list(
                QueueEntry.objects.select_for_update(skip_locked=connection.vendor == "postgresql", of=("self",))
                .select_related("queue", "item")
                .filter(item__duplicate_group=entry.item.duplicate_group, status=QueueEntry.Status.PENDING)
                .filter(queue__in=queues_for(user))
                .exclude(pk=entry.pk)
                .exclude(selection__in=models.QC_SELECTIONS)  # independent reviews and gold are decided alone
            )
        chosen = [known[s] for s in categories]
        made = decide_entries(
            entries[:1], user=user, action=action, categories=chosen, note=note, all_categories=list(known.values())
        )
        made += decide_entries(
            entries[1:], user=user, action=action, categories=chosen, note=note, all_categories=list(known.values()),
            applied_from=made[0],
        )  # fmt: skip
    return made


def decide_entries(
    entries: Sequence[QueueEntry],
    *,
    user: AbstractBaseUser,
    action: str,
    categories: list[PolicyCategory],
    note: str,
    all_categories: list[PolicyCategory],
    applied_from: Decision | None = None,
) -> list[Decision]:
    """Decide entries ``user`` holds (locked by the caller) with one verdict, in the caller's transaction.

    Each entry gets its own decision, categories, labels, closed entry, decided item, audit event,
    ``decision.created`` webhook and second-review draw, exactly as one decided alone; the rows of all the
    entries are written together (a bulk decision of 1,000 items took 39 s one entry at a time, 4.5 s so;
    bench/console_bulk.py). Gold entries are scored against their known answer, one by one.
    """
    gold = [e for e in entries if e.selection == QueueEntry.Selection.GOLD]
    made = {
        e.pk: _decide_gold(e, user=user, action=action, categories=categories, note=note) for e in gold
    }  # fmt: skip
    rest = [e for e in entries if e.selection != QueueEntry.Selection.GOLD]
    if rest:
        decisions = _decide_together(
            rest, user=user, action=action, categories=categories, note=note, all_categories=all_categories,
            applied_from=applied_from,
        )  # fmt: skip
        made |= {e.pk: d for e, d in zip(rest, decisions, strict=True)}
    return [made[e.pk] for e in entries]


def _decide_together(
    entries: list[QueueEntry],
    *,
    user: AbstractBaseUser,
    action: str,
    categories: list[PolicyCategory],
    note: str,
    all_categories: list[PolicyCategory],
    applied_from: Decision | None,
) -> list[Decision]:
    now = timezone.now()
    decisions = Decision.objects.bulk_create(
        [
            Decision(
                item=e.item,
                entry=e,
                reviewer=user,
                action=action,
                note=note,
                claimed_at=e.claimed_at,
                applied_from=applied_from,
            )  # fmt: skip
            for e in entries
        ]
    )
    # New decisions have no categories yet: one INSERT, without the read that .set() or .add() make first.
    Decision.categories.through.objects.bulk_create(
        [Decision.categories.through(decision=d, policycategory=c) for d in decisions for c in categories]
    )
    if action != Decision.Action.NEEDS_CONTEXT:
        # A reviewer who saw the item and named these categories judged the others not violated.
        violated = {category.pk for category in categories}
        Label.objects.bulk_create(
            [
                Label(
                    item=e.item,
                    category=c,
                    value=c.pk in violated,
                    decision=d,
                    reviewer=user,
                    queue=e.queue,
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
    record_events(
        action="decision.created",
        targets=decisions,
        actor=user,
        after=[
            {
                "item": e.item_id,
                "action": action,
                "categories": slugs,
                "queue": e.queue.name,
                "group_of": applied_from.item_id if applied_from else None,
            }  # fmt: skip
            for e in entries
        ],
    )
    events.decisions_created(
        events.decision_created_payload(
            d, categories=slugs, queue=e.queue, second_review=e.selection == QueueEntry.Selection.SECOND_REVIEW
        )
        for e, d in zip(entries, decisions, strict=True)
    )
    for entry, decision in zip(entries, decisions, strict=True):
        second_review.sample_second_review(entry, decision, user=user)
    return decisions


def _decide_gold(
    entry: QueueEntry, *, user: AbstractBaseUser, action: str, categories: list[PolicyCategory], note: str
) -> Decision:
    """A gold entry: scored against the known answer; no labels (the answer is known), no webhook, same item state."""
    decision = Decision.objects.create(
        item=entry.item, entry=entry, reviewer=user, action=action, note=note, claimed_at=entry.claimed_at
    )
    Decision.categories.through.objects.bulk_create(
        [Decision.categories.through(decision=decision, policycategory=category) for category in categories]
    )
    _close(entry, QueueEntry.Status.DONE)
    answer = gold_answers.record_gold_answer(entry, decision, categories=categories, user=user)
    audit = {
        "item": entry.item_id, "action": action, "categories": sorted(c.slug for c in categories),
        "queue": entry.queue.name,
        "gold": None if answer is None else {"correct": answer.correct, "gold_item": answer.gold_item_id},
    }  # fmt: skip
    record_event(action="decision.created", target=decision, actor=user, after=audit)
    return decision


def undo_decision(*, decision_id: int, user: AbstractBaseUser) -> Claim:
    """Take back one's own decision within the undo window: the item returns to the reviewer's hands.

    The decision, its group copies and their labels are removed; the audit log keeps both the
    decision and its undoing. The reviewer gets the item back under a fresh lease and token.
    """
    window = timedelta(seconds=settings.REVIEW_UNDO_SECONDS)
    with transaction.atomic():
        decision = (
            Decision.objects.select_for_update(of=("self",)).select_related("entry").filter(pk=decision_id).first()
        )
        if decision is None or decision.reviewer_id != user.pk or decision.entry is None:
            raise LeaseLost("There is no decision of yours to undo.")
        if decision.item_id is None:  # an account case: its actions are reversed on the case (accounts.actions)
            raise LeaseLost("An account case decision is reversed from the case, not undone here.")
        if timezone.now() - decision.created_at > window:
            raise LeaseLost(f"Decisions can be undone for {settings.REVIEW_UNDO_SECONDS} seconds; this one is older.")
        entries = [decision.entry, *(copy.entry for copy in decision.group_copies.select_related("entry"))]
        second_review.withdraw_second_review(decision)
        now = timezone.now()
        for entry in entries:
            if (
                entry is None
                or QueueEntry.objects.filter(item_id=entry.item_id, status__in=["pending", "claimed"]).exists()
            ):
                continue
            entry.status = QueueEntry.Status.PENDING
            entry.closed_at = None
            entry.save(update_fields=["status", "closed_at"])
            Item.objects.filter(pk=entry.item_id).update(state=Item.State.QUEUED, updated_at=now)
        record_event(
            action="decision.undone",
            target=decision,
            actor=user,
            before={"item": decision.item_id, "action": decision.action, "group": len(entries) - 1},
        )
        main = decision.entry
        decision.group_copies.all().delete()
        decision.delete()
        main.refresh_from_db()
        main.status = QueueEntry.Status.CLAIMED
        main.claimed_by = user
        main.claimed_at = now
        main.lease_until = now + _lease()
        main.fencing_token += 1
        main.save(update_fields=["status", "claimed_by", "claimed_at", "lease_until", "fencing_token"])
    return Claim(main.pk, main.item_id, main.fencing_token, main.lease_until)
