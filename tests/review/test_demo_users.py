"""A second `make run` keeps the demo credentials it printed the first time."""

import pytest
from django.contrib.auth import authenticate
from django.core.management import call_command

pytestmark = pytest.mark.django_db


def _lines(settings) -> list[str]:  # noqa: ANN001
    return (settings.VAR_DIR / "demo_credentials.txt").read_text().splitlines()


@pytest.fixture(autouse=True)
def var_dir(settings, tmp_path):
    settings.VAR_DIR = tmp_path


def test_running_it_again_keeps_the_passwords_and_they_sign_in(settings):
    call_command("create_demo_users")
    first = _lines(settings)
    call_command("create_demo_users")
    assert _lines(settings) == first
    for line in first:
        words = line.split()
        username, password = words[words.index("username") + 1], words[words.index("password") + 1]
        assert authenticate(username=username, password=password) is not None


def test_reset_gives_new_passwords(settings):
    call_command("create_demo_users")
    first = _lines(settings)
    call_command("create_demo_users", "--reset")
    assert _lines(settings) != first


def test_a_password_changed_since_is_replaced_and_printed(settings):
    from django.contrib.auth import get_user_model

    call_command("create_demo_users")
    user = get_user_model().objects.get(username="moderator")
    user.set_password("changed-by-hand-123")
    user.save()
    call_command("create_demo_users")
    line = next(line for line in _lines(settings) if "username moderator" in line)
    password = line.split()[-1]
    assert authenticate(username="moderator", password=password) is not None
