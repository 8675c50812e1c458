"""Labelers other than the moderator: LLM endpoints, policy prompts and their runs; crowd task sets and answers.

Human review decisions (``review.Label``) stay the gold. Everything here is kept apart from them: an LLM verdict
or a crowd answer is never a ``review.Label``, is never shown to a reviewer as the answer, and enters training
only through its labeler's explicit ``training_weight``.
"""

from __future__ import annotations

import re
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

ENV_NAME = re.compile(r"^[A-Z_][A-Z0-9_]*$")


def validate_env_name(value: str) -> None:
    if value and not ENV_NAME.match(value):
        raise ValidationError("An environment variable name: capitals, digits and underscores, e.g. OPENAI_API_KEY.")


class LLMEndpoint(models.Model):
    """An OpenAI-compatible chat endpoint. The key is read from the environment, never stored."""

    name = models.CharField(max_length=100, unique=True)
    base_url = models.URLField(max_length=500, help_text="Up to and including /v1, e.g. http://127.0.0.1:8431/v1.")
    model = models.CharField(max_length=200, help_text="The model name the endpoint expects.")
    api_key_env = models.CharField(
        max_length=100, blank=True, validators=[validate_env_name], help_text="Environment variable holding the key."
    )
    timeout_seconds = models.FloatField(default=30.0, validators=[MinValueValidator(0.1), MaxValueValidator(600)])
    concurrency = models.PositiveSmallIntegerField(
        default=4, validators=[MinValueValidator(1), MaxValueValidator(64)], help_text="Requests in flight at once."
    )
    daily_token_budget = models.PositiveBigIntegerField(
        default=1_000_000, help_text="Tokens per day (UTC); work stops, marked as such, when it is spent."
    )
    max_attempts = models.PositiveSmallIntegerField(default=3, validators=[MinValueValidator(1), MaxValueValidator(10)])
    price_per_million_prompt_tokens = models.DecimalField(max_digits=10, decimal_places=4, default=Decimal("0"))
    price_per_million_completion_tokens = models.DecimalField(max_digits=10, decimal_places=4, default=Decimal("0"))
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "LLM endpoint"

    def __str__(self) -> str:
        return f"{self.name} ({self.model})"

    def cost_of(self, prompt_tokens: int, completion_tokens: int) -> Decimal:
        million = Decimal(1_000_000)
        return (
            self.price_per_million_prompt_tokens * prompt_tokens
            + self.price_per_million_completion_tokens * completion_tokens
        ) / million


class EndpointUsage(models.Model):
    """Tokens spent on an endpoint in one UTC day: reserved before a call, corrected after it."""

    endpoint = models.ForeignKey(LLMEndpoint, on_delete=models.CASCADE, related_name="usage")
    day = models.DateField()
    tokens = models.PositiveBigIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["endpoint", "day"], name="one_usage_row_per_endpoint_day")]

    def __str__(self) -> str:
        return f"{self.endpoint_id} {self.day}: {self.tokens}"


class PolicyPrompt(models.Model):
    """One version of the policy an LLM labeler is asked about, for one category. Versions are never edited."""

    category = models.ForeignKey("classifiers.PolicyCategory", on_delete=models.PROTECT, related_name="llm_prompts")
    version = models.PositiveIntegerField(editable=False)
    policy_text = models.TextField(help_text="The policy, as the model should read it.")
    examples = models.JSONField(
        default=list, blank=True, help_text='A few worked examples: [{"text": ..., "violates": true, "rationale": ...}]'
    )
    max_rationale_chars = models.PositiveIntegerField(default=500, validators=[MaxValueValidator(2000)])
    is_default = models.BooleanField(default=False, help_text="The version bulk pre-labelling uses.")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["category", "version"], name="one_prompt_per_category_version"),
            models.UniqueConstraint(
                fields=["category"], condition=models.Q(is_default=True), name="one_default_prompt_per_category"
            ),
        ]
        ordering = ["category", "-version"]

    def __str__(self) -> str:
        return f"{self.category_id} prompt v{self.version}"

    def clean(self) -> None:
        if not isinstance(self.examples, list) or not all(
            isinstance(e, dict)
            and isinstance(e.get("text"), str)
            and isinstance(e.get("violates"), bool)
            and isinstance(e.get("rationale", ""), str)
            for e in self.examples
        ):
            raise ValidationError({"examples": 'A list of {"text": str, "violates": bool, "rationale": str}.'})


class Labeler(models.Model):
    """Who made a label that is not a review decision: a crowd worker, an LLM prompt version on an endpoint, a model.

    Moderators, seniors' QA verdicts and automatic actions are labelers too, but their labels are review's; the
    labeler table reads them from there. A labeler's ``training_weight`` is 0 until an admin decides otherwise.
    """

    class Kind(models.TextChoices):
        MODERATOR = "moderator", "Moderator"
        QA = "qa", "Senior (QA verdict)"
        CROWD = "crowd", "Crowd worker"
        LLM = "llm", "LLM labeler"
        MODEL = "model", "Model version"
        AUTOMATIC = "automatic", "Automatic action"

    kind = models.CharField(max_length=12, choices=Kind.choices)
    name = models.CharField(max_length=200, unique=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="labelers"
    )
    prompt = models.ForeignKey(PolicyPrompt, null=True, blank=True, on_delete=models.PROTECT, related_name="labelers")
    endpoint = models.ForeignKey(LLMEndpoint, null=True, blank=True, on_delete=models.PROTECT, related_name="labelers")
    model_name = models.CharField(max_length=200, blank=True, help_text="For an LLM: the model the endpoint served.")
    training_weight = models.FloatField(
        default=0.0,
        validators=[MinValueValidator(0.0), MaxValueValidator(1.0)],
        help_text="0: its labels never enter training. Otherwise the weight its labels get in a training snapshot.",
    )
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "user"], condition=models.Q(user__isnull=False), name="one_labeler_per_user_kind"
            ),
            models.UniqueConstraint(
                fields=["prompt", "endpoint", "model_name"],
                condition=models.Q(prompt__isnull=False),
                name="one_labeler_per_prompt_model",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class LLMRun(models.Model):
    """A bulk pre-labelling run: one prompt version over a set of items. Progress is counted from its results."""

    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        STOPPED = "stopped", "Stopped (budget spent or endpoint failing)"
        CANCELLED = "cancelled", "Cancelled"

    labeler = models.ForeignKey(Labeler, on_delete=models.PROTECT, related_name="runs")
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    stop_reason = models.CharField(max_length=300, blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    selection = models.CharField(max_length=300, blank=True, help_text="The items it covers, in words.")
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "LLM run"
        ordering = ["-created_at"]
        permissions = [("start_llm_runs", "Can start bulk LLM labeling runs from the web pages (leads)")]

    def __str__(self) -> str:
        return f"run {self.pk} of {self.labeler}"


class LLMResult(models.Model):
    """One item's verdict from one LLM labeler. Written whole or not at all; a failure keeps its reason."""

    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    run = models.ForeignKey(LLMRun, on_delete=models.CASCADE, related_name="results")
    labeler = models.ForeignKey(Labeler, on_delete=models.PROTECT, related_name="llm_results")
    item = models.ForeignKey("intake.Item", on_delete=models.CASCADE, related_name="llm_results")
    content_hash = models.CharField(max_length=64, db_index=True)
    state = models.CharField(max_length=8, choices=State.choices, default=State.PENDING)
    verdict = models.BooleanField(null=True, blank=True)
    probability = models.FloatField(null=True, blank=True)
    rationale = models.TextField(blank=True, help_text="The model's words: plain text, always escaped.")
    prompt_tokens = models.PositiveIntegerField(default=0)
    completion_tokens = models.PositiveIntegerField(default=0)
    latency_ms = models.PositiveIntegerField(default=0)
    cost = models.DecimalField(max_digits=12, decimal_places=6, default=Decimal("0"))
    attempts = models.PositiveSmallIntegerField(default=0)
    failure_reason = models.CharField(max_length=300, blank=True)
    cached_from = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", help_text="Answered from cache."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "LLM result"
        constraints = [
            models.UniqueConstraint(fields=["run", "item"], name="one_llm_result_per_run_item"),
            models.CheckConstraint(
                condition=models.Q(probability__isnull=True) | models.Q(probability__gte=0, probability__lte=1),
                name="llm_probability_in_unit_interval",
            ),
        ]
        indexes = [models.Index(fields=["labeler", "content_hash", "state"], name="llm_result_cache_key")]

    def __str__(self) -> str:
        return f"{self.labeler} on item {self.item_id}: {self.state}"


class CrowdTaskSet(models.Model):
    """Items to be labelled by k crowd workers each, with gold items mixed in; the answer is one class."""

    class State(models.TextChoices):
        OPEN = "open", "Open"
        CLOSED = "closed", "Closed"

    name = models.CharField(max_length=200, unique=True)
    instructions = models.TextField(blank=True)
    categories = models.ManyToManyField(
        "classifiers.PolicyCategory", related_name="crowd_task_sets", help_text="The answers offered, besides 'none'."
    )
    labels_per_item = models.PositiveSmallIntegerField(
        default=3, validators=[MinValueValidator(1), MaxValueValidator(15)], help_text="k: distinct labelers per item."
    )
    gold_rate = models.FloatField(
        default=0.1,
        validators=[MinValueValidator(0.0), MaxValueValidator(0.5)],
        help_text="Share of gold tasks served.",
    )
    agreement_threshold = models.FloatField(
        default=0.8,
        validators=[MinValueValidator(0.0), MaxValueValidator(1.0)],
        help_text="Items whose aggregated confidence, or share of answers agreeing, is below this go to a moderator.",
    )
    review_queue = models.ForeignKey(
        "queues.Queue", null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        help_text="Where items the crowd disagrees on go.",
    )  # fmt: skip
    labelers = models.ManyToManyField(
        settings.AUTH_USER_MODEL, blank=True, related_name="crowd_task_sets", help_text="Empty: every crowd labeler."
    )
    state = models.CharField(max_length=8, choices=State.choices, default=State.OPEN)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    aggregated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        permissions = [
            ("work_crowd_tasks", "Can answer crowd labelling tasks (the crowd labeler role)"),
            ("build_crowd_task_sets", "Can build crowd task sets from the web pages (leads)"),
        ]

    def __str__(self) -> str:
        return self.name


NO_VIOLATION = "none"


class CrowdTask(models.Model):
    """One item in a task set. A gold task has a known answer and measures the labelers; it trains nothing."""

    task_set = models.ForeignKey(CrowdTaskSet, on_delete=models.CASCADE, related_name="tasks")
    item = models.ForeignKey("intake.Item", on_delete=models.CASCADE, related_name="crowd_tasks")
    gold_answer = models.CharField(max_length=40, blank=True, help_text="Set on gold tasks: the right answer.")
    answers_count = models.PositiveSmallIntegerField(default=0, editable=False)
    # The aggregate (Dawid-Skene): the likeliest answer, its posterior, and the whole posterior.
    label = models.CharField(max_length=40, blank=True)
    confidence = models.FloatField(null=True, blank=True)
    soft_label = models.JSONField(default=dict, blank=True)
    agreement = models.FloatField(null=True, blank=True, help_text="Share of the answers that match the label.")
    sent_to_review = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["task_set", "item"], name="one_crowd_task_per_set_item")]

    def __str__(self) -> str:
        return f"{self.task_set_id}/{self.item_id}"

    @property
    def is_gold(self) -> bool:
        return bool(self.gold_answer)


class CrowdAssignment(models.Model):
    """A task given to one labeler. Never twice to the same labeler; answered at most once."""

    task = models.ForeignKey(CrowdTask, on_delete=models.CASCADE, related_name="assignments")
    labeler = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="crowd_assignments")
    answer = models.CharField(max_length=40, blank=True)
    assigned_at = models.DateTimeField(auto_now_add=True)
    answered_at = models.DateTimeField(null=True, blank=True)
    seconds = models.FloatField(null=True, blank=True, help_text="From assignment to answer.")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["task", "labeler"], name="one_assignment_per_task_labeler")]

    def __str__(self) -> str:
        return f"task {self.task_id} -> user {self.labeler_id}"


class PromptPreview(models.Model):
    """A draft prompt asked about a few recent items on a worker, so the admin's request never waits on the model.

    Nothing here is a label: the answers are shown to the admin who asked, then kept only as this record.
    """

    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    endpoint = models.ForeignKey(LLMEndpoint, on_delete=models.CASCADE, related_name="+")
    category = models.ForeignKey("classifiers.PolicyCategory", on_delete=models.CASCADE, related_name="+")
    policy_text = models.TextField()
    examples = models.JSONField(default=list, blank=True)
    max_rationale_chars = models.PositiveIntegerField(default=500)
    item_ids = models.JSONField(default=list)
    state = models.CharField(max_length=8, choices=State.choices, default=State.PENDING)
    answers = models.JSONField(
        default=list, blank=True, help_text="Per item: verdict, probability, rationale or error."
    )
    failure_reason = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"preview {self.pk} of a {self.category_id} prompt"
