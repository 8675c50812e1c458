"""Exporting the audit log (admin view and management command), and where events say they came from."""

import csv
import io
import json

import pytest
from django.contrib.auth.models import Permission
from django.core.management import call_command
from django.test import RequestFactory

from audit.middleware import client_ip
from audit.models import AuditEvent
from audit.services import record_event
from classifiers.models import PolicyCategory
from tests.factories import make_user

pytestmark = pytest.mark.django_db

EXPORT = "/admin/audit/auditevent/export"


@pytest.fixture
def events():
    spam = PolicyCategory.objects.get(slug="spam")
    record_event(action="category.changed", target=spam, before={"severity": 2}, after={"severity": 3},
                 ip_address="198.51.100.7")  # fmt: skip
    record_event(action="decision.created", target=spam, actor_label='=HYPERLINK("http://evil")')
    return spam


@pytest.fixture
def staff_client(client):
    staff = make_user(username="auditor", is_staff=True)
    staff.user_permissions.add(Permission.objects.get(codename="view_auditevent"))
    client.force_login(staff)
    return client


def streamed(response) -> str:  # noqa: ANN001
    return b"".join(response.streaming_content).decode()


def test_staff_export_the_log_as_csv_with_before_and_after(staff_client, events):
    response = staff_client.get(f"{EXPORT}.csv")
    assert response.status_code == 200 and response["Content-Type"] == "text/csv"
    assert response["Content-Disposition"].startswith('attachment; filename="audit-')
    rows = list(csv.DictReader(io.StringIO(streamed(response))))
    # Oldest first; the last row is this export itself, recorded as it began.
    assert [row["action"] for row in rows] == ["category.changed", "decision.created", "audit.exported"]
    first = rows[0]
    assert json.loads(first["before"]) == {"severity": 2} and json.loads(first["after"]) == {"severity": 3}
    assert (first["object_type"], first["ip_address"], first["actor_label"]) == (
        "classifiers.policycategory", "198.51.100.7", "system"
    )  # fmt: skip
    # A spreadsheet would run a cell starting with "=" as a formula.
    assert rows[1]["actor_label"] == '\'=HYPERLINK("http://evil")'


def test_the_export_takes_the_lists_filters_and_search(staff_client, events):
    lines = streamed(staff_client.get(f"{EXPORT}.jsonl?action__exact=category.changed")).splitlines()
    assert [json.loads(line)["action"] for line in lines] == ["category.changed"]
    lines = streamed(staff_client.get(f"{EXPORT}.jsonl?q=198.51.100.7")).splitlines()
    assert [json.loads(line)["ip_address"] for line in lines] == ["198.51.100.7"]


def test_jsonl_keeps_every_field_as_json(staff_client, events):
    record = json.loads(streamed(staff_client.get(f"{EXPORT}.jsonl")).splitlines()[0])
    assert set(record) == {"id", "created_at", "actor_id", "actor_label", "action", "object_type", "object_id",
                           "object_repr", "ip_address", "before", "after"}  # fmt: skip
    assert record["before"] == {"severity": 2}


def test_an_export_is_itself_on_record(staff_client, events):
    staff_client.get(f"{EXPORT}.csv?action__exact=decision.created", REMOTE_ADDR="192.0.2.44")
    exported = AuditEvent.objects.get(action="audit.exported")
    assert (exported.actor_label, exported.after["format"], exported.ip_address) == ("auditor", "csv", "192.0.2.44")
    assert exported.after["query"] == "action__exact=decision.created"


def test_the_changelist_links_to_both_exports_with_its_filters(staff_client, events):
    page = staff_client.get("/admin/audit/auditevent/?action__exact=decision.created").content.decode()
    assert f"{EXPORT}.csv?action__exact=decision.created" in page
    assert f"{EXPORT}.jsonl?action__exact=decision.created" in page


def test_only_staff_with_view_permission_may_export(client, events):
    assert client.get(f"{EXPORT}.csv").status_code == 302  # anonymous: to the admin's sign-in
    client.force_login(make_user())
    response = client.get(f"{EXPORT}.csv")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
    client.force_login(make_user(is_staff=True))  # staff, but not allowed to see the audit log
    assert client.get(f"{EXPORT}.csv").status_code == 403
    assert not AuditEvent.objects.filter(action="audit.exported").exists()


def test_an_unknown_format_is_a_404(staff_client):
    assert staff_client.get(f"{EXPORT}.xlsx").status_code == 404


def test_the_command_exports_a_filtered_range(events, tmp_path):
    out = io.StringIO()
    call_command("export_audit", "--format", "jsonl", "--action", "category.changed", stdout=out)
    assert [json.loads(line)["action"] for line in out.getvalue().splitlines()] == ["category.changed"]
    target = tmp_path / "audit.csv"
    call_command(
        "export_audit", "--format", "csv", "--since", "2000-01-01", "--output", str(target), stderr=io.StringIO()
    )
    assert len(list(csv.DictReader(target.open()))) == 2
    out = io.StringIO()
    call_command("export_audit", "--until", "2000-01-01", stdout=out)
    assert out.getvalue() == ""


def test_events_written_while_serving_a_request_record_its_address():
    """A decision through the API is audited by the review service, which never sees the request."""
    from rest_framework.test import APIClient

    from review.claims import claim_next_item
    from tests.factories import enqueue, make_item, make_queue, make_token

    token, secret = make_token(scopes=["decisions:write"])
    queue = make_queue(members=[token.user])
    enqueue(make_item(), queue)
    claim = claim_next_item(queue=queue, user=token.user)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    response = client.post(f"/api/v1/entries/{claim.entry_id}/decision",
                           {"token": claim.token, "action": "no_violation", "categories": []},
                           format="json", REMOTE_ADDR="203.0.113.5")  # fmt: skip
    assert response.status_code == 201, response.content
    assert AuditEvent.objects.get(action="decision.created").ip_address == "203.0.113.5"
    record_event(action="outside.request", target=queue)  # a worker or a command: no request, no address
    assert AuditEvent.objects.get(action="outside.request").ip_address is None


@pytest.mark.parametrize(
    ("proxies", "forwarded", "expected"),
    [
        (0, "1.2.3.4", "10.0.0.2"),  # no trusted proxy: the header is the client's to forge
        (1, "1.2.3.4", "1.2.3.4"),
        (1, "6.6.6.6, 1.2.3.4", "1.2.3.4"),  # the client's own entry is further left
        (1, "", "10.0.0.2"),
        (1, "not-an-address", None),
    ],
)
def test_the_client_address_comes_from_the_trusted_proxy_hop(settings, proxies, forwarded, expected):
    settings.AUDIT_TRUSTED_PROXIES = proxies
    request = RequestFactory().get("/", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR=forwarded)
    assert client_ip(request) == expected
