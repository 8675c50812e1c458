from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html

from audit.admin_mixins import AuditedAdminMixin
from classifiers import imagenet_table
from classifiers.models import ImageNetClassPrior, ModelVersion, PolicyCategory
from classifiers.services import RegistryError, roll_back_model_version, set_model_version_status


@admin.register(PolicyCategory)
class PolicyCategoryAdmin(AuditedAdminMixin, admin.ModelAdmin):
    list_display = ["name", "slug", "severity", "position", "is_active", "updated_at"]
    list_editable = ["severity", "position", "is_active"]
    search_fields = ["slug", "name", "description"]
    prepopulated_fields = {"slug": ["name"]}


@admin.register(ModelVersion)
class ModelVersionAdmin(admin.ModelAdmin):
    """Versions are registered by training or a management command; here admins change their status."""

    list_display = ["name", "kind", "architecture", "status", "trained_categories", "created_at", "activated_at"]
    list_filter = ["kind", "status"]
    search_fields = ["name", "architecture", "training_snapshot"]
    readonly_fields = [
        "name", "kind", "architecture", "status", "categories", "artifact", "artifact_sha256", "backbone_file",
        "backbone_sha256", "provenance", "training_snapshot", "metrics", "created_at", "activated_at",
    ]  # fmt: skip
    fields = ["monitoring", "re_embedding", *readonly_fields, "notes"]
    # Each action needs the change permission: without it, Django offers an action to anyone who may view the list.
    actions = ["promote", "roll_back", "shadow", "retire", "make_candidate"]

    def get_readonly_fields(self, request: HttpRequest, obj: ModelVersion | None = None) -> list[str]:
        return ["monitoring", "re_embedding", *self.readonly_fields]

    @admin.display(description="Stored images in this space")
    def re_embedding(self, version: ModelVersion) -> str:
        # Jobs are started in the learning app (it reads intake's stored images); linked by URL name, not imported.
        if version.kind != ModelVersion.Kind.IMAGE:
            return "—"
        job = version.reembedding_jobs.order_by("-created_at").first()
        try:
            jobs = reverse("admin:classifiers_reembeddingjob_changelist") + f"?version__id__exact={version.pk}"
            start = reverse("admin:classifiers_reembeddingjob_add") + f"?version={version.pk}"
        except NoReverseMatch:
            return job.progress if job else "—"
        if job is None:
            return format_html('No re-embedding job yet. <a href="{}">Re-embed stored images</a>', start)
        return format_html(
            '{}: {}; embedded {}, already there {}, failed {}. <a href="{}">Jobs</a> · <a href="{}">Re-embed again</a>',
            job.get_state_display(), job.progress, job.embedded, job.skipped, job.failed, jobs, start,
        )  # fmt: skip

    @admin.display(description="Monitoring")
    def monitoring(self, version: ModelVersion) -> str:
        # The page lives in the queues app (it needs reviewer labels); linked by URL name, not imported.
        try:
            url = reverse("model-monitor", args=[version.pk])
        except NoReverseMatch:
            return "—"
        return format_html('<a href="{}">Precision, calibration, drift and experiments</a>', url)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.display(description="Trained categories")
    def trained_categories(self, version: ModelVersion) -> str:
        return ", ".join(version.categories) or "none (prior only)"

    def _set(self, request: HttpRequest, queryset: QuerySet[ModelVersion], status: str) -> None:
        for version in queryset:
            try:
                set_model_version_status(version=version, status=status, actor=request.user)
                self.message_user(request, f"{version.name}: now {status}.")
            except RegistryError as exc:
                self.message_user(request, f"{version.name}: {exc}", level=messages.ERROR)

    @admin.action(
        description="Promote to active (retires the current active version of that kind)", permissions=["change"]
    )
    def promote(self, request: HttpRequest, queryset: QuerySet[ModelVersion]) -> None:
        if queryset.count() != 1:
            self.message_user(request, "Promote exactly one version at a time.", level=messages.ERROR)
            return
        self._set(request, queryset, ModelVersion.Status.ACTIVE)

    @admin.action(
        description="Roll back: re-activate the previously active version of that kind", permissions=["change"]
    )
    def roll_back(self, request: HttpRequest, queryset: QuerySet[ModelVersion]) -> None:
        for kind in sorted(set(queryset.values_list("kind", flat=True))):
            try:
                restored = roll_back_model_version(kind=kind, actor=request.user)
                self.message_user(request, f"{kind}: {restored.name} is active again.")
            except RegistryError as exc:
                self.message_user(request, f"{kind}: {exc}", level=messages.ERROR)

    @admin.action(description="Run in shadow (scores new items, does not route)", permissions=["change"])
    def shadow(self, request: HttpRequest, queryset: QuerySet[ModelVersion]) -> None:
        self._set(request, queryset, ModelVersion.Status.SHADOW)

    @admin.action(description="Retire", permissions=["change"])
    def retire(self, request: HttpRequest, queryset: QuerySet[ModelVersion]) -> None:
        self._set(request, queryset, ModelVersion.Status.RETIRED)

    @admin.action(description="Back to candidate", permissions=["change"])
    def make_candidate(self, request: HttpRequest, queryset: QuerySet[ModelVersion]) -> None:
        self._set(request, queryset, ModelVersion.Status.CANDIDATE)


@admin.register(ImageNetClassPrior)
class ImageNetClassPriorAdmin(AuditedAdminMixin, admin.ModelAdmin):
    """The table from ImageNet classes the pretrained backbone sees to cold-start priors (issue 20, point 3).

    The form validates each row (``ImageNetClassPrior.clean``: the class exists, weight and cap in range) and
    every save or delete clears the cached table, so the next image scored uses the edit.
    """

    list_display = ["imagenet_index", "class_name", "category", "weight", "cap", "is_active", "note", "updated_at"]
    list_editable = ["weight", "cap", "is_active"]
    list_filter = ["category", "is_active"]
    search_fields = ["note", "category__slug"]
    fields = ["imagenet_index", "class_name", "category", "weight", "cap", "is_active", "note"]
    readonly_fields = ["class_name"]

    @admin.display(description="ImageNet class")
    def class_name(self, row: ImageNetClassPrior) -> str:
        return imagenet_table.class_name(row.imagenet_index) if row.imagenet_index is not None else "—"

    def save_model(self, request: HttpRequest, obj: ImageNetClassPrior, form: object, change: bool) -> None:
        super().save_model(request, obj, form, change)
        imagenet_table.forget_prior_rows()

    def delete_model(self, request: HttpRequest, obj: ImageNetClassPrior) -> None:
        super().delete_model(request, obj)
        imagenet_table.forget_prior_rows()

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[ImageNetClassPrior]) -> None:
        super().delete_queryset(request, queryset)
        imagenet_table.forget_prior_rows()
