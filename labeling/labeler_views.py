"""The labeler table (linked from the quality page): every labeler against gold and senior decisions.

It reads a copy at most ``LABELER_TABLE_CACHE_SECONDS`` old (``labeler_table.cached_labeler_table``); ``?fresh=1``
recomputes it now.
"""

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from labeling.labeler_table import PERIODS, cached_labeler_table, compute_and_cache
from review import qa


@require_GET
@login_required
def labelers(request: HttpRequest) -> HttpResponse:
    """Per moderator, crowd worker, LLM prompt version and model version: kappa, precision, recall, volume, cost."""
    if not (qa.is_senior(request.user) or request.user.is_staff):
        raise PermissionDenied("The labeler table is for senior moderators and staff.")
    days = request.GET.get("days", "")
    days = int(days) if days.isdigit() and int(days) in PERIODS else 90
    cached = compute_and_cache(days=days) if request.GET.get("fresh") == "1" else cached_labeler_table(days=days)
    context = {
        "table": cached.table,
        "comparisons": cached.comparisons,
        "computed_at": cached.computed_at,
        "compute_seconds": cached.seconds,
        "periods": PERIODS,
    }
    return render(request, "labeling/labelers.html", context)
