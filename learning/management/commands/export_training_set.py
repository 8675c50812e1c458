"""Write a new immutable training snapshot of the reviewers' labels and print where it went."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.dateparse import parse_datetime

from learning.training_data import EmptySnapshot, export_training_snapshot


class Command(BaseCommand):
    help = (
        "Export the current human labels as a versioned snapshot: snapshot-<id>/items.jsonl, images/, manifest.json "
        "(counts, sha256 of every file, the conflict rule, the label cutoff, the code version). "
        "The same labels and cutoff give a byte-identical items.jsonl."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--out", type=Path, help="Parent directory (default: TRAINING_SNAPSHOT_DIR).")
        parser.add_argument(
            "--cutoff", help="ISO time; labels up to it (default: now minus the undo window, so labels are final)."
        )

    def handle(self, *args, out: Path | None, cutoff: str | None, **options) -> None:
        moment = None
        if cutoff:
            moment = parse_datetime(cutoff)
            if moment is None or moment.tzinfo is None:
                raise CommandError("--cutoff must be an ISO date and time with a time zone, e.g. 2026-11-26T06:00:00Z.")
        try:
            snapshot = export_training_snapshot(cutoff=moment, out_dir=out, actor_label="manage.py export_training_set")
        except EmptySnapshot as exc:
            raise CommandError(str(exc)) from exc
        counts = snapshot.counts
        self.stdout.write(self.style.SUCCESS(f"Snapshot {snapshot.pk} written to {snapshot.path}"))
        self.stdout.write(
            f"  {counts['items']} items, {counts['labels']} labels; held out {counts['held_out_items']} items "
            f"({snapshot.held_out_source}); items.jsonl sha256 {snapshot.items_sha256}"
        )
        for slug, row in counts["per_category"].items():
            self.stdout.write(
                f"  {slug:<12} train {row['train_positive']}+ / {row['train_negative']}-   "
                f"held out {row['held_out_positive']}+ / {row['held_out_negative']}-"
            )
