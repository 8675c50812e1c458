"""The account risk model page: every registered version with its held-out metrics, per case type.

Only for users who may view risk model versions (``accounts.view_riskmodelversion``): metrics and the
data they were learned from are not a moderator's business. Promotion is an admin action (audited).
"""

from django.contrib.auth.decorators import login_required, permission_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from accounts.models import CaseType, RiskModelVersion


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
        versions.append({"version": version, "rows": rows, "skipped": skipped})
    return render(request, "accounts/risk_models.html", {"versions": versions})
