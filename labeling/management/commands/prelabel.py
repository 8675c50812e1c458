"""Pre-label a backlog with an LLM labeler: a queue's pending items (or the newest items), as a bulk run."""

from django.core.management.base import BaseCommand, CommandError

from intake.models import Item
from labeling import llm_runs
from labeling.models import LLMEndpoint, PolicyPrompt
from queues.models import QueueEntry


class Command(BaseCommand):
    help = (
        "Start a bulk LLM run of a prompt version (default: the category's default) on an endpoint over a queue's "
        "pending items, or the newest items; the llm workers do the asking. Prints the run's progress page."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--category", required=True, help="category slug, e.g. spam")
        parser.add_argument("--endpoint", required=True, help="the LLM endpoint's name")
        parser.add_argument("--prompt-version", type=int, help="the prompt version (default: the default one)")
        parser.add_argument("--queue", help="a queue slug: its pending items (default: the newest items)")
        parser.add_argument("--limit", type=int, default=1000)

    def handle(
        self, *args, category: str, endpoint: str, prompt_version: int | None, queue: str | None, limit: int, **o
    ):
        version = prompt_version
        prompts = PolicyPrompt.objects.filter(category__slug=category)
        prompt = prompts.filter(version=version).first() if version else prompts.filter(is_default=True).first()
        if prompt is None:
            raise CommandError(f"no {'version ' + str(version) if version else 'default'} prompt for {category!r}")
        target = LLMEndpoint.objects.filter(name=endpoint, active=True).first()
        if target is None:
            raise CommandError(f"no active endpoint named {endpoint!r}")
        if queue:
            entries = QueueEntry.objects.filter(queue__slug=queue, status=QueueEntry.Status.PENDING)
            item_ids = list(entries.order_by("sort_key").values_list("item_id", flat=True)[:limit])
        else:
            item_ids = list(Item.objects.exclude(text="").order_by("-created_at").values_list("pk", flat=True)[:limit])
        labeler = llm_runs.llm_labeler_for(prompt=prompt, endpoint=target)
        run = llm_runs.start_llm_run(labeler=labeler, item_ids=item_ids)
        self.stdout.write(self.style.SUCCESS(f"LLM run {run.pk}: {len(item_ids)} items; /labeling/llm/runs/{run.pk}/"))
