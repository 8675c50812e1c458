"""The one-statement PostgreSQL path for a single new item writes what the generic path writes."""

from dataclasses import replace
from datetime import UTC, datetime

import pytest
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction
from django.forms.models import model_to_dict

from intake import ingest_postgres
from intake.models import Author, Item, Report
from intake.payloads import AuthorSubmission, ItemSubmission, ReportSubmission
from intake.submission import submit_items
from webhooks.models import Delivery, WebhookEvent, WebhookSubscription

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="the fast path is PostgreSQL's"),
]
WHEN = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)


def submission(external_id: str, *, handle: str = "@quick", reports: int = 2, **fields) -> ItemSubmission:
    values = {
        "source": "tests.fast",
        "external_id": external_id,
        "text": "DM me to double your crypto",
        "author": AuthorSubmission(
            external_id=f"author-{external_id}", handle=handle, account_created_at=WHEN, attributes={"verified": False}
        ),
        "metadata": {"surface": "comment", "nested": {"a": [1, 2]}},
        "reports": [
            ReportSubmission(reason="spam", reporter_id="u-1", text="spam", external_id="r-1"),
            ReportSubmission(reason="scam_fraud", reporter_id="u-2", reported_at=WHEN),
            ReportSubmission(reason="spam", reporter_id="u-1", text="spam", external_id="r-1"),  # the same report
        ][:reports],
    }
    return ItemSubmission(**(values | fields))


def generic(submissions: list[ItemSubmission], monkeypatch: pytest.MonkeyPatch) -> list:
    with monkeypatch.context() as patch:
        patch.setattr(ingest_postgres, "usable_for", lambda submissions: False)
        return submit_items(submissions=submissions)


def stored(external_id: str) -> dict:
    """An item's rows, without ids and times, comparable across items."""
    item = Item.objects.select_related("author").get(external_id=external_id)
    skip = ["id", "external_id", "author", "created_at", "updated_at"]
    author = model_to_dict(item.author, exclude=["id", "external_id"]) if item.author else None
    reports = list(
        item.reports.order_by("fingerprint").values("reporter_id", "reason", "text", "reported_at", "fingerprint")
    )
    for report in reports:
        if report["reported_at"] != WHEN:
            report["reported_at"] = "now"  # stamped at ingestion: differs between the two calls
    return {"item": model_to_dict(item, exclude=skip), "author": author, "reports": reports}


def test_it_is_used_for_one_item_without_an_image_on_postgresql():
    assert ingest_postgres.usable_for([submission("a")])
    assert not ingest_postgres.usable_for([submission("a"), submission("b")])


@pytest.mark.parametrize("reports", [0, 1, 3])
@pytest.mark.parametrize("with_author", [True, False])
def test_the_fast_and_the_generic_path_write_the_same_rows(monkeypatch, reports, with_author):
    extra = {} if with_author else {"author": None}
    [fast] = submit_items(submissions=[submission("fast", reports=reports, **extra)])
    [slow] = generic([submission("slow", reports=reports, **extra)], monkeypatch)
    assert fast.created and slow.created
    assert (fast.state, fast.report_count) == (slow.state, slow.report_count) == ("received", min(reports, 2))
    assert fast.item_id == Item.objects.get(external_id="fast").pk
    fast_rows, slow_rows = stored("fast"), stored("slow")
    if with_author:
        assert fast_rows["author"] == slow_rows["author"] == {
            "source": "tests.fast", "handle": "@quick", "account_created_at": WHEN, "attributes": {"verified": False}
        }  # fmt: skip
    assert fast_rows == slow_rows
    assert Report.objects.filter(item__external_id="fast").count() == min(reports, 2)


def test_sending_the_same_item_again_creates_nothing_and_keeps_the_first_author_data(monkeypatch):
    [first] = submit_items(submissions=[submission("again", reports=1)])
    [second] = submit_items(submissions=[submission("again", handle="@renamed", reports=2)])
    [third] = submit_items(submissions=[submission("again", handle="@renamed", reports=2)])
    assert first.created and not second.created and not third.created
    assert first.item_id == second.item_id == third.item_id
    assert (second.report_count, third.report_count) == (2, 2)  # the new report merged, once
    assert Item.objects.filter(external_id="again").count() == 1
    assert Item.objects.get(external_id="again").report_count == 2
    assert Author.objects.get(external_id="author-again").handle == "@quick"  # as the generic path leaves it


def test_the_created_event_and_its_deliveries_match_the_generic_path(monkeypatch):
    wants = WebhookSubscription.objects.create(url="https://a.example/hook", event_types=["item.created"])
    WebhookSubscription.objects.create(url="https://b.example/hook", event_types=["decision.created"])
    WebhookSubscription.objects.create(url="https://c.example/hook", event_types=["item.created"], is_active=False)
    [fast] = submit_items(submissions=[submission("fast")])
    [slow] = generic([submission("slow")], monkeypatch)
    events = {event.payload["external_id"]: event for event in WebhookEvent.objects.filter(type="item.created")}
    assert events["fast"].payload["item_id"] == fast.item_id
    assert events["fast"].payload | {"item_id": 0, "external_id": "", "created_at": ""} == events["slow"].payload | {
        "item_id": 0,
        "external_id": "",
        "created_at": "",
    }
    created_at = Item.objects.get(pk=fast.item_id).created_at
    assert events["fast"].payload["created_at"] == DjangoJSONEncoder().default(created_at)
    for event in events.values():
        assert list(Delivery.objects.filter(event=event).values_list("subscription", "state", "attempts")) == [
            (wants.pk, "pending", 0)
        ]


def test_scoring_and_deliveries_are_sent_after_commit(sent_tasks, django_capture_on_commit_callbacks):
    scored, delivered = sent_tasks["queues.tasks.score_items"], sent_tasks["webhooks.tasks.deliver"]
    WebhookSubscription.objects.create(url="https://a.example/hook", event_types=["item.created"])
    with django_capture_on_commit_callbacks(execute=True):
        [result] = submit_items(submissions=[submission("sent")])
        assert scored == [] and delivered == []  # inside the test's transaction: not yet
    assert scored == [[result.item_id]]
    assert delivered == [list(Delivery.objects.values_list("id", flat=True))]


def test_a_failure_after_the_statement_rolls_it_back_with_the_callers_transaction():
    class Boom(Exception):
        pass

    with pytest.raises(Boom), transaction.atomic():
        submit_items(submissions=[submission("rolled-back")])
        raise Boom
    assert not Item.objects.filter(external_id="rolled-back").exists()
    assert not Author.objects.filter(external_id="author-rolled-back").exists()


def test_the_statement_is_kept_prepared_after_a_few_runs():
    assert connection.settings_dict["OPTIONS"].get("prepare_threshold") == 5  # DATABASE_PREPARED_STATEMENTS
    for n in range(7):
        [result] = submit_items(submissions=[submission(f"prepared-{n}", reports=1)])
        assert result.created
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE 'WITH fresh AS%%'")
        assert cursor.fetchone()[0] >= 1  # one per shape (author or not, number of reports) run 5 times
    assert Item.objects.filter(external_id__startswith="prepared-").count() == 7


def test_without_a_threshold_the_usual_client_side_cursor_is_used(monkeypatch):
    import psycopg

    from api.prepared import prepared_cursor

    with prepared_cursor() as cursor:
        assert not isinstance(cursor.cursor, psycopg.ClientCursor)
    monkeypatch.setitem(connection.settings_dict["OPTIONS"], "prepare_threshold", None)
    with prepared_cursor() as cursor:
        assert isinstance(cursor.cursor, psycopg.ClientCursor)
    [result] = submit_items(submissions=[submission("unprepared")])
    assert result.created and Item.objects.get(external_id="unprepared").report_count == 2


def send_at_once(external_id: str, senders: int, report_prefix: str) -> list:
    """``senders`` threads submit ``external_id`` at the same moment, each with its own report; their results."""
    import threading

    results, errors = [], []
    barrier = threading.Barrier(senders)

    def send(n: int) -> None:
        from django.db import connection as thread_connection

        try:
            report = ReportSubmission(reason="spam", reporter_id=f"u-{n}", external_id=f"{report_prefix}-{n}")
            barrier.wait()
            results.extend(submit_items(submissions=[replace(submission(external_id), reports=[report])]))
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)
        finally:
            thread_connection.close()

    threads = [threading.Thread(target=send, args=(n,)) for n in range(senders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    return results


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_concurrent_senders_of_one_item_create_it_once_and_merge_every_report(
    sent_tasks,
):  # no broker needed: this is about the rows
    senders = 8
    results = send_at_once("raced", senders, "r")
    assert sum(result.created for result in results) == 1
    assert len({result.item_id for result in results}) == 1
    item = Item.objects.get(external_id="raced")
    assert item.report_count == senders == item.reports.count()
    assert Author.objects.filter(external_id="author-raced").count() == 1


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_concurrent_repeat_reports_of_an_existing_item_are_all_counted_on_the_generic_path(monkeypatch, sent_tasks):
    monkeypatch.setattr(ingest_postgres, "usable_for", lambda submissions: False)
    [first] = submit_items(submissions=[submission("merged-into", reports=1)])
    senders = 8
    results = send_at_once("merged-into", senders, "merge")
    assert not any(result.created for result in results)
    item = Item.objects.get(pk=first.item_id)
    assert item.report_count == senders + 1 == item.reports.count()
    assert sorted(result.report_count for result in results)[-1] == senders + 1
