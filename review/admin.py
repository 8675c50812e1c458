"""Admin pages for QA reviews."""

from django.contrib import admin
from django.http import HttpRequest

from review.models import QAReview


@admin.register(QAReview)
class QAReviewAdmin(admin.ModelAdmin):
    """Read-only: verdicts are recorded by the QA review page, with their labels and audit event."""

    list_display = ["decision", "verdict", "new_action", "reviewer", "created_at"]
    list_filter = ["verdict", "new_action"]
    raw_id_fields = ["decision", "reviewer"]
    readonly_fields = ["decision", "reviewer", "verdict", "new_action", "categories", "note", "created_at"]
    list_select_related = ["decision", "reviewer"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: QAReview | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: QAReview | None = None) -> bool:
        return False
