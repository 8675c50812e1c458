"""The exposure page: a reviewer's own exposure today; for leads, the team's, aggregated."""

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from wellness import exposure


@require_GET
@login_required
def my_exposure(request: HttpRequest) -> HttpResponse:
    lead = request.user.has_perm("wellness.view_team_exposure")
    context = {
        "rows": exposure.exposure_of(request.user),
        "team": exposure.team_exposure() if lead else None,
        "day": exposure.today(),
    }
    return render(request, "wellness/exposure.html", context)
