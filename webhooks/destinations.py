"""Which addresses a webhook may be sent to (SSRF protection).

A subscription's URL is chosen by whoever holds an admin token, and the worker that sends to it
sits inside the network. So every address a host name resolves to must be a public one: loopback,
private, link-local (cloud metadata at 169.254.169.254), shared, reserved, multicast and unspecified
addresses are refused, unless an operator lists their network in ``WEBHOOK_ALLOWED_NETWORKS``.
The check runs on the addresses the worker actually connects to (``webhooks.transport``); the URL
check below only gives early feedback for literal addresses when a subscription is saved.
"""

import ipaddress
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def allowed_networks() -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    return [ipaddress.ip_network(network, strict=False) for network in settings.WEBHOOK_ALLOWED_NETWORKS]


def refusal_reason(address: IPAddress, allowed: list | None = None) -> str | None:
    """Why ``address`` may not receive webhooks, or None when it may."""
    allowed = allowed_networks() if allowed is None else allowed
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped  # ::ffff:127.0.0.1 is 127.0.0.1
    if any(address.version == network.version and address in network for network in allowed):
        return None
    for reason, flagged in (
        ("a loopback address", address.is_loopback),
        ("a link-local address", address.is_link_local),
        ("a private address", address.is_private),
        ("a multicast address", address.is_multicast),
        ("the unspecified address", address.is_unspecified),
        ("a reserved address", address.is_reserved),
        ("not a globally routable address", not address.is_global),
    ):
        if flagged:
            return reason
    return None


def validate_destination(url: str) -> None:
    """Refuse URLs that can never be delivered: other schemes, credentials, refused literal addresses."""
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"}:
        raise ValidationError("Webhook URLs must use http or https.")
    if parts.username or parts.password:
        raise ValidationError("Put no credentials in the URL; receivers verify the signature instead.")
    host = (parts.hostname or "").rstrip(".")
    if host == "localhost" or host.endswith(".localhost"):
        host = "127.0.0.1"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return  # a name: its addresses are checked each time it is resolved, at delivery
    reason = refusal_reason(address)
    if reason:
        raise ValidationError(
            f"{address} is {reason}; webhooks go to public addresses only "
            "(an operator can allow a network with WEBHOOK_ALLOWED_NETWORKS)."
        )
