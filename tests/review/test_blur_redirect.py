"""The blur-preference form goes back to the page it came from, never to another site."""

import pytest
from django.test import Client

from tests.factories import make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def client():
    client = Client()
    client.force_login(make_user())
    return client


@pytest.mark.parametrize(
    "target",
    ["//other.example/", "https://other.example/", "/\\other.example/", "http:other.example", "javascript:alert(1)"],
)
def test_an_off_site_next_goes_home_instead(client, target):
    response = client.post("/preferences/blur", {"next": target})
    assert response.status_code == 302
    assert response["Location"] == "/"


def test_a_next_on_this_site_is_followed(client):
    response = client.post("/preferences/blur", {"next": "/queues/scams/?x=1"})
    assert response["Location"] == "/queues/scams/?x=1"


def test_an_absolute_url_to_this_host_is_followed(client):
    response = client.post("/preferences/blur", {"next": "http://testserver/qa/"})
    assert response["Location"] == "http://testserver/qa/"
