"""The model monitoring page: one model version against reviewer decisions, and its A/B experiments.

For staff and senior moderators. The figures come from the ``ModelHealth`` row the periodic task
writes (``learning.monitoring``), so the page is one read. "Recompute now" asks a worker for a fresh
row (it reads up to ``MONITOR_MAX_LABELS`` labels: 3-6 s against 490,000 labels, too long to hold a
web thread); the page then polls ``model_monitor_status`` every two seconds and reloads itself once
the row is newer than the request. Experiment comparisons are computed when the page is drawn, from
the entries' recorded arms.
"""

from datetime import UTC, datetime, timedelta

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import HttpResponseClientRefresh

from charts import svg as charts
from classifiers.models import Experiment, ModelVersion
from classifiers.reading import version_reads
from learning import experiments
from learning.models import ModelHealth
from review import qa

# How long the page waits for a worker's recompute before it says none has picked it up.
RECOMPUTE_PATIENCE = timedelta(minutes=1)
# Bootstrap resamples for the medians on the page (each resample costs constant time: stats.resampled_median).
PAGE_RESAMPLES = 2000


def can_monitor(user) -> bool:  # noqa: ANN001
    return bool(user.is_authenticated and (user.is_staff or qa.is_senior(user)))


def _version_for_monitor(request: HttpRequest, version_id: int) -> ModelVersion:
    if not can_monitor(request.user):
        raise PermissionDenied("Model monitoring is for admins and senior moderators.")
    return get_object_or_404(ModelVersion, pk=version_id)


def _top_setting(request: HttpRequest) -> tuple[float, int | None]:
    """``?top=20`` (percent of each arm) or ``?k=50`` (items per arm); defaults to the top 20%."""
    try:
        k = int(request.GET["k"]) if request.GET.get("k") else None
        top = float(request.GET.get("top") or 20) / 100
    except ValueError:
        return 0.2, None
    return min(max(top, 0.01), 1.0), (k if k and k > 0 else None)


def _charts(report: dict) -> dict:
    series = report.get("series", [])
    days = [row["day"][5:] for row in series]
    categories = report.get("categories", [])
    drift = report.get("drift", {}).get("categories", {})
    return {
        "over_time": charts.rate_lines_chart(
            days,
            [
                ("precision", [row["precision"] for row in series]),
                ("recall", [row["recall"] for row in series]),
                ("PR-AUC", [row["pr_auc"] for row in series]),
            ],
        ),
        "calibration": charts.reliability_chart(report.get("calibration", [])),
        "agreement": charts.bar_chart([(c["slug"], max(c["kappa"] or 0.0, 0.0)) for c in categories], maximum=1.0),
        "drift": [
            (
                f"{slug}: PSI {'—' if d['psi'] is None else format(d['psi'], '.3f')} "
                f"({d['reference_n']} reference scores, {d['live_n']} live)",
                charts.paired_histogram(d["reference"], d["live"]),
            )
            for slug, d in sorted(drift.items())
            if d["reference_n"] or d["live_n"]
        ],
    }


def _requested_since(request: HttpRequest) -> datetime | None:
    """``?since=`` (seconds since the epoch, as ``model_monitor_refresh`` writes it), or None if absent or malformed."""
    try:
        return datetime.fromtimestamp(float(request.GET["since"]), tz=UTC)
    except (KeyError, ValueError, OverflowError, OSError):
        return None


def _is_fresh(health: ModelHealth | None, since: datetime) -> bool:
    return health is not None and health.computed_at >= since


@require_GET
@login_required
def model_monitor(request: HttpRequest, version_id: int) -> HttpResponse:
    """Precision, recall and PR-AUC over time, calibration, drift, agreement per category, and experiments."""
    version = _version_for_monitor(request, version_id)
    health = ModelHealth.objects.filter(model_version=version).first()
    since = _requested_since(request)
    top_fraction, top_k = _top_setting(request)
    now = timezone.now()
    siblings = ModelVersion.objects.filter(kind=version.kind).exclude(pk=version.pk).order_by("-created_at")[:8]
    runs = [
        (
            experiment,
            experiments.compare_arms(
                experiments.experiment_outcomes(experiment),
                now=now,
                top_fraction=top_fraction,
                top_k=top_k,
                resamples=PAGE_RESAMPLES,
            ),
        )
        for experiment in Experiment.objects.filter(candidate=version).select_related("control")[:3]
    ]
    return render(
        request,
        "learning/model_monitor.html",
        {
            "version": version,
            "reads": version_reads(version),
            "health": health,
            "report": health.details if health else None,
            "charts": _charts(health.details) if health and health.details else None,
            "experiments": runs,
            "top_percent": round(top_fraction * 100),
            "top_k": top_k,
            "siblings": siblings,
            "recomputing_since": request.GET["since"] if since and not _is_fresh(health, since) else None,
        },
    )


@require_POST
@login_required
def model_monitor_refresh(request: HttpRequest, version_id: int) -> HttpResponse:
    """Ask a worker to recompute the version's report and alert state now, instead of at the next periodic check."""
    from learning.tasks import refresh_model_health

    version = _version_for_monitor(request, version_id)
    since = timezone.now().timestamp()
    transaction.on_commit(lambda: refresh_model_health.delay(version.pk), robust=True)  # broker down: logged
    messages.info(request, "Recomputing on a worker; this page reloads when the figures are in.")
    return redirect(f"{reverse('model-monitor', args=[version.pk])}?since={since:.6f}")


@require_GET
@login_required
def model_monitor_status(request: HttpRequest, version_id: int) -> HttpResponse:
    """Polled by the page after "Recompute now": 204 while the figures are older than ``since``, then a reload.

    After ``RECOMPUTE_PATIENCE`` without fresh figures it answers with the button again and a word on why,
    which replaces the polling line (so polling stops): the embedded set-up may run without a worker.
    """
    version = _version_for_monitor(request, version_id)
    since = _requested_since(request)
    if since is None:
        return HttpResponseBadRequest("since: seconds since the epoch, as the page's recompute link gives it")
    if _is_fresh(ModelHealth.objects.filter(model_version=version).first(), since):
        return HttpResponseClientRefresh()
    if timezone.now() - since > RECOMPUTE_PATIENCE:  # no worker took it: say so, stop polling, offer the button
        return render(request, "learning/_recompute_form.html", {"version": version, "overdue": True})
    return HttpResponse(status=204)
