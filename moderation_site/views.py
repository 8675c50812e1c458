"""The home page: a summary that gathers each app's part (queues, escalations, model health)."""

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from accounts import risk_health
from accounts import selectors as account_selectors
from learning import monitoring
from ops.demo_progress import read_progress
from queues import selectors
from review import qa
from review import selectors as review_selectors
from wellness import exposure


@require_GET
@login_required
def home(request: HttpRequest) -> HttpResponse:
    """The reviewer's queues with depth, oldest item, items past deadline, and their own decisions today.

    Senior moderators also see the escalated items waiting in their queues, and the way to QA review.
    """
    senior = qa.is_senior(request.user)
    escalations, escalations_total = review_selectors.pending_escalations(request.user) if senior else ([], 0)
    models = monitoring.monitored_versions() if senior or request.user.is_staff else []
    return render(
        request,
        "home.html",
        {
            "queues": selectors.queue_stats_for(request.user),
            "account_queues": account_selectors.account_queue_ids(),
            "decided_today": review_selectors.decisions_today(request.user),
            "now": timezone.now(),
            "senior": senior,
            "escalations": escalations,
            "escalations_total": escalations_total,
            "models": models,
            # Beside the content models: the account risk versions, for those who may see them (their page's rule).
            "account_models": risk_health.monitored()
            if request.user.has_perm("accounts.view_riskmodelversion")
            else [],
            "exposure": exposure.exposure_of(request.user),
            # Only while `make run`'s background preparation is not finished (absent elsewhere).
            "demo": _unfinished_demo_preparation(),
        },
    )


def _unfinished_demo_preparation():  # noqa: ANN202 - a DemoProgress or None
    progress = read_progress()
    return None if progress is None or progress.state == "done" else progress
