"""The home page: a summary that gathers each app's part (queues, escalations, model health); and the model list,
which gathers the content models (``learning``) and the account risk models (``accounts``) on one page."""

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from accounts import risk_health, risk_model_views
from accounts import selectors as account_selectors
from accounts.models import RiskModelVersion
from classifiers.models import ModelVersion
from learning import monitoring
from learning.views import can_monitor
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
            # Beside the content models: the account risk versions' stored health, for those who may see them.
            "account_models": risk_health.monitored() if risk_model_views.can_see(request.user) else [],
            "exposure": exposure.exposure_of(request.user),
            # Only while `make run`'s background preparation is not finished (absent elsewhere).
            "demo": _unfinished_demo_preparation(),
        },
    )


def _unfinished_demo_preparation():  # noqa: ANN202 - a DemoProgress or None
    progress = read_progress()
    return None if progress is None or progress.state == "done" else progress


# The model list shows this many versions of each kind, newest first (older ones are in the admin's registry).
MODEL_LIST_LIMIT = 50


@require_GET
@login_required
def model_list(request: HttpRequest) -> HttpResponse:
    """Every model version in one place: content versions (``/models/<id>/``) and account risk versions
    (``/models/account-risk/<id>/``), each with its status and stored health. Each part for those who may see
    its own pages; a user who may see neither gets a 403."""
    content, risk = can_monitor(request.user), risk_model_views.can_see(request.user)
    if not (content or risk):
        raise PermissionDenied("The model pages are for admins, senior moderators and who may view risk models.")
    return render(
        request,
        "models.html",
        {
            "content_versions": list(
                ModelVersion.objects.select_related("health").order_by("kind", "-created_at")[:MODEL_LIST_LIMIT]
            )
            if content
            else None,
            "risk_versions": list(RiskModelVersion.objects.select_related("health")[:MODEL_LIST_LIMIT])
            if risk
            else None,
            "case_type_roles": risk_model_views.case_type_roles() if risk else None,
        },
    )
