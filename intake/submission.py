"""Writes to items and reports. The API, the demo loader and the tests all go through here."""

from collections import defaultdict
from collections.abc import Sequence

from django.db import transaction
from django.db.models import Count, F, OuterRef, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone

from intake import display_images, events, ingest_postgres
from intake.dispatch import enqueue_scoring
from intake.images import store_image
from intake.models import Author, Item, Report
from intake.payloads import ItemSubmission, ReportSubmission, SubmissionResult


def submit_items(*, submissions: Sequence[ItemSubmission]) -> list[SubmissionResult]:
    """Store validated items and their reports; return, per submission, its item and whether it is new.

    An item is identified by ``(source, external_id)``. Sending one that exists adds its new reports
    to the existing item and changes nothing else (the first content received is what is reviewed).
    Re-sending the same submissions creates nothing. All rows are written in one transaction, with
    a bounded number of queries whatever the batch size.
    """

    if ingest_postgres.usable_for(submissions):
        # One new item: one statement. None means it exists already, and merging is done below.
        result = ingest_postgres.submit_new_item(submissions[0])
        if result is not None:
            return [result]
    keys = list(dict.fromkeys(submission.key for submission in submissions))
    existing = _items_by_key(keys)
    first_by_key: dict[tuple[str, str], ItemSubmission] = {}
    fingerprints: dict[tuple[str, str], set[str]] = defaultdict(set)
    for submission in submissions:
        first_by_key.setdefault(submission.key, submission)
        fingerprints[submission.key].update(report.fingerprint() for report in submission.reports)
    new_submissions = [first_by_key[key] for key in keys if key not in existing]

    # Images are content-addressed files, written before the transaction: if it then fails, what is
    # left is an unreferenced copy of an image, never a row pointing at a missing file.
    image_names = {s.key: store_image(s.image) for s in new_submissions if s.image is not None}

    with transaction.atomic():
        if existing:
            # Reports merging into existing items: lock those rows first (in id order), so concurrent
            # merges into one item take turns and each recount sees the reports committed before it.
            # Without the lock, a recount's snapshot could miss a report committed a moment earlier.
            ids = sorted(row["id"] for row in existing.values())
            list(Item.objects.filter(id__in=ids).order_by("id").select_for_update().values_list("id", flat=True))
        author_ids = _upsert_authors(new_submissions)
        new_items = [
            _new_item(s, author_ids, image_names.get(s.key), report_count=len(fingerprints[s.key]))
            for s in new_submissions
        ]
        # ON CONFLICT DO UPDATE (of updated_at alone) rather than DO NOTHING, so that every row comes
        # back with its id even when a concurrent request created the same item a moment ago.
        Item.objects.bulk_create(
            new_items, update_conflicts=True, unique_fields=["source", "external_id"], update_fields=["updated_at"]
        )
        created = {(item.source, item.external_id): item for item in new_items}
        item_ids = {key: row["id"] for key, row in existing.items()} | {key: item.pk for key, item in created.items()}
        if new_items:
            enqueue_scoring([item.pk for item in new_items])
            events.items_created(new_items)
        if image_names:
            # A worker makes what reviewers will see now, so no web process ever decodes the original.
            names = sorted(set(image_names.values()))
            transaction.on_commit(lambda: display_images.request_display_images(names))
        reports = [
            _new_report(item_ids[submission.key], report) for submission in submissions for report in submission.reports
        ]
        recounted = 0
        if reports:
            Report.objects.bulk_create(reports, ignore_conflicts=True)
            recounted = _correct_report_counts({report.item_id for report in reports})
        rows = existing | {
            key: {"id": item.pk, "state": item.state, "report_count": item.report_count}
            for key, item in created.items()
        }
        if recounted:
            # Merged reports changed some counts (or a concurrent request created one of our items first).
            rows = _items_by_key(keys)

    results = []
    seen: set[tuple[str, str]] = set()
    for index, submission in enumerate(submissions):
        row = rows[submission.key]
        is_new = submission.key not in existing and submission.key not in seen
        seen.add(submission.key)
        results.append(
            SubmissionResult(
                index=index,
                item_id=row["id"],
                source=submission.source,
                external_id=submission.external_id,
                created=is_new,
                state=row["state"],
                report_count=row["report_count"],
            )
        )
    return results


def _items_by_key(keys: list[tuple[str, str]]) -> dict[tuple[str, str], dict]:
    wanted = set(keys)
    sources = {source for source, _ in keys}
    external_ids = {external_id for _, external_id in keys}
    rows = Item.objects.filter(source__in=sources, external_id__in=external_ids).values(
        "id", "source", "external_id", "state", "report_count"
    )
    return {(row["source"], row["external_id"]): row for row in rows if (row["source"], row["external_id"]) in wanted}


def _upsert_authors(submissions: Sequence[ItemSubmission]) -> dict[tuple[str, str], int]:
    """Create or refresh the authors of new items; handles and attributes change over time."""
    by_key: dict[tuple[str, str], Author] = {}
    for submission in submissions:
        if submission.author is None:
            continue
        author = submission.author
        # The last mention in a batch wins; duplicates would make one upsert touch a row twice.
        by_key[(submission.source, author.external_id)] = Author(
            source=submission.source,
            external_id=author.external_id,
            handle=author.handle,
            account_created_at=author.account_created_at,
            attributes=author.attributes,
        )
    if not by_key:
        return {}
    Author.objects.bulk_create(
        # In key order, so concurrent batches that share authors lock their rows in the same order (no deadlock).
        [by_key[key] for key in sorted(by_key)],
        update_conflicts=True,
        unique_fields=["source", "external_id"],
        update_fields=["handle", "account_created_at", "attributes", "updated_at"],
    )
    # PostgreSQL and SQLite return the ids of inserted and updated rows alike (RETURNING).
    return {key: author.pk for key, author in by_key.items()}


def _new_item(
    submission: ItemSubmission, author_ids: dict[tuple[str, str], int], image_name: str | None, *, report_count: int
) -> Item:
    image = submission.image
    author_id = author_ids[(submission.source, submission.author.external_id)] if submission.author else None
    return Item(
        source=submission.source,
        external_id=submission.external_id,
        author_id=author_id,
        text=submission.text,
        image=image_name or "",
        image_sha256=image.sha256 if image else "",
        image_bytes=len(image.data) if image else None,
        image_format=image.format if image else "",
        image_width=image.width if image else None,
        image_height=image.height if image else None,
        metadata=submission.metadata,
        report_count=report_count,
    )


def _new_report(item_id: int, report: ReportSubmission) -> Report:
    return Report(
        item_id=item_id,
        reporter_id=report.reporter_id,
        reason=report.reason,
        text=report.text,
        reported_at=report.reported_at or timezone.now(),
        fingerprint=report.fingerprint(),
    )


def _correct_report_counts(item_ids: set[int]) -> int:
    """Set ``report_count`` from the report rows where it differs; return how many items changed.

    New items were inserted with their count, so usually only items that received merged reports are
    rewritten. Counting rows rather than incrementing keeps a repeated or concurrent call right.
    """
    count = Report.objects.filter(item=OuterRef("pk")).order_by().values("item").annotate(n=Count("pk")).values("n")
    actual = Coalesce(Subquery(count), 0)
    return (
        Item.objects.filter(id__in=item_ids)
        .alias(actual=actual)
        .exclude(report_count=F("actual"))
        .update(report_count=actual, updated_at=timezone.now())
    )
