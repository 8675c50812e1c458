"""Webhooks never reach loopback, private, link-local or other internal addresses unless an operator allows them.

No test here opens a connection to anything but 127.0.0.1: the internal ranges are checked on a
backend whose connect step fails the test if it is ever reached.
"""

import ipaddress
import socket

import httpcore
import pytest
from django.core.exceptions import ValidationError

from tests.webhooks.conftest import start_receiver
from webhooks.destinations import refusal_reason, validate_destination
from webhooks.models import Delivery, DeliveryAttempt, WebhookSubscription, new_secret
from webhooks.services import deliver, emit
from webhooks.transport import DestinationRefused, GuardedBackend

INTERNAL = [
    "127.0.0.1", "127.8.8.8", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254", "100.64.0.1", "0.0.0.0",
    "224.0.0.1", "240.0.0.1", "::1", "fe80::1", "fc00::1", "::ffff:127.0.0.1", "::ffff:10.0.0.1", "::",
]  # fmt: skip
PUBLIC = ["93.184.216.34", "8.8.8.8", "2606:4700:4700::1111"]


@pytest.mark.parametrize("address", INTERNAL)
def test_internal_addresses_are_refused(address, settings):
    settings.WEBHOOK_ALLOWED_NETWORKS = []
    assert refusal_reason(ipaddress.ip_address(address)) is not None


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_are_allowed(address, settings):
    settings.WEBHOOK_ALLOWED_NETWORKS = []
    assert refusal_reason(ipaddress.ip_address(address)) is None


def test_an_allow_listed_network_is_allowed_and_nothing_beyond_it(settings):
    settings.WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.1/32", "10.20.0.0/16"]
    assert refusal_reason(ipaddress.ip_address("127.0.0.1")) is None
    assert refusal_reason(ipaddress.ip_address("::ffff:127.0.0.1")) is None
    assert refusal_reason(ipaddress.ip_address("10.20.3.4")) is None
    assert refusal_reason(ipaddress.ip_address("127.0.0.2")) == "a loopback address"
    assert refusal_reason(ipaddress.ip_address("10.21.0.1")) == "a private address"


class NeverConnects(httpcore.NetworkBackend):
    def __init__(self) -> None:
        self.connected_to: list[str] = []

    def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):  # noqa: ANN001, ANN201
        self.connected_to.append(host)
        raise httpcore.ConnectError("test backend: no connection is made")


def guarded_with_fake_dns(monkeypatch, answers: dict[str, list[str]]) -> tuple[GuardedBackend, NeverConnects]:
    def getaddrinfo(host, port, *args, **kwargs):  # noqa: ANN001, ANN202
        family = {4: socket.AF_INET, 6: socket.AF_INET6}
        return [(family[ipaddress.ip_address(a).version], socket.SOCK_STREAM, 6, "", (a, port)) for a in answers[host]]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    backend, inner = GuardedBackend(), NeverConnects()
    backend._inner = inner
    return backend, inner


@pytest.mark.parametrize("address", ["10.0.0.5", "169.254.169.254", "::1", "192.168.0.10"])
def test_a_name_that_resolves_to_an_internal_address_is_refused_before_connecting(address, monkeypatch, settings):
    settings.WEBHOOK_ALLOWED_NETWORKS = []
    backend, inner = guarded_with_fake_dns(monkeypatch, {"hooks.example.com": [address]})
    with pytest.raises(DestinationRefused, match=address):
        backend.connect_tcp("hooks.example.com", 443)
    assert inner.connected_to == []


def test_one_internal_address_among_public_ones_refuses_the_name(monkeypatch, settings):
    settings.WEBHOOK_ALLOWED_NETWORKS = []
    backend, inner = guarded_with_fake_dns(monkeypatch, {"rebind.example.com": ["93.184.216.34", "10.0.0.1"]})
    with pytest.raises(DestinationRefused, match="10.0.0.1"):
        backend.connect_tcp("rebind.example.com", 443)
    assert inner.connected_to == []


def test_the_connection_goes_to_the_address_that_was_checked_not_to_a_second_lookup(monkeypatch, settings):
    settings.WEBHOOK_ALLOWED_NETWORKS = []
    backend, inner = guarded_with_fake_dns(monkeypatch, {"hooks.example.com": ["93.184.216.34"]})
    with pytest.raises(httpcore.ConnectError):
        backend.connect_tcp("hooks.example.com", 443)
    assert inner.connected_to == ["93.184.216.34"]


@pytest.mark.django_db
@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "[::1]"])
def test_a_loopback_receiver_gets_nothing_unless_allow_listed(host, settings):
    receiver = start_receiver(new_secret())
    try:
        port = receiver.server.server_address[1]
        settings.WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.1/32", "::1/128"]  # to save the subscription at all
        subscription = WebhookSubscription(
            url=f"http://{host}:{port}/webhooks", event_types=["decision.created"], secret=receiver.secret
        )
        subscription.full_clean()
        subscription.save()
        settings.WEBHOOK_ALLOWED_NETWORKS = []  # then the operator withdraws it
        emit(event_type="decision.created", payload={"decision_id": 1})
        assert deliver(delivery_id=Delivery.objects.get().pk) == "pending"
        assert "DestinationRefused" in DeliveryAttempt.objects.get().error
        assert receiver.events == []
    finally:
        receiver.stop()


@pytest.mark.django_db
def test_the_host_header_keeps_the_name_when_the_connection_goes_to_its_checked_address(monkeypatch, allow_loopback):
    receiver = start_receiver(new_secret())
    seen_hosts = []
    original = receiver.server.RequestHandlerClass.do_POST

    def do_post(handler) -> None:  # noqa: ANN001
        seen_hosts.append(handler.headers["host"])
        original(handler)

    monkeypatch.setattr(receiver.server.RequestHandlerClass, "do_POST", do_post)
    real_getaddrinfo = socket.getaddrinfo
    monkeypatch.setattr(
        socket,
        "getaddrinfo",
        lambda host, *a, **k: real_getaddrinfo("127.0.0.1" if host == "tickets.test" else host, *a, **k),
    )
    try:
        port = receiver.server.server_address[1]
        WebhookSubscription.objects.create(
            url=f"http://tickets.test:{port}/webhooks", event_types=["decision.created"], secret=receiver.secret
        )
        emit(event_type="decision.created", payload={"decision_id": 1})
        assert deliver(delivery_id=Delivery.objects.get().pk) == "delivered"
        assert seen_hosts == [f"tickets.test:{port}"]
    finally:
        receiver.stop()


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("http://127.0.0.1:9000/hook", "loopback"),
        ("http://localhost/hook", "loopback"),
        ("https://10.0.0.8/hook", "private"),
        ("http://169.254.169.254/latest/meta-data", "link-local"),
        ("http://[::1]:8080/", "loopback"),
        ("ftp://hooks.example.com/", "http or https"),
        ("https://user:pw@hooks.example.com/", "credentials"),
    ],
)
def test_a_subscription_to_an_impossible_url_is_refused_when_saved(url, problem, settings):
    settings.WEBHOOK_ALLOWED_NETWORKS = []
    with pytest.raises(ValidationError, match=problem):
        validate_destination(url)


def test_a_public_name_is_accepted_when_saved(settings):
    settings.WEBHOOK_ALLOWED_NETWORKS = []
    validate_destination("https://hooks.example.com/moderation")
