"""Storing a batch of account events: all of it or none, a retry a no-op, a reused id with new content refused."""

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from celery import current_app
from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from accounts import event_store_postgres as fast
from accounts.event_input import EventIn
from accounts.models import Account, AccountEvent, AccountSignals, EventReceipt, EventSourceGrant
from api.exceptions import Conflict, Forbidden
from api.models import ApiToken
from intake.models import Author

SIGNAL_TASK = "accounts.tasks.update_signals"


class EventConflict(Conflict):
    """An event id this source already used for an event with other content (HTTP 409)."""

    code = "event_id_conflict"

    def __init__(self, *, source: str, event_id: str, path: str) -> None:
        self.path = path
        super().__init__(f"{path}: event id {event_id!r} of source {source!r} was already received with other content.")


class SourceNotAllowed(Forbidden):
    """The token may send events only for other sources (HTTP 403)."""

    code = "source_not_allowed"


@dataclass(frozen=True)
class IntakeResult:
    received: int
    stored: int
    already_received: int
    account_ids: list[int]


def check_sources(*, token: ApiToken | None, events: Sequence[EventIn]) -> None:
    """A token with ``EventSourceGrant`` rows may send only those sources; one without may send any."""
    if token is None:
        return
    allowed = set(EventSourceGrant.objects.filter(token=token).values_list("source", flat=True))
    if not allowed:
        return
    refused = sorted({event.source for event in events} - allowed)
    if refused:
        raise SourceNotAllowed(
            f"This token may send events for {', '.join(sorted(allowed))} only, not for {', '.join(refused)}."
        )


def record_events(*, events: Sequence[EventIn], token: ApiToken | None = None) -> IntakeResult:
    """Store ``events`` in one transaction and queue their accounts' signal updates after commit.

    Events whose id (per source) was already received with the same content are skipped; one with
    other content raises ``EventConflict`` and nothing is written. A concurrent request that stores
    the same id between our check and our insert makes the insert fail: the batch is tried once more,
    and then sees that request's receipt.
    """
    check_sources(token=token, events=events)
    for attempt in range(2):
        try:
            return _record(events)
        except IntegrityError:
            if attempt == 1:
                raise
    raise AssertionError("unreachable")


def _record(events: Sequence[EventIn]) -> IntakeResult:
    now = timezone.now()
    postgres = connection.vendor == "postgresql"
    with transaction.atomic():
        new = _new_events(events, postgres=postgres)
        if not new:
            return IntakeResult(len(events), 0, len(events), [])
        if postgres:
            account_ids = _upsert_accounts_postgres(new, now)
            ids = sorted(set(account_ids.values()))
            fast.create_accounts_and_mark_pending(ids, now)
            fast.copy_events(new, account_ids, now)
        else:
            account_ids = _upsert_accounts(new)
            ids = sorted(set(account_ids.values()))
            _mark_pending(ids, now)
            AccountEvent.objects.bulk_create(
                [_event_row(event, account_ids[(event.source, event.account)], now) for event in new]
            )
        transaction.on_commit(lambda: send_signal_updates(ids), robust=True)
    return IntakeResult(len(events), len(new), len(events) - len(new), ids)


def _new_events(events: Sequence[EventIn], *, postgres: bool) -> list[EventIn]:
    """The events not received before, after writing their receipts; raises on a reused id."""
    digests = {}
    positions = {}
    by_source: dict[str, list[str]] = defaultdict(list)
    for index, event in enumerate(events):
        key = (event.source, event.id)
        if key in digests:
            continue  # an identical repeat inside the batch (event_input refuses a different one)
        digests[key] = event.digest
        positions[key] = index
        by_source[event.source].append(event.id)
    seen: dict[tuple[str, str], str] = {}
    for source, ids in by_source.items():
        if postgres:
            found = fast.existing_receipts(source, ids).items()
        else:
            found = EventReceipt.objects.filter(source=source, event_id__in=ids).values_list("event_id", "digest")
        seen.update({(source, event_id): digest for event_id, digest in found})
    for key, digest in seen.items():
        if digests[key] != digest:
            path = f"events[{positions[key]}].id" if len(events) > 1 else "id"
            raise EventConflict(source=key[0], event_id=key[1], path=path)
    fresh = [events[positions[key]] for key in positions if key not in seen]
    if postgres:
        fast.insert_receipts([(e.source, e.id, digests[(e.source, e.id)], e.occurred_at) for e in fresh])
        return fresh
    EventReceipt.objects.bulk_create(
        [
            EventReceipt(source=e.source, event_id=e.id, digest=digests[(e.source, e.id)], occurred_at=e.occurred_at)
            for e in fresh
        ]
    )
    return fresh


def _upsert_accounts(events: Sequence[EventIn]) -> dict[tuple[str, str], int]:
    """The author id of every event's account, creating authors and accounts that are new.

    The same ``(source, external_id)`` as an item's author: one row for both. A handle in an event
    updates the author's.
    """
    handles: dict[tuple[str, str], str | None] = {}
    for event in events:
        key = (event.source, event.account)
        if event.handle is not None or key not in handles:
            handles[key] = event.handle
    ids: dict[tuple[str, str], int] = {}
    with_handle = sorted(key for key, handle in handles.items() if handle is not None)
    without = sorted(key for key, handle in handles.items() if handle is None)
    # Sorted, so concurrent batches that share accounts lock their rows in the same order (no deadlock).
    for keys, fields in ((with_handle, ["handle", "updated_at"]), (without, ["updated_at"])):
        if not keys:
            continue
        authors = [Author(source=s, external_id=x, handle=handles[(s, x)] or "") for s, x in keys]
        Author.objects.bulk_create(
            authors, update_conflicts=True, unique_fields=["source", "external_id"], update_fields=fields
        )
        ids.update({(a.source, a.external_id): a.pk for a in authors})
    Account.objects.bulk_create([Account(author_id=pk) for pk in sorted(ids.values())], ignore_conflicts=True)
    return ids


def _upsert_accounts_postgres(events: Sequence[EventIn], now: datetime) -> dict[tuple[str, str], int]:
    handles: dict[tuple[str, str], str | None] = {}
    for event in events:
        key = (event.source, event.account)
        if event.handle is not None or key not in handles:
            handles[key] = event.handle
    keys = sorted(handles)  # the lock order every intake shares (no deadlock)
    return fast.upsert_authors(keys, [handles[key] for key in keys], now)


def _mark_pending(account_ids: list[int], now: datetime) -> None:
    """Create or lock each account's signals row and mark it pending, in account order (see ``AccountSignals``)."""
    table = AccountSignals._meta.db_table
    placeholders = ", ".join(["(%s, %s, %s, %s, %s)"] * len(account_ids))
    params: list = []
    empty = "{}"
    for account_id in account_ids:
        params += [account_id, empty, empty, 0, now]
    with connection.cursor() as cursor:
        cursor.execute(
            f'INSERT INTO {table} (account_id, state, "values", processed_event_id, pending_since) '
            f"VALUES {placeholders} ON CONFLICT (account_id) DO UPDATE "
            f"SET pending_since = COALESCE({table}.pending_since, EXCLUDED.pending_since)",
            params,
        )


def _event_row(event: EventIn, account_id: int, now: datetime) -> AccountEvent:
    return AccountEvent(
        account_id=account_id,
        event_id=event.id,
        type=event.type,
        occurred_at=event.occurred_at,
        received_at=now,
        ip=event.ip,
        user_agent=event.user_agent or "",
        device_id=event.device_id or "",
        country=event.country or "",
        payment_fingerprint=event.payment_fingerprint or "",
        amount=event.amount,
        currency=event.currency or "",
        outcome=event.outcome or "",
        request_count=event.request_count,
        distinct_creators=event.distinct_creators,
        window_seconds=event.window_seconds,
    )


def send_signal_updates(account_ids: Sequence[int]) -> None:
    """Tell workers to fold in these accounts' new events (by task name: services never import tasks)."""
    chunk = settings.ACCOUNT_SIGNAL_TASK_BATCH
    for start in range(0, len(account_ids), chunk):
        current_app.send_task(SIGNAL_TASK, args=[list(account_ids[start : start + chunk])])
