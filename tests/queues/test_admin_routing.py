"""Admins configure queues and rules in the Django admin: validation, preview, audit."""

import pytest

from audit.models import AuditEvent
from classifiers.models import ModelVersion, PolicyCategory, Score
from intake.models import Item
from queues.models import Queue, RoutingRule
from tests.factories import make_item, make_queue, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client):
    admin = make_user(is_staff=True)
    admin.is_superuser = True
    admin.save()
    client.force_login(admin)
    return client


def scored_item(sexual: float):
    item = make_item(state=Item.State.SCORED)
    version = ModelVersion.objects.get(kind="text", status="active")
    for category in PolicyCategory.objects.all():
        Score.objects.create(
            item_id=item.pk, model_version=version, category=category,
            probability=sexual if category.slug == "sexual" else 0.0, from_prior=False,
        )  # fmt: skip
    return item


def rule_form(queue, conditions: str, **extra) -> dict:
    return {"name": "Sexual", "position": 1, "is_active": "on", "conditions": conditions, "action": "route",
            "queue": queue.pk, "sample_rate": 0, **extra}  # fmt: skip


def test_preview_shows_where_recent_items_would_go_without_saving(admin_client):
    priority = make_queue(name="Priority")
    for probability in (0.9, 0.85, 0.2, 0.1, 0.05):
        scored_item(probability)
    response = admin_client.post(
        "/admin/queues/routingrule/add/",
        rule_form(priority, '[{"field": "score.sexual", "op": ">=", "value": 0.8}]', _preview="1"),
    )
    assert response.status_code == 200
    rows = {row.destination: row.count for row in response.context["routing_preview"]}
    assert rows == {"Priority": 2, "General review": 3}
    assert RoutingRule.objects.count() == 0


def test_invalid_conditions_are_refused_with_the_reason(admin_client):
    priority = make_queue(name="Priority")
    response = admin_client.post(
        "/admin/queues/routingrule/add/", rule_form(priority, '[{"field": "score.nudity", "op": ">=", "value": 0.8}]')
    )
    assert response.status_code == 200
    assert "unknown category &#x27;nudity&#x27;" in response.content.decode()
    assert RoutingRule.objects.count() == 0


def test_saving_a_rule_and_editing_a_queue_write_audit_events_with_before_and_after(admin_client):
    priority = make_queue(name="Priority")
    admin_client.post(
        "/admin/queues/routingrule/add/", rule_form(priority, '[{"field": "risk", "op": ">=", "value": 0.5}]')
    )
    rule = RoutingRule.objects.get()
    created = AuditEvent.objects.get(action="routingrule.created")
    assert created.after["conditions"] == [{"field": "risk", "op": ">=", "value": 0.5}]
    response = admin_client.post(
        f"/admin/queues/queue/{priority.pk}/change/",
        {
            "name": "Priority",
            "slug": priority.slug,
            "description": "",
            "deadline": "00:30:00",
            "ordering": "risk",
            "second_review_rate": "0",
            "gold_rate": "0",
            "explore_rate": "0.1",
        },  # fmt: skip
    )
    assert response.status_code == 302
    changed = AuditEvent.objects.get(action="queue.changed")
    assert changed.before["deadline"] != changed.after["deadline"]
    assert rule.queue == Queue.objects.get(name="Priority")
