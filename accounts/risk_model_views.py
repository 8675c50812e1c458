"""The account risk versions' model pages, beside the content models' (``/models/`` lists both kinds).

``/models/account-risk/<id>/`` is one version as ``/models/<id>/`` is one content version: its held-out metrics
per case type, its stored health against the reviewers' verdicts (``accounts.risk_health``, written by a
periodic task; the page reads the row and says when it was computed) with a per-day series, the A/B experiments
it took part in (``accounts.risk_experiments``), and promotion and rollback.

Who may do what (the rules of the risk version admin, which the content models' registry follows too):

* see: ``accounts.view_riskmodelversion`` (metrics and what they were learned from are not every moderator's
  business); "Recompute now" only asks a worker to refresh what the viewer may already see, so it needs the same;
* promote, roll back: a staff user with ``accounts.change_riskmodelversion`` (the admin's promote action needs
  exactly that). Both are audited by the service (``risk_versions.promote`` / ``roll_back``).
"""

from celery import current_app
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import HttpRequest, HttpResponse, HttpResponsePermanentRedirect
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from accounts import risk_experiments, risk_versions
from accounts.models import CaseType, RiskExperiment, RiskModelHealth, RiskModelVersion
from charts import svg as charts

VIEW_PERMISSION = "accounts.view_riskmodelversion"
CHANGE_PERMISSION = "accounts.change_riskmodelversion"
PAGE_RESAMPLES = 1000  # bootstrap resamples of an experiment's medians, as the risk experiments' comparison


def can_see(user) -> bool:  # noqa: ANN001
    return bool(user.is_authenticated and user.has_perm(VIEW_PERMISSION))


def can_change(user) -> bool:  # noqa: ANN001
    return bool(user.is_authenticated and user.is_staff and user.has_perm(CHANGE_PERMISSION))


def _version_for(request: HttpRequest, version_id: int, *, change: bool = False) -> RiskModelVersion:
    if not can_see(request.user) or (change and not can_change(request.user)):
        raise PermissionDenied(
            "Promoting and rolling back account risk models is for admins who may change them."
            if change
            else "Account risk models are for users who may view them."
        )
    return get_object_or_404(RiskModelVersion, pk=version_id)


def case_type_roles() -> list[dict]:
    """Per case type: the active version, the shadow scored beside it and a running A/B candidate (None if none),
    each only if it has a model of that case type. Two queries."""
    versions = list(
        RiskModelVersion.objects.filter(status__in=[RiskModelVersion.Status.ACTIVE, RiskModelVersion.Status.SHADOW])
    )
    experiment = risk_experiments.running()
    rows = []
    for case_type, label in CaseType.choices:
        having = [v for v in versions if case_type in v.case_types]
        active = next((v for v in having if v.status == RiskModelVersion.Status.ACTIVE), None)
        shadow = next((v for v in having if v.status == RiskModelVersion.Status.SHADOW), None)
        candidate = experiment if experiment and case_type in experiment.candidate.case_types else None
        rows.append({"case_type": label, "active": active, "shadow": shadow, "experiment": candidate,
                     "held_out": (active.metrics.get(case_type, {}) if active else {})})  # fmt: skip
    return rows


def _case_type_rows(
    version: RiskModelVersion, health: RiskModelHealth | None
) -> tuple[list[dict], list[tuple[str, str]]]:
    """Held-out metrics (from training) and live figures (from the stored health) side by side, per case type."""
    labels = dict(CaseType.choices)
    live = {row["case_type"]: row for row in (health.details.get("case_types", []) if health else [])}
    rows = [
        {"case_type": labels.get(t, t), "held_out": version.metrics.get(t, {}), "live": live.get(t)}
        for t in version.case_types
    ]
    skipped = [(labels.get(t, t), why) for t, why in version.metrics.get("skipped", {}).items()]
    return rows, skipped


def _over_time(health: RiskModelHealth | None):  # noqa: ANN202 - a charts.LinesChart or None
    series = health.details.get("series", []) if health else []
    if not series:
        return None
    return charts.rate_lines_chart(
        [point["day"][5:] for point in series],
        [(name, [point[key] for point in series]) for name, key in
         (("precision", "precision"), ("recall", "recall"), ("average precision", "average_precision"))],
    )  # fmt: skip


@require_GET
@login_required
def risk_version(request: HttpRequest, version_id: int) -> HttpResponse:
    version = _version_for(request, version_id)
    health = RiskModelHealth.objects.filter(version=version).first()
    rows, skipped = _case_type_rows(version, health)
    experiments = [
        risk_experiments.compare(e, resamples=PAGE_RESAMPLES)
        for e in RiskExperiment.objects.filter(candidate=version).select_related("candidate", "control")[:3]
    ]
    active = RiskModelVersion.objects.filter(status=RiskModelVersion.Status.ACTIVE).first()
    return render(
        request,
        "accounts/risk_version.html",
        {
            "version": version,
            "health": health,
            "rows": rows,
            "skipped": skipped,
            "over_time": _over_time(health),
            "experiments": experiments,
            "active": active,
            "can_change": can_change(request.user),
            "can_roll_back": version == active and risk_versions.previous_active() is not None,
            "siblings": RiskModelVersion.objects.exclude(pk=version.pk)[:8],
        },
    )


@require_POST
@login_required
def recompute(request: HttpRequest, version_id: int) -> HttpResponse:
    """Ask a worker for the version's health now instead of at the next periodic check (sent by name)."""
    version = _version_for(request, version_id)
    transaction.on_commit(  # robust: a broker that is down is logged, not an error page; the periodic check runs
        lambda: current_app.signature("accounts.tasks.refresh_risk_model_health", args=[version.pk]).delay(),
        robust=True,
    )
    messages.info(request, "Recomputing on a worker; reload this page in a few seconds for the new figures.")
    return redirect("account-risk-version", version.pk)


@require_POST
@login_required
def promote(request: HttpRequest, version_id: int) -> HttpResponse:
    version = _version_for(request, version_id, change=True)
    if version.status == RiskModelVersion.Status.RETIRED:
        # A retired version comes back by rollback (the previous one) only: promoting an arbitrary old model
        # without a fresh shadow period would skip the comparison the shadow status is for.
        return HttpResponse(f"{version.name} is retired; only a shadow version can be promoted.", status=409)
    promoted = risk_versions.promote(version, actor=request.user)
    risk_versions.after_activation(promoted)
    messages.info(request, f"{promoted.name} is now the active account risk model; open cases are rescored.")
    return redirect("account-risk-version", promoted.pk)


@require_POST
@login_required
def roll_back(request: HttpRequest, version_id: int) -> HttpResponse:
    """Roll back from ``version`` (it must be the active one, so a stale page cannot roll back someone else's)."""
    version = _version_for(request, version_id, change=True)
    if version.status != RiskModelVersion.Status.ACTIVE:
        return HttpResponse(f"{version.name} is not the active version; nothing to roll back from.", status=409)
    try:
        restored = risk_versions.roll_back(actor=request.user)
    except risk_versions.RollbackRefused as refused:
        return HttpResponse(str(refused), status=409)
    risk_versions.after_activation(restored)
    messages.info(request, f"Rolled back: {restored.name} is active again; open cases are rescored.")
    return redirect("account-risk-version", restored.pk)


@require_GET
def old_risk_models_page(request: HttpRequest) -> HttpResponse:
    """The risk versions' former page: they are on the model pages now."""
    return HttpResponsePermanentRedirect(reverse("model-list") + "#account-risk")
