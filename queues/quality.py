"""Quality control in the review path: second independent reviews and gold items.

Second independent review. A queue's ``second_review_rate`` is the share of its human decisions
(no violation or remove, not near-duplicate copies, not themselves second reviews or gold answers)
that a second reviewer decides again, blind. Which decisions: a stable hash (sha256) of the
closed entry's id is below the rate, so the draw needs no state, is the same on every process,
and an undone and re-taken decision is sampled again the same way. A sampled decision creates,
in the decision's transaction, a new pending entry for the item in the same queue with selection
``second_review`` and ``excluded_reviewer`` = the first reviewer. The claim statement
(``queues.review.claim_sql``) never hands an entry to its excluded reviewer, and a decision by
them is refused (``review._held_entry``), whatever the path (work view, REST API, decide-by-item).
Why a field and not the skip fields (``skipped_by``/``skip_until``): a second reviewer who skips
the entry overwrites them, which would hand it back to the first reviewer.

Blindness: the work view shows no decision on the item itself (``selectors.author_history``
lists the author's *other* items); for a second-review entry it also hides the first decision's
near-duplicate copies on the author's other items, which would give the first call away.

Labels of a second review. The second decision writes its own decision and labels (selection
``second_review``); the first decision's labels stay current: both are provenance, and the
``one_current_label_per_category`` constraint is per decision, so both may be current. Which one
training uses is the conflict rule of ``queues.training_data`` (``CONFLICT_RULE``): a senior's QA
overturn wins, else the most recent human decision's label (time, then id). So the second review
wins unless a senior overturns one of the two. Disagreements are what the agreement page
(``queues.agreement``) measures; seniors settle them through QA review (``queues.qa``).

Gold items. ``GoldItem`` rows (admin) are items with a known answer. A queue's ``gold_rate`` r is
the share of its served items that should be gold: when routing adds k entries to such a queue, it
adds a gold entry after each with probability ``r / (1 - r)`` (so gold is r of the total), at the
routed entry's own sort key, so gold items are served in the same positions as real traffic and
the claim stays the one indexed statement, with nothing gold-specific in it. A gold item is
served only where it has no open entry, in its allowed queues, preferring the kind (text, image)
of the routed item it follows. A decision on a gold entry writes a decision and an audit event,
no labels (the answer is known: labels would double count it and bias training towards the gold
pool), no webhook (the platform already acted on the item), leaves the item's state alone, and
records a ``GoldAnswer``: action right, categories right (as sets), both right.

Not tellable in the work view: the entry is rendered like any other; the item's age shown is the
entry's time in the queue (a gold item is often old). Weak spots: the item number (#id) of a gold
item is older than the live traffic's, and a reviewer may meet the same gold item twice.
"""

import hashlib
import random
from collections import defaultdict
from collections.abc import Iterable

from django.contrib.auth.models import AbstractBaseUser

from classifiers.models import PolicyCategory
from queues.enqueue import active_scores, new_entry
from queues.models import Decision, GoldAnswer, GoldItem, Item, Queue, QueueEntry

VERDICTS = (Decision.Action.NO_VIOLATION, Decision.Action.REMOVE)
QC_SELECTIONS = (QueueEntry.Selection.SECOND_REVIEW, QueueEntry.Selection.GOLD)
OPEN = (QueueEntry.Status.PENDING, QueueEntry.Status.CLAIMED)


def is_sampled(entry_id: int, rate: float) -> bool:
    """Whether the decision that closed entry ``entry_id`` goes to a second reviewer at ``rate``."""
    if rate <= 0:
        return False
    digest = hashlib.sha256(f"second-review:{entry_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < rate


def sample_second_review(entry: QueueEntry, decision: Decision, *, user: AbstractBaseUser) -> QueueEntry | None:
    """After ``decision`` closed ``entry``: open a blind second-review entry if the entry is sampled."""
    rate = entry.queue.second_review_rate
    if (
        rate <= 0
        or decision.automatic
        or decision.applied_from_id is not None
        or decision.action not in VERDICTS
        or entry.selection in QC_SELECTIONS
        or not is_sampled(entry.pk, rate)
    ):
        return None
    severities = dict(PolicyCategory.objects.filter(is_active=True).values_list("slug", "severity"))
    second = new_entry(
        item=entry.item,
        queue=entry.queue,
        scores=active_scores([entry.item_id], for_risk=True).get(entry.item_id, {}),
        severities=severities,
        selection=QueueEntry.Selection.SECOND_REVIEW,
        excluded_reviewer=user,
    )
    second.save()
    return second


def withdraw_second_review(decision: Decision) -> int:
    """Undo of ``decision``: remove the second-review entry it opened, so the item has one open entry again."""
    if decision.reviewer_id is None:
        return 0
    deleted, _ = QueueEntry.objects.filter(
        item_id=decision.item_id,
        selection=QueueEntry.Selection.SECOND_REVIEW,
        excluded_reviewer_id=decision.reviewer_id,
        status__in=OPEN,
    ).delete()
    return deleted


def first_decision(entry: QueueEntry) -> Decision | None:
    """For a second-review entry: the decision it re-reviews (the excluded reviewer's latest verdict on the item)."""
    if entry.selection != QueueEntry.Selection.SECOND_REVIEW or entry.excluded_reviewer_id is None:
        return None
    return (
        Decision.objects.filter(
            item_id=entry.item_id,
            reviewer_id=entry.excluded_reviewer_id,
            created_at__lte=entry.enqueued_at,
            action__in=VERDICTS,
        )
        .exclude(entry__selection__in=QC_SELECTIONS)
        .order_by("-created_at", "-pk")
        .first()
    )


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


def gold_share_per_routed(rate: float) -> float:
    """Gold entries to add per routed entry so that gold is ``rate`` of everything served."""
    return 0.0 if rate <= 0 else min(rate / (1.0 - rate), 1.0)


def gold_entries_for(
    routed: list[QueueEntry], *, queues: dict[int, Queue], severities: dict[str, int], rng: random.Random | None = None
) -> list[QueueEntry]:
    """Gold entries to insert with a batch of routed entries (not saved). No query unless a queue has gold."""
    if not any(queue.gold_rate > 0 for queue in queues.values()):
        return []
    draw = rng or random
    wanted: list[QueueEntry] = [
        entry for entry in routed if draw.random() < gold_share_per_routed(queues[entry.queue_id].gold_rate)
    ]
    if not wanted:
        return []
    busy = {entry.item_id for entry in routed}
    candidates = list(
        GoldItem.objects.filter(active=True)
        .exclude(item__entries__status__in=OPEN)
        .exclude(item_id__in=busy)
        .values_list("pk", "item_id", "item__image", "item__text")
        .order_by("pk")[:2000]
    )
    allowed: dict[int, set[int]] = defaultdict(set)
    for gold_id, queue_id in GoldItem.queues.through.objects.filter(
        golditem_id__in=[c[0] for c in candidates]
    ).values_list("golditem_id", "queue_id"):
        allowed[gold_id].add(queue_id)
    draw.shuffle(candidates)
    kinds = {gold_id: _kind(image, text) for gold_id, _, image, text in candidates}
    rows = Item.objects.filter(pk__in=[e.item_id for e in wanted]).values_list("pk", "image", "text")
    routed_kinds = {pk: _kind(image, text) for pk, image, text in rows}
    chosen: list[tuple[QueueEntry, int]] = []
    used: set[int] = set()
    for entry in wanted:
        fits = [c for c in candidates if c[0] not in used and (not allowed[c[0]] or entry.queue_id in allowed[c[0]])]
        same_kind = [c for c in fits if kinds[c[0]] == routed_kinds.get(entry.item_id)]
        pick = (same_kind or fits or [None])[0]
        if pick is None:
            continue
        used.add(pick[0])
        chosen.append((entry, pick[1]))
    scores = active_scores([item_id for _, item_id in chosen], for_risk=True)
    items = Item.objects.in_bulk([item_id for _, item_id in chosen])
    gold_entries = []
    for entry, item_id in chosen:
        gold = new_entry(
            item=items[item_id],
            queue=queues[entry.queue_id],
            scores=scores.get(item_id, {}),
            severities=severities,
            selection=QueueEntry.Selection.GOLD,
        )
        gold.sort_key = entry.sort_key  # served where the routed item is: same positions as real traffic
        gold_entries.append(gold)
    return gold_entries


def _kind(image: object, text: object) -> str:
    if image and text:
        return "text_and_image"
    return "image" if image else "text"
