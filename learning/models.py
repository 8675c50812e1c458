"""Monitoring state of model versions. (Training snapshots and runs are classifiers' models.)"""

from django.db import models


class ModelHealth(models.Model):
    """The latest monitoring verdict on one model version, written by a periodic task (learning.monitoring).

    The API and the pages read this row instead of recomputing: ``state`` is ``alert`` while live
    precision at the routing threshold is under ``MONITOR_PRECISION_FLOOR`` or the score
    distribution has drifted past ``MONITOR_DRIFT_THRESHOLD`` (PSI).
    """

    class State(models.TextChoices):
        OK = "ok", "OK"
        ALERT = "alert", "Alert"
        INSUFFICIENT = "insufficient", "Not enough labels yet"

    model_version = models.OneToOneField("classifiers.ModelVersion", on_delete=models.CASCADE, related_name="health")
    state = models.CharField(max_length=12, choices=State.choices, default=State.INSUFFICIENT)
    reasons = models.JSONField(default=list, blank=True, help_text="Why the state is what it is, in words.")
    precision = models.FloatField(null=True, blank=True, help_text="Live precision at the routing thresholds.")
    precision_support = models.PositiveIntegerField(default=0, help_text="Labelled items at or over a threshold.")
    recall = models.FloatField(null=True, blank=True)
    pr_auc = models.FloatField(null=True, blank=True)
    drift_psi = models.FloatField(null=True, blank=True, help_text="The largest PSI over categories.")
    drift_category = models.CharField(max_length=40, blank=True)
    drift_reference = models.CharField(max_length=200, blank=True, help_text="What the live scores were compared with.")
    details = models.JSONField(default=dict, blank=True, help_text="Per-category figures.")
    window_start = models.DateTimeField(null=True, blank=True)
    computed_at = models.DateTimeField()
    state_since = models.DateTimeField(help_text="When the state last changed.")

    class Meta:
        db_table = "queues_modelhealth"
        verbose_name = "model health"
        verbose_name_plural = "model health"

    def __str__(self) -> str:
        return f"{self.model_version_id}: {self.get_state_display()}"
