"""The model monitoring page: one model version against reviewer decisions, and its A/B experiments.

For staff and senior moderators. The figures come from the ``ModelHealth`` row the periodic task
writes (``queues.monitoring``), so the page is one read; "Recompute now" refreshes it on demand.
Experiment comparisons are computed when the page is drawn, from the entries' recorded arms.
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from classifiers.models import ModelVersion
from queues import charts, experiments, monitoring, qa
from queues.models import Experiment, ModelHealth

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


@require_GET
@login_required
def model_monitor(request: HttpRequest, version_id: int) -> HttpResponse:
    """Precision, recall and PR-AUC over time, calibration, drift, agreement per category, and experiments."""
    version = _version_for_monitor(request, version_id)
    health = ModelHealth.objects.filter(model_version=version).first()
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
        "queues/model_monitor.html",
        {
            "version": version,
            "health": health,
            "report": health.details if health else None,
            "charts": _charts(health.details) if health and health.details else None,
            "experiments": runs,
            "top_percent": round(top_fraction * 100),
            "top_k": top_k,
            "siblings": siblings,
        },
    )


@require_POST
@login_required
def model_monitor_refresh(request: HttpRequest, version_id: int) -> HttpResponse:
    """Recompute the version's report and alert state now, instead of waiting for the periodic task."""
    version = _version_for_monitor(request, version_id)
    health = monitoring.refresh_model_health(version=version)
    messages.info(request, f"Recomputed: {health.get_state_display()}.")
    return redirect("model-monitor", version_id=version.pk)
