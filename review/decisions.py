"""Deciding an item held under a lease (with its near-duplicate group), and undoing a decision in its window."""

from collections.abc import Collection
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import connection, transaction
from django.utils import timezone

from audit.services import record_event
from classifiers.models import PolicyCategory
from intake.models import Item
from queues import events, models
from queues.membership import queues_for
from queues.models import Decision, QueueEntry
from review import gold_answers, second_review
from review.claims import Claim, _close, _held_entry, _lease
from review.exceptions import InvalidDecision, LeaseLost
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
        raise InvalidDecision(f"Unknown categories: {', '.join(unknown)}. Known: {', '.join(sorted(known))}.")
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
        made: list[Decision] = []
        for target in entries:
            decision = _decide_one(
                target, user=user, action=action, categories=[known[s] for s in categories], note=note,
                all_categories=list(known.values()), applied_from=made[0] if made else None,
            )  # fmt: skip
            made.append(decision)
    return made


def _decide_one(
    entry: QueueEntry,
    *,
    user: AbstractBaseUser,
    action: str,
    categories: list[PolicyCategory],
    note: str,
    all_categories: list[PolicyCategory],
    applied_from: Decision | None,
) -> Decision:
    decision = Decision.objects.create(
        item=entry.item, entry=entry, reviewer=user, action=action, note=note, claimed_at=entry.claimed_at,
        applied_from=applied_from,
    )  # fmt: skip
    # A new decision has no categories yet: one INSERT, without the read that .set() or .add() make first.
    Decision.categories.through.objects.bulk_create(
        [Decision.categories.through(decision=decision, policycategory=category) for category in categories]
    )
    gold = entry.selection == QueueEntry.Selection.GOLD
    if action != Decision.Action.NEEDS_CONTEXT and not gold:  # gold: the answer is known (review.second_review)
        # A reviewer who saw the item and named these categories judged the others not violated.
        violated = {category.pk for category in categories}
        Label.objects.bulk_create(
            [
                Label(
                    item=entry.item,
                    category=category,
                    value=category.pk in violated,
                    decision=decision,
                    reviewer=user,
                    queue=entry.queue,
                    selection=entry.selection,
                )  # fmt: skip
                for category in all_categories
            ]
        )
    _close(entry, QueueEntry.Status.DONE)
    audit = {
        "item": entry.item_id, "action": action, "categories": sorted(c.slug for c in categories),
        "queue": entry.queue.name,
    }  # fmt: skip
    if gold:  # scored against the known answer; no webhook, the item keeps its state
        answer = gold_answers.record_gold_answer(entry, decision, categories=categories, user=user)
        audit["gold"] = None if answer is None else {"correct": answer.correct, "gold_item": answer.gold_item_id}
        record_event(action="decision.created", target=decision, actor=user, after=audit)
        return decision
    Item.objects.filter(pk=entry.item_id).update(state=Item.State.DECIDED, updated_at=timezone.now())
    audit["group_of"] = applied_from.item_id if applied_from else None
    record_event(action="decision.created", target=decision, actor=user, after=audit)
    events.decision_created(
        decision,
        categories=[c.slug for c in categories],
        queue=entry.queue,
        second_review=entry.selection == QueueEntry.Selection.SECOND_REVIEW,
    )
    second_review.sample_second_review(entry, decision, user=user)
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
