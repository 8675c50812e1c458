"""API input and output of decisions and labels."""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from api.serializers import StrictCharField, StrictSerializer
from queues.models import Decision
from review.models import Label
from review.rows import labeler_of


class DecisionListOutSerializer(serializers.ModelSerializer):
    item_id = serializers.IntegerField()
    queue = serializers.SerializerMethodField(help_text="Slug of the queue it was taken in; null for automatic ones.")
    reviewer = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    categories = serializers.SlugRelatedField(slug_field="slug", many=True, read_only=True)
    applied_from = serializers.PrimaryKeyRelatedField(
        read_only=True, allow_null=True, help_text="The decision on a near-duplicate this one copies."
    )
    qa_verdict = serializers.SerializerMethodField(help_text="A senior's QA verdict (agree, overturn), if any.")

    class Meta:
        model = Decision
        fields = [
            "id", "item_id", "queue", "reviewer", "action", "categories", "note", "automatic", "applied_from",
            "qa_verdict", "created_at",
        ]  # fmt: skip

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_queue(self, decision: Decision) -> str | None:
        return decision.entry.queue.slug if decision.entry_id else None

    @extend_schema_field(serializers.ChoiceField(choices=["agree", "overturn"], allow_null=True))
    def get_qa_verdict(self, decision: Decision) -> str | None:
        review = getattr(decision, "qa_review", None)
        return review.verdict if review else None


class LabelOutSerializer(serializers.ModelSerializer):
    item_id = serializers.IntegerField()
    decision_id = serializers.IntegerField()
    category = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    reviewer = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    queue = serializers.SlugRelatedField(slug_field="slug", read_only=True, allow_null=True)
    from_qa = serializers.SerializerMethodField(help_text="True: written by a senior's QA overturn.")
    labeler = serializers.SerializerMethodField(
        help_text="Who made the label: kind `moderator`, `qa` (a senior's overturn) or `automatic`, and their name."
    )

    class Meta:
        model = Label
        fields = ["id", "item_id", "decision_id", "category", "value", "reviewer", "queue", "selection", "from_qa",
                  "labeler", "created_at"]  # fmt: skip

    def get_from_qa(self, label: Label) -> bool:
        return label.qa_review_id is not None

    @extend_schema_field(
        {
            "type": "object",
            "properties": {"kind": {"type": "string", "enum": ["moderator", "qa", "automatic"]},
                           "name": {"type": "string", "nullable": True}},
        }
    )  # fmt: skip
    def get_labeler(self, label: Label) -> dict:
        reviewer = label.reviewer.get_username() if label.reviewer else None
        return labeler_of(label.qa_review_id, label.decision.automatic, reviewer)


# review.decisions.check_decision's rules between action and categories, for the schema (api.schema_extensions).
DECISION_RULES = {
    "anyOf": [
        {"properties": {"action": {"enum": [Decision.Action.NEEDS_CONTEXT.value]}}},
        {
            "properties": {"action": {"enum": [Decision.Action.REMOVE.value]}, "categories": {"minItems": 1}},
            "required": ["categories"],
        },
        {"properties": {"action": {"enum": [Decision.Action.NO_VIOLATION.value]}, "categories": {"maxItems": 0}}},
    ]
}


class ItemDecisionInSerializer(StrictSerializer):
    schema_rules = DECISION_RULES

    action = serializers.ChoiceField(
        choices=[Decision.Action.NO_VIOLATION, Decision.Action.REMOVE, Decision.Action.NEEDS_CONTEXT]
    )
    categories = serializers.ListField(
        child=StrictCharField(max_length=40), required=False, default=list, max_length=50,
        help_text="Slugs of the violated categories (GET /api/v1/categories).",
    )  # fmt: skip
    note = StrictCharField(max_length=2000, required=False, allow_blank=True, default="")
    apply_to_group = serializers.BooleanField(required=False, default=False)
