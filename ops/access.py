"""Who may read health and metrics: the networks an operator lists, or whoever sends the operator's token.

Health and metrics hold no content, but they say how busy the service is and whether it is degraded: that is
for the operator's load balancer and Prometheus, not for the public. Behind proxies the client address is the
one the audit log uses (``AUDIT_TRUSTED_PROXIES``), so a proxy on loopback does not make every caller local.
"""

import hmac
import ipaddress
from functools import cache

from django.conf import settings
from django.http import HttpRequest

from audit.middleware import client_ip


@cache
def _networks(spec: tuple[str, ...]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(network, strict=False) for network in spec)


def _bearer(request: HttpRequest) -> str:
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" else ""


def operator_may_read(request: HttpRequest) -> bool:
    """True if the request carries ``OPS_TOKEN`` or comes from one of ``OPS_ALLOWED_NETWORKS``."""
    token = settings.OPS_TOKEN
    if token and hmac.compare_digest(_bearer(request).encode(), token.encode()):
        return True
    address = client_ip(request)
    if address is None:
        return False
    ip = ipaddress.ip_address(address)
    return any(ip in network for network in _networks(tuple(settings.OPS_ALLOWED_NETWORKS)))
