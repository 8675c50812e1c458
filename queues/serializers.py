"""API output of queues with their live stats."""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from queues.models import Queue


class QueueOutSerializer(serializers.ModelSerializer):
    deadline_seconds = serializers.SerializerMethodField(help_text="Target time from entering the queue to a decision.")
    pending = serializers.IntegerField(help_text="Items waiting (not claimed).")
    oldest_enqueued_at = serializers.DateTimeField(allow_null=True, help_text="When the oldest waiting item entered.")
    oldest_age_seconds = serializers.SerializerMethodField()
    past_deadline = serializers.IntegerField(help_text="Waiting items already past their deadline.")
    stats_as_of = serializers.DateTimeField(help_text="When the three figures above were computed.")

    class Meta:
        model = Queue
        fields = ["id", "slug", "name", "description", "ordering", "is_default", "deadline_seconds", "pending",
                  "oldest_enqueued_at", "oldest_age_seconds", "past_deadline", "stats_as_of"]  # fmt: skip

    def get_deadline_seconds(self, queue: Queue) -> int:
        return int(queue.deadline.total_seconds())

    @extend_schema_field(serializers.IntegerField(allow_null=True))
    def get_oldest_age_seconds(self, queue: Queue) -> int | None:
        oldest = queue.oldest_enqueued_at
        return None if oldest is None else max(0, int((queue.stats_as_of - oldest).total_seconds()))
