"""The labeler table (linked from the quality page): every labeler against gold and senior decisions."""

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from labeling.labeler_table import labeler_table, prompt_comparisons
from review import qa

PERIODS = (7, 30, 90, 365)


@require_GET
@login_required
def labelers(request: HttpRequest) -> HttpResponse:
    """Per moderator, crowd worker, LLM prompt version and model version: kappa, precision, recall, volume, cost."""
    if not (qa.is_senior(request.user) or request.user.is_staff):
        raise PermissionDenied("The labeler table is for senior moderators and staff.")
    days = request.GET.get("days", "")
    days = int(days) if days.isdigit() and int(days) in PERIODS else 90
    context = {"table": labeler_table(days=days), "comparisons": prompt_comparisons(days=days), "periods": PERIODS}
    return render(request, "labeling/labelers.html", context)
