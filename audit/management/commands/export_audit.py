"""manage.py export_audit: the audit log as CSV or JSON Lines, to a file or standard output."""

from argparse import ArgumentParser
from datetime import datetime

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from audit.exports import FORMATS, export_lines
from audit.models import AuditEvent


def _moment(value: str) -> datetime:
    moment = datetime.fromisoformat(value)
    return timezone.make_aware(moment) if timezone.is_naive(moment) else moment


class Command(BaseCommand):
    help = "Export audit events, oldest first, as CSV or JSON Lines."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--format", choices=sorted(FORMATS), default="jsonl")
        parser.add_argument("--since", type=_moment, help="ISO date or time; events at or after it")
        parser.add_argument("--until", type=_moment, help="ISO date or time; events before it")
        parser.add_argument("--action", help="only this action, e.g. decision.created")
        parser.add_argument("--actor", help="only events by this actor label (username, 'system', 'routing')")
        parser.add_argument("--output", "-o", help="file to write (default: standard output)")

    def handle(self, *args: object, **options: object) -> None:
        events = AuditEvent.objects.all()
        for option, lookup in (("since", "created_at__gte"), ("until", "created_at__lt"),
                               ("action", "action"), ("actor", "actor_label")):  # fmt: skip
            if options[option] is not None:
                events = events.filter(**{lookup: options[option]})
        if not options["output"]:
            for line in export_lines(events, options["format"]):
                self.stdout.write(line, ending="")
            return
        try:
            with open(options["output"], "w", newline="", encoding="utf-8") as handle:
                handle.writelines(export_lines(events, options["format"]))
        except OSError as exc:
            raise CommandError(f"Cannot write {options['output']}: {exc}") from exc
        self.stderr.write(f"Wrote the audit log to {options['output']}.")
