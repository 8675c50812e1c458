"""A/B experiments between account risk versions (split by case) and their health on the model pages."""

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from accounts import risk_experiments, risk_health, risk_versions
from accounts.cases import case_risk, open_case
from accounts.models import AccountCase, RiskExperiment, RiskModelVersion
from audit.models import AuditEvent
from queues.experiment_arms import arm_of
from tests.accounts.test_risk_versions import account, decide_takeovers
from tests.factories import make_queue, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    risk_versions._loaded.clear()
    return tmp_path


@pytest.fixture
def versions() -> tuple[RiskModelVersion, RiskModelVersion]:
    """An active version that learned "many failed logins = takeover", and a shadow that learned the opposite."""
    decide_takeovers()
    active = risk_versions.retrain_risk_models()
    decided = AccountCase.objects.filter(violation__isnull=False)
    flipped = list(decided.values_list("pk", "violation"))
    for pk, violation in flipped:
        AccountCase.objects.filter(pk=pk).update(violation=not violation)
    backwards = risk_versions.retrain_risk_models(seed=1)
    for pk, violation in flipped:
        AccountCase.objects.filter(pk=pk).update(violation=violation)
    return active, backwards


def superuser():
    user = make_user(is_staff=True)
    user.is_superuser = True
    user.save()
    return user


def open_takeover_cases(queue, n: int) -> list[AccountCase]:
    """``n`` takeover cases, every other one on an account with a burst of failed logins (a true takeover)."""
    now = timezone.now()
    return [
        open_case(
            account_id=account(failed_logins=45 if i % 2 == 0 else 1).pk,
            case_type="takeover",
            severity=2,
            rule_id=None,
            queue_id=queue.pk,
            now=now,
        )  # fmt: skip
        for i in range(n)
    ]


def decide_truthfully(cases: list[AccountCase]) -> None:
    now = timezone.now()
    for case in cases:
        case.refresh_from_db()
        case.status, case.closed_at = AccountCase.Status.CLOSED, now
        case.violation = case.account.signal_snapshots.first().values["failed_logins_1h"] > 10
        case.save(update_fields=["status", "closed_at", "violation"])


def test_an_experiment_needs_a_shadow_candidate_an_active_control_and_runs_alone(versions):
    active, candidate = versions

    with pytest.raises(risk_experiments.RiskExperimentError, match="must be a shadow version"):
        risk_experiments.start_experiment(candidate=active, share=0.5)
    with pytest.raises(risk_experiments.RiskExperimentError, match="between 0 and 1"):
        risk_experiments.start_experiment(candidate=candidate, share=1.0)
    experiment = risk_experiments.start_experiment(candidate=candidate, share=0.5, actor=make_user())
    with pytest.raises(risk_experiments.RiskExperimentError, match="already running"):
        risk_experiments.start_experiment(candidate=candidate, share=0.3)

    assert experiment.control == active and experiment.running
    assert AuditEvent.objects.filter(action="risk_experiment.started", object_id=str(experiment.pk)).exists()


def test_new_cases_are_split_by_case_the_arm_is_recorded_and_arm_b_is_ordered_by_the_candidate(versions):
    active, candidate = versions
    experiment = risk_experiments.start_experiment(candidate=candidate, share=0.5)
    queue = make_queue(members=[make_user()])

    cases = open_takeover_cases(queue, 30)

    arms = {case.risk_arm for case in cases}
    assert arms == {"a", "b"}
    for case in cases:
        case.refresh_from_db()
        assert case.risk_experiment == experiment and case.risk_arm == arm_of(experiment.pk, case.pk, 0.5)
        assert (case.model_version, case.shadow_version) == (active, candidate)
        ordered_by = case.shadow_risk if case.risk_arm == "b" else case.model_risk
        assert case.entry.risk == pytest.approx(case_risk(2, ordered_by))
    # A case opened with no experiment running takes no part.
    risk_experiments.stop_experiment(experiment)
    later = open_takeover_cases(queue, 1)[0]
    assert later.risk_experiment is None and later.risk_arm == ""


def test_the_comparison_puts_both_versions_against_the_reviewers_verdicts(versions):
    active, candidate = versions
    experiment = risk_experiments.start_experiment(candidate=candidate, share=0.5)
    cases = open_takeover_cases(make_queue(members=[make_user()]), 30)
    decide_truthfully(cases)

    report = risk_experiments.compare(experiment, resamples=200)

    assert report.arms.a.items + report.arms.b.items == 30
    assert report.arms.a.human_decided + report.arms.b.human_decided == 30
    control, challenger = report.versions
    assert (control.version, challenger.version) == (active, candidate)
    assert control.decided == challenger.decided == 30
    assert control.precision == 1.0 and control.recall == 1.0 and control.average_precision == 1.0
    assert challenger.recall == 0.0 and challenger.average_precision < 0.6
    # The arm ordered by the backwards candidate puts non-violations on top of its queue.
    assert report.arms.a.precision_at_top.value == 1.0 and report.arms.b.precision_at_top.value == 0.0


def test_promoting_a_version_stops_the_running_experiment(versions):
    _, candidate = versions
    experiment = risk_experiments.start_experiment(candidate=candidate, share=0.5)

    risk_versions.promote(candidate)

    experiment.refresh_from_db()
    assert not experiment.running and experiment.stop_reason == "the candidate was promoted"
    assert not RiskExperiment.objects.filter(running=True).exists()


def test_a_versions_health_is_its_precision_and_recall_against_decisions_and_its_drift(settings, versions):
    active, _ = versions
    settings.MONITOR_MIN_SUPPORT = 5
    RiskModelVersion.objects.filter(pk=active.pk).update(created_at=timezone.now() - timedelta(days=20))
    active.refresh_from_db()
    queue = make_queue(members=[make_user()])
    early = open_takeover_cases(queue, 10)  # its first days: half true takeovers
    AccountCase.objects.filter(pk__in=[c.pk for c in early]).update(opened_at=timezone.now() - timedelta(days=19))
    decide_truthfully(early)
    now_cases = []
    for _ in range(10):  # the last week: only quiet accounts, a shift of its risk distribution
        now_cases.append(
            open_case(account_id=account(failed_logins=1).pk, case_type="takeover", severity=2, rule_id=None,
                      queue_id=queue.pk, now=timezone.now())
        )  # fmt: skip

    health = risk_health.version_health(active)

    [row] = health.case_types
    assert row.decided == 10 and row.flagged == 5 and row.precision == 1.0 and row.recall == 1.0
    assert (row.reference_n, row.live_n) == (10, 10) and row.psi > settings.MONITOR_DRIFT_THRESHOLD
    assert health.state == "alert" and any("drifted" in reason for reason in health.reasons)


def test_risk_versions_health_and_experiments_show_on_the_model_pages_for_those_allowed(versions):
    active, candidate = versions
    experiment = risk_experiments.start_experiment(candidate=candidate, share=0.5)
    decide_truthfully(open_takeover_cases(make_queue(members=[make_user()]), 6))
    risk_health.refresh_all()
    admin, moderator = Client(), Client()
    admin.force_login(superuser())
    moderator.force_login(make_user())

    home = admin.get("/").content.decode()
    models = admin.get("/models/").content.decode()
    page = admin.get(f"/models/account-risk/{candidate.pk}/").content.decode()

    assert 'id="account-model-health"' in home and active.name in home and candidate.name in home
    assert 'id="content-models"' in models and 'id="account-risk"' in models
    assert f"/models/account-risk/{candidate.pk}/#risk-experiment-{experiment.pk}" in models  # the A/B candidate
    assert "Per case type: held out at training, live against reviewers" in page and "computed" in page
    assert "Precision at the top of the queue" in page and f'id="risk-experiment-{experiment.pk}"' in page
    assert 'id="account-model-health"' not in moderator.get("/").content.decode()
