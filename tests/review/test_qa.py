"""QA review by senior moderators: sampling, agree and overturn, label replacement, and who may do what."""

import io
import threading
from datetime import timedelta

import pytest
from django.contrib.auth.models import Group, Permission
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from audit.models import AuditEvent
from queues.models import Decision
from review import qa
from review.claims import claim_next_item, escalate_item
from review.decisions import record_decision
from review.models import Label, QAReview
from review.selectors import overturn_rates, pending_escalations
from tests.factories import enqueue, make_item, make_queue, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def seniors():
    group = Group.objects.create(name="Senior moderators")
    group.permissions.add(Permission.objects.get(content_type__app_label="queues", codename="review_decisions"))
    return group


@pytest.fixture
def sam(seniors, queue):
    user = make_user(username="sam")
    user.groups.add(seniors)
    queue.members.add(user)
    return user


def decide(queue, reviewer, *, action="remove", categories=("spam",), age=timedelta(minutes=5), **item_fields):
    """A real decision through the review service, made ``age`` ago (past the undo window by default)."""
    enqueue(make_item(**item_fields), queue)
    claim = claim_next_item(queue=queue, user=reviewer)
    decisions = record_decision(
        entry_id=claim.entry_id, token=claim.token, user=reviewer, action=action, categories=list(categories)
    )
    Decision.objects.filter(pk__in=[d.pk for d in decisions]).update(created_at=timezone.now() - age)
    return Decision.objects.get(pk=decisions[0].pk)


def decide_group(queue, reviewer, *, size: int, group: int) -> list[Decision]:
    """``size`` near-duplicates removed as spam in one group decision, past the undo window."""
    for index in range(size):
        enqueue(make_item(duplicate_group=group), queue, sort_key=index)
    claim = claim_next_item(queue=queue, user=reviewer)
    decisions = record_decision(
        entry_id=claim.entry_id, token=claim.token, user=reviewer, action="remove", categories=["spam"],
        apply_to_group=True,
    )  # fmt: skip
    Decision.objects.update(created_at=timezone.now() - timedelta(minutes=5))
    return decisions


def current_labels(item_id: int) -> dict[str, bool]:
    return dict(Label.objects.current().filter(item_id=item_id).values_list("category__slug", "value"))


# agree and overturn


def test_agreeing_records_the_verdict_keeps_the_labels_and_audits(queue, mira, sam):
    decision = decide(queue, mira)
    labels_before = list(Label.objects.values_list("pk", "value"))
    review = qa.record_qa_review(decision_id=decision.pk, user=sam, verdict="agree", note="fine call")
    assert (review.decision, review.reviewer, review.verdict, review.new_action) == (decision, sam, "agree", "")
    assert list(Label.objects.values_list("pk", "value")) == labels_before
    assert Label.objects.current().count() == len(labels_before)
    event = AuditEvent.objects.get(action="decision.qa_reviewed", object_id=str(decision.pk))
    assert event.actor == sam
    assert event.before == {"reviewer": "mira", "action": "remove", "categories": ["spam"]}
    assert event.after["verdict"] == "agree" and event.after["items_relabelled"] == 0


def test_an_overturn_replaces_the_labels_training_uses_and_keeps_the_old_ones_for_the_record(queue, mira, sam):
    decision = decide(queue, mira, action="remove", categories=["spam"])
    assert current_labels(decision.item_id)["spam"] is True
    review = qa.record_qa_review(
        decision_id=decision.pk, user=sam, verdict="overturn", action="remove", categories=["scam_fraud"], note="phish"
    )
    assert review.new_action == "remove" and [c.slug for c in review.categories.all()] == ["scam_fraud"]
    labels = current_labels(decision.item_id)
    assert labels["scam_fraud"] is True and labels["spam"] is False and sum(labels.values()) == 1
    new = Label.objects.current().filter(item_id=decision.item_id)
    assert {(lbl.reviewer, lbl.qa_review, lbl.decision, lbl.queue, lbl.selection) for lbl in new} == {
        (sam, review, decision, queue, "routed")
    }
    old = Label.objects.filter(item_id=decision.item_id, superseded_by=review)
    assert old.count() == 7 and set(old.values_list("reviewer__username", flat=True)) == {"mira"}
    assert Decision.objects.get(pk=decision.pk).action == "remove"  # the decision stays as it was taken
    event = AuditEvent.objects.get(action="decision.qa_reviewed")
    assert event.after["verdict"] == "overturn" and event.after["categories"] == ["scam_fraud"]
    assert event.after["items_relabelled"] == 1


def test_overturning_a_removal_to_no_violation_clears_every_category(queue, mira, sam):
    decision = decide(queue, mira, action="remove", categories=["spam", "harassment"])
    qa.record_qa_review(decision_id=decision.pk, user=sam, verdict="overturn", action="no_violation")
    assert not any(current_labels(decision.item_id).values())
    assert len(current_labels(decision.item_id)) == 7


def test_an_overturn_to_needs_context_withdraws_the_labels_without_writing_new_ones(queue, mira, sam):
    decision = decide(queue, mira, action="no_violation", categories=[])
    qa.record_qa_review(decision_id=decision.pk, user=sam, verdict="overturn", action="needs_context")
    assert current_labels(decision.item_id) == {}
    assert Label.objects.filter(item_id=decision.item_id).count() == 7


def test_an_overturn_relabels_the_near_duplicate_copies_of_the_decision(queue, mira, sam):
    decisions = decide_group(queue, mira, size=3, group=77)
    assert len(decisions) == 3
    with pytest.raises(qa.NotReviewable, match="copies another"):
        qa.record_qa_review(decision_id=decisions[1].pk, user=sam, verdict="agree")
    qa.record_qa_review(decision_id=decisions[0].pk, user=sam, verdict="overturn", action="no_violation")
    for decision in decisions:
        labels = current_labels(decision.item_id)
        assert len(labels) == 7 and not any(labels.values())


def test_an_overturn_is_a_webhook_event_for_each_item_it_relabels_and_an_agreement_is_none(queue, mira, sam):
    from webhooks.models import WebhookEvent, WebhookSubscription

    WebhookSubscription.objects.create(url="https://tickets.example/hooks", event_types=["decision.overturned"])
    agreed = decide(queue, mira)
    qa.record_qa_review(decision_id=agreed.pk, user=sam, verdict="agree")
    assert not WebhookEvent.objects.exists()
    decisions = decide_group(queue, mira, size=2, group=78)
    qa.record_qa_review(
        decision_id=decisions[0].pk, user=sam, verdict="overturn", action="remove", categories=["scam_fraud", "spam"]
    )
    sent = {event.payload["decision_id"]: event.payload for event in WebhookEvent.objects.all()}
    assert set(sent) == {decision.pk for decision in decisions}
    first = sent[decisions[0].pk]
    assert first["item_id"] == decisions[0].item_id and first["action"] == "remove"
    assert first["categories"] == ["scam_fraud", "spam"] and first["previous_categories"] == ["spam"]
    assert (first["previous_action"], first["previous_reviewer"], first["overturned_by"]) == ("remove", "mira", "sam")


@pytest.mark.parametrize(
    ("verdict", "action", "categories", "message"),
    [
        ("overturn", "remove", [], "needs at least one policy category"),
        ("overturn", "ban_forever", [], "Unknown action"),
        ("overturn", "escalate", [], "Unknown action"),
        ("overturn", "remove", ["nudity"], "Unknown categories: nudity"),
        ("overturn", "no_violation", ["spam"], "cannot name violated categories"),
        ("overturn", "remove", ["spam"], "That is the original decision"),
        ("agree", "remove", ["hate"], "takes no new action"),
        ("maybe", "", [], "Unknown verdict"),
    ],
)
def test_a_malformed_verdict_is_refused_and_writes_nothing(queue, mira, sam, verdict, action, categories, message):
    decision = decide(queue, mira, action="remove", categories=["spam"])
    labels_before = current_labels(decision.item_id)
    with pytest.raises(qa.InvalidVerdict, match=message):
        qa.record_qa_review(decision_id=decision.pk, user=sam, verdict=verdict, action=action, categories=categories)
    assert QAReview.objects.count() == 0
    assert current_labels(decision.item_id) == labels_before and Label.objects.count() == 7
    assert not AuditEvent.objects.filter(action="decision.qa_reviewed").exists()


# who may review what


def test_a_senior_cannot_review_their_own_decision(queue, sam):
    decision = decide(queue, sam)
    with pytest.raises(qa.NotReviewable, match="your own decision"):
        qa.record_qa_review(decision_id=decision.pk, user=sam, verdict="agree")
    assert qa.next_sample(user=sam) is None
    assert QAReview.objects.count() == 0


def test_a_decision_is_reviewed_once_and_the_second_senior_is_told_by_whom(queue, mira, sam, seniors):
    ana = make_user(username="ana")
    ana.groups.add(seniors)
    queue.members.add(ana)
    decision = decide(queue, mira)
    qa.record_qa_review(decision_id=decision.pk, user=sam, verdict="agree")
    with pytest.raises(qa.AlreadyReviewed, match="already reviewed by sam"):
        qa.record_qa_review(decision_id=decision.pk, user=ana, verdict="overturn", action="no_violation")
    with pytest.raises(qa.AlreadyReviewed):
        qa.record_qa_review(decision_id=decision.pk, user=sam, verdict="agree")
    assert QAReview.objects.get().verdict == "agree"
    assert Label.objects.current().count() == 7
    assert qa.next_sample(user=ana) is None


def test_a_lost_race_on_the_unique_constraint_is_reported_as_already_reviewed(queue, mira, sam, monkeypatch):
    # Both seniors passed the checks before either wrote: the database constraint decides.
    decision = decide(queue, mira)
    QAReview.objects.create(decision=decision, reviewer=make_user(username="ana"), verdict="agree")
    monkeypatch.setattr(qa, "check_reviewable", lambda **kwargs: None)
    with pytest.raises(qa.AlreadyReviewed, match="already reviewed by ana"):
        qa.record_qa_review(decision_id=decision.pk, user=sam, verdict="overturn", action="no_violation")
    assert Label.objects.current().count() == 7 and Label.objects.filter(superseded_by__isnull=False).count() == 0
    assert not AuditEvent.objects.filter(action="decision.qa_reviewed").exists()


def test_moderators_without_the_permission_are_refused(queue, mira):
    decision = decide(queue, mira)
    staff = make_user(is_staff=True)
    queue.members.add(staff)
    for user in (make_user(), staff):
        with pytest.raises(qa.NotSenior):
            qa.record_qa_review(decision_id=decision.pk, user=user, verdict="agree")
        with pytest.raises(qa.NotSenior):
            qa.next_sample(user=user)
    assert QAReview.objects.count() == 0


def test_superusers_are_seniors():
    assert qa.is_senior(make_user()) is False
    from django.contrib.auth import get_user_model

    root = get_user_model().objects.create_superuser(username="root", password="pw-for-tests-1")
    assert qa.is_senior(root) is True


def test_a_decision_still_inside_its_undo_window_is_not_reviewed(queue, mira, sam):
    decision = decide(queue, mira, age=timedelta(seconds=0))
    assert qa.next_sample(user=sam) is None
    with pytest.raises(qa.NotReviewable, match="can still undo"):
        qa.record_qa_review(decision_id=decision.pk, user=sam, verdict="agree")


# sampling


def test_the_sample_offers_only_others_human_final_unreviewed_recent_decisions(queue, mira, sam):
    eligible = decide(queue, mira)
    decide(queue, sam)  # own
    decide(queue, mira, age=timedelta(days=31))  # too old to be "recent"
    reviewed = decide(queue, mira)
    QAReview.objects.create(decision=reviewed, reviewer=make_user(), verdict="agree")
    automatic_item = make_item()
    Decision.objects.create(
        item=automatic_item, entry=enqueue(automatic_item, queue, status="done"), action="remove", automatic=True
    )
    escalations = make_queue(name="Escalations")
    enqueue(make_item(), queue)
    claim = claim_next_item(queue=queue, user=mira)
    escalate_item(entry_id=claim.entry_id, token=claim.token, user=mira, to_queue=escalations, note="unsure")
    Decision.objects.filter(action="escalate").update(created_at=timezone.now() - timedelta(minutes=5))
    Decision.objects.filter(automatic=True).update(created_at=timezone.now() - timedelta(minutes=5))
    assert {qa.next_sample(user=sam) for _ in range(30)} == {eligible}
    assert qa.next_sample(user=sam, exclude=[eligible.pk]) is None


def test_a_senior_samples_their_own_queues_and_staff_sample_every_queue(queue, mira, sam, seniors):
    other = make_queue(name="Images", members=[mira])
    elsewhere = decide(other, mira)
    mine = decide(queue, mira)
    assert {qa.next_sample(user=sam) for _ in range(30)} == {mine}
    with pytest.raises(qa.NotReviewable, match="not a member"):
        qa.record_qa_review(decision_id=elsewhere.pk, user=sam, verdict="agree")
    staff_senior = make_user(is_staff=True)
    staff_senior.groups.add(seniors)
    assert {qa.next_sample(user=staff_senior) for _ in range(60)} == {mine, elsewhere}


def test_samples_are_drawn_at_random_among_the_candidates(queue, mira, sam):
    decisions = {decide(queue, mira) for _ in range(5)}
    seen = {qa.next_sample(user=sam) for _ in range(200)}
    assert seen == decisions


# reads for seniors


def test_overturn_rates_count_each_reviewers_qa_verdicts_of_the_last_30_days(queue, mira, sam):
    leo = make_user(username="leo")
    queue.members.add(leo)
    first, second, third = (decide(queue, mira) for _ in range(3))
    qa.record_qa_review(decision_id=first.pk, user=sam, verdict="overturn", action="no_violation")
    qa.record_qa_review(decision_id=second.pk, user=sam, verdict="agree")
    old = qa.record_qa_review(decision_id=third.pk, user=sam, verdict="overturn", action="no_violation")
    QAReview.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=31))
    qa.record_qa_review(decision_id=decide(queue, leo).pk, user=sam, verdict="agree")
    rates = overturn_rates(days=30)
    assert [(r.reviewer, r.reviewed, r.overturned, round(r.percent)) for r in rates] == [
        ("mira", 2, 1, 50),
        ("leo", 1, 0, 0),
    ]


def test_pending_escalations_say_who_escalated_from_where_and_why(queue, mira, sam):
    escalations = make_queue(name="Escalations", members=[sam])
    hidden = make_queue(name="Legal")
    item = make_item(text="is this a threat?")
    enqueue(item, queue)
    claim = claim_next_item(queue=queue, user=mira)
    escalate_item(entry_id=claim.entry_id, token=claim.token, user=mira, to_queue=escalations, note="context needed")
    enqueue(make_item(), hidden, selection="escalated", note="not sam's queue")
    enqueue(make_item(), escalations)  # routed there, not escalated
    rows, total = pending_escalations(sam)
    assert total == 1
    [row] = rows
    assert (row.entry.item, row.entry.queue, row.entry.note) == (item, escalations, "context needed")
    assert (row.escalated_by, row.from_queue) == ("mira", "Scams & spam")


def test_the_demo_command_makes_a_senior_moderator(settings, tmp_path):
    settings.VAR_DIR = tmp_path
    call_command("create_demo_users", stdout=io.StringIO())
    from django.contrib.auth import get_user_model

    users = {u.username: u for u in get_user_model().objects.all()}
    assert qa.is_senior(users["senior"]) and qa.is_senior(users["admin"])
    assert not qa.is_senior(users["moderator"])
    assert users["senior"].groups.filter(name="Senior moderators").exists() and not users["senior"].is_staff
    credentials = (tmp_path / "demo_credentials.txt").read_text()
    assert "demo senior moderator: username senior  password " in credentials
    call_command("create_demo_users", stdout=io.StringIO())  # safe to re-run
    assert Group.objects.get(name="Senior moderators").user_set.count() == 1


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_concurrent_seniors_on_postgresql_review_a_decision_once():
    if connection.vendor != "postgresql":
        pytest.skip("needs concurrent connections: PostgreSQL")
    group = Group.objects.create(name="QA race seniors")
    group.permissions.add(Permission.objects.get(content_type__app_label="queues", codename="review_decisions"))
    reviewer = make_user()
    seniors = [make_user() for _ in range(6)]
    queue = make_queue(members=[reviewer, *seniors])
    for senior in seniors:
        senior.groups.add(group)
    decision = decide(queue, reviewer)
    barrier = threading.Barrier(len(seniors))
    outcomes: list[str] = []
    lock = threading.Lock()

    def review(user) -> None:  # noqa: ANN001
        from django.db import connection as thread_connection

        try:
            barrier.wait()
            qa.record_qa_review(decision_id=decision.pk, user=user, verdict="overturn", action="no_violation")
            outcome = "ok"
        except qa.AlreadyReviewed:
            outcome = "already"
        except Exception as exc:  # noqa: BLE001
            outcome = repr(exc)
        finally:
            thread_connection.close()
        with lock:
            outcomes.append(outcome)

    threads = [threading.Thread(target=review, args=(senior,)) for senior in seniors]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["already"] * 5 + ["ok"]
    assert QAReview.objects.count() == 1
    assert Label.objects.current().filter(item_id=decision.item_id).count() == 7
    assert AuditEvent.objects.filter(action="decision.qa_reviewed").count() == 1
