"""Durations and deadlines in words in templates: ``{{ queue.deadline|duration_words }}`` reads "4 h", not
"4:00:00", and ``{{ entry.deadline_at|deadline_words }}`` reads "in 3 h" or "overdue by 20 min"."""

from datetime import datetime, timedelta

from django import template
from django.utils import timezone

from review.work_context import deadline_in_words, duration_in_words

register = template.Library()


@register.filter
def duration_words(value: timedelta | None) -> str:
    return "" if value is None else duration_in_words(value)


@register.filter
def deadline_words(value: datetime | None) -> str:
    return "" if value is None else deadline_in_words(value, timezone.now())
