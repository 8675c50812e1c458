"""Remember where the current request came from, so every audit event written while serving it says so."""

import contextvars
import ipaddress
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse

_client_ip: contextvars.ContextVar[str | None] = contextvars.ContextVar("audit_client_ip", default=None)


def client_ip(request: HttpRequest) -> str | None:
    """The client's address: the peer's, or with ``AUDIT_TRUSTED_PROXIES`` proxies in front, the one the
    outermost trusted proxy saw (the entries further left in X-Forwarded-For are the client's to forge)."""
    proxies = settings.AUDIT_TRUSTED_PROXIES
    address = request.META.get("REMOTE_ADDR", "")
    if proxies:
        hops = [hop.strip() for hop in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if hop.strip()]
        if len(hops) >= proxies:
            address = hops[-proxies]
    try:
        return str(ipaddress.ip_address(address))
    except ValueError:
        return None  # not an address (a misconfigured proxy count); the event is still written


def current_client_ip() -> str | None:
    """The address of the request being served in this thread, or None outside a request (workers, commands)."""
    return _client_ip.get()


class AuditContextMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        token = _client_ip.set(client_ip(request))
        try:
            return self.get_response(request)
        finally:
            _client_ip.reset(token)
