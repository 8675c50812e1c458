"""What the console keeps: a user's saved filters, and bulk actions with the outcome of each item."""

from django.conf import settings
from django.db import models


class SavedFilter(models.Model):
    """A search a user named and keeps: the query string of the search page, kept as parsed fields."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="saved_filters")
    name = models.CharField(max_length=100)
    params = models.JSONField(default=dict, help_text="The search page's fields, as the search form reads them.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["user", "name"], name="saved_filter_name_unique_per_user")]
        # On this model because the console has no model of its own for the team page.
        permissions = [("view_team_page", "Can see the team page: throughput, handling time, overturns (leads)")]

    def __str__(self) -> str:
        return f"{self.name} ({self.user_id})"


class BulkAction(models.Model):
    """One action over many items, run by a worker; each item gets its own decision as if decided alone."""

    class Kind(models.TextChoices):
        DECIDE = "decide", "Decide"
        MOVE = "move", "Move to a queue"
        ESCALATE = "escalate", "Escalate"
        RESCORE = "rescore", "Score again (failed items)"
        CROWD = "crowd", "Add to a crowd task set"

    class State(models.TextChoices):
        PENDING = "pending", "Waiting for a worker"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        UNDONE = "undone", "Undone"

    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="bulk_actions")
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.DECIDE)
    action = models.CharField(
        max_length=14, blank=True, help_text="A decision's action (no_violation, remove, ...); empty for moves."
    )
    target_queue = models.ForeignKey(
        "queues.Queue", null=True, blank=True, on_delete=models.PROTECT, related_name="+",
        help_text="Where a move or an escalation sends the items.",
    )  # fmt: skip
    target_task_set = models.ForeignKey(
        "labeling.CrowdTaskSet", null=True, blank=True, on_delete=models.PROTECT, related_name="+",
        help_text="The crowd task set the items are added to.",
    )  # fmt: skip
    categories = models.JSONField(default=list, blank=True, help_text="Policy category slugs of the decision.")
    note = models.TextField(blank=True)
    state = models.CharField(max_length=8, choices=State.choices, default=State.PENDING)
    total = models.PositiveIntegerField()
    processed = models.PositiveIntegerField(default=0)
    succeeded = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    undone_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        permissions = [("run_bulk_actions", "Can decide many items at once (leads)")]

    def __str__(self) -> str:
        return f"bulk {self.kind} #{self.pk}: {self.processed}/{self.total} ({self.state})"

    @property
    def failed(self) -> int:
        return self.processed - self.succeeded

    @property
    def percent(self) -> int:
        return 100 if not self.total else round(100 * self.processed / self.total)


class BulkActionItem(models.Model):
    """One item of a bulk action and what happened to it (its decision, or why it was left alone)."""

    class Outcome(models.TextChoices):
        PENDING = "pending", "Not yet"
        DECIDED = "decided", "Decided"
        MOVED = "moved", "Moved"
        SENT = "sent", "Sent for scoring"
        ADDED = "added", "Added to the task set"
        FAILED = "failed", "Left alone"
        UNDONE = "undone", "Undone"

    bulk_action = models.ForeignKey(BulkAction, on_delete=models.CASCADE, related_name="items")
    item_id = models.BigIntegerField()
    outcome = models.CharField(max_length=8, choices=Outcome.choices, default=Outcome.PENDING)
    decision_id = models.BigIntegerField(null=True, blank=True, help_text="The decision this item got.")
    reason = models.CharField(max_length=300, blank=True, help_text="Why the item was left alone, in words.")
    from_queue_id = models.BigIntegerField(null=True, blank=True, help_text="A moved item's queue before the move.")
    entry_id = models.BigIntegerField(null=True, blank=True, help_text="The queue entry a move created.")

    class Meta:
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["bulk_action", "item_id"], name="bulk_item_once")]

    def __str__(self) -> str:
        return f"item {self.item_id} of bulk {self.bulk_action_id}: {self.outcome}"
