"""Refuse oversized request bodies before anything reads them."""

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse


class RequestSizeLimitMiddleware:
    """Answer 413 when the declared body is larger than ``MODERATION_MAX_REQUEST_BYTES``.

    Django's own check (``DATA_UPLOAD_MAX_MEMORY_SIZE``) answers 400 and skips multipart file
    parts; checking ``Content-Length`` here covers both, and costs nothing.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        limit = settings.MODERATION_MAX_REQUEST_BYTES
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return JsonResponse(
                {"code": "bad_request", "message": "Content-Length is not a number.", "errors": {}}, status=400
            )
        if length > limit:
            return JsonResponse(
                {
                    "code": "request_too_large",
                    "message": f"The request body is {length} bytes; the limit is {limit} bytes.",
                    "errors": {},
                },
                status=413,
            )
        return self.get_response(request)
