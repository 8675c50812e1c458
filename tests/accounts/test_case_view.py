import pytest
from django.contrib.auth.models import Group
from django.test import Client
from django.utils import timezone

from accounts.cases import open_case
from accounts.models import Account, AccountAction, AccountCase
from accounts.signal_updates import update_account_signals
from queues.models import Decision, QueueEntry
from tests.accounts.factories import event, store
from tests.factories import make_item, make_queue, make_user

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
    queue = make_queue(members=[reviewer], name="Account cases")
    return open_case(
        account_id=account.pk, case_type="fake_account", severity=2, rule_id=None, queue_id=queue.pk, now=timezone.now()
    )


def claimed(client: Client, case: AccountCase) -> int:
    """Take the case from its queue in the work view; returns the claim's fencing token."""
    page = client.get(f"/account-cases/work/{case.queue.slug}/").content.decode()
    assert f'data-case="{case.pk}"' in page, page[:2000]
    return QueueEntry.objects.get(pk=case.entry_id).fencing_token


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


# Session, user, the case with its account, signals, membership and open cases, firings, the timeline (events,
# actions, content and decisions in one statement), the linked accounts and the menu's permissions. It was 16
# round trips, then 10; each costs 2-19 ms on a loaded machine whatever the query (bench/RESULTS.md).
CASE_VIEW_QUERIES = 7


def test_the_case_view_shows_everything_in_a_bounded_number_of_round_trips(
    reviewer, ring_case, django_assert_max_num_queries
):
    open_case(
        account_id=ring_case.account_id, case_type="fraud", severity=1, rule_id=None, queue_id=ring_case.queue_id,
        now=timezone.now(),
    )  # fmt: skip
    client = signed_in(reviewer)

    with django_assert_max_num_queries(CASE_VIEW_QUERIES):
        page = client.get(f"/account-cases/{ring_case.pk}/").content.decode()

    assert "<dt>Open cases</dt><dd>2</dd>" in page
    assert "Linked accounts (2)" in page and "tests:ring-3" in page and "farm-1" in page
    assert "<code>signups_on_device</code>" in page  # the signals, joined to the case
    assert "Sign-up" in page and 'href="/qa/"' not in page  # the timeline; the menu asked the permissions


def test_content_and_the_decisions_on_it_are_in_the_timeline_at_no_more_round_trips(
    reviewer, ring_case, django_assert_max_num_queries
):
    item = make_item(author_id=ring_case.account_id)
    Decision.objects.create(item=item, reviewer=reviewer, action=Decision.Action.REMOVE)
    client = signed_in(reviewer)

    with django_assert_max_num_queries(CASE_VIEW_QUERIES):
        page = client.get(f"/account-cases/{ring_case.pk}/").content.decode()

    assert f"Content tests:{item.external_id}" in page
    assert f"on item {item.pk}" in page


def test_a_member_through_a_group_sees_the_case_and_the_menu_shows_the_groups_permissions(ring_case):
    from django.contrib.auth.models import Permission

    team = Group.objects.create(name="Account team")
    team.permissions.add(Permission.objects.get(content_type__app_label="queues", codename="review_decisions"))
    ring_case.queue.member_groups.add(team)
    member = make_user()
    member.groups.add(team)

    page = signed_in(member).get(f"/account-cases/{ring_case.pk}/").content.decode()

    assert "Linked accounts (2)" in page
    assert 'href="/qa/"' in page  # QA review: a permission the user has through the group only


def test_a_case_in_no_queue_is_open_to_staff_only(ring_case):
    AccountCase.objects.filter(pk=ring_case.pk).update(queue=None, entry=None)  # opened by staff by hand

    assert signed_in(make_user()).get(f"/account-cases/{ring_case.pk}/").status_code == 403
    assert signed_in(make_user(is_staff=True)).get(f"/account-cases/{ring_case.pk}/").status_code == 200


def test_anonymous_visitors_are_sent_to_sign_in(ring_case):
    response = Client().get(f"/account-cases/{ring_case.pk}/")

    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_deciding_needs_a_post(reviewer, ring_case):
    assert signed_in(reviewer).get(f"/account-cases/{ring_case.pk}/decide").status_code == 405


def test_a_case_is_claimed_from_its_queue_and_one_decision_bans_the_whole_ring(reviewer, ring_case):
    ring = list(Account.objects.filter(author__external_id__in=["ring-2", "ring-3"]).values_list("pk", flat=True))
    client = signed_in(reviewer)
    token = claimed(client, ring_case)

    response = client.post(
        f"/account-cases/{ring_case.pk}/decide",
        {"action": "ban", "notice": "Fake accounts are not allowed.", "ring": ring, "token": token},
        HTTP_HX_REQUEST="true",
    )

    assert response.status_code == 200, response.content.decode()[:500]
    assert "Decided: Ban on 3 accounts." in response.content.decode()
    assert "No account case is waiting" in response.content.decode()  # the next case, or an empty queue
    assert QueueEntry.objects.get(pk=ring_case.entry_id).status == "done"
    assert set(Account.objects.values_list("state", flat=True)) == {"banned"}
    ring_case.refresh_from_db()
    assert ring_case.status == "closed" and ring_case.violation is True and ring_case.decided_by == reviewer
    assert AccountAction.objects.filter(kind="ban").count() == 3


def test_an_unlinked_account_cannot_be_slipped_into_a_ring_decision(reviewer, ring_case):
    update_account_signals(account_ids=store(event("signup", account="bystander", device_id="own")).account_ids)
    bystander = Account.objects.get(author__external_id="bystander")
    client = signed_in(reviewer)
    token = claimed(client, ring_case)

    response = client.post(
        f"/account-cases/{ring_case.pk}/decide", {"action": "ban", "ring": [bystander.pk], "token": token}
    )

    assert response.status_code == 400
    assert "not linked" in response.content.decode()
    assert not AccountAction.objects.exists()


def test_a_suspension_without_a_duration_is_refused_and_a_decided_case_cannot_be_decided_again(reviewer, ring_case):
    client = signed_in(reviewer)
    token = claimed(client, ring_case)

    refused = client.post(f"/account-cases/{ring_case.pk}/decide", {"action": "suspend", "token": token})
    client.post(f"/account-cases/{ring_case.pk}/decide", {"action": "suspend", "duration_hours": "48", "token": token})
    again = client.post(f"/account-cases/{ring_case.pk}/decide", {"action": "none", "token": token})

    assert refused.status_code == 400 and "needs a duration" in refused.content.decode()
    assert again.status_code == 400 and "already been decided" in again.content.decode()
    assert Account.objects.get(pk=ring_case.account_id).state == "suspended"


def test_a_case_cannot_be_decided_without_holding_its_claim(reviewer, ring_case):
    other = make_user()
    ring_case.queue.members.add(other)
    token = claimed(signed_in(other), ring_case)

    page = signed_in(reviewer).get(f"/account-cases/{ring_case.pk}/").content.decode()
    stolen = signed_in(reviewer).post(f"/account-cases/{ring_case.pk}/decide", {"action": "ban", "token": token})

    assert "take it from its queue" in page and 'id="case-decision"' not in page
    assert stolen.status_code == 409
    assert Account.objects.get(pk=ring_case.account_id).state == "active"


def test_a_non_member_cannot_work_the_account_queue(ring_case):
    assert signed_in(make_user()).get(f"/account-cases/work/{ring_case.queue.slug}/").status_code == 403


def test_cases_are_served_most_severe_first(reviewer, ring_case):
    update_account_signals(account_ids=store(event("login_failed", account="victim")).account_ids)
    victim = Account.objects.get(author__external_id="victim")
    urgent = open_case(
        account_id=victim.pk, case_type="takeover", severity=4, rule_id=None, queue_id=ring_case.queue_id,
        now=timezone.now(),
    )  # fmt: skip

    page = signed_in(reviewer).get(f"/account-cases/work/{ring_case.queue.slug}/").content.decode()

    assert f'data-case="{urgent.pk}"' in page


def test_the_home_page_sends_account_queues_to_the_case_view_and_the_content_view_refuses_them(reviewer, ring_case):
    client = signed_in(reviewer)

    home = client.get("/").content.decode()
    content_view = client.get(f"/queues/{ring_case.queue.slug}/")

    assert f'href="/account-cases/work/{ring_case.queue.slug}/"' in home
    assert "holds account cases" in content_view.content.decode()


def test_a_moderator_finds_a_case_by_device_id_but_not_in_queues_they_do_not_work(reviewer, ring_case):
    elsewhere = make_queue(name="Other team")
    other = Account.objects.get(author__external_id="ring-2")
    open_case(
        account_id=other.pk, case_type="fraud", severity=2, rule_id=None, queue_id=elsewhere.pk, now=timezone.now()
    )
    client = signed_in(reviewer)

    found = client.get("/account-cases/search/", {"q": "farm-1"}).content.decode()
    by_id = client.get("/account-cases/search/", {"q": "ring-1"}).content.decode()

    assert f'href="/account-cases/{ring_case.pk}/"' in found
    assert "Payment fraud" not in found  # ring-2's case is in a queue the reviewer does not work
    assert f'href="/account-cases/{ring_case.pk}/"' in by_id
    assert Client().get("/account-cases/search/", {"q": "farm-1"}).status_code == 302


def test_the_case_keeps_its_lease_through_the_content_views_heartbeat(reviewer, ring_case):
    client = signed_in(reviewer)
    token = claimed(client, ring_case)
    before = QueueEntry.objects.get(pk=ring_case.entry_id).lease_until
    page = client.get(f"/account-cases/{ring_case.pk}/").content.decode()

    renewed = client.post(f"/queues/{ring_case.queue.slug}/entries/{ring_case.entry_id}/heartbeat", {"token": token})

    assert f"/queues/{ring_case.queue.slug}/entries/{ring_case.entry_id}/heartbeat" in page
    assert renewed.status_code == 200
    assert QueueEntry.objects.get(pk=ring_case.entry_id).lease_until >= before


def test_linked_accounts_are_ranked_by_what_they_share_before_the_limit_cuts(django_assert_num_queries):
    """An account sharing a device and a card outranks many that share only an IP, whatever the ids."""
    from accounts.selectors import linked_accounts

    crowd = [event("login_succeeded", account=f"nat-{n}", device_id=f"own-{n}", ip="198.51.100.7") for n in range(12)]
    result = store(
        event("payment_failed", account="me", device_id="phone", ip="198.51.100.7", payment_fingerprint="card-0000009",
              amount="5.00", currency="USD"),
        *crowd,
        event("payment_failed", account="twin", device_id="phone", ip="192.0.2.1", payment_fingerprint="card-0000009",
              amount="5.00", currency="USD"),
    )  # fmt: skip
    update_account_signals(account_ids=result.account_ids)
    me = Account.objects.get(author__external_id="me")
    twin = Account.objects.get(author__external_id="twin")
    for case_type in ("fraud", "fake_account"):
        open_case(account_id=twin.pk, case_type=case_type, severity=1, rule_id=None, queue_id=None, now=timezone.now())

    with django_assert_num_queries(1):  # what the first share, ranked, with their accounts and open cases
        linked = linked_accounts(me, limit=3)

    assert [link.account.author.external_id for link in linked_accounts(me, limit=1)] == ["twin"]

    assert [link.account.author.external_id for link in linked] == ["twin", "nat-0", "nat-1"]
    assert sorted(kind for kind, _ in linked[0].shared) == ["Device id", "Payment fingerprint"]
    assert linked[1].shared == [("IP address", "198.51.100.7")]
    assert [link.open_cases for link in linked] == [2, 0, 0]


def test_the_timeline_reads_every_source_in_its_own_words_newest_first(reviewer):
    """Events, actions, content and the decisions on it come from one statement, each with the detail it had."""
    from datetime import timedelta

    from accounts.selectors import timeline

    now = timezone.now()
    store(
        event("payment_failed", account="payer", at=now - timedelta(minutes=40), ip="203.0.113.9", device_id="d-1",
              country="NL", payment_fingerprint="fp-0123456789abcdef", amount="5.00", currency="USD",
              outcome="declined"),
        event("traffic_summary", account="payer", at=now - timedelta(minutes=30), request_count=900,
              distinct_creators=45, window_seconds=60),
    )  # fmt: skip
    account = Account.objects.get(author__external_id="payer")
    AccountAction.objects.create(
        account=account, kind=AccountAction.Kind.WARN, state_before="active", state_after="active", note="first"
    )
    item = make_item(author_id=account.pk)
    Decision.objects.create(item=item, reviewer=reviewer, action=Decision.Action.REMOVE)

    rows = timeline(account)

    assert [row.at for row in rows] == sorted((row.at for row in rows), reverse=True)
    by_kind = {row.kind: row for row in rows if row.kind != "event"}
    events = [row for row in rows if row.kind == "event"]
    assert [(row.text, row.detail) for row in events] == [
        ("Traffic summary", "900 requests, 45 creators"),
        ("Payment failed", "ip 203.0.113.9 · device d-1 · NL · card fp-012345678… · 5.00 USD · declined"),
    ]
    assert (by_kind["action"].text, by_kind["action"].detail) == ("Warn", "active → active first")
    assert by_kind["item"].text == f"Content tests:{item.external_id}"
    assert by_kind["item"].detail == f"{item.state}, {item.report_count} reports"
    assert (by_kind["decision"].text, by_kind["decision"].detail) == (
        Decision.Action.REMOVE.label,
        f"on item {item.pk}",
    )
    assert len(timeline(account, limit=2)) == 2
