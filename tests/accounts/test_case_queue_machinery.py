"""Account cases go through the content queues' machinery: claimed, leased, decided into queues.Decision,
escalated, second-reviewed with agreement on the quality page, and counted in the throughput figures."""

import pytest
from django.test import Client
from django.utils import timezone

from accounts.case_decisions import decide_case
from accounts.cases import open_case
from accounts.models import Account, AccountAction, AccountCase
from accounts.signal_updates import update_account_signals
from audit.models import AuditEvent
from console.selectors import viewer_for
from console.team import team_report
from quality.agreement import quality_report
from queues.models import Decision, QueueEntry
from queues.selectors import queue_overview
from review import claims, qa
from review.decisions import record_decision, undo_decision
from review.exceptions import InvalidDecision, LeaseLost
from review.selectors import decisions_today
from tests.accounts.factories import event, store
from tests.factories import make_queue, make_user

pytestmark = pytest.mark.django_db


def admin():
    user = make_user(is_staff=True)
    user.is_superuser = True
    user.save()
    return user


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def new_case(queue, *, account: str = "acct-1", device: str = "dev-1") -> AccountCase:
    result = store(event("signup", account=account, device_id=device, ip="203.0.113.7"))
    update_account_signals(account_ids=result.account_ids)
    return open_case(
        account_id=Account.objects.get(author__external_id=account).pk, case_type="fake_account", severity=2,
        rule_id=None, queue_id=queue.pk, now=timezone.now(),
    )  # fmt: skip


def claim_case(client: Client, case: AccountCase) -> int:
    """Take the case in the account work view; returns the fencing token of the entry now held."""
    page = client.get(f"/account-cases/work/{case.queue.slug}/").content.decode()
    assert f'data-case="{case.pk}"' in page, page[:1500]
    case.refresh_from_db()
    return QueueEntry.objects.get(pk=case.entry_id).fencing_token


def test_a_case_decision_is_a_queue_decision_on_its_entry_and_is_counted_like_an_item():
    reviewer = make_user()
    queue = make_queue(members=[reviewer], name="Fake accounts")
    case = new_case(queue)
    client = signed_in(reviewer)
    token = claim_case(client, case)

    response = client.post(f"/account-cases/{case.pk}/decide", {"action": "ban", "token": token})

    assert response.status_code == 200
    decision = Decision.objects.get(entry_id=case.entry_id)
    assert decision.item_id is None and decision.reviewer == reviewer and decision.action == Decision.Action.REMOVE
    assert decision.claimed_at is not None and "ban" in decision.note
    assert QueueEntry.objects.get(pk=case.entry_id).status == QueueEntry.Status.DONE
    # Counted where items are counted: the team page, the queue's hourly chart, the reviewer's day.
    team = team_report(viewer_for(admin()))
    assert [(r.reviewer, r.decisions) for r in team.reviewers] == [(reviewer.username, 1)]
    assert {r.queue.pk: r.decisions for r in team.queues}[queue.pk] == 1
    assert sum(n for _, n in queue_overview(queue).decisions_per_hour) == 1
    assert decisions_today(reviewer) == 1


def test_no_action_is_a_no_violation_decision_and_a_ring_decision_copies_it_to_the_ring_cases():
    reviewer = make_user()
    queue = make_queue(members=[reviewer])
    case = new_case(queue, account="ring-a", device="farm")
    other = new_case(queue, account="ring-b", device="farm")
    token = claims.claim_next_item(queue=queue, user=reviewer).token

    decide_case(
        case=case, user=reviewer, kind=AccountAction.Kind.NONE, token=token, ring_account_ids=[other.account_id]
    )

    first = Decision.objects.get(entry_id=case.entry_id)
    copy = Decision.objects.get(entry_id=other.entry_id)
    assert first.action == copy.action == Decision.Action.NO_VIOLATION
    assert copy.applied_from == first and copy.item_id is None


def test_escalating_a_case_moves_it_to_the_other_queue_where_its_members_decide_it():
    reviewer, senior = make_user(), make_user()
    queue = make_queue(members=[reviewer])
    specialists = make_queue(members=[reviewer, senior], name="Takeover specialists")
    case = new_case(queue)
    client = signed_in(reviewer)
    token = claim_case(client, case)
    first_entry = case.entry_id

    response = client.post(
        f"/account-cases/{case.pk}/escalate",
        {"to_queue": specialists.pk, "note": "Looks like a takeover", "token": token},
    )

    assert response.status_code == 200
    case.refresh_from_db()
    assert case.queue == specialists and case.status == AccountCase.Status.OPEN
    assert QueueEntry.objects.get(pk=first_entry).status == QueueEntry.Status.MOVED
    moved = QueueEntry.objects.get(pk=case.entry_id)
    assert (moved.queue, moved.selection, moved.status, moved.item_id) == (
        specialists, QueueEntry.Selection.ESCALATED, QueueEntry.Status.PENDING, None
    )  # fmt: skip
    assert moved.note == "Looks like a takeover"
    escalation = Decision.objects.get(entry_id=first_entry)
    assert escalation.action == Decision.Action.ESCALATE and escalation.reviewer == reviewer
    # The specialist takes it from their queue and decides it there.
    other = signed_in(senior)
    token = claim_case(other, case)
    assert other.post(f"/account-cases/{case.pk}/decide", {"action": "lock", "token": token}).status_code == 200
    case.refresh_from_db()
    assert case.status == AccountCase.Status.CLOSED and case.decided_by == senior


def test_an_escalation_needs_a_note_and_a_queue_the_reviewer_belongs_to():
    reviewer = make_user()
    queue = make_queue(members=[reviewer])
    foreign = make_queue(members=[make_user()])
    case = new_case(queue)
    client = signed_in(reviewer)
    token = claim_case(client, case)

    no_note = client.post(f"/account-cases/{case.pk}/escalate", {"to_queue": make_queue(members=[reviewer]).pk,
                                                                  "note": " ", "token": token})  # fmt: skip
    not_member = client.post(
        f"/account-cases/{case.pk}/escalate", {"to_queue": foreign.pk, "note": "x", "token": token}
    )

    assert no_note.status_code == 400 and "needs a note" in no_note.content.decode()
    assert not_member.status_code == 400 and "queue you belong to" in not_member.content.decode()
    case.refresh_from_db()
    assert case.queue == queue and QueueEntry.objects.get(pk=case.entry_id).status == QueueEntry.Status.CLAIMED


def test_a_moderator_outside_the_queue_can_neither_see_nor_act_on_a_case():
    reviewer, outsider = make_user(), make_user()
    queue = make_queue(members=[reviewer])
    elsewhere = make_queue(members=[outsider])
    case = new_case(queue)
    token = claim_case(signed_in(reviewer), case)
    client = signed_in(outsider)

    assert client.get(f"/account-cases/{case.pk}/").status_code == 403
    assert client.get(f"/account-cases/work/{queue.slug}/").status_code == 403
    assert client.post(f"/account-cases/{case.pk}/decide", {"action": "ban", "token": token}).status_code == 403
    escalate = client.post(
        f"/account-cases/{case.pk}/escalate", {"to_queue": elsewhere.pk, "note": "x", "token": token}
    )
    assert escalate.status_code == 403
    case.refresh_from_db()
    assert case.status == AccountCase.Status.OPEN and case.queue == queue
    assert not Decision.objects.exists()


def test_a_member_who_does_not_hold_the_case_cannot_decide_or_escalate_it():
    holder, colleague = make_user(), make_user()
    queue = make_queue(members=[holder, colleague])
    target = make_queue(members=[colleague])
    case = new_case(queue)
    token = claim_case(signed_in(holder), case)
    client = signed_in(colleague)

    decide = client.post(f"/account-cases/{case.pk}/decide", {"action": "ban", "token": token})
    escalate = client.post(f"/account-cases/{case.pk}/escalate", {"to_queue": target.pk, "note": "x", "token": token})

    assert decide.status_code == 409 and escalate.status_code == 409
    assert not Decision.objects.exists()


def test_a_sampled_case_decision_goes_blind_to_another_reviewer_and_agreement_is_counted():
    first, second = make_user(), make_user()
    queue = make_queue(members=[first, second], second_review_rate=1.0)
    case = new_case(queue)
    token = claim_case(signed_in(first), case)
    signed_in(first).post(f"/account-cases/{case.pk}/decide", {"action": "suspend", "duration_hours": "24",
                                                                "token": token})  # fmt: skip

    review = QueueEntry.objects.get(selection=QueueEntry.Selection.SECOND_REVIEW)
    assert (review.queue, review.item_id, review.excluded_reviewer, review.second_review_of_id) == (
        queue, None, first, case.entry_id
    )  # fmt: skip
    # Never handed back to the first reviewer.
    assert claims.claim_next_item(queue=queue, user=first) is None
    client = signed_in(second)
    page = client.get(f"/account-cases/work/{queue.slug}/").content.decode()
    assert f'data-case="{case.pk}"' in page and "blind second review" in page
    assert "Suspend" not in page.split('aria-label="Timeline"')[1]  # the first call is not shown
    token = QueueEntry.objects.get(pk=review.pk).fencing_token

    response = client.post(f"/account-cases/{case.pk}/decide", {"action": "none", "token": token})

    assert response.status_code == 200
    again = Decision.objects.get(entry=review)
    assert again.reviewer == second and again.action == Decision.Action.NO_VIOLATION
    case.refresh_from_db()
    assert case.violation is True and case.account.state == Account.State.SUSPENDED  # the first action stands
    audited = AuditEvent.objects.get(action="decision.created", object_id=str(again.pk))
    assert audited.after["second_review"] is True and audited.after["account_action"] == "none"
    report = quality_report()
    assert report.pairs == 1 and report.overall.agreement == 0.0
    assert {row.reviewer for row in report.reviewers} == {first.username, second.username}


def test_the_first_reviewer_cannot_decide_the_second_review_of_their_own_case():
    first, second = make_user(), make_user()
    queue = make_queue(members=[first, second], second_review_rate=1.0)
    case = new_case(queue)
    decide_case(case=case, user=first, kind="warn", token=claims.claim_next_item(queue=queue, user=first).token)
    review = QueueEntry.objects.get(selection=QueueEntry.Selection.SECOND_REVIEW)

    response = signed_in(first).post(f"/account-cases/{case.pk}/decide", {"action": "none", "token": 1})

    assert response.status_code == 400  # their case is decided, and the second review is not theirs to hold
    assert not Decision.objects.filter(entry=review).exists()


def test_case_decisions_are_not_undone_or_senior_qad_as_items_are():
    reviewer = make_user()
    senior = admin()
    queue = make_queue(members=[reviewer])
    case = new_case(queue)
    decide_case(case=case, user=reviewer, kind="warn", token=claims.claim_next_item(queue=queue, user=reviewer).token)
    decision = Decision.objects.get(entry_id=case.entry_id)

    with pytest.raises(LeaseLost, match="reversed from the case"):
        undo_decision(decision_id=decision.pk, user=reviewer)
    with pytest.raises(qa.NotReviewable):
        qa.check_reviewable(decision=decision, user=senior)
    assert not qa.reviewable_decisions(senior).filter(pk=decision.pk).exists()


def test_the_content_views_and_api_refuse_a_case_entry_instead_of_orphaning_the_case():
    reviewer = make_user()
    queue = make_queue(members=[reviewer])
    other = make_queue(members=[reviewer])
    case = new_case(queue)
    claim = claims.claim_next_item(queue=queue, user=reviewer)
    client = signed_in(reviewer)
    base = f"/queues/{queue.slug}/entries/{claim.entry_id}"

    page = client.get(f"{base}/")
    decide = client.post(f"{base}/decide", {"token": claim.token, "action": "no_violation"})
    escalate = client.post(f"{base}/escalate", {"token": claim.token, "to_queue": other.pk, "note": "why"})
    with pytest.raises(InvalidDecision, match="decide it from the case view"):
        record_decision(entry_id=claim.entry_id, token=claim.token, user=reviewer, action="no_violation", categories=[])
    with pytest.raises(InvalidDecision, match="escalate it from the case view"):
        claims.escalate_item(entry_id=claim.entry_id, token=claim.token, user=reviewer, to_queue=other, note="why")

    assert page.status_code == decide.status_code == escalate.status_code == 409
    case.refresh_from_db()
    assert case.queue == queue and case.status == AccountCase.Status.OPEN
    assert QueueEntry.objects.get(pk=claim.entry_id).status == QueueEntry.Status.CLAIMED
    assert not Decision.objects.exists()
