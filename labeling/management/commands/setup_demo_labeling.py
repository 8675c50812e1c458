"""Demo set-up for labeling: a crowd labeler account, the local SmolLM2 endpoint, a spam prompt, a crowd task set.

Safe to re-run. The endpoint points at ``scripts/llm_server.py`` on port 8431 (the Procfile's ``llmserver``).
"""

import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from classifiers.models import PolicyCategory
from intake.models import Item
from labeling import crowd, llm_runs
from labeling.models import CrowdTaskSet, LLMEndpoint, PolicyPrompt
from queues.models import Queue

SPAM_POLICY = (
    "Spam: unsolicited bulk messages, mostly commercial: advertising, get-rich-quick offers, pills, loans, phishing "
    "and other scams. Personal or work e-mail, newsletters people subscribed to and list discussions are not spam."
)
EXAMPLES = [
    {"text": "Cheap meds online!!! No prescription needed. Click here.", "violates": True, "rationale": "Bulk ad."},
    {"text": "Hi Tom, the meeting moved to 3pm. See you there.", "violates": False, "rationale": "Personal note."},
]
DEMO_SET = "Demo: spam, scam or neither?"
DEMO_ITEMS = 30


class Command(BaseCommand):
    help = "Create the demo crowd labeler, the local LLM endpoint, a spam policy prompt and a crowd task set."

    def handle(self, *args, **options) -> None:
        LLMEndpoint.objects.get_or_create(
            name="Local SmolLM2 (scripts/llm_server.py)",
            defaults={
                "base_url": "http://127.0.0.1:8431/v1",
                "model": "SmolLM2-135M-Instruct",
                "concurrency": 1,
                "timeout_seconds": 120,
                "daily_token_budget": 500_000,
            },
        )
        spam = PolicyCategory.objects.get(slug="spam")
        if not PolicyPrompt.objects.filter(category=spam).exists():
            prompt = llm_runs.create_prompt_version(category=spam, policy_text=SPAM_POLICY, examples=EXAMPLES)
            llm_runs.make_prompt_default(prompt=prompt)
        user, created = get_user_model().objects.get_or_create(username="labeler")
        user.groups.add(crowd.crowd_group())
        if created:
            password = secrets.token_urlsafe(12)
            user.set_password(password)
            user.save()
            line = f"demo crowd labeler: username labeler  password {password}"
            with (settings.VAR_DIR / "demo_credentials.txt").open("a") as handle:
                handle.write(line + "\n")
            self.stdout.write(self.style.SUCCESS(line))
        if not CrowdTaskSet.objects.filter(name=DEMO_SET).exists():
            items = list(
                Item.objects.exclude(text="").order_by("-created_at").values_list("pk", flat=True)[:DEMO_ITEMS]
            )
            crowd.create_task_set(
                name=DEMO_SET,
                categories=list(PolicyCategory.objects.filter(slug__in=["spam", "scam_fraud"])),
                item_ids=items,
                labels_per_item=1,
                gold_rate=0.1,
                review_queue=Queue.objects.filter(slug="escalations").first(),
            )
        self.stdout.write(self.style.SUCCESS("Demo labeling: crowd task set, local LLM endpoint, spam prompt v1."))
