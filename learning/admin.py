"""Admin pages for A/B experiments and model health. Starting and stopping go through the audited services."""

from django import forms
from django.contrib import admin, messages
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from audit.services import record_event
from classifiers.models import Experiment, ModelVersion
from learning import (
    admin_reembedding,  # noqa: F401 - its import registers the re-embedding job admin
    admin_training,  # noqa: F401 - its import registers the snapshot and run admin
    experiments,
)
from learning.models import ModelHealth


class ExperimentForm(forms.ModelForm):
    candidate = forms.ModelChoiceField(
        queryset=ModelVersion.objects.exclude(status=ModelVersion.Status.ACTIVE),
        help_text="Put in shadow status when the experiment starts, so it scores every new item.",
    )
    share = forms.FloatField(
        min_value=0.01, max_value=0.99, initial=0.2, help_text="Share of new items routed by the candidate (arm B)."
    )

    class Meta:
        model = Experiment
        fields = ["candidate", "share", "notes"]

    def clean(self) -> dict:
        data = super().clean()
        candidate = data.get("candidate")
        if candidate and Experiment.objects.filter(kind=candidate.kind, stopped_at__isnull=True).exists():
            self.add_error("candidate", f"An experiment on {candidate.kind} models is already running; stop it first.")
        return data


@admin.register(Experiment)
class ExperimentAdmin(admin.ModelAdmin):
    list_display = ["id", "kind", "candidate", "control", "share", "started_at", "stopped_at", "comparison"]
    list_filter = ["kind"]
    actions = ["stop"]

    def get_form(self, request: HttpRequest, obj: Experiment | None = None, **kwargs):  # noqa: ANN201
        if obj is None:
            kwargs["form"] = ExperimentForm
        return super().get_form(request, obj, **kwargs)

    def get_fields(self, request: HttpRequest, obj: Experiment | None = None) -> list[str]:
        if obj is None:
            return ["candidate", "share", "notes"]
        return ["comparison", "kind", "candidate", "control", "share", "notes", "created_by", "started_at",
                "stopped_at", "stop_reason"]  # fmt: skip

    def get_readonly_fields(self, request: HttpRequest, obj: Experiment | None = None) -> list[str]:
        if obj is None:
            return []
        return [f for f in self.get_fields(request, obj) if f != "notes"]

    @admin.display(description="Comparison")
    def comparison(self, experiment: Experiment) -> str:
        url = reverse("model-monitor", args=[experiment.candidate_id]) + f"#experiment-{experiment.pk}"
        return format_html('<a href="{}">Arms compared</a>', url)

    def save_model(self, request: HttpRequest, obj: Experiment, form, change: bool) -> None:  # noqa: ANN001
        if change:
            # Only the notes are editable once it runs.
            with transaction.atomic():
                before = Experiment.objects.get(pk=obj.pk).notes
                Experiment.objects.filter(pk=obj.pk).update(notes=obj.notes)
                record_event(action="experiment.changed", target=obj, actor=request.user,
                             before={"notes": before}, after={"notes": obj.notes})  # fmt: skip
            return
        try:
            started = experiments.start_experiment(
                candidate=obj.candidate, share=obj.share, actor=request.user, notes=obj.notes
            )
        except experiments.ExperimentError as exc:
            self.message_user(request, f"Not started: {exc}", level=messages.ERROR)
            return
        obj.pk = started.pk

    def has_delete_permission(self, request: HttpRequest, obj: Experiment | None = None) -> bool:
        return False  # entries keep their arm: the record of what routed them stays

    @admin.action(description="Stop (routing by the active model only from now on)")
    def stop(self, request: HttpRequest, queryset: QuerySet[Experiment]) -> None:
        for experiment in queryset.filter(stopped_at__isnull=True):
            experiments.stop_experiment(experiment=experiment, actor=request.user, reason="stopped by an admin")
            self.message_user(request, f"Experiment {experiment.pk} stopped.")


@admin.register(ModelHealth)
class ModelHealthAdmin(admin.ModelAdmin):
    list_display = ["model_version", "state", "precision", "precision_support", "drift_psi", "computed_at"]
    list_filter = ["state"]
    readonly_fields = [
        "model_version", "state", "reasons", "precision", "precision_support", "recall", "pr_auc", "drift_psi",
        "drift_category", "drift_reference", "window_start", "computed_at", "state_since",
    ]  # fmt: skip
    exclude = ["details"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: ModelHealth | None = None) -> bool:
        return False
