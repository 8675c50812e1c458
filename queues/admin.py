from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone

from queues.models import ApiToken, Author, Item, Report


class ReportInline(admin.TabularInline):
    model = Report
    extra = 0
    can_delete = False
    fields = ["reason", "reporter_id", "text", "reported_at"]
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: Item | None = None) -> bool:
        return False


@admin.register(Item)
class ItemAdmin(admin.ModelAdmin):
    list_display = ["id", "source", "external_id", "kind", "state", "report_count", "created_at"]
    list_filter = ["state", "source", "image_format"]
    search_fields = ["=external_id", "text", "author__handle"]
    date_hierarchy = "created_at"
    inlines = [ReportInline]
    # Content is evidence: it is shown, never edited here.
    readonly_fields = [
        "source", "external_id", "author", "text", "image", "image_sha256", "image_bytes", "image_format",
        "image_width", "image_height", "metadata", "report_count", "created_at", "updated_at",
    ]  # fmt: skip
    list_select_related = ["author"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(Author)
class AuthorAdmin(admin.ModelAdmin):
    list_display = ["handle", "source", "external_id", "account_created_at"]
    search_fields = ["handle", "=external_id"]
    list_filter = ["source"]


class ApiTokenForm(forms.ModelForm):
    scopes = forms.MultipleChoiceField(choices=ApiToken.Scope.choices, widget=forms.CheckboxSelectMultiple)

    class Meta:
        model = ApiToken
        fields = ["name", "user", "scopes", "expires_at", "revoked_at"]


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    form = ApiTokenForm
    list_display = ["name", "prefix", "user", "scopes", "created_at", "last_used_at", "expires_at", "revoked_at"]
    readonly_fields = ["prefix", "created_at", "last_used_at"]
    list_filter = ["revoked_at"]
    search_fields = ["name", "prefix", "user__username"]
    actions = ["revoke"]

    def save_model(self, request: HttpRequest, obj: ApiToken, form: forms.ModelForm, change: bool) -> None:
        secret = None if change else obj.issue_secret()
        super().save_model(request, obj, form, change)
        if secret:
            messages.warning(
                request,
                f"The token's secret is {secret} — copy it now: "
                "it is stored only as a hash and will not be shown again.",
            )

    @admin.action(description="Revoke the selected tokens")
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiToken]) -> None:
        count = queryset.filter(revoked_at__isnull=True).update(revoked_at=timezone.now())
        self.message_user(request, f"Revoked {count} token(s).")
