"""Exposure budgets: how many items of a sensitive category each reviewer is served per day, and the caps.

An item counts towards a category when the queue entry it was served from carries that category as its
risk category (the category that drives the entry's risk, ``QueueEntry.risk_category``). The claim
path reads the same field to stop serving a capped category, so what is counted is what is held back.
"""

from django.conf import settings
from django.db import models


class ExposureCap(models.Model):
    """An admin's daily cap on one sensitive category, for every reviewer."""

    category = models.OneToOneField("classifiers.PolicyCategory", on_delete=models.CASCADE, related_name="exposure_cap")
    daily_cap = models.PositiveIntegerField(
        help_text="Items of this category a reviewer may be served per day; past it they get none until tomorrow."
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["category__position", "category__slug"]
        constraints = [models.CheckConstraint(condition=models.Q(daily_cap__gte=1), name="exposure_cap_at_least_1")]

    def __str__(self) -> str:
        return f"{self.category_id}: {self.daily_cap} a day"


class ExposureCount(models.Model):
    """Items of one category served to one reviewer on one day (the server's local date)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="exposure_counts")
    category = models.ForeignKey("classifiers.PolicyCategory", on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    count = models.PositiveIntegerField(default=0)

    class Meta:
        permissions = [("view_team_exposure", "Can see the team's exposure, aggregated (leads)")]
        constraints = [
            models.UniqueConstraint(fields=["user", "day", "category"], name="exposure_count_per_user_day_category")
        ]

    def __str__(self) -> str:
        return f"{self.user_id} {self.day} {self.category_id}: {self.count}"
