"""Templated notices: written once per action (and case type), filled in, and sent in ``account.actioned``."""

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.actions import reverse_action, take_action
from accounts.models import Account, AccountCase, NoticeTemplate
from accounts.notices import template_problems
from intake.models import Author
from tests.factories import make_user
from webhooks.models import WebhookEvent, WebhookSubscription

pytestmark = pytest.mark.django_db


@pytest.fixture
def account() -> Account:
    WebhookSubscription.objects.create(url="https://platform.example/hooks", event_types=["account.actioned"])
    return Account.objects.create(author=Author.objects.create(source="creatorhub", external_id="u-9", handle="@nine"))


def sent() -> list[dict]:
    return [json.loads(e.body())["data"] for e in WebhookEvent.objects.filter(type="account.actioned").order_by("id")]


def test_an_action_without_a_notice_of_its_own_sends_the_filled_in_template_of_its_case_type(account):
    NoticeTemplate.objects.create(action="suspend", slug="suspend-general", text="Suspended until {until}.")
    NoticeTemplate.objects.create(
        action="suspend", case_type="fraud", slug="suspend-fraud",
        text="{handle}: payments from your account looked like {case_type}; suspended until {until}.",
    )  # fmt: skip
    case = AccountCase.objects.create(account=account, case_type="fraud", opened_at=timezone.now())

    action = take_action(account=account, kind="suspend", actor=make_user(), duration=timedelta(days=2), case=case)

    [payload] = sent()
    assert payload["notice_template"] == "suspend-fraud"
    assert payload["notice"].startswith("@nine: payments from your account looked like Payment fraud; suspended until ")
    assert f"{action.account.state_until:%Y-%m-%d %H:%M} UTC." in payload["notice"]


def test_a_reviewers_own_notice_wins_and_no_template_means_no_notice(account):
    NoticeTemplate.objects.create(action="warn", slug="warn-general", text="Please read the rules.")

    take_action(account=account, kind="warn", actor=make_user(), notice="Stop posting links, please.")
    ban = take_action(account=account, kind="ban", actor=make_user())

    assert [(p["notice"], p["notice_template"]) for p in sent()] == [
        ("Stop posting links, please.", None),
        ("", None),
    ]
    assert ban.notice == ""


def test_a_reversal_sends_the_restore_template(account):
    NoticeTemplate.objects.create(action="restore", slug="restored", text="{handle}, your account is back.")
    lock = take_action(account=account, kind="lock", actor=make_user())

    reverse_action(action=lock, actor=make_user())

    assert sent()[-1]["notice"] == "@nine, your account is back." and sent()[-1]["notice_template"] == "restored"


@pytest.mark.parametrize(
    ("text", "words"),
    [("Hello {name}", "Unknown placeholders ['name']"), ("Until {until", "Braces must pair up"), ("{handle}", "")],
)
def test_template_text_is_checked_before_it_is_saved(text, words):
    assert words in " ".join(template_problems(text)) if words else template_problems(text) == []


def test_the_admin_refuses_a_template_naming_an_unknown_placeholder(admin_client):
    response = admin_client.post(
        "/admin/accounts/noticetemplate/add/", {"action": "ban", "slug": "ban", "text": "Bye {nickname}."}
    )

    assert response.status_code == 200 and "Unknown placeholders" in response.content.decode()
    assert not NoticeTemplate.objects.exists()
