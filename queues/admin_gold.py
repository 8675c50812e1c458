"""Admin pages for gold items: items with a known answer, mixed into queues at their gold rate (queues.gold)."""

from django import forms
from django.contrib import admin
from django.db.models import Count, Q, QuerySet
from django.http import HttpRequest

from audit.admin_mixins import AuditedAdminMixin
from queues.models import Decision, GoldItem


class GoldItemForm(forms.ModelForm):
    class Meta:
        model = GoldItem
        fields = ["item", "expected_action", "expected_categories", "queues", "note", "active"]
        widgets = {"expected_categories": forms.CheckboxSelectMultiple}

    def clean(self) -> dict:
        data = super().clean()
        categories = data.get("expected_categories")
        if data.get("expected_action") == Decision.Action.REMOVE and not categories:
            self.add_error("expected_categories", "A removal needs at least one category, as a reviewer's does.")
        if data.get("expected_action") == Decision.Action.NO_VIOLATION and categories:
            self.add_error("expected_categories", "'No violation' names no violated category.")
        return data


@admin.register(GoldItem)
class GoldItemAdmin(AuditedAdminMixin, admin.ModelAdmin):
    """Every addition, change and deletion writes an audit event (AuditedAdminMixin)."""

    form = GoldItemForm
    list_display = ["item", "expected_action", "active", "answered", "right", "created_by", "created_at"]
    list_filter = ["active", "expected_action"]
    raw_id_fields = ["item"]
    filter_horizontal = ["queues"]
    search_fields = ["=item__id", "item__text", "note"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[GoldItem]:
        return (
            super()
            .get_queryset(request)
            .select_related("item", "created_by")
            .annotate(n_answers=Count("answers"), n_right=Count("answers", filter=Q(answers__correct=True)))
        )

    @admin.display(description="Answered", ordering="n_answers")
    def answered(self, gold: GoldItem) -> int:
        return gold.n_answers

    @admin.display(description="Right", ordering="n_right")
    def right(self, gold: GoldItem) -> int:
        return gold.n_right

    def save_model(self, request: HttpRequest, obj: GoldItem, form: forms.ModelForm, change: bool) -> None:
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)
