"""``/health/live``, ``/health/ready`` and ``/metrics``, for load balancers, orchestrators and Prometheus."""

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST

from ops.access import operator_may_read
from ops.health import readiness
from ops.metrics import render_metrics

FORBIDDEN = {
    "code": "forbidden",
    "message": "Health and metrics are for the operator's networks or token.",
    "errors": {},
}


@require_GET
@never_cache
def live(request: HttpRequest) -> HttpResponse:
    """The process answers: restart it if this fails. Touches nothing else, so an outage elsewhere never
    makes an orchestrator kill healthy web processes."""
    if not operator_may_read(request):
        return JsonResponse(FORBIDDEN, status=403)
    return JsonResponse({"status": "live"})


@require_GET
@never_cache
def ready(request: HttpRequest) -> HttpResponse:
    """Can the deployment do its work: database, broker, cache, workers (models loaded) and beat. 503 if not."""
    if not operator_may_read(request):
        return JsonResponse(FORBIDDEN, status=403)
    ok, checks = readiness()
    return JsonResponse({"status": "ready" if ok else "not_ready", "checks": checks}, status=200 if ok else 503)


@require_GET
@never_cache
def metrics(request: HttpRequest) -> HttpResponse:
    if not operator_may_read(request):
        return JsonResponse(FORBIDDEN, status=403)
    return HttpResponse(render_metrics(), content_type=CONTENT_TYPE_LATEST)
