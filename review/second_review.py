"""Second independent reviews: which decisions a second reviewer takes again, blind.

(Gold items: ``queues.gold`` serves them, ``review.gold_answers`` scores the answers.)

Second independent review. A queue's ``second_review_rate`` is the share of its human decisions
(no violation or remove, not near-duplicate copies, not themselves second reviews or gold answers)
that a second reviewer decides again, blind. Which decisions: a stable hash (sha256) of the
closed entry's id is below the rate, so the draw needs no state, is the same on every process,
and an undone and re-taken decision is sampled again the same way. A sampled decision creates,
in the decision's transaction, a new pending entry for the item in the same queue with selection
``second_review`` and ``excluded_reviewer`` = the first reviewer. The claim statement
(``review.claims.claim_sql``) never hands an entry to its excluded reviewer, and a decision by
them is refused (``review._held_entry``), whatever the path (work view, REST API, decide-by-item).
Why a field and not the skip fields (``skipped_by``/``skip_until``): a second reviewer who skips
the entry overwrites them, which would hand it back to the first reviewer.

Blindness: the work view shows no decision on the item itself (``selectors.author_history``
lists the author's *other* items); for a second-review entry it also hides the first decision's
near-duplicate copies on the author's other items, which would give the first call away.

Labels of a second review. The second decision writes its own decision and labels (selection
``second_review``); the first decision's labels stay current: both are provenance, and the
``one_current_label_per_category`` constraint is per decision, so both may be current. Which one
training uses is the conflict rule of ``learning.training_data`` (``CONFLICT_RULE``): a senior's QA
overturn wins, else the most recent human decision's label (time, then id). So the second review
wins unless a senior overturns one of the two. Disagreements are what the agreement page
(``quality.agreement``) measures; seniors settle them through QA review (``review.qa``).
"""

import hashlib

from django.contrib.auth.models import AbstractBaseUser

from classifiers.models import PolicyCategory
from queues.entries import copy_entry, new_entry
from queues.models import OPEN, QC_SELECTIONS, VERDICTS, Decision, QueueEntry
from queues.scores import active_scores


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
    if entry.item_id is None:  # an account case: no item scores, it keeps the risk its app gave it
        second = copy_entry(
            entry, queue=entry.queue, selection=QueueEntry.Selection.SECOND_REVIEW, excluded_reviewer=user,
            second_review_of=entry,
        )  # fmt: skip
    else:
        severities = dict(PolicyCategory.objects.filter(is_active=True).values_list("slug", "severity"))
        second = new_entry(
            item=entry.item,
            queue=entry.queue,
            scores=active_scores([entry.item_id], for_risk=True).get(entry.item_id, {}),
            severities=severities,
            selection=QueueEntry.Selection.SECOND_REVIEW,
            excluded_reviewer=user,
            second_review_of=entry,
        )
    second.save()
    return second


def withdraw_second_review(decision: Decision) -> int:
    """Undo of ``decision``: remove the second-review entry it opened, so the item has one open entry again."""
    if decision.reviewer_id is None:
        return 0
    subject = {"item_id": decision.item_id} if decision.item_id else {"second_review_of_id": decision.entry_id}
    deleted, _ = QueueEntry.objects.filter(
        **subject,
        selection=QueueEntry.Selection.SECOND_REVIEW,
        excluded_reviewer_id=decision.reviewer_id,
        status__in=OPEN,
    ).delete()
    return deleted


def first_decision(entry: QueueEntry) -> Decision | None:
    """For a second-review entry: the decision it re-reviews (the excluded reviewer's latest verdict on the item)."""
    if entry.selection != QueueEntry.Selection.SECOND_REVIEW or entry.excluded_reviewer_id is None:
        return None
    if entry.item_id is None:  # a subject without an item: only the entry it re-reviews names the decision
        if entry.second_review_of_id is None:
            return None
        return (
            Decision.objects.filter(
                entry_id=entry.second_review_of_id, reviewer_id=entry.excluded_reviewer_id, action__in=VERDICTS
            )
            .order_by("-created_at", "-pk")
            .first()
        )
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
