"""The team page's figures for leads, over the queues the lead may see: per reviewer and per queue, how many
decisions, how fast (median from claim to decision), how often a senior overturned them, and the backlog."""

from collections import defaultdict
from dataclasses import dataclass
from datetime import timedelta
from statistics import median

from django.db.models import Count, F, Q
from django.utils import timezone

from console.selectors import Viewer, visible_queues
from queues.models import Decision, Queue, QueueEntry
from review.models import QAReview


@dataclass(frozen=True)
class ReviewerRow:
    reviewer: str
    decisions: int
    median_seconds: float | None
    qa_checked: int
    qa_overturned: int

    @property
    def overturn_rate(self) -> float | None:
        return self.qa_overturned / self.qa_checked if self.qa_checked else None


@dataclass(frozen=True)
class QueueRow:
    queue: Queue
    decisions: int
    median_seconds: float | None
    pending: int
    past_deadline_now: int
    breaches: int  # entries closed after their deadline in the period


@dataclass(frozen=True)
class TeamReport:
    days: int
    reviewers: list[ReviewerRow]
    queues: list[QueueRow]


def team_report(viewer: Viewer, *, days: int = 7) -> TeamReport:
    """Human decisions of the last ``days`` days in the viewer's queues, by reviewer and by queue."""
    now = timezone.now()
    since = now - timedelta(days=days)
    queues = list(visible_queues(viewer).order_by("name"))
    queue_ids = [q.pk for q in queues]
    decisions = Decision.objects.filter(
        created_at__gte=since, automatic=False, reviewer__isnull=False, entry__queue_id__in=queue_ids
    )
    by_reviewer: dict[str, list[float]] = defaultdict(list)
    by_queue: dict[int, list[float]] = defaultdict(list)
    counts_reviewer: dict[str, int] = defaultdict(int)
    counts_queue: dict[int, int] = defaultdict(int)
    for username, queue_id, claimed_at, created_at in decisions.values_list(
        "reviewer__username", "entry__queue_id", "claimed_at", "created_at"
    ):
        counts_reviewer[username] += 1
        counts_queue[queue_id] += 1
        if claimed_at is not None:
            seconds = (created_at - claimed_at).total_seconds()
            by_reviewer[username].append(seconds)
            by_queue[queue_id].append(seconds)
    qa = defaultdict(lambda: [0, 0])
    for username, overturned in QAReview.objects.filter(decision__in=decisions, created_at__gte=since).values_list(
        "decision__reviewer__username", "verdict"
    ):
        qa[username][0] += 1
        qa[username][1] += overturned == QAReview.Verdict.OVERTURN
    backlog = {
        row["queue_id"]: row
        for row in QueueEntry.objects.filter(queue_id__in=queue_ids, status=QueueEntry.Status.PENDING)
        .values("queue_id")
        .annotate(pending=Count("id"), late=Count("id", filter=Q(deadline_at__lt=now)))
    }
    breaches = dict(
        QueueEntry.objects.filter(queue_id__in=queue_ids, closed_at__gte=since, closed_at__gt=F("deadline_at"))
        .values_list("queue_id")
        .annotate(n=Count("id"))
        .values_list("queue_id", "n")
    )
    reviewers = [
        ReviewerRow(
            reviewer=name,
            decisions=counts_reviewer[name],
            median_seconds=median(by_reviewer[name]) if by_reviewer[name] else None,
            qa_checked=qa[name][0],
            qa_overturned=qa[name][1],
        )
        for name in sorted(counts_reviewer, key=lambda n: (-counts_reviewer[n], n))
    ]
    queue_rows = [
        QueueRow(
            queue=queue,
            decisions=counts_queue[queue.pk],
            median_seconds=median(by_queue[queue.pk]) if by_queue[queue.pk] else None,
            pending=backlog.get(queue.pk, {}).get("pending", 0),
            past_deadline_now=backlog.get(queue.pk, {}).get("late", 0),
            breaches=breaches.get(queue.pk, 0),
        )
        for queue in queues
    ]
    return TeamReport(days=days, reviewers=reviewers, queues=queue_rows)
