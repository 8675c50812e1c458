import json
from datetime import timedelta

import pytest

from accounts.actions import InvalidAction, reverse_action, take_action
from accounts.models import Account, AccountAction
from audit.models import AuditEvent
from intake.models import Author
from tests.factories import make_user
from webhooks.models import WebhookEvent, WebhookSubscription

pytestmark = pytest.mark.django_db


@pytest.fixture
def account() -> Account:
    author = Author.objects.create(source="creatorhub", external_id="u-7", handle="@seven")
    return Account.objects.create(author=author)


@pytest.fixture
def subscription() -> WebhookSubscription:
    return WebhookSubscription.objects.create(url="https://platform.example/hooks", event_types=["account.actioned"])


def sent_payloads() -> list[dict]:
    """The ``data`` of each ``account.actioned`` body the outbox will POST, oldest first."""
    return [json.loads(e.body())["data"] for e in WebhookEvent.objects.filter(type="account.actioned").order_by("id")]


def test_a_suspension_changes_the_state_is_audited_and_sent_to_the_platform(account, subscription):
    reviewer = make_user()

    action = take_action(
        account=account, kind="suspend", actor=reviewer, duration=timedelta(days=3), notice="Suspended for spam."
    )

    account.refresh_from_db()
    assert account.state == Account.State.SUSPENDED and account.state_until is not None
    assert (action.state_before, action.state_after) == ("active", "suspended")
    assert AuditEvent.objects.filter(action="account.suspend", object_id=str(account.pk)).exists()
    [payload] = sent_payloads()
    assert payload["external_id"] == "u-7" and payload["source"] == "creatorhub"
    assert payload["action"] == "suspend" and payload["state"] == "suspended"
    assert payload["notice"] == "Suspended for spam."
    assert payload["actor"] == reviewer.get_username()


def test_a_warning_leaves_the_state_alone(account, subscription):
    take_action(account=account, kind="warn", actor=make_user(), notice="Please stop.")

    account.refresh_from_db()
    assert account.state == Account.State.ACTIVE
    assert sent_payloads()[0]["action"] == "warn"


def test_a_reversal_restores_the_previous_state_and_is_sent_too(account, subscription):
    ban = take_action(account=account, kind="ban", actor=make_user())

    restore = reverse_action(action=ban, actor=make_user(), note="Appeal upheld")

    account.refresh_from_db()
    assert account.state == Account.State.ACTIVE
    assert restore.reverses == ban and restore.kind == AccountAction.Kind.RESTORE
    assert [p["action"] for p in sent_payloads()] == ["ban", "restore"]
    assert sent_payloads()[1]["reverses"] == ban.pk


def test_an_action_cannot_be_reversed_twice_or_after_a_later_change(account):
    lock = take_action(account=account, kind="lock", actor=None, automatic=True)
    take_action(account=account, kind="ban", actor=make_user())

    with pytest.raises(InvalidAction, match="reverse the later action"):
        reverse_action(action=lock, actor=make_user())
    ban = AccountAction.objects.get(kind="ban")
    reverse_action(action=ban, actor=make_user())
    with pytest.raises(InvalidAction, match="already been reversed"):
        reverse_action(action=ban, actor=make_user())


@pytest.mark.parametrize(
    ("kind", "duration", "words"),
    [
        ("suspend", None, "needs a duration"),
        ("rate_limit", timedelta(days=400), "needs a duration"),
        ("ban", timedelta(days=1), "takes no duration"),
        ("vaporise", None, "Unknown action"),
    ],
)
def test_a_malformed_action_is_refused_and_changes_nothing(account, kind, duration, words):
    with pytest.raises(InvalidAction, match=words):
        take_action(account=account, kind=kind, actor=make_user(), duration=duration)

    account.refresh_from_db()
    assert account.state == Account.State.ACTIVE
    assert not AccountAction.objects.exists()
