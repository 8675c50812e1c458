"""Admin pages for items, their reports and authors."""

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from intake.models import Author, Item, Report
from intake.rescoring import rescore_failed_items


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
    actions = ["score_again"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.action(description="Score again (failed items)", permissions=["change"])
    def score_again(self, request: HttpRequest, queryset: QuerySet) -> None:
        sent = rescore_failed_items(item_ids=list(queryset.values_list("pk", flat=True)))
        skipped = queryset.count() - sent
        self.message_user(
            request,
            f"{sent} failed items sent to be scored again"
            + (f"; {skipped} left alone (not failed, decided, or held by a reviewer)." if skipped else "."),
        )


@admin.register(Author)
class AuthorAdmin(admin.ModelAdmin):
    list_display = ["handle", "source", "external_id", "account_created_at"]
    search_fields = ["handle", "=external_id"]
    list_filter = ["source"]
