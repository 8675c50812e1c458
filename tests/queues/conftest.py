"""Fixtures shared by the queues tests: a moderator and the queue she works."""

import pytest

from tests.factories import make_queue, make_user


@pytest.fixture
def mira():
    return make_user(username="mira")


@pytest.fixture
def queue(mira):
    return make_queue(members=[mira], name="Scams & spam")
