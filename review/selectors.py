"""What the work view and the review pages read: scores, author history, near-duplicates, escalations."""

from dataclasses import dataclass
from datetime import timedelta

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Count, OuterRef, Q, Subquery
from django.utils import timezone

from classifiers.models import ModelVersion, PolicyCategory, Score
from intake.models import Item
from queues.membership import queues_for
from queues.models import Decision, QueueEntry
from review.models import QAReview


def decisions_today(user: AbstractBaseUser) -> int:
    start = timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0)
    return Decision.objects.filter(reviewer=user, created_at__gte=start, automatic=False).count()


@dataclass(frozen=True)
class CategoryScore:
    slug: str
    name: str
    shortcut: int
    probability: float | None
    from_prior: bool
    version: str
    prior_source: str = ""  # for a prior: the signal that raised it ("similarity", "structure", ...)
    # The version's trained head reads the item's author (classifiers.reading): decisions on the author's earlier
    # items count in this score, which the reviewer should know when the history beside it is long or one-sided.
    reads_author: bool = False
    # False when no active version scored this category and the row shows an earlier active version's score.
    current: bool = True
    # How far the author's earlier decisions moved the probability (None: not measured for this score).
    author_shift: float | None = None

    @property
    def without_author(self) -> float | None:
        return None if self.author_shift is None or self.probability is None else self.probability - self.author_shift


@dataclass(frozen=True)
class AuthorHistoryRow:
    item: Item
    last_action: str


def category_scores(item: Item) -> list[CategoryScore]:
    """One row per active category: the active models' probability, which version, whether it is a prior and
    whether the version read the item's author.

    A category the active models have not scored (an item decided, or claimed on another path, before the current
    version went live) shows the score of the most recently active earlier version instead, marked not current:
    a QA reviewer or a lead reading a decided item sees what the model said, not "no score". Shadow and candidate
    versions never stand in: their scores never routed anything.
    """
    once_active = Q(model_version__status=ModelVersion.Status.ACTIVE) | Q(model_version__activated_at__isnull=False)
    rows = Score.objects.filter(once_active, item_id=item.pk).values_list(
        "category_id",
        "probability",
        "from_prior",
        "model_version__name",
        "prior_source",
        "model_version__metrics__features__author",
        "author_shift",
        "model_version__status",
        "model_version__activated_at",
    )

    def preference(row: tuple) -> tuple:
        # Active versions first (the highest probability across kinds), then the most recently activated.
        probability, status, activated_at = row[1], row[7], row[8]
        active = status == ModelVersion.Status.ACTIVE
        return (active, 0.0 if active else activated_at.timestamp(), probability)

    best: dict[int, tuple] = {}
    for row in rows:
        if row[0] not in best or preference(row) > preference(best[row[0]]):
            best[row[0]] = row
    result = []
    for shortcut, category in enumerate(PolicyCategory.objects.filter(is_active=True), start=1):
        if category.pk not in best:
            result.append(CategoryScore(category.slug, category.name, shortcut, None, False, ""))
            continue
        _, probability, from_prior, version, source, author, shift, status, _ = best[category.pk]
        reads_author = bool(author) and not from_prior and item.author_id is not None
        result.append(
            CategoryScore(
                category.slug,
                category.name,
                shortcut,
                probability,
                from_prior,
                version,
                source,
                reads_author=reads_author,
                current=status == ModelVersion.Status.ACTIVE,
                author_shift=shift if reads_author else None,
            )
        )
    return result


def score_versions(scores: list[CategoryScore]) -> list[str]:
    """The active versions behind ``scores``, in first-seen order, for the panel's footer."""
    return list(dict.fromkeys(score.version for score in scores if score.version and score.current))


def author_history(item: Item, *, limit: int = 10, hide_copies_of: int | None = None) -> list[AuthorHistoryRow]:
    """The author's other recent items, each with the latest decision taken on it.

    ``hide_copies_of``: leave out the near-duplicate copies of that decision (a blind second review).
    """
    if item.author_id is None:
        return []
    others = list(Item.objects.filter(author_id=item.author_id).exclude(pk=item.pk).order_by("-created_at")[:limit])
    actions: dict[int, str] = {}
    decisions = Decision.objects.filter(item__in=others)
    if hide_copies_of is not None:
        decisions = decisions.exclude(applied_from_id=hide_copies_of)
    for item_id, action in decisions.order_by("item_id", "-created_at").values_list("item_id", "action"):
        actions.setdefault(item_id, Decision.Action(action).label)
    return [
        AuthorHistoryRow(other, actions.get(other.pk, "pending" if other.state != "decided" else ""))
        for other in others
    ]


def duplicate_group_pending(item: Item) -> int:
    """How many other items of the item's near-duplicate group are still waiting for a decision."""
    if item.duplicate_group is None:
        return 0
    return (
        QueueEntry.objects.filter(item__duplicate_group=item.duplicate_group, status=QueueEntry.Status.PENDING)
        .exclude(item=item)
        .count()
    )


def can_view_item(user: AbstractBaseUser, item_id: int) -> bool:
    """Staff see everything; a moderator sees items that are or were in one of their queues."""
    if user.is_staff:
        return True
    return QueueEntry.objects.filter(item_id=item_id, queue__in=queues_for(user)).exists()


@dataclass(frozen=True)
class EscalationRow:
    entry: QueueEntry
    escalated_by: str | None
    from_queue: str | None


def pending_escalations(user: AbstractBaseUser, *, limit: int = 25) -> tuple[list[EscalationRow], int]:
    """Escalated items waiting in the user's queues, oldest first, with who escalated them and from where.

    An escalation is the pending entry ``escalate_item`` created (selection "escalated", with the
    note); who escalated it and from which queue come from the item's latest escalate decision.
    """
    escalation = Decision.objects.filter(item=OuterRef("item"), action=Decision.Action.ESCALATE).order_by("-created_at")
    pending = QueueEntry.objects.filter(
        status=QueueEntry.Status.PENDING,
        selection=QueueEntry.Selection.ESCALATED,
        queue__in=queues_for(user),
    )
    rows = (
        pending.select_related("item", "queue")
        .annotate(
            escalated_by=Subquery(escalation.values("reviewer__username")[:1]),
            from_queue=Subquery(escalation.values("entry__queue__name")[:1]),
        )
        .order_by("enqueued_at", "pk")[:limit]
    )
    return [EscalationRow(entry, entry.escalated_by, entry.from_queue) for entry in rows], pending.count()


@dataclass(frozen=True)
class OverturnRate:
    reviewer: str
    reviewed: int
    overturned: int

    @property
    def percent(self) -> float:
        return 100.0 * self.overturned / self.reviewed if self.reviewed else 0.0


def overturn_rates(*, days: int = 30) -> list[OverturnRate]:
    """Per reviewer, how many of their decisions seniors QA-reviewed in the last ``days`` days and overturned."""
    since = timezone.now() - timedelta(days=days)
    rows = (
        QAReview.objects.filter(created_at__gte=since, decision__reviewer__isnull=False)
        .order_by()
        .values_list("decision__reviewer__username")
        .annotate(reviewed=Count("id"), overturned=Count("id", filter=Q(verdict=QAReview.Verdict.OVERTURN)))
    )
    rates = [OverturnRate(username, reviewed, overturned) for username, reviewed, overturned in rows]
    return sorted(rates, key=lambda rate: (-rate.percent, rate.reviewer))
