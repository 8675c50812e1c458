"""What review produces besides the decision itself: labels for training, QA verdicts, answers on gold
items, and each reviewer's display preferences. Tables keep their ``queues_*`` names (migration review 0001).
"""

from django.conf import settings
from django.db import models

from intake.models import Item
from queues.models import Decision, GoldItem, Queue, QueueEntry


class QAReview(models.Model):
    """A senior moderator's check of another reviewer's decision: agree, or overturn with the right call.

    One per decision. An overturn carries the action and categories the decision should have had,
    and its labels replace the decision's (see ``Label.superseded_by``).
    """

    class Verdict(models.TextChoices):
        AGREE = "agree", "Agree"
        OVERTURN = "overturn", "Overturn"

    decision = models.OneToOneField(Decision, on_delete=models.CASCADE, related_name="qa_review")
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="qa_reviews"
    )
    verdict = models.CharField(max_length=8, choices=Verdict.choices)
    new_action = models.CharField(
        max_length=14, choices=Decision.Action.choices, blank=True, help_text="For an overturn: the right action."
    )
    categories = models.ManyToManyField(
        "classifiers.PolicyCategory", blank=True, related_name="qa_reviews", help_text="For an overturn."
    )
    note = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        db_table = "queues_qareview"
        verbose_name = "QA review"
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(verdict="agree", new_action="")
                | (models.Q(verdict="overturn") & ~models.Q(new_action="")),
                name="qa_overturn_has_action",
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_verdict_display()} on decision {self.decision_id}"


class LabelQuerySet(models.QuerySet):
    def current(self) -> "LabelQuerySet":
        """The labels training may use: those no QA overturn has replaced."""
        return self.filter(superseded_by__isnull=True)


class Label(models.Model):
    """One category's verdict on one item, from a decision: what retraining learns from.

    A senior's QA overturn does not edit or delete labels: it marks the decision's labels as
    superseded and writes new ones (``qa_review`` set, reviewer = the senior). Training reads
    ``Label.objects.current()`` only.
    """

    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="labels")
    category = models.ForeignKey("classifiers.PolicyCategory", on_delete=models.CASCADE, related_name="labels")
    value = models.BooleanField(help_text="True: the item violates this category.")
    decision = models.ForeignKey(Decision, on_delete=models.CASCADE, related_name="labels")
    reviewer = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    queue = models.ForeignKey(Queue, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    selection = models.CharField(max_length=16, choices=QueueEntry.Selection.choices, blank=True)
    qa_review = models.ForeignKey(
        QAReview, null=True, blank=True, on_delete=models.CASCADE, related_name="labels",
        help_text="The QA overturn that wrote this label; empty for the original reviewer's.",
    )  # fmt: skip
    superseded_by = models.ForeignKey(
        QAReview, null=True, blank=True, on_delete=models.SET_NULL, related_name="superseded_labels",
        help_text="The QA overturn that replaced this label. Training uses only labels without one.",
    )  # fmt: skip
    created_at = models.DateTimeField(auto_now_add=True)

    objects = LabelQuerySet.as_manager()

    class Meta:
        db_table = "queues_label"
        constraints = [
            models.UniqueConstraint(
                fields=["decision", "category"],
                condition=models.Q(superseded_by__isnull=True),
                name="one_current_label_per_category",
            )
        ]
        # The API's cursor pages over current labels, in (created_at, id) order.
        indexes = [
            models.Index(
                fields=["created_at", "id"],
                condition=models.Q(superseded_by__isnull=True),
                name="label_current_created_id",
            )
        ]

    def __str__(self) -> str:
        return f"item {self.item_id} {self.category_id}={self.value}"


class GoldAnswer(models.Model):
    """A reviewer's decision on a gold entry, scored against the known answer."""

    decision = models.OneToOneField(Decision, on_delete=models.CASCADE, related_name="gold_answer")
    gold_item = models.ForeignKey(GoldItem, on_delete=models.CASCADE, related_name="answers")
    reviewer = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    action_correct = models.BooleanField()
    categories_correct = models.BooleanField()
    correct = models.BooleanField(help_text="Both the action and the categories match the known answer.")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        db_table = "queues_goldanswer"

    def __str__(self) -> str:
        return f"gold answer on item {self.gold_item.item_id}: {'right' if self.correct else 'wrong'}"


class ReviewerPreference(models.Model):
    """Per-reviewer display settings."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="review_preference")
    blur_images = models.BooleanField(default=True, help_text="Show images blurred until revealed.")

    class Meta:
        db_table = "queues_reviewerpreference"

    def __str__(self) -> str:
        return f"preferences of {self.user}"
