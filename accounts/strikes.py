"""Strikes: each removal of an author's content counts against the account, per policy category.

A periodic task turns removal decisions into ``Strike`` rows (unique per decision and category, so a
re-run adds nothing) and, when an account reaches a category's threshold, opens a policy case on it.
Reading decisions from the review tables keeps the dependency one way: review knows nothing of
accounts. Decisions younger than the undo window are left for the next run (an undo deletes the
decision); a QA overturn that clears the removal takes its strikes away again.
"""

from collections import Counter
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone

from accounts.cases import open_case
from accounts.models import Account, CaseType, Severity, Strike
from queues.models import Decision, Queue

LOOKBACK = timedelta(days=7)


def threshold_for(category: str) -> int:
    return settings.ACCOUNT_STRIKE_THRESHOLDS.get(category, settings.ACCOUNT_STRIKE_THRESHOLD_DEFAULT)


def count_strikes(*, now=None) -> int:  # noqa: ANN001 - datetime | None
    """Record strikes for new removals, drop those of overturned ones, open cases at thresholds; returns new strikes."""
    now = now or timezone.now()
    settled = now - timedelta(seconds=settings.REVIEW_UNDO_SECONDS)
    overturned = Q(qa_review__verdict="overturn") & ~Q(qa_review__new_action=Decision.Action.REMOVE)
    with transaction.atomic():
        Strike.objects.filter(decision__in=Decision.objects.filter(overturned)).delete()
        rows = (
            Decision.objects.filter(
                action=Decision.Action.REMOVE, created_at__gte=now - LOOKBACK, created_at__lte=settled
            )
            .exclude(overturned)
            .exclude(item__author__isnull=True)
            .filter(categories__isnull=False)
            .values_list("pk", "item__author_id", "categories__slug")
        )
        known = set(Strike.objects.filter(decision_id__in=[r[0] for r in rows]).values_list("decision_id", "category"))
        new = [(decision, author, slug) for decision, author, slug in rows if (decision, slug) not in known]
        if not new:
            return 0
        authors = sorted({author for _, author, _ in new})
        Account.objects.bulk_create([Account(author_id=pk) for pk in authors], ignore_conflicts=True)
        Strike.objects.bulk_create(
            [Strike(account_id=author, decision_id=decision, category=slug) for decision, author, slug in new],
            ignore_conflicts=True,
        )
        totals = dict(
            Strike.objects.filter(account_id__in=authors)
            .values("account_id")
            .annotate(n=Count("id"))
            .values_list("account_id", "n")
        )
        for account in Account.objects.filter(pk__in=authors):
            account.strikes = totals.get(account.pk, 0)
            account.save(update_fields=["strikes", "updated_at"])
        _open_cases_at_thresholds(authors, now)
    return len(new)


def _open_cases_at_thresholds(account_ids: list[int], now) -> None:  # noqa: ANN001
    per_category = Counter(
        {
            (account, category): n
            for account, category, n in Strike.objects.filter(account_id__in=account_ids)
            .values("account_id", "category")
            .annotate(n=Count("id"))
            .values_list("account_id", "category", "n")
        }
    )
    queue = Queue.objects.filter(slug=settings.ACCOUNT_STRIKE_QUEUE).first()
    for (account, category), n in sorted(per_category.items()):
        if n >= threshold_for(category):
            open_case(
                account_id=account,
                case_type=CaseType.POLICY,
                severity=Severity.HIGH if n >= 2 * threshold_for(category) else Severity.MEDIUM,
                rule_id=None,
                queue_id=queue.pk if queue else None,
                now=now,
            )
