"""Admin for LLM endpoints, policy prompts (versioned: editing saves a new version), labelers, runs, crowd sets."""

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from audit.admin_mixins import AuditedAdminMixin
from labeling import crowd, llm_runs, training
from labeling.models import CrowdTask, CrowdTaskSet, Labeler, LLMEndpoint, LLMResult, LLMRun, PolicyPrompt


@admin.register(LLMEndpoint)
class LLMEndpointAdmin(AuditedAdminMixin, admin.ModelAdmin):
    list_display = ["name", "model", "base_url", "concurrency", "timeout_seconds", "daily_token_budget", "active"]


@admin.register(PolicyPrompt)
class PolicyPromptAdmin(admin.ModelAdmin):
    """A saved version is never changed: "Save as new" writes the next version, keeping results explainable."""

    list_display = ["category", "version", "is_default", "created_by", "created_at"]
    change_list_template = "labeling/admin_prompt_changelist.html"
    list_filter = ["category"]
    save_as = True
    actions = ["make_default"]

    def get_readonly_fields(self, request: HttpRequest, obj: PolicyPrompt | None = None) -> list[str]:
        return ["category", "policy_text", "examples", "max_rationale_chars", "is_default"] if obj else ["is_default"]

    def save_model(self, request: HttpRequest, obj: PolicyPrompt, form, change: bool) -> None:
        saved = llm_runs.create_prompt_version(
            category=obj.category,
            policy_text=obj.policy_text,
            examples=obj.examples,
            max_rationale_chars=obj.max_rationale_chars,
            user=request.user,
        )
        obj.pk, obj.version = saved.pk, saved.version

    @admin.action(description="Make the default version for its category")
    def make_default(self, request: HttpRequest, queryset: QuerySet[PolicyPrompt]) -> None:
        for prompt in queryset:
            llm_runs.make_prompt_default(prompt=prompt, user=request.user)


@admin.register(Labeler)
class LabelerAdmin(AuditedAdminMixin, admin.ModelAdmin):
    list_display = ["name", "kind", "training_weight", "active"]
    list_filter = ["kind", "active"]
    list_editable = ["training_weight", "active"]
    readonly_fields = ["kind", "user", "prompt", "endpoint", "model_name"]
    actions = ["export_snapshot"]

    @admin.action(description="Export a training snapshot with every labeler weighted above 0")
    def export_snapshot(self, request: HttpRequest, queryset: QuerySet[Labeler]) -> None:
        snapshot = training.export_snapshot_with_labelers(actor=request.user)
        listed = ", ".join(f"{w['name']} x{w['weight']} ({w['items']} items)" for w in snapshot.manifest["labelers"])
        messages.info(request, f"{snapshot}: weighted labelers: {listed or 'none'}")


@admin.register(LLMRun)
class LLMRunAdmin(admin.ModelAdmin):
    list_display = ["pk", "labeler", "state", "progress", "created_at"]
    list_filter = ["state"]
    readonly_fields = ["labeler", "state", "stop_reason", "requested_by", "started_at", "finished_at"]
    actions = ["resume"]

    @admin.display(description="progress")
    def progress(self, run: LLMRun) -> str:
        p = llm_runs.run_progress(run)
        return format_html(
            '<a href="{}">{} of {} done, {} failed</a>', reverse("llm-run", args=[run.pk]), p.done, p.total, p.failed
        )

    @admin.action(description="Resume (send the pending items again)")
    def resume(self, request: HttpRequest, queryset: QuerySet[LLMRun]) -> None:
        for run in queryset:
            llm_runs.resume_llm_run(run=run, user=request.user)


@admin.register(LLMResult)
class LLMResultAdmin(admin.ModelAdmin):
    list_display = ["item", "labeler", "state", "verdict", "probability", "latency_ms", "failure_reason"]
    list_filter = ["state", "labeler"]

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(CrowdTaskSet)
class CrowdTaskSetAdmin(AuditedAdminMixin, admin.ModelAdmin):
    list_display = ["name", "state", "labels_per_item", "gold_rate", "aggregated_at"]
    filter_horizontal = ["categories", "labelers"]
    actions = ["aggregate_now"]

    @admin.action(description="Aggregate the answers so far (Dawid-Skene)")
    def aggregate_now(self, request: HttpRequest, queryset: QuerySet[CrowdTaskSet]) -> None:
        for task_set in queryset:
            result = crowd.aggregate_task_set(task_set_id=task_set.pk)
            messages.info(request, f"{task_set}: {result.tasks} items, {result.sent_to_review} sent to a moderator")


@admin.register(CrowdTask)
class CrowdTaskAdmin(admin.ModelAdmin):
    list_display = ["task_set", "item", "gold_answer", "answers_count", "label", "confidence", "sent_to_review"]
    list_filter = ["task_set", "sent_to_review"]

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False
