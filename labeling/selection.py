"""Which items a bulk LLM run or a crowd task set covers: a queue's pending items, a category, a date range.

The same selection serves both pages. It is checked against the user: a queue must be one they may work (staff
may pick any queue, or none for "every item"); someone who is not staff must pick a queue, so nobody labels, or
hands to a crowd, items they could not see in the work view.
"""

from __future__ import annotations

from datetime import datetime, time

from django import forms
from django.contrib.auth.models import AbstractBaseUser
from django.utils import timezone

from classifiers.models import PolicyCategory, Score
from intake.models import Item
from queues.membership import queues_for
from queues.models import Queue, QueueEntry

MAX_SELECTION = 10_000
# "Items in a category" means the text model scored them this high in it: the selection an operator asks for
# ("everything the model thinks might be spam") before any human label exists.
CATEGORY_SCORE_AT_LEAST = 0.5


def queues_visible_to(user: AbstractBaseUser):  # noqa: ANN201 - a QuerySet[Queue]
    return Queue.objects.all() if user.is_staff else queues_for(user)


class SelectionForm(forms.Form):
    queue = forms.ModelChoiceField(
        Queue.objects.none(), required=False, empty_label="every item (staff only)", help_text="Its pending items."
    )
    category = forms.ModelChoiceField(
        PolicyCategory.objects.filter(is_active=True),
        required=False,
        empty_label="any category",
        help_text=f"Items the text model scored at least {CATEGORY_SCORE_AT_LEAST} in it.",
    )
    since = forms.DateField(
        required=False, widget=forms.DateInput(attrs={"type": "date"}), help_text="Received on or after."
    )
    until = forms.DateField(
        required=False, widget=forms.DateInput(attrs={"type": "date"}), help_text="Received on or before."
    )
    limit = forms.IntegerField(min_value=1, max_value=MAX_SELECTION, initial=500, help_text="The newest first.")

    def __init__(self, *args, user: AbstractBaseUser, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.user = user
        self.fields["queue"].queryset = queues_visible_to(user).order_by("name")
        if not user.is_staff:
            self.fields["queue"].required = True
            self.fields["queue"].empty_label = None

    def clean(self) -> dict:
        data = super().clean()
        since, until = data.get("since"), data.get("until")
        if since and until and since > until:
            raise forms.ValidationError("'since' is after 'until'.")
        return data

    def item_ids(self) -> list[int]:
        """The selected items' ids, newest first, at most ``limit``. Call after ``is_valid()``."""
        data = self.cleaned_data
        items = Item.objects.exclude(text="")
        if data.get("queue") is not None:
            pending = QueueEntry.objects.filter(queue=data["queue"], status=QueueEntry.Status.PENDING)
            items = items.filter(pk__in=pending.values("item_id"))
        if data.get("category") is not None:
            scored = Score.objects.filter(category=data["category"], probability__gte=CATEGORY_SCORE_AT_LEAST)
            items = items.filter(pk__in=scored.values("item_id"))
        if data.get("since"):
            items = items.filter(created_at__gte=_day_start(data["since"]))
        if data.get("until"):
            items = items.filter(created_at__lt=_day_start(data["until"]) + timezone.timedelta(days=1))
        return list(items.order_by("-created_at", "-pk").values_list("pk", flat=True)[: data["limit"]])

    def describe(self) -> str:
        """The selection in words, for the audit trail and the run's page."""
        data = self.cleaned_data
        parts = [f"queue {data['queue'].slug}" if data.get("queue") else "every item"]
        if data.get("category"):
            parts.append(f"scored {data['category'].slug} >= {CATEGORY_SCORE_AT_LEAST}")
        if data.get("since"):
            parts.append(f"since {data['since']}")
        if data.get("until"):
            parts.append(f"until {data['until']}")
        parts.append(f"newest {data['limit']}")
        return ", ".join(parts)


def _day_start(day) -> datetime:  # noqa: ANN001 - a date
    return timezone.make_aware(datetime.combine(day, time.min))
