"""Admin page for re-embedding jobs (model of ``classifiers``; starting one needs ``intake``'s stored images).

A job is written by its worker, so the page is read-only, except for adding one: "Add re-embedding job",
choose an image version, save; the job is queued on the training workers (``learning.reembedding``).
The model version's own admin page shows the latest job's progress and links here.
"""

from django import forms
from django.contrib import admin, messages
from django.http import HttpRequest

from classifiers.models import ModelVersion, ReembeddingJob
from learning.reembedding import start_reembedding


class StartForm(forms.ModelForm):
    class Meta:
        model = ReembeddingJob
        fields = ["version"]

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["version"].queryset = ModelVersion.objects.filter(kind=ModelVersion.Kind.IMAGE)
        self.fields["version"].help_text = "Stored images are embedded into this image version's backbone space."


@admin.register(ReembeddingJob)
class ReembeddingJobAdmin(admin.ModelAdmin):
    list_display = ["id", "version", "state", "progress", "embedded", "skipped", "failed", "backbone", "created_at"]
    list_filter = ["state", "version"]
    readonly_fields = [
        "version", "backbone", "state", "trigger", "requested_by", "progress", "cursor", "total", "processed",
        "embedded", "skipped", "failed", "last_error", "attempts", "created_at", "started_at", "finished_at",
    ]  # fmt: skip

    def get_form(self, request: HttpRequest, obj: ReembeddingJob | None = None, **kwargs):  # noqa: ANN201
        if obj is None:
            kwargs["form"] = StartForm
        return super().get_form(request, obj, **kwargs)

    def get_fields(self, request: HttpRequest, obj: ReembeddingJob | None = None) -> list[str]:
        return ["version"] if obj is None else self.readonly_fields

    def get_readonly_fields(self, request: HttpRequest, obj: ReembeddingJob | None = None) -> list[str]:
        return [] if obj is None else self.readonly_fields

    def has_change_permission(self, request: HttpRequest, obj: ReembeddingJob | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: ReembeddingJob | None = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: ReembeddingJob, form, change: bool) -> None:  # noqa: ANN001
        open_jobs = ReembeddingJob.objects.filter(version=obj.version, state__in=ReembeddingJob.OPEN_STATES)
        if open_jobs.exists():
            self.message_user(
                request, f"A job for {obj.version.name} is already open: no second one.", messages.WARNING
            )
        job = start_reembedding(version=obj.version, trigger=ReembeddingJob.Trigger.ADMIN, actor=request.user)
        obj.pk = job.pk  # the admin redirects to the job it started (or found open)
