"""The account risk model page: every registered version with its held-out metrics per case type, its live
health against reviewers' verdicts (``accounts.risk_health``) and the A/B experiments (``accounts.risk_experiments``).

Only for users who may view risk model versions (``accounts.view_riskmodelversion``): metrics and the
data they were learned from are not a moderator's business. Promotion is an admin action (audited).
"""

from django.contrib.auth.decorators import login_required, permission_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from accounts import risk_experiments, risk_health
from accounts.models import CaseType, RiskExperiment, RiskModelVersion


@require_GET
@login_required
@permission_required("accounts.view_riskmodelversion", raise_exception=True)
def risk_models(request: HttpRequest) -> HttpResponse:
    labels = dict(CaseType.choices)
    versions = []
    for version in RiskModelVersion.objects.all()[:50]:
        rows = [
            {"case_type": labels.get(case_type, case_type), **version.metrics[case_type]}
            for case_type in version.case_types
        ]
        skipped = [(labels.get(t, t), why) for t, why in version.metrics.get("skipped", {}).items()]
        health = risk_health.version_health(version) if version.status != RiskModelVersion.Status.RETIRED else None
        versions.append({"version": version, "rows": rows, "skipped": skipped, "health": health})
    experiments = [
        risk_experiments.compare(e) for e in RiskExperiment.objects.select_related("candidate", "control")[:5]
    ]
    return render(
        request, "accounts/risk_models.html", {"versions": versions, "experiments": experiments, "labels": labels}
    )
