"""Create the demo queues and routing rules, with the demo moderator and senior as members. Safe to re-run."""

from datetime import timedelta

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from queues.models import Queue, RoutingRule

QUEUES = [
    ("Scams & spam", "scams-spam", timedelta(hours=4), "risk", "Fraud, phishing, giveaways, bulk promotion."),
    ("Harassment & hate", "harassment-hate", timedelta(hours=2), "risk", "Insults, threats, slurs and pile-ons."),
    ("Images", "images", timedelta(hours=1), "risk", "Everything with an image; shown blurred until revealed."),
    ("Escalations", "escalations", timedelta(hours=8), "oldest", "Items moderators escalated, with their notes."),
    ("QA review", "qa-review", timedelta(hours=24), "oldest", "A sample of automatic decisions, checked by a human."),
    ("Labeling", "labeling", timedelta(hours=72), "uncertain", "What the model is least sure of, first."),
]
RULES = [
    ("Images go to the image queue", "images", [{"field": "kind", "op": "in", "value": ["image", "text_and_image"]}]),
    ("Likely scam", "scams-spam", [{"field": "score.scam_fraud", "op": ">=", "value": 0.7}]),
    ("Likely spam", "scams-spam", [{"field": "score.spam", "op": ">=", "value": 0.5}]),
    (
        "Reported as spam or scam",
        "scams-spam",
        [{"field": "report_reason", "op": "in", "value": ["spam", "scam_fraud"]}],
    ),
    ("Likely harassment", "harassment-hate", [{"field": "score.harassment", "op": ">=", "value": 0.6}]),
    ("Likely hate", "harassment-hate", [{"field": "score.hate", "op": ">=", "value": 0.6}]),
    ("Uncertain spam goes to labeling", "labeling", [{"field": "score.spam", "op": ">=", "value": 0.3}]),
]


class Command(BaseCommand):
    help = "Create demo queues and routing rules; the demo moderator, senior (and admin) join every queue."

    @transaction.atomic
    def handle(self, *args, **options) -> None:
        members = list(get_user_model().objects.filter(username__in=["moderator", "senior", "admin"]))
        by_slug = {}
        for name, slug, deadline, ordering, description in QUEUES:
            queue, _ = Queue.objects.get_or_create(
                slug=slug,
                defaults={"name": name, "deadline": deadline, "ordering": ordering, "description": description},
            )
            queue.members.add(*members)
            by_slug[slug] = queue
        default = Queue.objects.filter(is_default=True).first()
        if default:
            default.members.add(*members)
        if not RoutingRule.objects.exists():
            for position, (name, slug, conditions) in enumerate(RULES, start=1):
                RoutingRule.objects.create(name=name, position=position, queue=by_slug[slug], conditions=conditions)
        self.stdout.write(self.style.SUCCESS(f"Demo queues: {', '.join(q.name for q in by_slug.values())}."))
