from datetime import timedelta

from django import forms
from django.contrib import admin
from django.contrib.admin import helpers
from django.db.models import Count, Q, QuerySet
from django.http import HttpRequest
from django.utils import timezone

from audit.admin_mixins import AuditedAdminMixin
from classifiers.models import PolicyCategory
from queues import admin_gold  # noqa: F401 - its import registers the gold item admin
from queues.enqueue import load_rules, preview_routing
from queues.models import Decision, Queue, QueueEntry, RoutingRule
from queues.routing import Rule, validate_conditions
from queues.routing_preview import preview_routing_diff, shadow_tally
from queues.rule_builder import rule_fields


@admin.register(Queue)
class QueueAdmin(AuditedAdminMixin, admin.ModelAdmin):
    list_display = ["name", "ordering", "deadline", "is_default", "pending"]
    filter_horizontal = ["members", "member_groups"]
    prepopulated_fields = {"slug": ["name"]}
    search_fields = ["name", "description"]

    @admin.display(description="Pending")
    def pending(self, queue: Queue) -> int:
        return queue.entries.filter(status=QueueEntry.Status.PENDING).count()


class RoutingRuleForm(forms.ModelForm):
    class Meta:
        model = RoutingRule
        fields = [
            "name", "position", "is_active", "is_shadow", "conditions", "action", "queue", "sample_rate", "qa_queue"
        ]  # fmt: skip

    def clean(self) -> dict:
        data = super().clean()
        categories = set(PolicyCategory.objects.values_list("slug", flat=True))
        problems = validate_conditions(data.get("conditions"), categories=categories)
        if problems:
            self.add_error("conditions", problems)
        if data.get("action") == RoutingRule.Action.ROUTE and not data.get("queue"):
            self.add_error("queue", "A rule that sends items to a queue needs the queue.")
        if (
            data.get("action") != RoutingRule.Action.ROUTE
            and (data.get("sample_rate") or 0) > 0
            and not data.get("qa_queue")
        ):
            self.add_error("qa_queue", "A sampled automatic action needs the QA queue its sample goes to.")
        return data


@admin.register(RoutingRule)
class RoutingRuleAdmin(AuditedAdminMixin, admin.ModelAdmin):
    """Ordered rules; the change form has a Preview button that routes recent items without saving."""

    form = RoutingRuleForm
    list_display = ["position", "name", "action", "queue", "sample_rate", "is_active", "is_shadow", "would_have"]
    list_display_links = ["name"]
    list_editable = ["position", "is_active"]
    change_form_template = "admin/queues/routingrule/change_form.html"
    PREVIEW_ITEMS = 5000
    SHADOW_DAYS = 7

    class Media:
        js = ["app/rule_builder.js"]
        css = {"all": ["app/rule_builder.css"]}

    def get_queryset(self, request: HttpRequest) -> QuerySet[RoutingRule]:
        since = timezone.now() - timedelta(days=self.SHADOW_DAYS)
        return (
            super()
            .get_queryset(request)
            .annotate(would_have_count=Count("shadow_routings", filter=Q(shadow_routings__created_at__gte=since)))
        )

    @admin.display(description="Would have routed (7 days)", ordering="would_have_count")
    def would_have(self, rule: RoutingRule) -> str:
        return f"{rule.would_have_count:,}" if rule.is_shadow else "—"

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):  # noqa: ANN001, ANN201
        # The rule builder's field catalogue (static/app/rule_builder.js), and a shadow rule's would-have counts.
        extra_context = {**(extra_context or {}), "rule_fields": rule_fields()}
        if object_id:
            extra_context["shadow_tally"] = shadow_tally(rule_id=object_id, days=self.SHADOW_DAYS)
        if request.method != "POST" or "_preview" not in request.POST:
            return super().changeform_view(request, object_id, form_url, extra_context)
        obj = self.get_object(request, object_id) if object_id else None
        form = self.get_form(request, obj, change=obj is not None)(request.POST, instance=obj)
        preview = self._preview(form, obj) if form.is_valid() else None
        if preview is not None:
            edited = self._edited_rules(form, obj)
            extra_context["routing_diff"] = preview_routing_diff(edited, last_n=self.PREVIEW_ITEMS)
        fieldsets = list(self.get_fieldsets(request, obj))
        admin_form = helpers.AdminForm(form, fieldsets, self.get_prepopulated_fields(request, obj), model_admin=self)
        context = {
            **self.admin_site.each_context(request),
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
            "routing_preview": preview,
            "preview_items": self.PREVIEW_ITEMS,
            **extra_context,
        }
        return self.render_change_form(
            request, context, add=obj is None, change=obj is not None, obj=obj, form_url=form_url
        )

    def _preview(self, form: forms.ModelForm, obj: RoutingRule | None) -> list:
        return preview_routing(self._edited_rules(form, obj), last_n=self.PREVIEW_ITEMS)

    def _edited_rules(self, form: forms.ModelForm, obj: RoutingRule | None) -> list[Rule]:
        """Today's active rules with this rule as edited (added, changed, or left out when made inactive).

        A shadow rule is previewed as if it were live: the preview shows what turning it on would change.
        """
        edited = form.save(commit=False)
        rules = [
            rule
            for rule in load_rules()
            if obj is None or rule.id != obj.pk  # the saved version of this rule is replaced by the edit
        ]
        candidate = Rule(
            id=obj.pk if obj else 0,
            conditions=edited.conditions,
            action=edited.action,
            queue_id=edited.queue_id,
            sample_rate=edited.sample_rate,
            qa_queue_id=edited.qa_queue_id,
        )
        if edited.is_active:
            positions = {r.pk: r.position for r in RoutingRule.objects.all()}
            rules.append(candidate)
            rules.sort(key=lambda r: (edited.position if r is candidate else positions.get(r.id, 0), r.id))
        return rules


@admin.register(QueueEntry)
class QueueEntryAdmin(admin.ModelAdmin):
    list_display = ["item", "queue", "status", "risk", "risk_category", "selection", "enqueued_at", "claimed_by"]
    list_filter = ["status", "queue", "selection"]
    raw_id_fields = ["item", "claimed_by", "skipped_by", "rule"]
    readonly_fields = [field.name for field in QueueEntry._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(Decision)
class DecisionAdmin(admin.ModelAdmin):
    list_display = ["item", "action", "reviewer", "automatic", "created_at"]
    list_filter = ["action", "automatic"]
    raw_id_fields = ["item", "entry", "reviewer", "applied_from"]

    def has_change_permission(self, request: HttpRequest, obj: Decision | None = None) -> bool:
        return False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
