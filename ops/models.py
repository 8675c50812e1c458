"""What the operations app stores: a heartbeat row per Celery worker process, and beat's last tick.

Heartbeats live in the database (not the cache) because it is the one store every process shares in both
set-ups: the embedded app's cache is per process. A row is a handful of bytes written every few seconds.
"""

from django.db import models


class Heartbeat(models.Model):
    """The last sign of life of one Celery worker process (``worker``) or of beat's schedule (``beat``)."""

    class Kind(models.TextChoices):
        WORKER = "worker", "Worker process"
        BEAT = "beat", "Beat schedule"

    name = models.CharField(max_length=200, unique=True, help_text="host/pid for a worker process; 'beat' for beat.")
    kind = models.CharField(max_length=8, choices=Kind.choices)
    hostname = models.CharField(max_length=200, blank=True)
    pid = models.PositiveIntegerField(null=True, blank=True)
    queues = models.JSONField(default=list, blank=True, help_text="The Celery queues the worker consumes.")
    models_ready = models.BooleanField(
        default=False, help_text="The worker loaded the active models and can score without loading them first."
    )
    # Per Celery queue: {"inference": {"succeeded": 10, "failed": 1, "retried": 0}}, since the process started.
    task_counts = models.JSONField(default=dict, blank=True)
    started_at = models.DateTimeField()
    seen_at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["kind", "name"]

    def __str__(self) -> str:
        return self.name
