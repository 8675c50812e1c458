"""A/B experiments: stable arms, arm B routed by the candidate's scores, and the arms compared."""

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from audit.models import AuditEvent
from classifiers.models import Experiment, ModelVersion, PolicyCategory, Score
from classifiers.services import register_model_version, set_model_version_status
from intake.models import Item
from learning import experiments as learning_experiments
from learning.experiments import Outcome, compare_arms
from queues.enqueue import reroute_pending_items, route_items
from queues.experiment_arms import arm_of
from queues.models import Decision, QueueEntry, RoutingRule
from tests.factories import make_item, make_queue, make_user

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


# ---- pure ---------------------------------------------------------------------------------------------


def test_an_items_arm_is_stable_and_close_to_the_share_over_ten_thousand_items():
    arms = [arm_of(7, item_id, 0.2) for item_id in range(1, 10_001)]
    assert arms == [arm_of(7, item_id, 0.2) for item_id in range(1, 10_001)]
    assert abs(arms.count("b") / 10_000 - 0.2) < 0.015  # three standard errors are 0.012
    assert set(arms) == {"a", "b"}


def test_arms_of_different_experiments_are_independent():
    first = [arm_of(1, i, 0.5) == "b" for i in range(10_000)]
    second = [arm_of(2, i, 0.5) == "b" for i in range(10_000)]
    both = sum(a and b for a, b in zip(first, second, strict=True)) / 10_000
    assert abs(both - 0.25) < 0.02


def _outcome(item_id, arm, *, risk=0.5, minutes=None, removed=None, late=False, queued=True, automatic=False):
    enqueued = NOW - timedelta(hours=5)
    return Outcome(
        item_id=item_id, arm=arm, queued=queued, risk=risk, enqueued_at=enqueued if queued else None,
        deadline_at=enqueued + timedelta(hours=1) if queued else None,
        decided_at=enqueued + timedelta(minutes=minutes) if minutes is not None else None,
        removed=removed, automatic=automatic,
    )  # fmt: skip


def test_precision_at_the_top_counts_removals_among_the_riskiest_decided_items_of_each_arm():
    a = [_outcome(i, "a", risk=1 - i / 100, minutes=10, removed=i < 2) for i in range(10)]  # top 5: 2 removals
    b = [_outcome(100 + i, "b", risk=1 - i / 100, minutes=10, removed=i < 4) for i in range(10)]  # top 5: 4
    undecided = [_outcome(200, "b", risk=0.99)]  # the riskiest, but not decided: not in the top
    comparison = compare_arms(a + b + undecided, now=NOW, top_k=5, resamples=50)
    assert comparison.a.top_k == comparison.b.top_k == 5
    assert comparison.a.precision_at_top.value == pytest.approx(0.4)
    assert comparison.b.precision_at_top.value == pytest.approx(0.8)
    assert comparison.differences["precision_at_top"].value == pytest.approx(0.4)
    # By default each arm is cut at the same share of its decided items: 20% of 10 is 2.
    default = compare_arms(a + b, now=NOW, resamples=50)
    assert default.a.top_k == 2 and default.a.precision_at_top.value == 1.0


def test_time_to_decision_removal_rate_and_breaches_per_arm_with_the_difference():
    a = [_outcome(i, "a", minutes=30, removed=i % 2 == 0) for i in range(20)]  # 10/20 removed, in time
    b = [_outcome(100 + i, "b", minutes=90, removed=True) for i in range(20)]  # all removed, all late
    auto = [_outcome(300, "b", queued=False, removed=True, automatic=True)]
    waiting = [_outcome(400, "a")]  # undecided and past its deadline: a breach
    comparison = compare_arms(a + b + auto + waiting, now=NOW, resamples=200)
    assert comparison.a.minutes_to_decision.value == 30 and comparison.b.minutes_to_decision.value == 90
    assert comparison.differences["minutes_to_decision"].value == 60
    assert comparison.a.removal_rate.value == pytest.approx(0.5) and comparison.a.removal_rate.n == 20
    assert comparison.b.removal_rate.value == 1.0 and comparison.b.removal_rate.n == 21  # the automatic one counts
    assert comparison.a.deadline_breaches.value == pytest.approx(1 / 21)
    assert comparison.b.deadline_breaches.value == 1.0
    assert comparison.differences["deadline_breaches"].excludes_zero
    assert comparison.b.items == 21 and comparison.b.queued == 20 and comparison.b.human_decided == 20


def test_an_item_still_inside_its_deadline_is_not_judged_for_breaches():
    fresh = Outcome(item_id=1, arm="a", queued=True, enqueued_at=NOW, deadline_at=NOW + timedelta(hours=1))
    assert compare_arms([fresh], now=NOW, resamples=10).a.deadline_breaches.n == 0


# ---- with the database --------------------------------------------------------------------------------


def _score(item: Item, version: ModelVersion, **probabilities: float) -> None:
    Score.objects.bulk_create(
        [
            Score(item_id=item.pk, model_version=version, category=category,
                  probability=probabilities.get(category.slug, 0.0), from_prior=False)
            for category in PolicyCategory.objects.all()
        ]
    )  # fmt: skip


@pytest.fixture
def setup(db):
    active = ModelVersion.objects.get(kind="text", status="active")
    candidate = register_model_version(name="text-candidate", kind="text", architecture="all-MiniLM-L6-v2")
    scams = make_queue(name="Scams")
    RoutingRule.objects.create(
        name="scams", position=1, queue=scams, conditions=[{"field": "score.scam_fraud", "op": ">=", "value": 0.7}]
    )
    return active, candidate, scams


@pytest.mark.django_db
def test_starting_an_experiment_puts_the_candidate_in_shadow_and_writes_audit_events(setup):
    active, candidate, _ = setup
    admin = make_user(is_staff=True)
    experiment = learning_experiments.start_experiment(candidate=candidate, share=0.3, actor=admin)
    candidate.refresh_from_db()
    assert candidate.status == "shadow" and experiment.control == active and experiment.is_running
    assert {"model_version.shadow", "experiment.started"} <= set(AuditEvent.objects.values_list("action", flat=True))
    with pytest.raises(learning_experiments.ExperimentError, match="already running") as error:
        learning_experiments.start_experiment(candidate=candidate, share=0.5)
    assert error.value.field == "candidate"
    with pytest.raises(learning_experiments.ExperimentError, match="between 0 and 1") as error:
        learning_experiments.start_experiment(candidate=candidate, share=1.5)
    assert error.value.field == "share"
    assert Experiment.objects.count() == 1
    learning_experiments.stop_experiment(experiment=experiment, actor=admin)
    assert not Experiment.objects.get().is_running
    assert AuditEvent.objects.filter(action="experiment.stopped", actor=admin).exists()


@pytest.mark.django_db
def test_items_in_arm_b_are_routed_by_the_candidates_scores_and_carry_their_arm(setup):
    active, candidate, scams = setup
    experiment = learning_experiments.start_experiment(candidate=candidate, share=0.5)
    items = [make_item(state=Item.State.SCORED) for _ in range(40)]
    for item in items:
        _score(item, active, scam_fraud=0.1)  # the active model sees nothing
        _score(item, candidate, scam_fraud=0.9)  # the candidate sees a scam
    unscored = make_item(state=Item.State.SCORED)  # the candidate never scored it: out of the experiment
    _score(unscored, active, scam_fraud=0.95)
    route_items(item_ids=[item.pk for item in items] + [unscored.pk])

    entries = {entry.item_id: entry for entry in QueueEntry.objects.all()}
    arms = {item.pk: arm_of(experiment.pk, item.pk, 0.5) for item in items}
    assert set(arms.values()) == {"a", "b"}
    for item in items:
        entry = entries[item.pk]
        assert (entry.arm, entry.experiment_id) == (arms[item.pk], experiment.pk)
        if arms[item.pk] == "b":
            assert entry.queue == scams and entry.risk == pytest.approx(0.9 * 4 / 5)
        else:
            assert entry.queue != scams and entry.risk < 0.1
    assert (entries[unscored.pk].arm, entries[unscored.pk].experiment_id) == ("", None)
    assert entries[unscored.pk].queue == scams  # routed by the active model as usual

    # Re-routing keeps each arm's model for items still pending.
    assert reroute_pending_items() == 0
    assert {e.item_id: e.queue_id for e in QueueEntry.objects.filter(status="pending")} == {
        pk: e.queue_id for pk, e in entries.items()
    }


@pytest.mark.django_db
def test_a_stopped_experiment_routes_nothing_more(setup):
    active, candidate, scams = setup
    experiment = learning_experiments.start_experiment(candidate=candidate, share=0.99)
    learning_experiments.stop_experiment(experiment=experiment)
    item = make_item(state=Item.State.SCORED)
    _score(item, active, scam_fraud=0.1)
    _score(item, candidate, scam_fraud=0.9)
    route_items(item_ids=[item.pk])
    entry = QueueEntry.objects.get(item=item)
    assert entry.arm == "" and entry.queue != scams


@pytest.mark.django_db
def test_promoting_the_candidate_stops_its_experiment(setup, django_capture_on_commit_callbacks):
    _, candidate, _ = setup
    experiment = learning_experiments.start_experiment(candidate=candidate, share=0.2)
    with django_capture_on_commit_callbacks(execute=True):
        set_model_version_status(version=candidate, status="active")
    experiment.refresh_from_db()
    assert not experiment.is_running and experiment.stop_reason == "the candidate was promoted"


@pytest.mark.django_db
def test_outcomes_from_the_database_feed_the_comparison(setup):
    active, candidate, scams = setup
    experiment = learning_experiments.start_experiment(candidate=candidate, share=0.5)
    items = [make_item(state=Item.State.SCORED) for _ in range(30)]
    for item in items:
        _score(item, active, scam_fraud=0.1)
        _score(item, candidate, scam_fraud=0.9)
    route_items(item_ids=[item.pk for item in items])
    reviewer = make_user()
    for entry in QueueEntry.objects.all():
        removed = entry.arm == "b"
        Decision.objects.create(item=entry.item, entry=entry, reviewer=reviewer,
                                action="remove" if removed else "no_violation")  # fmt: skip
        QueueEntry.objects.filter(pk=entry.pk).update(status="done", closed_at=timezone.now())
    outcomes = learning_experiments.experiment_outcomes(experiment)
    assert len(outcomes) == 30 and all(o.queued and o.decided_at for o in outcomes)
    comparison = compare_arms(outcomes, now=timezone.now(), resamples=50)
    assert comparison.a.removal_rate.value == 0.0 and comparison.b.removal_rate.value == 1.0
    assert comparison.a.items + comparison.b.items == 30
    assert comparison.differences["removal_rate"].excludes_zero


@pytest.fixture
def admin_client(db):
    from django.test import Client

    admin = make_user(is_staff=True)
    admin.is_superuser = True
    admin.save()
    client = Client()
    client.force_login(admin)
    return client, admin


@pytest.mark.django_db
def test_the_admin_starts_an_experiment_through_the_audited_service_and_names_bad_fields(setup, admin_client):
    _, candidate, _ = setup
    client, admin = admin_client
    bad = client.post("/admin/classifiers/experiment/add/", {"candidate": candidate.pk, "share": "1.5"})
    assert bad.status_code == 200 and "share" in bad.context["adminform"].form.errors
    assert not Experiment.objects.exists()
    response = client.post("/admin/classifiers/experiment/add/", {"candidate": candidate.pk, "share": "0.25"})
    assert response.status_code == 302
    experiment = Experiment.objects.get()
    assert (experiment.share, experiment.created_by, experiment.kind) == (0.25, admin, "text")
    assert AuditEvent.objects.filter(action="experiment.started", actor=admin).exists()
    again = client.post("/admin/classifiers/experiment/add/", {"candidate": candidate.pk, "share": "0.5"})
    assert "candidate" in again.context["adminform"].form.errors and Experiment.objects.count() == 1
    client.post("/admin/classifiers/experiment/", {"action": "stop", "_selected_action": [experiment.pk]})
    assert not Experiment.objects.get().is_running


@pytest.mark.django_db
def test_the_candidates_monitoring_page_compares_the_arms(setup, admin_client):
    active, candidate, _ = setup
    client, _ = admin_client
    experiment = learning_experiments.start_experiment(candidate=candidate, share=0.5)
    items = [make_item(state=Item.State.SCORED) for _ in range(12)]
    for item in items:
        _score(item, active, scam_fraud=0.1)
        _score(item, candidate, scam_fraud=0.9)
    route_items(item_ids=[item.pk for item in items])
    for entry in QueueEntry.objects.all():
        Decision.objects.create(item=entry.item, entry=entry, action="remove" if entry.arm == "b" else "no_violation")
    html = client.get(f"/models/{candidate.pk}/?k=3").content.decode()
    assert f'id="experiment-{experiment.pk}"' in html and "Precision at the top of the queue" in html
    assert "the 3 riskiest decided items per arm" in html
