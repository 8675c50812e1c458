"""Account risk model versions: retraining from case decisions, shadow and promotion, scoring cases, the page."""

import hashlib
import importlib
import itertools
import math
import random
from datetime import timedelta
from pathlib import Path

import pytest
from celery import current_app
from django.apps import apps
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.test import Client
from django.utils import timezone

from accounts import risk_model, risk_versions
from accounts import tasks as account_tasks
from accounts.cases import case_risk, open_case, rescore_open_cases
from accounts.models import Account, AccountCase, RiskModelVersion, SignalReading, SignalSnapshot
from accounts.signal_updates import reading_numbers
from audit.models import AuditEvent
from intake.models import Author
from review import claims
from tests.factories import make_queue, make_user

pytestmark = pytest.mark.django_db

_numbers = itertools.count(1)


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    risk_versions._loaded.clear()
    return tmp_path


def account(*, failed_logins: float) -> Account:
    """An account whose signals once reached ``failed_logins`` failed logins in an hour (a snapshot and its
    reading, as the signal worker writes them)."""
    author = Author.objects.create(source="tests", external_id=f"risk-{next(_numbers)}")
    acc = Account.objects.create(author=author)
    taken_at, values = timezone.now() - timedelta(hours=1), {"failed_logins_1h": failed_logins}
    SignalSnapshot.objects.create(account=acc, taken_at=taken_at, values=values)
    SignalReading.objects.create(account=acc, taken_at=taken_at, **reading_numbers(values))
    return acc


def decide_takeovers(n: int = 120, *, seed: int = 5) -> None:
    """``n`` decided takeover cases: a third are takeovers, with many failed logins; the rest have few."""
    rng = random.Random(seed)
    now = timezone.now()
    for i in range(n):
        violation = i % 3 == 0
        acc = account(failed_logins=rng.uniform(25, 60) if violation else rng.uniform(0, 3))
        AccountCase.objects.create(
            account=acc, case_type="takeover", status="closed", opened_at=now, closed_at=now, violation=violation
        )


def test_too_few_decisions_register_nothing_and_say_why():
    decide_takeovers(6)

    with pytest.raises(risk_versions.RetrainingRefused, match="takeover: needs at least 3 decisions"):
        risk_versions.retrain_risk_models()
    assert not RiskModelVersion.objects.exists()


def test_the_first_version_is_active_with_its_artifact_and_held_out_metrics_later_ones_shadow(media):
    decide_takeovers()

    first = risk_versions.retrain_risk_models(actor_label="tests")
    second = risk_versions.retrain_risk_models(actor_label="tests", seed=1)

    assert first.status == RiskModelVersion.Status.ACTIVE and first.activated_at is not None
    assert second.status == RiskModelVersion.Status.SHADOW and second.activated_at is None
    assert first.case_types == ["takeover"]
    stored = Path(media / first.artifact.name).read_bytes()
    assert hashlib.sha256(stored).hexdigest() == first.artifact_sha256
    metrics = first.metrics["takeover"]
    assert metrics["train_decisions"] + metrics["held_out_decisions"] == 120
    assert metrics["violations"] == 40
    assert metrics["held_out_average_precision"] > 0.9
    assert "fraud" in first.metrics["skipped"]  # no fraud decisions at all
    assert AuditEvent.objects.filter(action="account_risk_model.registered").count() == 2


def test_an_admin_promotes_a_shadow_version_and_the_active_one_retires():
    decide_takeovers()
    first = risk_versions.retrain_risk_models()
    second = risk_versions.retrain_risk_models(seed=1)
    admin = make_user(is_staff=True)

    risk_versions.promote(second, actor=admin)

    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.status, second.status) == (RiskModelVersion.Status.RETIRED, RiskModelVersion.Status.ACTIVE)
    assert AuditEvent.objects.filter(action="account_risk_model.promoted", actor=admin).count() == 1
    assert AuditEvent.objects.filter(action="account_risk_model.retired", object_id=str(first.pk)).exists()


def test_the_active_model_orders_cases_of_one_severity_and_a_shadow_risk_is_recorded_beside_it():
    decide_takeovers()
    active = risk_versions.retrain_risk_models()
    shadow = risk_versions.retrain_risk_models(seed=1)
    reviewer = make_user()
    queue = make_queue(members=[reviewer])
    now = timezone.now()
    quiet, stuffed = account(failed_logins=1), account(failed_logins=45)

    quiet_case = open_case(
        account_id=quiet.pk, case_type="takeover", severity=2, rule_id=None, queue_id=queue.pk, now=now
    )
    stuffed_case = open_case(
        account_id=stuffed.pk, case_type="takeover", severity=2, rule_id=None, queue_id=queue.pk, now=now
    )

    assert stuffed_case.model_version == active and quiet_case.model_version == active
    assert stuffed_case.model_risk > 0.5 > quiet_case.model_risk
    assert stuffed_case.shadow_version == shadow and stuffed_case.shadow_risk > 0.5
    assert stuffed_case.entry.risk == pytest.approx(case_risk(2, stuffed_case.model_risk))
    first = claims.claim_next_item(queue=queue, user=reviewer)
    assert first.entry_id == stuffed_case.entry_id  # same severity, same time: the model's risk decides


def test_a_case_opened_before_any_model_is_rescored_when_it_is_refreshed():
    queue = make_queue()
    stuffed = account(failed_logins=45)
    case = open_case(
        account_id=stuffed.pk, case_type="takeover", severity=2, rule_id=None, queue_id=queue.pk, now=timezone.now()
    )
    assert case.model_risk is None and case.entry.risk == pytest.approx(0.5)
    decide_takeovers()
    risk_versions.retrain_risk_models()

    again = open_case(
        account_id=stuffed.pk, case_type="takeover", severity=2, rule_id=None, queue_id=queue.pk, now=timezone.now()
    )

    assert again.pk == case.pk and again.model_risk > 0.5
    case.refresh_from_db()
    case.entry.refresh_from_db()
    assert case.model_risk == again.model_risk
    assert case.entry.risk == pytest.approx(case_risk(2, again.model_risk)) and case.entry.risk > 0.5


def test_an_altered_artifact_is_not_loaded_and_its_cases_are_ordered_by_severity_alone(media):
    decide_takeovers()
    version = risk_versions.retrain_risk_models()
    (media / version.artifact.name).write_bytes(b"not the model that was registered")
    queue = make_queue()

    case = open_case(
        account_id=account(failed_logins=45).pk, case_type="takeover", severity=3, rule_id=None, queue_id=queue.pk,
        now=timezone.now(),
    )  # fmt: skip

    assert case.model_risk is None and case.model_version is None
    assert case.entry.risk == pytest.approx(0.75)


def test_the_retraining_command_and_the_task_by_name_register_versions():
    with pytest.raises(CommandError, match="No case type has enough decisions"):
        call_command("retrain_account_risk")
    decide_takeovers()

    call_command("retrain_account_risk")
    assert account_tasks.retrain_risk_model.name == "accounts.tasks.retrain_risk_model"  # importing registers it
    version_id = current_app.signature("accounts.tasks.retrain_risk_model", kwargs={"actor_label": "tests"}).apply()

    assert list(RiskModelVersion.objects.order_by("pk").values_list("status", "requested_by")) == [
        ("active", "manage.py retrain_account_risk"),
        ("shadow", "tests"),
    ]
    assert version_id.get() == RiskModelVersion.objects.get(status="shadow").pk


def test_the_risk_model_page_lists_versions_with_metrics_for_those_allowed_only():
    decide_takeovers()
    version = risk_versions.retrain_risk_models()
    moderator, admin = Client(), Client()
    moderator.force_login(make_user())
    admin.force_login(_superuser())

    assert moderator.get(f"/models/account-risk/{version.pk}/").status_code == 403
    assert moderator.get("/models/").status_code == 403
    assert admin.get("/account-risk-models/")["Location"] == "/models/#account-risk"  # its former page
    assert version.name in admin.get("/models/").content.decode()
    page = admin.get(f"/models/account-risk/{version.pk}/").content.decode()
    assert version.name in page and "Active" in page
    assert f"{version.metrics['takeover']['held_out_average_precision']:.3f}" in page
    assert "Payment fraud" in page and "not trained" in page


def test_the_case_view_shows_the_active_and_the_shadow_risk():
    decide_takeovers()
    risk_versions.retrain_risk_models()
    shadow = risk_versions.retrain_risk_models(seed=1)
    reviewer = make_user()
    queue = make_queue(members=[reviewer])
    case = open_case(
        account_id=account(failed_logins=45).pk, case_type="takeover", severity=2, rule_id=None, queue_id=queue.pk,
        now=timezone.now(),
    )  # fmt: skip
    client = Client()
    client.force_login(reviewer)

    page = client.get(f"/account-cases/{case.pk}/").content.decode()

    assert "Model risk" in page and f"{case.model_risk:.2f}" in page
    assert shadow.name in page and "not used to order" in page


def _superuser():
    return get_user_model().objects.create_superuser(username=f"root{next(_numbers)}", password="pw-for-tests-1")


def test_after_a_promotion_open_cases_are_rescored_with_the_new_active_version():
    decide_takeovers()
    first = risk_versions.retrain_risk_models()
    queue = make_queue()
    case = open_case(
        account_id=account(failed_logins=45).pk, case_type="takeover", severity=1, rule_id=None, queue_id=queue.pk,
        now=timezone.now(),
    )  # fmt: skip
    assert case.model_version == first and case.shadow_version is None
    second = risk_versions.retrain_risk_models(seed=1)
    risk_versions.promote(second)

    assert rescore_open_cases() == 1

    case.refresh_from_db()
    case.entry.refresh_from_db()
    assert case.model_version == second and case.shadow_version is None  # the first is retired, scored no more
    assert case.entry.risk == pytest.approx(case_risk(1, case.model_risk))
    assert rescore_open_cases() == 0  # nothing changed since


def test_peak_values_are_the_highest_reading_of_each_signal_in_one_query(django_assert_num_queries):
    acc = account(failed_logins=3)
    now = timezone.now()
    for minutes, values in ((30, {"failed_logins_1h": 9, "distinct_ips_24h": 2}), (10, {"failed_logins_1h": 4})):
        SignalReading.objects.create(account=acc, taken_at=now - timedelta(minutes=minutes), **reading_numbers(values))
    for _ in range(20):  # a longer history costs no more round trips
        SignalReading.objects.create(account=acc, taken_at=now - timedelta(days=2), **reading_numbers({}))
    never = account(failed_logins=0)

    with django_assert_num_queries(1):
        peaks = risk_model.peak_values([acc.pk, never.pk])
    before = risk_model.peak_values([acc.pk], until=now - timedelta(minutes=20))

    named = dict(zip(risk_model.FEATURES, peaks[acc.pk], strict=True))
    assert named["failed_logins_1h"] == 9 and named["distinct_ips_24h"] == 2
    assert math.isnan(named["account_age_days"])  # never reported
    assert dict(zip(risk_model.FEATURES, before[acc.pk], strict=True))["failed_logins_1h"] == 9
    assert dict(zip(risk_model.FEATURES, peaks[never.pk], strict=True))["failed_logins_1h"] == 0


def test_a_worker_keeps_only_the_last_few_versions_it_scored_with_loaded():
    decide_takeovers()
    versions = [risk_versions.retrain_risk_models(seed=seed) for seed in range(risk_versions.LOADED_VERSIONS + 1)]
    acc = account(failed_logins=40)

    for version in versions:
        assert risk_versions._risk(version, "takeover", {"failed_logins_1h": 40}) is not None

    assert len(risk_versions._loaded) == risk_versions.LOADED_VERSIONS
    assert (versions[0].pk, versions[0].artifact_sha256) not in risk_versions._loaded  # least recently used
    assert risk_versions.case_risk_of(acc.pk, "takeover").model_risk > 0.5  # the evicted one loads again


def test_snapshots_from_before_readings_get_their_reading_once():
    migration = importlib.import_module("accounts.migrations.0006_backfill_signal_readings")
    acc = account(failed_logins=2)  # already has its reading
    old = SignalSnapshot.objects.create(
        account=acc, taken_at=timezone.now() - timedelta(days=3), values={"failed_logins_1h": 30, "flag": "x"}
    )

    migration.backfill(apps, None)
    migration.backfill(apps, None)

    assert SignalReading.objects.filter(account=acc).count() == 2
    copied = SignalReading.objects.get(account=acc, taken_at=old.taken_at)
    assert copied.failed_logins_1h == 30 and copied.distinct_ips_24h is None
