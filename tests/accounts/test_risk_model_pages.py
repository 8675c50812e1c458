"""Account risk versions on the model pages: stored health written by a periodic task, read by the pages;
the model list with both kinds of model; promotion and rollback from the version page; who may do what."""

from datetime import timedelta

import pytest
from django.conf import settings
from django.contrib.auth.models import Permission
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts import risk_health, risk_versions
from accounts import tasks as account_tasks
from accounts.models import RiskModelHealth, RiskModelVersion
from audit.models import AuditEvent
from review.qa import PERMISSION as SENIOR_PERMISSION
from tests.accounts.test_risk_experiments import decide_truthfully, open_takeover_cases, superuser
from tests.accounts.test_risk_versions import decide_takeovers
from tests.factories import make_queue, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    settings.MONITOR_MIN_SUPPORT = 3
    risk_versions._loaded.clear()
    return tmp_path


@pytest.fixture
def versions() -> tuple[RiskModelVersion, RiskModelVersion]:
    """An active version and a shadow one, trained on the same decisions with different seeds."""
    decide_takeovers()
    return risk_versions.retrain_risk_models(), risk_versions.retrain_risk_models(seed=1)


def user_with(*codenames: str, is_staff: bool = False):
    user = make_user(is_staff=is_staff)
    for codename in codenames:
        app_label, name = codename.split(".")
        user.user_permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=name))
    return user


def risk_card(page: str) -> str:
    """The home page's account risk model card."""
    start = page.index('id="account-model-health"')
    return page[start : page.index("</section>", start)]


def client_of(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


# ---- stored health, written periodically ---------------------------------------------------------------------


def test_the_periodic_check_stores_each_active_and_shadow_versions_health_and_when(versions):
    active, shadow = versions
    retired = risk_versions.retrain_risk_models(seed=2)
    RiskModelVersion.objects.filter(pk=retired.pk).update(status=RiskModelVersion.Status.RETIRED)
    decide_truthfully(open_takeover_cases(make_queue(), 8))
    assert settings.CELERY_BEAT_SCHEDULE["check-risk-model-health"]["task"] == "accounts.tasks.check_risk_model_health"

    account_tasks.check_risk_model_health()

    assert set(RiskModelHealth.objects.values_list("version_id", flat=True)) == {active.pk, shadow.pk}
    stored = RiskModelHealth.objects.get(version=active)
    figures = risk_health.version_health(active)
    assert stored.precision == figures.precision and stored.recall == figures.recall and stored.decided == 8
    assert stored.state == figures.state == "ok" and stored.computed_at > timezone.now() - timedelta(minutes=1)
    [row] = stored.details["case_types"]
    assert row["case_type"] == "takeover" and row["decided"] == 8
    assert len(stored.details["series"]) == settings.MONITOR_HISTORY_DAYS
    assert stored.details["series"][-1]["decided"] == 8  # decided today: the last day of the series


def test_the_state_since_moves_only_when_the_state_changes(versions):
    active, _ = versions
    first = risk_health.refresh_health(active, now=timezone.now() - timedelta(hours=2))
    assert first.state == "insufficient"
    again = risk_health.refresh_health(active, now=timezone.now() - timedelta(hours=1))
    assert again.state_since == first.state_since and again.computed_at > first.computed_at
    decide_truthfully(open_takeover_cases(make_queue(), 8))
    judged = risk_health.refresh_health(active)
    assert judged.state == "ok" and judged.state_since == judged.computed_at


def test_the_home_page_reads_stored_health_only_whatever_the_number_of_scored_cases(versions):
    active, shadow = versions
    admin = client_of(superuser())
    queue = make_queue()

    def home_queries() -> list[str]:
        with CaptureQueriesContext(connection) as queries:
            page = admin.get("/")
        assert page.status_code == 200 and active.name in page.content.decode()
        return [q["sql"] for q in queries.captured_queries]

    decide_truthfully(open_takeover_cases(queue, 4))
    assert "not checked yet" in risk_card(admin.get("/").content.decode())
    risk_health.refresh_all()
    few = home_queries()
    decide_truthfully(open_takeover_cases(queue, 40))
    open_takeover_cases(queue, 20)  # and open ones
    risk_health.refresh_all()
    many = home_queries()

    assert len(many) == len(few)
    # The figures come from the stored rows: no query of the page reads the cases' risks.
    assert not [sql for sql in many if "model_risk" in sql or "shadow_risk" in sql]
    assert "not checked yet" not in risk_card(admin.get("/").content.decode())


def test_the_pages_show_the_stored_figures_until_the_next_check(versions):
    active, _ = versions
    risk_health.refresh_all()
    decide_truthfully(open_takeover_cases(make_queue(), 8))  # decided after the check
    page = client_of(superuser()).get(f"/models/account-risk/{active.pk}/").content.decode()
    assert "Not enough labels yet" in page and "(0 decided cases it scored)" in page
    risk_health.refresh_all()
    page = client_of(superuser()).get(f"/models/account-risk/{active.pk}/").content.decode()
    assert "(8 decided cases it scored)" in page and "Precision, recall and average precision per day" in page


# ---- the model list: both kinds of model, each for those who may see it ----------------------------------------


def test_the_model_list_shows_each_kind_to_those_who_may_see_it(versions):
    active, shadow = versions
    senior = user_with(SENIOR_PERMISSION)  # may monitor content models, not account risk
    risk_viewer = user_with("accounts.view_riskmodelversion")
    anonymous, moderator = Client(), client_of(make_user())

    assert anonymous.get("/models/").status_code == 302  # to the login page
    assert moderator.get("/models/").status_code == 403
    seen_by_senior = client_of(senior).get("/models/").content.decode()
    assert 'id="content-models"' in seen_by_senior and 'id="account-risk"' not in seen_by_senior
    assert active.name not in seen_by_senior
    seen_by_viewer = client_of(risk_viewer).get("/models/").content.decode()
    assert 'id="content-models"' not in seen_by_viewer and 'id="account-risk"' in seen_by_viewer
    seen_by_admin = client_of(superuser()).get("/models/").content.decode()
    assert 'id="content-models"' in seen_by_admin and f"/models/account-risk/{active.pk}/" in seen_by_admin
    roles = seen_by_admin[seen_by_admin.index('id="case-type-roles"') :]
    takeover = roles[roles.index("Account takeover") : roles.index("</tr>", roles.index("Account takeover"))]
    assert active.name in takeover and shadow.name in takeover  # active and shadow for the case type


def test_the_version_page_is_for_those_who_may_view_risk_models(versions):
    active, _ = versions
    url = f"/models/account-risk/{active.pk}/"
    assert Client().get(url).status_code == 302
    assert client_of(make_user()).get(url).status_code == 403
    assert client_of(user_with(SENIOR_PERMISSION)).get(url).status_code == 403
    page = client_of(user_with("accounts.view_riskmodelversion")).get(url)
    assert page.status_code == 200 and "Promote" not in page.content.decode()
    assert client_of(superuser()).get("/models/account-risk/999999/").status_code == 404


# ---- promotion, rollback, recompute: who may ----------------------------------------------------------------


def test_only_staff_who_may_change_risk_models_promote_and_roll_back(versions, sent_tasks):
    active, shadow = versions
    promote, roll_back = f"/models/account-risk/{shadow.pk}/promote", f"/models/account-risk/{active.pk}/roll-back"
    viewer = client_of(user_with("accounts.view_riskmodelversion"))
    staff_viewer = client_of(user_with("accounts.view_riskmodelversion", is_staff=True))
    not_staff = client_of(user_with("accounts.view_riskmodelversion", "accounts.change_riskmodelversion"))
    for client in (client_of(make_user()), viewer, staff_viewer, not_staff):
        assert client.post(promote).status_code == 403
        assert client.post(roll_back).status_code == 403
    shadow.refresh_from_db()
    active.refresh_from_db()
    assert (active.status, shadow.status) == ("active", "shadow")
    assert not AuditEvent.objects.filter(action__startswith="account_risk_model.promoted").exists()
    assert sent_tasks == {}


def test_an_admin_promotes_from_the_version_page_and_rolls_back(
    versions, sent_tasks, django_capture_on_commit_callbacks
):
    active, shadow = versions
    admin_user = user_with("accounts.view_riskmodelversion", "accounts.change_riskmodelversion", is_staff=True)
    admin = client_of(admin_user)
    assert "Promote to active" in admin.get(f"/models/account-risk/{shadow.pk}/").content.decode()
    assert admin.get(f"/models/account-risk/{shadow.pk}/promote").status_code == 405

    with django_capture_on_commit_callbacks(execute=True):
        answer = admin.post(f"/models/account-risk/{shadow.pk}/promote")

    assert answer.status_code == 302 and answer["Location"] == f"/models/account-risk/{shadow.pk}/"
    active.refresh_from_db()
    shadow.refresh_from_db()
    assert (active.status, shadow.status) == ("retired", "active")
    assert sent_tasks["accounts.tasks.refresh_risk_model_health"] == [shadow.pk]
    assert sent_tasks["accounts.tasks.rescore_open_cases"] == [None]
    assert AuditEvent.objects.filter(action="account_risk_model.promoted", actor=admin_user).exists()
    # A retired version comes back by rollback only.
    assert admin.post(f"/models/account-risk/{active.pk}/promote").status_code == 409
    # Rolling back from a version that is not the active one (a stale page) changes nothing.
    assert admin.post(f"/models/account-risk/{active.pk}/roll-back").status_code == 409

    page = admin.get(f"/models/account-risk/{shadow.pk}/").content.decode()
    assert "Roll back" in page
    with django_capture_on_commit_callbacks(execute=True):
        answer = admin.post(f"/models/account-risk/{shadow.pk}/roll-back")

    assert answer["Location"] == f"/models/account-risk/{active.pk}/"
    active.refresh_from_db()
    shadow.refresh_from_db()
    assert (active.status, shadow.status) == ("active", "retired")
    assert AuditEvent.objects.filter(action="account_risk_model.rolled_back", actor=admin_user).exists()
    # Rolling back again returns to the version rolled back from, as the content models' rollback does.
    assert risk_versions.roll_back().pk == shadow.pk


def test_rolling_back_with_no_earlier_active_version_is_refused(versions):
    active, _ = versions
    admin = client_of(superuser())
    answer = admin.post(f"/models/account-risk/{active.pk}/roll-back")
    assert answer.status_code == 409 and "No earlier active" in answer.content.decode()
    active.refresh_from_db()
    assert active.status == "active"


def test_recompute_asks_a_worker_for_those_who_may_see_the_page(
    versions, sent_tasks, django_capture_on_commit_callbacks
):
    active, _ = versions
    url = f"/models/account-risk/{active.pk}/recompute"
    with django_capture_on_commit_callbacks(execute=True):
        assert client_of(make_user()).post(url).status_code == 403
    assert sent_tasks == {}
    with django_capture_on_commit_callbacks(execute=True):
        answer = client_of(user_with("accounts.view_riskmodelversion")).post(url)
    assert answer.status_code == 302 and sent_tasks["accounts.tasks.refresh_risk_model_health"] == [active.pk]
    assert account_tasks.refresh_risk_model_health(active.pk) == "insufficient"
    assert account_tasks.refresh_risk_model_health(999999) == "gone"


def test_the_admin_registry_links_the_version_page_and_rolls_back_with_the_change_permission(versions):
    active, shadow = versions
    risk_versions.promote(shadow)
    viewer = client_of(user_with("accounts.view_riskmodelversion", is_staff=True))
    changelist = "/admin/accounts/riskmodelversion/"
    viewer.post(changelist, {"action": "roll_back_to_previous", "_selected_action": [shadow.pk]})
    shadow.refresh_from_db()
    assert shadow.status == "active"  # a viewer cannot

    admin = client_of(superuser())
    page = admin.get(f"{changelist}{active.pk}/change/").content.decode()
    assert f'href="/models/account-risk/{active.pk}/"' in page
    admin.post(changelist, {"action": "roll_back_to_previous", "_selected_action": [shadow.pk]})
    active.refresh_from_db()
    assert active.status == "active"


def test_with_the_broker_down_a_promotion_and_a_recompute_still_answer_and_stay_done(
    versions, django_capture_on_commit_callbacks, caplog
):
    """The promotion has committed before its follow-up messages are sent: a broker that is down (really
    unreachable) is logged, not an error page that would tell the admin it did not happen."""
    from tests.intake.test_broker_down import broker_unreachable

    active, shadow = versions
    admin = client_of(user_with("accounts.view_riskmodelversion", "accounts.change_riskmodelversion", is_staff=True))
    with broker_unreachable():
        with django_capture_on_commit_callbacks(execute=True):
            promoted = admin.post(f"/models/account-risk/{shadow.pk}/promote")
        with django_capture_on_commit_callbacks(execute=True):
            recomputed = admin.post(f"/models/account-risk/{shadow.pk}/recompute")
    assert promoted.status_code == 302 and recomputed.status_code == 302
    shadow.refresh_from_db()
    assert shadow.status == "active"
    assert AuditEvent.objects.filter(action="account_risk_model.promoted").exists()
    assert "in on_commit()" in caplog.text  # Django's log of a robust callback that raised
