import json

import pytest
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.actions import take_action
from accounts.appeals import AppealRefused, decide_appeal
from accounts.models import Account, AccountCase, Appeal
from intake.models import Author
from queues.models import Queue, QueueEntry
from review import claims
from review.exceptions import LeaseLost
from tests.factories import make_token, make_user
from webhooks.models import WebhookEvent, WebhookSubscription

pytestmark = pytest.mark.django_db
URL = "/api/v1/appeals"


@pytest.fixture
def banned():
    """An account banned by a reviewer through a fake-account case."""
    author = Author.objects.create(source="creatorhub", external_id="u-5")
    account = Account.objects.create(author=author)
    case = AccountCase.objects.create(
        account=account, case_type="fake_account", opened_at=timezone.now(), violation=True
    )
    reviewer = make_user()
    action = take_action(account=account, kind="ban", actor=reviewer, case=case)
    return action, reviewer


@pytest.fixture
def platform() -> APIClient:
    Queue.objects.create(slug="account-appeals", name="Appeals")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {make_token(scopes=['appeals:write'])[1]}")
    return client


def appeal_body(action, **fields) -> dict:
    return {"id": "ap-1", "source": "creatorhub", "account": "u-5", "action_id": action.pk, "reason": "Not me"} | fields


def test_an_appeal_is_queued_once_and_a_retry_is_a_no_op(banned, platform):
    action, _ = banned

    first = platform.post(URL, appeal_body(action), format="json")
    again = platform.post(URL, appeal_body(action), format="json")

    assert first.status_code == 201 and first.json() == {"id": "ap-1", "status": "open", "action_id": action.pk}
    assert again.status_code == 200
    appeal = Appeal.objects.get()
    assert appeal.queue.slug == "account-appeals"


@pytest.mark.parametrize(
    ("change", "status", "words"),
    [
        ({"account": "someone-else"}, 409, "No action"),
        ({"colour": "red"}, 400, "colour"),
        ({"action_id": "x"}, 400, "action_id"),
    ],
)
def test_a_bad_appeal_is_refused_and_nothing_is_written(banned, platform, change, status, words):
    response = platform.post(URL, appeal_body(banned[0], **change), format="json")

    assert response.status_code == status
    assert words in json.dumps(response.json())
    assert not Appeal.objects.exists()


def test_appeals_need_their_scope(banned):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {make_token(scopes=['events:write'])[1]}")

    assert client.post(URL, appeal_body(banned[0]), format="json").status_code == 403


def claimed(user) -> int:
    """``user`` takes the next appeal from the appeals queue; the claim's fencing token."""
    queue = Queue.objects.get(slug="account-appeals")
    queue.members.add(user)
    claim = claims.claim_next_item(queue=queue, user=user)
    assert claim is not None and claim.entry_id == Appeal.objects.get().entry_id
    return claim.token


def test_the_reviewer_who_acted_is_never_served_the_appeal_and_cannot_decide_it(banned, platform):
    action, reviewer = banned
    platform.post(URL, appeal_body(action), format="json")
    queue = Queue.objects.get(slug="account-appeals")
    queue.members.add(reviewer)

    assert claims.claim_next_item(queue=queue, user=reviewer) is None
    with pytest.raises(AppealRefused, match="another reviewer"):
        decide_appeal(appeal=Appeal.objects.get(), user=reviewer, overturn=True)


def test_an_appeal_is_decided_only_under_a_claim(banned, platform):
    platform.post(URL, appeal_body(banned[0]), format="json")

    with pytest.raises(LeaseLost, match="Claim this appeal"):
        decide_appeal(appeal=Appeal.objects.get(), user=make_user(), overturn=True)


def test_an_overturned_appeal_restores_the_account_withdraws_the_verdict_and_tells_the_platform(banned, platform):
    WebhookSubscription.objects.create(url="https://platform.example/h", event_types=["appeal.decided"])
    action, _ = banned
    platform.post(URL, appeal_body(action), format="json")

    sam = make_user()
    decide_appeal(appeal=Appeal.objects.get(), user=sam, overturn=True, note="Real person", token=claimed(sam))

    assert Account.objects.get(pk=action.account_id).state == "active"
    assert AccountCase.objects.get().violation is False
    [event] = WebhookEvent.objects.filter(type="appeal.decided")
    data = json.loads(event.body())["data"]
    assert (data["outcome"], data["account_state"], data["external_id"]) == ("overturned", "active", "u-5")


def test_an_upheld_appeal_leaves_the_action_in_place(banned, platform):
    action, _ = banned
    platform.post(URL, appeal_body(action), format="json")

    sam = make_user()
    appeal = decide_appeal(appeal=Appeal.objects.get(), user=sam, overturn=False, token=claimed(sam))

    assert appeal.status == "upheld"
    assert Account.objects.get(pk=action.account_id).state == "banned"
    with pytest.raises(AppealRefused, match="already been decided"):
        decide_appeal(appeal=appeal, user=make_user(), overturn=True)


def test_a_moderator_decides_an_appeal_in_the_browser_flow(banned, platform):
    action, _ = banned
    platform.post(URL, appeal_body(action), format="json")
    sam = make_user()
    Queue.objects.get(slug="account-appeals").members.add(sam)
    client = Client()
    client.force_login(sam)

    page = client.get("/account-cases/work/account-appeals/").content.decode()
    appeal = Appeal.objects.get()
    token = QueueEntry.objects.get(pk=appeal.entry_id).fencing_token
    decided = client.post(f"/account-appeals/{appeal.pk}/decide", {"outcome": "overturn", "token": token})

    assert "Not me" in page and 'id="overturn"' in page
    assert decided.status_code == 200 and "No account case is waiting" in decided.content.decode()
    assert Account.objects.get(pk=action.account_id).state == "active"
