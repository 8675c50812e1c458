"""Counting what each reviewer is served of the sensitive categories, and who has reached a cap today.

A category is sensitive when an admin gave it a daily cap (``ExposureCap``). The claim path asks
``capped_categories`` before serving a reviewer and leaves out entries of those categories, then calls
``record_exposure`` for the entry it served; everyone else is still served those items. "Today" is the
server's local date, so a cap lifts at local midnight.
"""

from dataclasses import dataclass
from datetime import date
from statistics import median

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.db.models import F, OuterRef, Subquery
from django.utils import timezone

from classifiers.models import PolicyCategory
from wellness.models import ExposureCap, ExposureCount


def today() -> date:
    return timezone.localdate()


@dataclass(frozen=True)
class ExposureState:
    """What the claim path needs in one query: the sensitive categories, and those ``user`` may not be served."""

    sensitive: frozenset[str]
    capped: frozenset[str]


def exposure_state(*, user_id: int, day: date | None = None) -> ExposureState:
    """The sensitive categories (those with a cap) and the ones ``user_id`` has reached today, in one query."""
    rows = ExposureCap.objects.values_list("category__slug", "daily_cap").annotate(
        seen=Subquery(
            ExposureCount.objects.filter(
                user_id=user_id, day=day or today(), category_id=OuterRef("category_id")
            ).values("count")[:1]
        )
    )
    return ExposureState(
        sensitive=frozenset(slug for slug, _, _ in rows),
        capped=frozenset(slug for slug, cap, seen in rows if seen is not None and seen >= cap),
    )


def capped_categories(*, user_id: int, day: date | None = None) -> list[str]:
    """Slugs of the sensitive categories ``user_id`` has reached the cap of on ``day`` (default today)."""
    return sorted(
        ExposureCount.objects.filter(
            user_id=user_id, day=day or today(), category__exposure_cap__daily_cap__lte=F("count")
        ).values_list("category__slug", flat=True)
    )


def record_exposure(*, user_id: int, category_slug: str, day: date | None = None) -> int | None:
    """Count one item of ``category_slug`` served to ``user_id``; the new count, or None when not sensitive."""
    category_id = ExposureCap.objects.filter(category__slug=category_slug).values_list("category_id", flat=True).first()
    if category_id is None:
        return None
    day = day or today()
    counted = ExposureCount.objects.filter(user_id=user_id, day=day, category_id=category_id)
    if not counted.update(count=F("count") + 1):
        try:
            with transaction.atomic():
                ExposureCount.objects.create(user_id=user_id, day=day, category_id=category_id, count=1)
        except IntegrityError:  # a second tab counted the first item at the same moment
            counted.update(count=F("count") + 1)
    return counted.values_list("count", flat=True).get()


@dataclass(frozen=True)
class ExposureRow:
    category: PolicyCategory
    count: int
    cap: int

    @property
    def reached(self) -> bool:
        return self.count >= self.cap

    @property
    def percent(self) -> int:
        return min(100, round(100 * self.count / self.cap))


def exposure_of(user: AbstractBaseUser, *, day: date | None = None) -> list[ExposureRow]:
    """One row per sensitive category: what ``user`` was served of it on ``day`` and its cap."""
    counts = dict(ExposureCount.objects.filter(user=user, day=day or today()).values_list("category_id", "count"))
    return [
        ExposureRow(category=cap.category, count=counts.get(cap.category_id, 0), cap=cap.daily_cap)
        for cap in ExposureCap.objects.select_related("category")
    ]


@dataclass(frozen=True)
class TeamExposureRow:
    category: PolicyCategory
    cap: int
    reviewers: int  # reviewers served at least one item of the category on the day
    total: int
    median: float
    at_cap: int


def team_exposure(*, day: date | None = None) -> list[TeamExposureRow]:
    """Per sensitive category, the team's exposure on ``day``, aggregated: no reviewer is named."""
    per_category: dict[int, list[int]] = {}
    for category_id, count in ExposureCount.objects.filter(day=day or today(), count__gt=0).values_list(
        "category_id", "count"
    ):
        per_category.setdefault(category_id, []).append(count)
    rows = []
    for cap in ExposureCap.objects.select_related("category"):
        counts = per_category.get(cap.category_id, [])
        rows.append(
            TeamExposureRow(
                category=cap.category,
                cap=cap.daily_cap,
                reviewers=len(counts),
                total=sum(counts),
                median=median(counts) if counts else 0,
                at_cap=sum(count >= cap.daily_cap for count in counts),
            )
        )
    return rows
