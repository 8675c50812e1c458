"""A moderator works account cases in a real browser, from the keyboard, with the CSP in force."""

import pytest
from django.utils import timezone

from accounts.cases import open_case
from accounts.models import Account, AccountCase
from accounts.signal_updates import update_account_signals
from tests.accounts.factories import event, store
from tests.browser.conftest import sign_in
from tests.factories import make_queue, make_user

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True, serialized_rollback=True)]
PASSWORD = "a-good-password-42"


def test_a_moderator_bans_a_ring_and_clears_a_false_alarm_with_the_keyboard_only(page, live_server):
    mira = make_user(username="mira", password=PASSWORD)
    queue = make_queue(members=[mira], name="Account cases")
    ring = store(*[event("signup", account=f"ring-{n}", device_id="farm", ip=f"203.0.113.{n}") for n in (1, 2, 3)])
    update_account_signals(account_ids=ring.account_ids)
    honest = store(event("signup", account="honest", device_id="own-phone"))
    update_account_signals(account_ids=honest.account_ids)
    now = timezone.now()
    first = Account.objects.get(author__external_id="ring-1")
    open_case(account_id=first.pk, case_type="fake_account", severity=4, rule_id=None, queue_id=queue.pk, now=now)
    open_case(account_id=honest.account_ids[0], case_type="fake_account", severity=1, rule_id=None, queue_id=queue.pk,
              now=now)  # fmt: skip
    errors = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)

    sign_in(page, live_server, "mira", PASSWORD)
    page.goto(f"{live_server.url}/account-cases/work/{queue.slug}/")
    page.wait_for_selector("text=Linked accounts (2)")
    page.locator("body").click(position={"x": 5, "y": 5})  # focus the page, not a field
    page.keyboard.press("g")  # the whole ring
    page.keyboard.press("b")  # ban
    page.wait_for_selector("text=Decided: Ban on 3 accounts.")
    page.wait_for_selector("text=tests:honest")
    page.locator("body").click(position={"x": 5, "y": 5})
    page.keyboard.press("n")  # no action: not a fake account
    page.wait_for_selector("text=No account case is waiting")

    states = dict(Account.objects.values_list("author__external_id", "state"))
    assert states == {"ring-1": "banned", "ring-2": "banned", "ring-3": "banned", "honest": "active"}
    assert list(AccountCase.objects.order_by("severity").values_list("violation", flat=True)) == [False, True]
    assert not [e for e in errors if "Content Security Policy" in e], errors


def test_a_moderator_escalates_a_case_from_the_keyboard_and_a_specialist_decides_it(page, live_server):
    mira = make_user(username="mira", password=PASSWORD)
    queue = make_queue(members=[mira], name="Account cases")
    specialists = make_queue(members=[mira], name="Takeover specialists")
    stored = store(event("signup", account="victim", device_id="phone-1"))
    update_account_signals(account_ids=stored.account_ids)
    case = open_case(account_id=stored.account_ids[0], case_type="takeover", severity=3, rule_id=None,
                     queue_id=queue.pk, now=timezone.now())  # fmt: skip

    sign_in(page, live_server, "mira", PASSWORD)
    page.goto(f"{live_server.url}/account-cases/work/{queue.slug}/")
    page.wait_for_selector("text=tests:victim")
    page.locator("body").click(position={"x": 5, "y": 5})
    page.keyboard.press("e")  # to the escalation: the queue list has the focus
    assert page.evaluate("document.activeElement.id") == "to_queue"
    page.keyboard.press("Tab")
    page.keyboard.type("Payout changed right after a new device")
    page.keyboard.press("Enter")
    page.wait_for_selector("text=Escalated to Takeover specialists.")

    case.refresh_from_db()
    assert case.queue == specialists and case.entry.note == "Payout changed right after a new device"
    page.goto(f"{live_server.url}/account-cases/work/{specialists.slug}/")
    page.wait_for_selector("text=tests:victim")
    page.locator("body").click(position={"x": 5, "y": 5})
    page.keyboard.press("l")  # lock
    page.wait_for_selector("text=Decided: Lock.")
    assert Account.objects.get(pk=case.account_id).state == "locked"
