"""Load a small simulated day of account behaviour (SYNTHETIC DATA) so account cases are waiting at once.

Creates the "Account cases" and "Account appeals" queues with the demo moderator, senior and admin as
members, installs the default detection rules (active, opening cases in the first), and replays a
simulated day through the real intake and signal services. Safe to re-run: a simulation already
loaded (its event ids are per seed) is skipped.
"""

from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.utils import timezone

from accounts.default_rules import install_default_rules
from accounts.models import AccountCase, DetectionRule, EventReceipt
from accounts.simulated_load import load_simulation
from accounts.simulator import Sizes, simulate
from queues.models import Queue


class Command(BaseCommand):
    help = "Simulate a small day of account events (synthetic) and open the account cases the default rules find."

    def add_arguments(self, parser) -> None:  # noqa: ANN001
        parser.add_argument("--seed", type=int, default=16)
        parser.add_argument("--ordinary", type=int, default=300, help="ordinary users to simulate")
        parser.add_argument("--hours", type=int, default=24)

    def handle(self, *args, seed: int, ordinary: int, hours: int, **options) -> None:
        queue, _ = Queue.objects.get_or_create(
            slug="account-cases",
            defaults={
                "name": "Account cases",
                "deadline": timedelta(hours=8),
                "description": "Fraud, fake accounts, takeovers and scraping, opened by detection rules.",
            },
        )
        appeals, _ = Queue.objects.get_or_create(
            slug=settings.ACCOUNT_APPEALS_QUEUE,
            defaults={
                "name": "Account appeals",
                "deadline": timedelta(hours=24),
                "ordering": Queue.Ordering.OLDEST,
                "description": "Appeals of account actions, never served to the reviewer who took the action.",
            },
        )
        staff = get_user_model().objects.filter(username__in=["moderator", "senior", "admin"])
        queue.members.add(*staff)
        appeals.members.add(*staff)
        install_default_rules(queue=queue, mode=DetectionRule.Mode.ACTIVE)
        source = f"sim{seed}.creatorhub"
        if EventReceipt.objects.filter(source=source).exists():
            self.stdout.write(f"The simulated day of seed {seed} is already loaded.")
            return
        sizes = Sizes(ordinary=ordinary, rings=3, takeovers=4, card_testers=3, scrapers=2)
        simulation = simulate(seed=seed, end=timezone.now() - timedelta(minutes=1), hours=hours, sizes=sizes)
        stored = load_simulation(simulation, slice_minutes=15)
        cases = AccountCase.objects.filter(account__author__source=source, status=AccountCase.Status.OPEN).count()
        self.stdout.write(
            self.style.SUCCESS(
                f"SYNTHETIC DATA: {stored:,} simulated events of {len(simulation.labels):,} accounts; "
                f"{cases} account cases open in {queue.name!r}."
            )
        )
