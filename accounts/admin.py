from datetime import timedelta

from django import forms
from django.contrib import admin
from django.contrib.admin import helpers
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from accounts.actions import MAX_DURATION, NEEDS_DURATION
from accounts.detection import validate_conditions
from accounts.models import (
    Account,
    AccountAction,
    AccountCase,
    AccountSignals,
    DetectionRule,
    EventSourceGrant,
    NoticeTemplate,
    RiskExperiment,
    RiskModelVersion,
    RuleFiring,
)
from accounts.notices import PLACEHOLDERS, template_problems
from accounts.risk_experiments import RiskExperimentError, start_experiment, stop_experiment
from accounts.risk_signals import SIGNALS
from accounts.risk_versions import RollbackRefused, after_activation, promote, roll_back
from accounts.rule_preview import preview_rule
from audit.admin_mixins import AuditedAdminMixin


class DetectionRuleForm(forms.ModelForm):
    class Meta:
        model = DetectionRule
        fields = [
            "name", "description", "position", "mode", "conditions", "case_type", "severity", "queue",
            "action", "action_duration", "review_share",
        ]  # fmt: skip

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["review_share"].required = False  # only acting rules use it

    def clean(self) -> dict:
        data = super().clean()
        problems = validate_conditions(data.get("conditions"))
        if problems:
            self.add_error("conditions", problems)
        if data.get("mode") == DetectionRule.Mode.ACTIVE and not data.get("queue"):
            self.add_error("queue", "An active rule opens cases: choose the queue they go to.")
        action, duration = data.get("action"), data.get("action_duration")
        if action in NEEDS_DURATION and not (duration and timedelta(0) < duration <= MAX_DURATION):
            self.add_error("action_duration", f"'{action}' needs a duration of at most {MAX_DURATION.days} days.")
        if action not in NEEDS_DURATION and duration:
            self.add_error("action_duration", "Only a suspension or a rate limit takes a duration.")
        share = data.get("review_share")
        if share is None:  # left empty: the model's default
            data["review_share"] = share = DetectionRule._meta.get_field("review_share").default
        if not 0 <= share <= 1:
            self.add_error("review_share", "A share between 0 and 1 (0.1: one firing in ten goes to a human).")
        return data


@admin.register(DetectionRule)
class DetectionRuleAdmin(AuditedAdminMixin, admin.ModelAdmin):
    """Ordered rules; the change form's Preview button shows the accounts the rule would have fired on."""

    form = DetectionRuleForm
    list_display = ["position", "name", "mode", "case_type", "severity", "queue"]
    list_display_links = ["name"]
    list_editable = ["position", "mode"]
    change_form_template = "admin/accounts/detectionrule/change_form.html"

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):  # noqa: ANN001, ANN201
        extra_context = {**(extra_context or {}), "signals": sorted(SIGNALS.items())}
        if request.method != "POST" or "_preview" not in request.POST:
            return super().changeform_view(request, object_id, form_url, extra_context)
        obj = self.get_object(request, object_id) if object_id else None
        form = self.get_form(request, obj, change=obj is not None)(request.POST, instance=obj)
        preview = None
        if form.is_valid():
            preview = preview_rule(conditions=form.cleaned_data["conditions"], case_type=form.cleaned_data["case_type"])
        fieldsets = list(self.get_fieldsets(request, obj))
        admin_form = helpers.AdminForm(form, fieldsets, self.get_prepopulated_fields(request, obj), model_admin=self)
        context = {
            **self.admin_site.each_context(request),
            **extra_context,
            "title": f"Preview: {form.data.get('name', '')}",
            "adminform": admin_form,
            "object_id": object_id,
            "original": obj,
            "is_popup": False,
            "to_field": None,
            "media": self.media + admin_form.media,
            "inline_admin_formsets": [],
            "errors": helpers.AdminErrorList(form, []),
            "preserved_filters": self.get_preserved_filters(request),
            "rule_preview": preview,
        }
        return self.render_change_form(
            request, context, add=obj is None, change=obj is not None, obj=obj, form_url=form_url
        )


@admin.register(Account)
class AccountAdmin(admin.ModelAdmin):
    list_display = ["author", "state", "strikes", "signed_up_at", "last_event_at"]
    list_filter = ["state"]
    search_fields = ["=author__external_id", "author__handle"]
    raw_id_fields = ["author"]
    list_select_related = ["author"]


@admin.register(AccountSignals)
class AccountSignalsAdmin(admin.ModelAdmin):
    list_display = ["account", "updated_at", "pending_since"]
    readonly_fields = ["account", "values", "state", "processed_event_id", "pending_since", "updated_at"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(AccountCase)
class AccountCaseAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "account",
        "case_type",
        "severity",
        "model_risk",
        "shadow_risk",
        "status",
        "queue",
        "opened_at",
    ]
    list_filter = ["status", "case_type", "severity"]
    raw_id_fields = ["account", "rule"]


@admin.register(RiskModelVersion)
class RiskModelVersionAdmin(admin.ModelAdmin):
    """Versions are registered by retraining runs only; an admin promotes a shadow version (audited)."""

    list_display = ["name", "status", "case_types", "decisions_until", "created_at", "activated_at"]
    list_filter = ["status"]
    readonly_fields = ["monitoring", *(f.name for f in RiskModelVersion._meta.fields)]
    actions = ["promote_to_active", "roll_back_to_previous"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.display(description="Monitoring")
    def monitoring(self, version: RiskModelVersion) -> str:
        url = reverse("account-risk-version", args=[version.pk])
        return format_html('<a href="{}">Held-out and live figures per case type, experiments</a>', url)

    @admin.action(description="Promote to active (retires the current active version)", permissions=["change"])
    def promote_to_active(self, request: HttpRequest, queryset) -> None:  # noqa: ANN001
        if queryset.count() != 1:
            self.message_user(request, "Select exactly one version to promote.", level="error")
            return
        version = promote(queryset.get(), actor=request.user)
        after_activation(version)
        self.message_user(request, f"{version.name} is now the active account risk model; open cases are rescored.")

    @admin.action(description="Roll back: re-activate the previously active version", permissions=["change"])
    def roll_back_to_previous(self, request: HttpRequest, queryset) -> None:  # noqa: ANN001 - selection unused
        try:
            version = roll_back(actor=request.user)
        except RollbackRefused as refused:
            self.message_user(request, str(refused), level="error")
            return
        after_activation(version)
        self.message_user(request, f"{version.name} is active again; open cases are rescored.")


class RiskExperimentForm(forms.ModelForm):
    class Meta:
        model = RiskExperiment
        fields = ["candidate", "share", "notes"]

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["candidate"].queryset = RiskModelVersion.objects.filter(status=RiskModelVersion.Status.SHADOW)

    def clean(self) -> dict:
        data = super().clean()
        if RiskExperiment.objects.filter(running=True).exists():
            raise forms.ValidationError("A risk model experiment is already running; stop it first.")
        if not RiskModelVersion.objects.filter(status=RiskModelVersion.Status.ACTIVE).exists():
            raise forms.ValidationError("There is no active version to compare a candidate with.")
        return data


@admin.register(RiskExperiment)
class RiskExperimentAdmin(admin.ModelAdmin):
    """Start an A/B test of a shadow risk version (split by case); stop it. Both audited by the service."""

    form = RiskExperimentForm
    list_display = ["pk", "candidate", "control", "share", "running", "started_at", "stopped_at", "stop_reason"]
    actions = ["stop"]

    def get_readonly_fields(self, request: HttpRequest, obj=None) -> list[str]:  # noqa: ANN001
        return [f.name for f in RiskExperiment._meta.fields] if obj else []

    def save_model(self, request: HttpRequest, obj: RiskExperiment, form, change: bool) -> None:  # noqa: ANN001
        if change:
            return  # read-only once started: stop it and start another
        try:
            started = start_experiment(candidate=obj.candidate, share=obj.share, actor=request.user, notes=obj.notes)
        except RiskExperimentError as exc:
            raise forms.ValidationError(str(exc)) from exc
        obj.pk, obj.control, obj.started_at = started.pk, started.control, started.started_at

    @admin.action(description="Stop the experiment (cases keep their arms)", permissions=["change"])
    def stop(self, request: HttpRequest, queryset) -> None:  # noqa: ANN001
        for experiment in queryset.filter(running=True):
            stop_experiment(experiment, actor=request.user, reason="stopped by an admin")
        self.message_user(request, "Stopped.")


@admin.register(RuleFiring)
class RuleFiringAdmin(admin.ModelAdmin):
    list_display = ["rule", "account", "shadow", "case", "fired_at"]
    list_filter = ["shadow", "rule"]
    readonly_fields = ["rule", "account", "case", "shadow", "values", "fired_at"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(AccountAction)
class AccountActionAdmin(admin.ModelAdmin):
    list_display = ["account", "kind", "state_before", "state_after", "actor", "automatic", "created_at"]
    list_filter = ["kind", "automatic"]
    readonly_fields = [field.name for field in AccountAction._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(EventSourceGrant)
class EventSourceGrantAdmin(AuditedAdminMixin, admin.ModelAdmin):
    list_display = ["token", "source"]
    raw_id_fields = ["token"]


class NoticeTemplateForm(forms.ModelForm):
    class Meta:
        model = NoticeTemplate
        fields = ["action", "case_type", "slug", "text"]
        help_texts = {
            "text": "Placeholders: " + "; ".join(f"{{{name}}}: {words}" for name, words in PLACEHOLDERS.items())
        }

    def clean_text(self) -> str:
        text = self.cleaned_data["text"]
        problems = template_problems(text)
        if problems:
            raise forms.ValidationError(problems)
        return text


@admin.register(NoticeTemplate)
class NoticeTemplateAdmin(AuditedAdminMixin, admin.ModelAdmin):
    form = NoticeTemplateForm
    list_display = ["slug", "action", "case_type", "updated_at"]
    list_filter = ["action", "case_type"]
