"""The audit log is append-only."""

import pytest
from django.db import DatabaseError, connection, transaction

from audit.models import AuditEvent
from audit.services import record_event
from classifiers.models import PolicyCategory

pytestmark = pytest.mark.django_db


def test_an_event_records_who_did_what_to_which_object():
    category = PolicyCategory.objects.get(slug="spam")
    event = record_event(action="category.edited", target=category, before={"severity": 2}, after={"severity": 3})
    assert (event.actor_label, event.object_type, event.object_id) == (
        "system",
        "classifiers.policycategory",
        str(category.pk),
    )
    assert event.before == {"severity": 2} and event.after == {"severity": 3}


@pytest.mark.parametrize("statement", ["UPDATE audit_auditevent SET action = 'x'", "DELETE FROM audit_auditevent"])
def test_postgresql_refuses_to_update_or_delete_audit_events(statement):
    if connection.vendor != "postgresql":
        pytest.skip("the trigger exists on PostgreSQL")
    record_event(action="category.edited", target=PolicyCategory.objects.get(slug="spam"))
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(statement)
    assert AuditEvent.objects.filter(action="category.edited").count() == 1
