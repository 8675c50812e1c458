"""Model monitoring with the database: the report, the alert state, the page and the API."""

import time
from datetime import timedelta

import pytest
from django.contrib.auth.models import Group, Permission
from django.test import Client
from django.utils import timezone

from classifiers.models import ModelVersion, PolicyCategory, Score
from learning import monitoring
from learning.models import ModelHealth
from queues.models import Decision, RoutingRule
from review.models import Label
from tests.factories import make_item, make_queue, make_token, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def small_support(settings):
    settings.MONITOR_MIN_SUPPORT = 5
    settings.MONITOR_PRECISION_FLOOR = 0.7
    settings.MONITOR_DRIFT_THRESHOLD = 0.2


@pytest.fixture
def version():
    return ModelVersion.objects.get(kind="text", status="active")


def labelled(version, *, spam: float, truth: bool, item=None):
    """An item the version scored ``spam`` on, and a reviewer's decision saying whether it is spam."""
    item = item or make_item()
    categories = {c.slug: c for c in PolicyCategory.objects.all()}
    if not Score.objects.filter(item_id=item.pk, model_version=version).exists():
        Score.objects.create(
            item_id=item.pk, model_version=version, category=categories["spam"], probability=spam, from_prior=False
        )
    decision = Decision.objects.create(item=item, action="remove" if truth else "no_violation")
    Label.objects.create(item=item, category=categories["spam"], value=truth, decision=decision)
    return item


def test_routing_thresholds_come_from_the_active_rules_with_a_default_for_the_rest(settings):
    settings.MONITOR_DEFAULT_THRESHOLD = 0.5
    queue = make_queue()
    RoutingRule.objects.create(name="a", queue=queue, conditions=[{"field": "score.spam", "op": ">=", "value": 0.8}])
    RoutingRule.objects.create(name="b", queue=queue, conditions=[{"field": "score.spam", "op": ">", "value": 0.6}])
    RoutingRule.objects.create(
        name="off", queue=queue, is_active=False, conditions=[{"field": "score.spam", "op": ">=", "value": 0.1}]
    )
    assert monitoring.routing_thresholds(["spam", "hate"]) == {"spam": 0.6, "hate": 0.5}


def test_the_alert_fires_when_live_precision_falls_under_the_floor_and_clears_when_it_recovers(version):
    items = [labelled(version, spam=0.9, truth=i < 3) for i in range(10)]  # precision 3/10
    for _ in range(10):
        labelled(version, spam=0.1, truth=False)
    health = monitoring.refresh_model_health(version=version)
    assert health.state == ModelHealth.State.ALERT
    assert health.precision == pytest.approx(0.3) and health.precision_support == 10
    assert "under the floor 0.70" in " ".join(health.reasons)
    fired_at = health.state_since

    # Seniors overturn the calls: the latest current label per item wins, so precision recovers.
    for item in items[3:]:
        labelled(version, spam=0.9, truth=True, item=item)
    health = monitoring.refresh_model_health(version=version)
    assert health.state == ModelHealth.State.OK and health.precision == pytest.approx(1.0)
    assert health.state_since > fired_at
    assert ModelHealth.objects.count() == 1


def test_too_few_labels_is_not_an_alert(version):
    labelled(version, spam=0.9, truth=False)
    health = monitoring.refresh_model_health(version=version)
    assert health.state == ModelHealth.State.INSUFFICIENT and health.precision == 0.0


def test_drift_against_the_stored_training_histogram_raises_an_alert(version):
    version.metrics = {"score_histograms": {"spam": [90, 10, 0, 0, 0, 0, 0, 0, 0, 0]}}
    version.training_snapshot = "snapshot-3"
    version.save()
    for _ in range(40):
        labelled(version, spam=0.85, truth=True)  # live scores all sit in the 0.8 bin; precision is fine
    health = monitoring.refresh_model_health(version=version)
    assert health.state == ModelHealth.State.ALERT
    assert health.drift_category == "spam" and health.drift_psi > 0.2
    assert "training snapshot snapshot-3" in health.drift_reference
    assert any("drifted" in reason for reason in health.reasons)


def test_the_report_has_series_calibration_and_agreement_per_category(version):
    for i in range(8):
        labelled(version, spam=0.9 if i < 4 else 0.2, truth=i < 4)
    report = monitoring.model_report(version)
    [spam] = [row for row in report["categories"] if row["slug"] == "spam"]
    assert (spam["precision"], spam["recall"], spam["accuracy"], spam["kappa"], spam["pr_auc"]) == (1, 1, 1, 1, 1)
    assert len(report["series"]) == 28 and report["series"][-1]["labelled"] == 8
    assert [b["count"] for b in report["calibration"]][2] == 4 and report["calibration"][9]["observed_rate"] == 1.0


def test_the_periodic_task_checks_active_and_shadow_versions(version):
    from learning.tasks import check_model_health

    for i in range(10):
        labelled(version, spam=0.9, truth=i < 2)
    assert check_model_health() == 1
    assert set(ModelHealth.objects.values_list("model_version__status", flat=True)) == {"active"}


# ---- the page ---------------------------------------------------------------------------------------


@pytest.fixture
def staff_client():
    client = Client()
    client.force_login(make_user(is_staff=True))
    return client


def test_recompute_now_runs_on_a_worker_and_the_page_reloads_when_it_is_done(staff_client, version):
    from learning.tasks import refresh_model_health

    for i in range(10):
        labelled(version, spam=0.9, truth=i < 2)
    response = staff_client.post(f"/models/{version.pk}/recompute")
    assert response.status_code == 302
    page, since = response["Location"].split("?since=")
    assert page == f"/models/{version.pk}/"
    assert not ModelHealth.objects.exists()  # nothing computed in the web request

    waiting = staff_client.get(response["Location"]).content.decode()
    assert "Recomputing on a worker" in waiting and 'hx-trigger="every 2s"' in waiting
    assert f'hx-get="/models/{version.pk}/status?since={since}"' in waiting
    assert "Recompute now" not in waiting  # no second request while one is running
    status = f"/models/{version.pk}/status?since={since}"
    assert staff_client.get(status, headers={"HX-Request": "true"}).status_code == 204

    assert refresh_model_health.apply(args=[version.pk]).get() == "alert"  # what the worker runs
    done = staff_client.get(status, headers={"HX-Request": "true"})
    assert done.status_code == 200 and done["HX-Refresh"] == "true"
    html = staff_client.get(response["Location"]).content.decode()
    assert "Recomputing on a worker" not in html and "Recompute now" in html
    assert "Alert" in html and "under the floor" in html
    assert html.count("<svg") >= 4 and "<polyline" in html and "<circle" in html
    assert "style=" not in html and "<script>" not in html


def test_the_status_poll_needs_a_time_and_the_task_survives_a_deleted_version(staff_client, version):
    from learning.tasks import refresh_model_health

    assert staff_client.get(f"/models/{version.pk}/status").status_code == 400
    assert staff_client.get(f"/models/{version.pk}/status?since=soon").status_code == 400
    assert staff_client.get(f"/models/{version.pk}/status?since=1e300").status_code == 400
    assert "Recomputing" not in staff_client.get(f"/models/{version.pk}/?since=soon").content.decode()
    assert refresh_model_health.apply(args=[999_999]).get() == "gone"

    # No worker took it within a minute: the poll says so and gives the button back, which ends the polling.
    overdue = staff_client.get(f"/models/{version.pk}/status?since={time.time() - 120}", headers={"HX-Request": "true"})
    html = overdue.content.decode()
    assert overdue.status_code == 200 and "is a worker running?" in html and "Recompute now" in html
    assert "hx-trigger" not in html


def test_the_home_page_shows_staff_the_alert(staff_client, version):
    for i in range(10):
        labelled(version, spam=0.9, truth=i < 2)
    monitoring.refresh_model_health(version=version)
    html = staff_client.get("/").content.decode()
    assert 'id="model-health"' in html and f'href="/models/{version.pk}/"' in html and "under the floor" in html


def test_senior_moderators_may_see_the_page(version):
    group = Group.objects.create(name="Seniors")
    group.permissions.add(Permission.objects.get(content_type__app_label="queues", codename="review_decisions"))
    senior = make_user()
    senior.groups.add(group)
    client = Client()
    client.force_login(senior)
    assert client.get(f"/models/{version.pk}/").status_code == 200


def test_moderators_are_refused_and_anonymous_users_sent_to_sign_in(version):
    client = Client()
    client.force_login(make_user())
    assert client.get(f"/models/{version.pk}/").status_code == 403
    assert client.post(f"/models/{version.pk}/recompute").status_code == 403
    assert client.get(f"/models/{version.pk}/status?since=0").status_code == 403
    assert 'id="model-health"' not in client.get("/").content.decode()
    anonymous = Client().get(f"/models/{version.pk}/")
    assert anonymous.status_code == 302 and anonymous["Location"].startswith("/accounts/login/")
    assert not ModelHealth.objects.exists()


def test_wrong_methods_and_unknown_versions(staff_client, version):
    assert staff_client.post(f"/models/{version.pk}/").status_code == 405
    assert staff_client.get(f"/models/{version.pk}/recompute").status_code == 405
    assert staff_client.post(f"/models/{version.pk}/status?since=0").status_code == 405
    assert staff_client.get("/models/999999/").status_code == 404


# ---- the API ----------------------------------------------------------------------------------------


def _api(scopes):
    from rest_framework.test import APIClient

    client = APIClient()
    _, secret = make_token(scopes=scopes)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return client


def test_the_health_endpoint_reports_the_alert_with_a_read_scope(version):
    client = _api(["decisions:read"])
    before = client.get(f"/api/v1/model-versions/{version.pk}/health")
    assert before.status_code == 200 and before.json()["state"] == "not_checked"
    for i in range(10):
        labelled(version, spam=0.9, truth=i < 2)
    monitoring.refresh_model_health(version=version)
    body = client.get(f"/api/v1/model-versions/{version.pk}/health").json()
    assert body["state"] == "alert" and body["alert"] is True
    assert body["precision"] == pytest.approx(0.2) and body["precision_floor"] == 0.7
    assert body["model_version_id"] == version.pk and body["reasons"]


def test_the_health_endpoint_needs_a_read_scope_and_a_token(version):
    refused = _api(["items:write"]).get(f"/api/v1/model-versions/{version.pk}/health")
    assert refused.status_code == 403 and "scope" in refused.json()["message"]
    from rest_framework.test import APIClient

    assert APIClient().get(f"/api/v1/model-versions/{version.pk}/health").status_code == 401
    assert _api(["items:read"]).get("/api/v1/model-versions/999999/health").status_code == 404
    assert _api(["items:read"]).post(f"/api/v1/model-versions/{version.pk}/health").status_code in (403, 405)


def test_a_shadow_version_is_compared_with_the_active_one_on_the_same_labelled_items(version, staff_client):
    shadow = ModelVersion.objects.create(name="text-shadow", kind="text", architecture="x", status="shadow")
    for i in range(10):
        item = labelled(version, spam=0.9, truth=i < 3)  # active: flags all ten, 3 right
        spam = PolicyCategory.objects.get(slug="spam")
        Score.objects.create(
            item_id=item.pk, model_version=shadow, category=spam, probability=0.9 if i < 3 else 0.1, from_prior=False
        )  # shadow: flags only the 3 violations
    labelled(version, spam=0.9, truth=False)  # the shadow never scored it: left out of the comparison
    report = monitoring.model_report(shadow)
    compared = report["compared_with_active"]
    assert compared["name"] == version.name
    assert compared["version"]["labelled"] == compared["baseline"]["labelled"] == 10
    assert compared["version"]["precision"] == 1.0 and compared["baseline"]["precision"] == pytest.approx(0.3)
    assert monitoring.model_report(version)["compared_with_active"] is None
    monitoring.refresh_model_health(version=shadow)
    html = staff_client.get(f"/models/{shadow.pk}/").content.decode()
    assert 'id="shadow"' in html and f"{version.name} (active)" in html


def test_without_a_training_histogram_drift_is_measured_against_the_versions_first_week(version):
    from intake.models import Item

    now = timezone.now()
    ModelVersion.objects.filter(pk=version.pk).update(created_at=now - timedelta(days=30))
    spam = PolicyCategory.objects.get(slug="spam")

    def scored(days_ago: float, probability: float) -> None:
        item = make_item()
        Item.objects.filter(pk=item.pk).update(created_at=now - timedelta(days=days_ago))
        score = Score.objects.create(
            item_id=item.pk, model_version=version, category=spam, probability=probability, from_prior=False
        )
        Score.objects.filter(pk=score.pk).update(created_at=now - timedelta(days=days_ago))

    for i in range(40):
        scored(25 - i / 10, 0.05)  # the first week: low scores
    for i in range(40):
        scored(3 - i / 20, 0.75)  # this week: high scores
    health = monitoring.refresh_model_health(version=version)
    assert health.drift_category == "spam" and health.drift_psi > 1
    assert health.drift_reference.startswith("its first 7 days of scores")
    assert health.state == ModelHealth.State.ALERT
    drift = health.details["drift"]["categories"]["spam"]
    assert (drift["reference_n"], drift["live_n"]) == (40, 40)


def test_a_young_version_is_not_judged_for_drift_against_itself(version):
    for _ in range(40):
        labelled(version, spam=0.95, truth=True)
    health = monitoring.refresh_model_health(version=version)
    assert health.drift_psi is None and health.state == ModelHealth.State.OK
