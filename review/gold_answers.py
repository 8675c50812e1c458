"""Decisions on gold entries, scored against the known answer (see ``queues.gold`` for how gold is served)."""

from collections.abc import Iterable

from django.contrib.auth.models import AbstractBaseUser

from classifiers.models import PolicyCategory
from queues.models import Decision, GoldItem, QueueEntry
from review.models import GoldAnswer


def record_gold_answer(
    entry: QueueEntry, decision: Decision, *, categories: Iterable[PolicyCategory], user: AbstractBaseUser
) -> GoldAnswer | None:
    """Score a decision on a gold entry against the known answer (the caller audits the decision with it).

    None when the gold item was deleted while the entry waited: the decision stands, with no labels.
    """
    gold = GoldItem.objects.filter(item_id=entry.item_id).prefetch_related("expected_categories").first()
    if gold is None:
        return None
    expected = sorted(category.slug for category in gold.expected_categories.all())
    action_ok = decision.action == gold.expected_action
    categories_ok = sorted(category.slug for category in categories) == expected
    return GoldAnswer.objects.create(
        decision=decision, gold_item=gold, reviewer=user, action_correct=action_ok,
        categories_correct=categories_ok, correct=action_ok and categories_ok,
    )  # fmt: skip


def disguise_gold(entry: QueueEntry) -> None:
    """Show a gold item as fresh traffic: its displayed age is the entry's time in the queue (in memory only)."""
    if entry.selection == QueueEntry.Selection.GOLD:
        entry.item.created_at = entry.enqueued_at
