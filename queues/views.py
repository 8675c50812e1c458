"""Queue pages for admins: a queue's depth over time, decisions per hour and deadline breaches."""

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_GET

from charts import svg as charts
from queues import selectors
from queues.models import Queue


@require_GET
@login_required
def queue_overview(request: HttpRequest, slug: str) -> HttpResponse:
    """For admins: a queue's depth over time, decisions per hour and deadline breaches, as charts."""
    if not request.user.is_staff:
        raise PermissionDenied("The queue overview is for admins.")
    overview = selectors.queue_overview(get_object_or_404(Queue, slug=slug))
    return render(
        request,
        "queues/overview.html",
        {
            "overview": overview,
            "depth_chart": charts.line_chart(overview.depth, unit="pending items"),
            "decisions_chart": charts.bar_chart(overview.decisions_per_hour, unit="decisions per hour"),
            "breaches_chart": charts.bar_chart(overview.breaches_per_hour, unit="deadline breaches per hour"),
        },
    )
