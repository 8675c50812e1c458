"""Per-request latency for the Prometheus histogram, labelled by route pattern (never by the raw path)."""

import time
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from ops.metrics import REQUEST_LATENCY


def route_of(request: HttpRequest) -> str:
    """The URL pattern that served the request ("api/v1/items/<int:pk>"), or a fixed word when none did:
    a path can hold ids and anything a caller types, a pattern cannot."""
    match = getattr(request, "resolver_match", None)
    if match is None:
        return "<unmatched>"
    return match.route or match.view_name or "<unnamed>"


class RequestMetricsMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = self.get_response(request)
        REQUEST_LATENCY.labels(
            route=route_of(request), method=request.method or "", status=f"{response.status_code // 100}xx"
        ).observe(time.perf_counter() - started)
        return response
