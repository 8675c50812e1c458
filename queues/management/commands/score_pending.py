"""Score and route every waiting item in this process (demo set-up, or catching up without a worker)."""

from django.core.management.base import BaseCommand, CommandParser

from intake.models import Item
from queues.scoring import score_pending_items


class Command(BaseCommand):
    help = "Score and route every item waiting in 'received', here and now, in micro-batches."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--batch-size", type=int, default=32)

    def handle(self, *args, batch_size: int, **options) -> None:
        waiting = Item.objects.filter(state=Item.State.RECEIVED).count()
        done = 0
        while scored := score_pending_items(item_ids=[], batch_size=batch_size, fill_wait_ms=0):
            done += scored
            self.stdout.write(f"\rscored {done}/{waiting}", ending="")
            self.stdout.flush()
        self.stdout.write("")
        self.stdout.write(self.style.SUCCESS(f"Scored and routed {done} items."))
