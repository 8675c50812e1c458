import pytest
from django.test import Client
from django.utils import timezone

from accounts.models import Account, AccountAction, AccountCase
from accounts.signal_updates import update_account_signals
from tests.accounts.factories import event, store
from tests.factories import make_queue, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def reviewer():
    return make_user()


@pytest.fixture
def ring_case(reviewer) -> AccountCase:
    """Three accounts signed up on one device; a fake-account case on the first, in the reviewer's queue."""
    result = store(*[event("signup", account=f"ring-{n}", device_id="farm-1", ip=f"203.0.113.{n}") for n in (1, 2, 3)])
    update_account_signals(account_ids=result.account_ids)
    account = Account.objects.get(author__external_id="ring-1")
    return AccountCase.objects.create(
        account=account, case_type="fake_account", queue=make_queue(members=[reviewer]), opened_at=timezone.now()
    )


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_a_member_sees_the_account_its_timeline_and_its_linked_accounts(reviewer, ring_case):
    response = signed_in(reviewer).get(f"/account-cases/{ring_case.pk}/")

    page = response.content.decode()
    assert response.status_code == 200
    assert "tests:ring-1" in page
    assert "Sign-up" in page  # the timeline
    assert "Linked accounts (2)" in page and "tests:ring-2" in page and "farm-1" in page
    assert 'src="/static/accounts/case.js"' in page and "style=" not in page


def test_an_htmx_request_gets_the_fragment(reviewer, ring_case):
    response = signed_in(reviewer).get(f"/account-cases/{ring_case.pk}/", HTTP_HX_REQUEST="true")

    assert response.status_code == 200
    assert "<html" not in response.content.decode() and "account-case" in response.content.decode()


def test_a_moderator_outside_the_queue_sees_nothing_of_the_case(ring_case):
    response = signed_in(make_user()).get(f"/account-cases/{ring_case.pk}/")

    assert response.status_code == 403
    assert b"ring-2" not in response.content


def test_anonymous_visitors_are_sent_to_sign_in(ring_case):
    response = Client().get(f"/account-cases/{ring_case.pk}/")

    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_deciding_needs_a_post(reviewer, ring_case):
    assert signed_in(reviewer).get(f"/account-cases/{ring_case.pk}/decide").status_code == 405


def test_one_decision_bans_the_whole_ring_and_closes_the_case(reviewer, ring_case):
    ring = list(Account.objects.filter(author__external_id__in=["ring-2", "ring-3"]).values_list("pk", flat=True))

    response = signed_in(reviewer).post(
        f"/account-cases/{ring_case.pk}/decide",
        {"action": "ban", "notice": "Fake accounts are not allowed.", "ring": ring},
        HTTP_HX_REQUEST="true",
    )

    assert response.status_code == 200, response.content.decode()[:500]
    assert "Decided: Ban on 3 accounts." in response.content.decode()
    assert set(Account.objects.values_list("state", flat=True)) == {"banned"}
    ring_case.refresh_from_db()
    assert ring_case.status == "closed" and ring_case.violation is True and ring_case.decided_by == reviewer
    assert AccountAction.objects.filter(kind="ban").count() == 3


def test_an_unlinked_account_cannot_be_slipped_into_a_ring_decision(reviewer, ring_case):
    update_account_signals(account_ids=store(event("signup", account="bystander", device_id="own")).account_ids)
    bystander = Account.objects.get(author__external_id="bystander")

    response = signed_in(reviewer).post(
        f"/account-cases/{ring_case.pk}/decide", {"action": "ban", "ring": [bystander.pk]}
    )

    assert response.status_code == 400
    assert "not linked" in response.content.decode()
    assert not AccountAction.objects.exists()


def test_a_suspension_without_a_duration_is_refused_and_a_decided_case_cannot_be_decided_again(reviewer, ring_case):
    client = signed_in(reviewer)

    refused = client.post(f"/account-cases/{ring_case.pk}/decide", {"action": "suspend"})
    client.post(f"/account-cases/{ring_case.pk}/decide", {"action": "suspend", "duration_hours": "48"})
    again = client.post(f"/account-cases/{ring_case.pk}/decide", {"action": "none"})

    assert refused.status_code == 400 and "needs a duration" in refused.content.decode()
    assert again.status_code == 400 and "already been decided" in again.content.decode()
    assert Account.objects.get(pk=ring_case.account_id).state == "suspended"
