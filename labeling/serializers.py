"""API shapes of the labeling app: LLM runs and results, crowd task sets and answers. Read-only."""

from rest_framework import serializers

from labeling.llm_runs import run_progress
from labeling.models import CrowdAssignment, CrowdTaskSet, Labeler, LLMResult, LLMRun


class LabelerSerializer(serializers.ModelSerializer):
    prompt_version = serializers.IntegerField(source="prompt.version", allow_null=True, default=None)
    category = serializers.CharField(source="prompt.category.slug", allow_null=True, default=None)

    class Meta:
        model = Labeler
        fields = ["id", "kind", "name", "model_name", "prompt_version", "category", "training_weight"]


class LLMRunSerializer(serializers.ModelSerializer):
    labeler = LabelerSerializer()
    progress = serializers.SerializerMethodField()

    class Meta:
        model = LLMRun
        fields = ["id", "labeler", "state", "stop_reason", "progress", "created_at", "started_at", "finished_at"]

    def get_progress(self, run: LLMRun) -> dict:
        p = run_progress(run)
        return {
            "total": p.total,
            "done": p.done,
            "failed": p.failed,
            "pending": p.pending,
            "cached": p.cached,
            "tokens": p.tokens,
            "cost": p.cost,
        }


class LLMResultSerializer(serializers.ModelSerializer):
    labeler = LabelerSerializer()
    item_id = serializers.IntegerField()
    run_id = serializers.IntegerField()
    cost = serializers.FloatField()

    class Meta:
        model = LLMResult
        fields = ["id", "run_id", "item_id", "labeler", "state", "verdict", "probability", "rationale",
                  "prompt_tokens", "completion_tokens", "latency_ms", "cost", "attempts", "failure_reason",
                  "created_at", "finished_at"]  # fmt: skip


class CrowdTaskSetSerializer(serializers.ModelSerializer):
    categories = serializers.SlugRelatedField(slug_field="slug", many=True, read_only=True)
    tasks = serializers.IntegerField(source="tasks.count")

    class Meta:
        model = CrowdTaskSet
        fields = ["id", "name", "state", "categories", "labels_per_item", "gold_rate", "agreement_threshold",
                  "tasks", "created_at", "aggregated_at"]  # fmt: skip


class CrowdAnswerSerializer(serializers.ModelSerializer):
    """A crowd answer: which labeler (never the user's identity beyond the labeler name) said what, on which item."""

    task_set_id = serializers.IntegerField(source="task.task_set_id")
    item_id = serializers.IntegerField(source="task.item_id")
    labeler = serializers.SerializerMethodField()
    gold = serializers.BooleanField(source="task.is_gold")

    class Meta:
        model = CrowdAssignment
        fields = ["id", "task_set_id", "item_id", "labeler", "answer", "gold", "seconds", "answered_at"]

    def get_labeler(self, assignment: CrowdAssignment) -> dict:
        return {"kind": Labeler.Kind.CROWD, "name": f"crowd:{assignment.labeler.get_username()}"}
