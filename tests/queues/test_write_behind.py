"""Writing a scoring batch behind, while the next batch is computed (queues.write_behind), on real PostgreSQL.

A batch's write is made to fail inside PostgreSQL itself (a trigger that raises on one item's scores), while
the next batch is being computed in the calling thread: that batch must still be written, once, and the failed
one must leave nothing half-written, its items held under their lease for the sweeper. A second trigger notes
which database session wrote each batch's scores, which shows that the writes behind ran on a connection of
their own, and that the connection is closed when the call returns.
"""

import threading
from datetime import timedelta

import pytest
from django.db import DatabaseError, connection
from django.utils import timezone

from classifiers.models import Embedding, ModelVersion, PolicyCategory, Score
from intake.models import Item
from intake.payloads import ItemSubmission
from intake.submission import submit_items
from queues.models import QueueEntry
from queues.scoring import score_pending_items

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

BATCH = 8


@pytest.fixture(autouse=True)
def postgres_only():
    if connection.vendor != "postgresql":
        pytest.skip("writing behind runs on PostgreSQL only (SQLite has one writer at a time)")


@pytest.fixture
def writers():
    """Each statement inserting scores records the database session (backend pid) that ran it."""
    scores = Score._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE score_writers (pid integer NOT NULL, item_id bigint NOT NULL)")
        cursor.execute(
            "CREATE FUNCTION note_score_writer() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            "INSERT INTO score_writers VALUES (pg_backend_pid(), NEW.item_id); RETURN NEW; END $$"
        )
        cursor.execute(
            f"CREATE TRIGGER note_score_writer BEFORE INSERT ON {scores} "
            "FOR EACH ROW EXECUTE FUNCTION note_score_writer()"
        )
    yield
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TRIGGER IF EXISTS note_score_writer ON {scores}")
        cursor.execute("DROP FUNCTION IF EXISTS note_score_writer()")
        cursor.execute("DROP TABLE IF EXISTS score_writers")


def poison_writes_of(item_id: int) -> None:
    """Any write of ``item_id``'s scores fails inside PostgreSQL, rolling back the transaction it is in."""
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE FUNCTION poisoned_write() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            f"IF NEW.item_id = {int(item_id)} THEN RAISE EXCEPTION 'poisoned write of item %', NEW.item_id; END IF; "
            "RETURN NEW; END $$"
        )
        cursor.execute(
            f"CREATE TRIGGER poisoned_write BEFORE INSERT ON {Score._meta.db_table} "
            "FOR EACH ROW EXECUTE FUNCTION poisoned_write()"
        )


def cure_writes() -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TRIGGER IF EXISTS poisoned_write ON {Score._meta.db_table}")
        cursor.execute("DROP FUNCTION IF EXISTS poisoned_write()")


def submit_texts(n: int) -> list[int]:
    results = submit_items(
        submissions=[
            ItemSubmission(source="behind.test", external_id=f"b{i}", text=f"Cheap followers, limited offer {i}")
            for i in range(n)
        ]
    )
    return [r.item_id for r in results]


def sessions() -> set[int]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pid FROM pg_stat_activity WHERE datname = current_database()")
        return {pid for (pid,) in cursor.fetchall()}


def writer_pids() -> set[int]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT DISTINCT pid FROM score_writers")
        return {pid for (pid,) in cursor.fetchall()}


def no_writer_thread_left() -> bool:
    return not any(thread.name.startswith("scoring-writer") for thread in threading.enumerate())


def scores_per_item(ids: list[int]) -> int:
    version = ModelVersion.objects.get(kind="text", status="active")
    return Score.objects.filter(item_id__in=ids, model_version=version).count()


def test_batches_are_written_behind_on_a_connection_that_is_closed_at_the_end(writers):
    ids = submit_texts(5 * BATCH)
    categories = PolicyCategory.objects.filter(is_active=True).count()
    before = sessions()

    assert score_pending_items(item_ids=ids[:BATCH], batch_size=BATCH, fill_wait_ms=0) == len(ids)

    # Returned only after every batch's writes committed: each item scored and routed, exactly once.
    assert set(Item.objects.filter(id__in=ids).values_list("state", flat=True)) == {"queued"}
    assert scores_per_item(ids) == len(ids) * categories
    assert QueueEntry.objects.filter(item_id__in=ids).count() == len(ids)
    # The first four batches were written behind, on a session of their own; the last one here, after them.
    connection.ensure_connection()
    mine = connection.connection.info.backend_pid
    assert mine in writer_pids() and len(writer_pids()) == 2
    # That session is gone (its connection closed in the writer thread), and so is the thread.
    assert not (writer_pids() - {mine}) & sessions()
    assert sessions() <= before | {mine}
    assert no_writer_thread_left()


@pytest.mark.parametrize("poisoned_batch", [0, 1])
def test_a_failed_write_behind_loses_nothing_and_the_batch_computed_meanwhile_is_written_once(poisoned_batch):
    ids = submit_texts(3 * BATCH)
    batches = [ids[start : start + BATCH] for start in range(0, len(ids), BATCH)]  # oldest first, as claimed
    categories = PolicyCategory.objects.filter(is_active=True).count()
    poison_writes_of(batches[poisoned_batch][3])
    try:
        with pytest.raises(DatabaseError, match="poisoned write"):
            score_pending_items(item_ids=batches[0], batch_size=BATCH, fill_wait_ms=0)
    finally:
        cure_writes()
    assert no_writer_thread_left()

    # The failed batch: nothing half-written (no scores, embeddings or entries), its items still held.
    failed = batches[poisoned_batch]
    assert set(Item.objects.filter(id__in=failed).values_list("state", flat=True)) == {"scoring"}
    assert not Score.objects.filter(item_id__in=failed).exists()
    assert not Embedding.objects.filter(item_id__in=failed).exists()
    assert not QueueEntry.objects.filter(item_id__in=failed).exists()
    # The batch computed while that write failed was still written, once; after the failure no new batch began.
    written = batches[1] if poisoned_batch == 0 else batches[0] + batches[2]
    assert set(Item.objects.filter(id__in=written).values_list("state", flat=True)) == {"queued"}
    assert scores_per_item(written) == len(written) * categories
    assert QueueEntry.objects.filter(item_id__in=written).count() == len(written)
    untouched = batches[2] if poisoned_batch == 0 else []
    assert set(Item.objects.filter(id__in=untouched).values_list("scoring_attempts", flat=True)) <= {0}

    # Once the lease runs out (the sweeper's case), the held items are scored like any others, each once.
    Item.objects.filter(id__in=failed).update(scoring_lease_until=timezone.now() - timedelta(seconds=1))
    assert score_pending_items(item_ids=[], batch_size=BATCH, fill_wait_ms=0) == len(failed) + len(untouched)
    assert set(Item.objects.filter(id__in=ids).values_list("state", flat=True)) == {"queued"}
    assert scores_per_item(ids) == len(ids) * categories
    assert QueueEntry.objects.filter(item_id__in=ids).count() == len(ids)
    assert no_writer_thread_left()
