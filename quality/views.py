"""The quality page for senior moderators: agreement between independent reviewers, gold accuracy, overturns."""

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from charts import svg as charts
from quality import agreement
from review import qa

PERIODS = (7, 30, 90)


@require_GET
@login_required
def quality(request: HttpRequest) -> HttpResponse:
    """Cohen's kappa per category and per reviewer, gold accuracy per reviewer and overturn rates (``?days=``)."""
    if not qa.is_senior(request.user):
        raise PermissionDenied("The quality page is for senior moderators.")
    days = request.GET.get("days", "")
    days = int(days) if days.isdigit() and int(days) in PERIODS else 30
    report = agreement.quality_report(days=days)
    chart = charts.bar_chart(
        [(row.name, row.agreement or 0.0) for row in report.categories if row.pairs], unit="agreement, %"
    )
    return render(
        request,
        "quality/quality.html",
        {"report": report, "periods": PERIODS, "agreement_chart": chart if report.pairs else None},
    )
