"""Detection rules that act by themselves, with a sampled share of their firings still sent to a human."""

import json
from datetime import timedelta

import pytest

from accounts.case_decisions import decide_case
from accounts.detection import Rule, sampled_for_review
from accounts.models import Account, AccountAction, AccountCase, DetectionRule
from accounts.signal_updates import update_account_signals
from tests.accounts.factories import event, store
from tests.factories import make_queue, make_user
from webhooks.models import WebhookEvent, WebhookSubscription

pytestmark = pytest.mark.django_db

BURST = [{"field": "signal.failed_logins_1h", "op": ">=", "value": 5}]


def acting_rule(*, share: float, action: str = "lock", duration: timedelta | None = None) -> DetectionRule:
    return DetectionRule.objects.create(
        name="Lock on a failed-login burst", mode=DetectionRule.Mode.ACTIVE, conditions=BURST, case_type="takeover",
        queue=make_queue(name="Takeovers"), action=action, action_duration=duration, review_share=share,
    )  # fmt: skip


def burst(account: str) -> None:
    update_account_signals(account_ids=store(*[event("login_failed", account=account) for _ in range(6)]).account_ids)


def test_an_acting_rule_locks_the_account_tells_the_platform_and_sends_no_case_when_not_sampled():
    WebhookSubscription.objects.create(url="https://platform.example/hooks", event_types=["account.actioned"])
    acting_rule(share=0.0)

    burst("stuffed")

    account = Account.objects.get(author__external_id="stuffed")
    assert account.state == Account.State.LOCKED
    [action] = AccountAction.objects.filter(account=account)
    assert action.automatic and action.actor is None and action.case is None
    assert not AccountCase.objects.filter(account=account).exists()
    [body] = [json.loads(e.body())["data"] for e in WebhookEvent.objects.filter(type="account.actioned")]
    assert body["action"] == "lock" and body["automatic"] is True


def test_a_sampled_firing_opens_a_case_and_no_violation_there_reverses_the_automatic_action():
    rule = acting_rule(share=1.0, action="suspend", duration=timedelta(days=1))
    burst("maybe")
    account = Account.objects.get(author__external_id="maybe")
    case = AccountCase.objects.get(account=account, rule=rule)
    assert account.state == Account.State.SUSPENDED
    assert AccountAction.objects.get(account=account, automatic=True).case == case

    case.entry = None  # decided by staff outside the queue: this test is about the reversal, not the claim
    case.save(update_fields=["entry"])
    decide_case(case=case, user=make_user(is_staff=True), kind=AccountAction.Kind.NONE)

    account.refresh_from_db()
    assert account.state == Account.State.ACTIVE
    assert AccountAction.objects.filter(account=account, kind=AccountAction.Kind.RESTORE).count() == 1


def test_the_share_sent_to_humans_follows_review_share_and_is_the_same_on_every_run():
    rule = Rule(id=7, conditions=BURST, case_type="takeover", severity=2, action="lock", review_share=0.25)

    chosen = [sampled_for_review(rule, account_id) for account_id in range(2000)]

    assert 0.22 < sum(chosen) / len(chosen) < 0.28
    assert chosen == [sampled_for_review(rule, account_id) for account_id in range(2000)]
    assert all(sampled_for_review(Rule(7, BURST, "takeover", 2), n) for n in range(50))  # no action: always a case


def test_the_admin_refuses_an_acting_rule_without_the_duration_its_action_needs(admin_client):
    queue = make_queue(name="Fraud")
    response = admin_client.post(
        "/admin/accounts/detectionrule/add/",
        {
            "name": "Suspend card testers", "position": 1, "mode": "active", "conditions": json.dumps(BURST),
            "case_type": "fraud", "severity": 2, "queue": queue.pk, "action": "suspend", "review_share": "1.5",
        },
    )  # fmt: skip

    page = response.content.decode()
    assert response.status_code == 200 and "needs a duration" in page and "between 0 and 1" in page
    assert not DetectionRule.objects.filter(name="Suspend card testers").exists()


def test_a_rule_saved_without_the_duration_its_action_needs_opens_a_case_instead_of_stopping_updates():
    rule = acting_rule(share=0.0, action="suspend", duration=None)  # around the admin's check, e.g. in a shell

    burst("unlucky")
    burst("other")

    for handle in ("unlucky", "other"):
        account = Account.objects.get(author__external_id=handle)
        assert account.state == Account.State.ACTIVE and not AccountAction.objects.filter(account=account).exists()
        assert AccountCase.objects.filter(account=account, rule=rule, status="open").exists()
