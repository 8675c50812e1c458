"""Answers for requests that failed on the server: an honest 503 when the database is away, else a 500.

Django calls ``handler500`` inside the ``except`` block of the failed request, so the exception is at hand:
a database that refuses connections (a restart, a failover) is an outage to retry, not a bug. API clients get
the API's JSON error shape with ``Retry-After``; people get a plain page that needs no database to render
(no session, no user, no context processors) and asks them to try again.
"""

import logging
import sys

from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.loader import render_to_string

logger = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 10


def is_database_outage(exc: BaseException | None) -> bool:
    return isinstance(exc, OperationalError | InterfaceError)


def _is_api(request: HttpRequest) -> bool:
    return request.path.startswith("/api/")


def unavailable(request: HttpRequest) -> HttpResponse:
    """503 with ``Retry-After``: JSON under /api/, a plain page elsewhere."""
    message = "The database is unavailable for a moment. Nothing was changed; try again in a few seconds."
    if _is_api(request):
        response: HttpResponse = JsonResponse(
            {"code": "service_unavailable", "message": message, "errors": {}}, status=503
        )
    else:
        html = render_to_string("ops/try_again.html", {"title": "Please try again", "message": message})
        response = HttpResponse(html, status=503)
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    response["Cache-Control"] = "no-store"
    return response


def server_error(request: HttpRequest) -> HttpResponse:
    """``handler500``: a database outage is a 503; anything else a 500, as JSON for API clients."""
    exc = sys.exc_info()[1]
    if is_database_outage(exc):
        logger.warning("database unavailable while serving a request: %s", type(exc).__name__)
        return unavailable(request)
    if _is_api(request):
        return JsonResponse(
            {"code": "server_error", "message": "The server failed to answer; the error was logged.", "errors": {}},
            status=500,
        )
    html = render_to_string(
        "ops/try_again.html",
        {"title": "Something went wrong", "message": "The server failed to answer; the error was logged."},
    )
    return HttpResponse(html, status=500)
