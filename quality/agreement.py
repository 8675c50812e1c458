"""Agreement between independent reviewers (Cohen's kappa), gold accuracy and overturn rates.

Pairs: every second-review decision (``review.second_review``: selection ``second_review``, no violation
or remove) with the decision it re-reviewed: the excluded first reviewer's latest verdict on the
item before the second-review entry opened; for an account case (no item), the decision on the entry
the second review re-reviews. Both count in the overall and per-reviewer rows alike.
QA reviews are not pairs: a senior sees the original
decision before giving a verdict, so the two calls are not independent (their figures are the
overturn rates).

Per category: each decision says "violated" (the category was named) or not; kappa over the pairs.
Per reviewer: the reviewer's call (remove or not) against the other reviewer's on the items they
shared, whichever of the two came first; plus the share of pairs with the same action and the
same categories. Kappa is undefined (None, shown as "n/a") when both reviewers gave one and the
same answer to every item (expected agreement 1): agreement is then perfect but says nothing about
chance; the raw agreement is shown next to it.
"""

from collections import Counter, defaultdict
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from datetime import timedelta

from django.db.models import Count, Q
from django.utils import timezone

from classifiers.models import PolicyCategory
from queues.models import QC_SELECTIONS, VERDICTS, Decision, QueueEntry
from review.models import GoldAnswer
from review.selectors import OverturnRate, overturn_rates


def cohen_kappa(pairs: Sequence[tuple[Hashable, Hashable]]) -> float | None:
    """Cohen's kappa of two raters over ``pairs`` of their answers; None when undefined (no pairs, or chance = 1)."""
    n = len(pairs)
    if n == 0:
        return None
    observed = sum(a == b for a, b in pairs) / n
    first, second = Counter(a for a, _ in pairs), Counter(b for _, b in pairs)
    expected = sum(first[label] * second[label] for label in first) / (n * n)
    if expected >= 1.0:
        return None
    return (observed - expected) / (1.0 - expected)


def percent_agreement(pairs: Sequence[tuple[Hashable, Hashable]]) -> float | None:
    return 100.0 * sum(a == b for a, b in pairs) / len(pairs) if pairs else None


@dataclass(frozen=True)
class Call:
    reviewer: str
    action: str
    categories: frozenset[str]

    @property
    def violates(self) -> bool:
        return self.action == Decision.Action.REMOVE


@dataclass(frozen=True)
class Pair:
    item_id: int | None  # None for a subject without an item (an account case)
    first: Call
    second: Call


@dataclass(frozen=True)
class AgreementRow:
    name: str
    pairs: int
    positives: int  # pairs where at least one reviewer said "violated"
    agreement: float | None  # percent
    kappa: float | None


@dataclass(frozen=True)
class ReviewerRow:
    reviewer: str
    shared: int
    agreement: float | None  # percent, same action (remove or not)
    exact: float | None  # percent, same action and the same categories
    kappa: float | None


@dataclass(frozen=True)
class GoldRow:
    reviewer: str
    answered: int
    correct: int
    action_correct: int

    @property
    def accuracy(self) -> float:
        return 100.0 * self.correct / self.answered if self.answered else 0.0

    @property
    def action_accuracy(self) -> float:
        return 100.0 * self.action_correct / self.answered if self.answered else 0.0


@dataclass(frozen=True)
class QualityReport:
    days: int
    pairs: int
    overall: AgreementRow
    categories: list[AgreementRow]
    reviewers: list[ReviewerRow]
    gold: list[GoldRow]
    overturns: list[OverturnRate]
    pending_second_reviews: int
    pending_gold: int


def category_rows(pairs: Sequence[Pair], slugs: Sequence[str]) -> list[AgreementRow]:
    """Kappa per category over the pairs: "violated" is the category being named."""
    rows = []
    for slug in slugs:
        answers = [(slug in p.first.categories, slug in p.second.categories) for p in pairs]
        rows.append(
            AgreementRow(
                slug, len(answers), sum(a or b for a, b in answers), percent_agreement(answers), cohen_kappa(answers)
            )
        )
    return rows


def action_row(pairs: Sequence[Pair]) -> AgreementRow:
    answers = [(p.first.violates, p.second.violates) for p in pairs]
    return AgreementRow(
        "remove vs no violation",
        len(answers),
        sum(a or b for a, b in answers),
        percent_agreement(answers),
        cohen_kappa(answers),
    )


def reviewer_rows(pairs: Sequence[Pair]) -> list[ReviewerRow]:
    """Per reviewer: their call against the other reviewer's on every pair they were part of."""
    mine: dict[str, list[tuple[Call, Call]]] = defaultdict(list)
    for pair in pairs:
        mine[pair.first.reviewer].append((pair.first, pair.second))
        mine[pair.second.reviewer].append((pair.second, pair.first))
    rows = []
    for reviewer, calls in mine.items():
        answers = [(own.violates, other.violates) for own, other in calls]
        exact = [(own.action, own.categories) == (other.action, other.categories) for own, other in calls]
        rows.append(
            ReviewerRow(
                reviewer, len(calls), percent_agreement(answers), 100.0 * sum(exact) / len(exact), cohen_kappa(answers)
            )
        )
    return sorted(rows, key=lambda row: (-row.shared, row.reviewer))


def independent_pairs(*, days: int = 30) -> list[Pair]:
    """Second-review decisions of the last ``days`` days, each with the first decision it re-reviewed."""
    since = timezone.now() - timedelta(days=days)
    seconds = list(
        Decision.objects.filter(
            entry__selection=QueueEntry.Selection.SECOND_REVIEW,
            automatic=False,
            action__in=VERDICTS,
            created_at__gte=since,
            reviewer__isnull=False,
        )
        .select_related("entry", "reviewer")
        .prefetch_related("categories")
        .order_by("pk")
    )
    if not seconds:
        return []
    pairs = _subject_pairs([d for d in seconds if d.item_id is None])
    seconds = [d for d in seconds if d.item_id is not None]
    firsts: dict[int, list[Decision]] = defaultdict(list)
    for decision in (
        Decision.objects.filter(item_id__in={d.item_id for d in seconds}, automatic=False, action__in=VERDICTS)
        .exclude(entry__selection__in=QC_SELECTIONS)
        .filter(reviewer__isnull=False)
        .select_related("reviewer")
        .prefetch_related("categories")
        .order_by("created_at", "pk")
    ):
        firsts[decision.item_id].append(decision)
    for second in seconds:
        earlier = [
            d
            for d in firsts[second.item_id]
            if d.reviewer_id == second.entry.excluded_reviewer_id and d.created_at <= second.entry.enqueued_at
        ]
        if earlier:
            pairs.append(Pair(second.item_id, _call(earlier[-1]), _call(second)))
    return pairs


def _subject_pairs(seconds: Sequence[Decision]) -> list[Pair]:
    """Second reviews of subjects without an item (account cases): the first decision is the one on the entry
    the second review re-reviews (``QueueEntry.second_review_of``), by the reviewer it excluded."""
    if not seconds:
        return []
    firsts = {
        (d.entry_id, d.reviewer_id): d
        for d in Decision.objects.filter(
            entry_id__in={s.entry.second_review_of_id for s in seconds}, automatic=False, action__in=VERDICTS
        )
        .filter(reviewer__isnull=False)
        .select_related("reviewer")
        .prefetch_related("categories")
        .order_by("created_at", "pk")
    }
    pairs = []
    for second in seconds:
        first = firsts.get((second.entry.second_review_of_id, second.entry.excluded_reviewer_id))
        if first is not None:
            pairs.append(Pair(None, _call(first), _call(second)))
    return pairs


def _call(decision: Decision) -> Call:
    return Call(decision.reviewer.get_username(), decision.action, frozenset(c.slug for c in decision.categories.all()))


def gold_accuracy(*, days: int = 30) -> list[GoldRow]:
    """Per reviewer: gold items answered in the last ``days`` days, and how many were right."""
    rows = (
        GoldAnswer.objects.filter(created_at__gte=timezone.now() - timedelta(days=days), reviewer__isnull=False)
        .order_by()
        .values_list("reviewer__username")
        .annotate(
            answered=Count("id"),
            correct=Count("id", filter=Q(correct=True)),
            action_correct=Count("id", filter=Q(action_correct=True)),
        )
    )
    return sorted((GoldRow(*row) for row in rows), key=lambda row: (row.accuracy, row.reviewer))


def quality_report(*, days: int = 30) -> QualityReport:
    """Everything the quality page shows, for the last ``days`` days."""
    pairs = independent_pairs(days=days)
    slugs = list(PolicyCategory.objects.filter(is_active=True).values_list("slug", flat=True))
    pending = QueueEntry.objects.filter(status=QueueEntry.Status.PENDING)
    return QualityReport(
        days=days,
        pairs=len(pairs),
        overall=action_row(pairs),
        categories=category_rows(pairs, slugs),
        reviewers=reviewer_rows(pairs),
        gold=gold_accuracy(days=days),
        overturns=overturn_rates(days=days),
        pending_second_reviews=pending.filter(selection=QueueEntry.Selection.SECOND_REVIEW).count(),
        pending_gold=pending.filter(selection=QueueEntry.Selection.GOLD).count(),
    )
