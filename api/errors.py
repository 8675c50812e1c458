"""One JSON error shape for every API error: a code, a message, and errors by field path.

{"code": "invalid", "message": "items[2].image_base64: Not valid base64.",
 "errors": {"items[2].image_base64": ["Not valid base64."]}}
"""

from typing import Any

from django.core.exceptions import RequestDataTooBig
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.views import defaults
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from api.exceptions import Refused


def flatten_errors(detail: Any, path: str = "") -> dict[str, list[str]]:
    """Turn DRF's nested error structure into ``{"items[3].author.handle": ["..."]}``."""
    if isinstance(detail, dict):
        flat: dict[str, list[str]] = {}
        for key, value in detail.items():
            key_path = f"{path}[{key}]" if isinstance(key, int) else (f"{path}.{key}" if path else str(key))
            if key == "non_field_errors":
                key_path = path or "non_field_errors"
            for field, messages in flatten_errors(value, key_path).items():
                flat.setdefault(field, []).extend(messages)
        return flat
    if isinstance(detail, list):
        if all(not isinstance(entry, dict | list) for entry in detail):
            return {path or "non_field_errors": [str(entry) for entry in detail]}
        flat = {}
        for index, entry in enumerate(detail):
            if entry:
                for field, messages in flatten_errors(entry, f"{path}[{index}]").items():
                    flat.setdefault(field, []).extend(messages)
        return flat
    return {path or "non_field_errors": [str(detail)]}


class _FieldRefusal(exceptions.APIException):
    """A refusal that names fields like a ValidationError, with its own status. Not a ValidationError subclass,
    so a serializer's validation does not fold it into its 400."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__()
        self.errors = errors


class UnknownReference(_FieldRefusal):
    """A well-formed request that names an object that does not exist (a queue, a category, a model version),
    in its body or a filter: 404 with the field named. A 400 is for input that is malformed; a schema cannot
    list which ids exist, so a client (or a schema-driven test) cannot tell from it that a reference is stale."""

    status_code = status.HTTP_404_NOT_FOUND
    default_code = "not_found"


class StateConflict(_FieldRefusal):
    """A well-formed request that the objects' current state does not allow (nothing to roll back to, an
    experiment already running): 409 with the field named, as a lease conflict is."""

    status_code = status.HTTP_409_CONFLICT
    default_code = "conflict"


def _body(code: str, message: str, errors: dict[str, list[str]] | None = None) -> dict:
    return {"code": code, "message": message, "errors": errors or {}}


def exception_handler(exc: Exception, context: dict) -> Response | None:
    if isinstance(exc, Refused):
        return Response(_body(exc.code, str(exc)), status=exc.status)
    if isinstance(exc, RequestDataTooBig):
        return Response(_body("request_too_large", "The request body is too large."), status=413)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()  # what DRF does inside its handler; done here so the code is "not_found"
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError | _FieldRefusal):
        errors = flatten_errors(exc.errors if isinstance(exc, _FieldRefusal) else exc.detail)
        first_field, first_messages = next(iter(errors.items()))
        message = f"{first_field}: {first_messages[0]}"
        if len(errors) > 1:
            message += f" (and {len(errors) - 1} more field errors)"
        code = "invalid" if type(exc) is exceptions.ValidationError else exc.default_code
        response.data = _body(code, message, errors)
    else:
        code = getattr(exc, "default_code", "error")
        if isinstance(exc, exceptions.APIException) and isinstance(exc.detail, str):
            code = exc.detail.code or code
        detail = exc.detail if isinstance(exc, exceptions.APIException) else str(exc)
        response.data = _body(str(code), str(detail))
    if response.status_code == status.HTTP_401_UNAUTHORIZED:
        response["WWW-Authenticate"] = 'Bearer realm="api"'
    return response


def not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    """``handler404``: a URL under /api/ that matches no route gets the API's JSON error, others the HTML page."""
    if request.path.startswith("/api/"):
        return JsonResponse(_body("not_found", f"No API operation at {request.path}."), status=404)
    return defaults.page_not_found(request, exception)
