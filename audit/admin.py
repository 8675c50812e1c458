from django.contrib import admin
from django.http import HttpRequest

from audit.models import AuditEvent


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    """Searchable and read-only: the audit log is never edited."""

    list_display = ["created_at", "actor_label", "action", "object_type", "object_repr", "ip_address"]
    list_filter = ["action", "object_type"]
    search_fields = ["actor_label", "action", "object_repr", "=object_id"]
    date_hierarchy = "created_at"

    def get_readonly_fields(self, request: HttpRequest, obj: AuditEvent | None = None) -> list[str]:
        return [field.name for field in AuditEvent._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: AuditEvent | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: AuditEvent | None = None) -> bool:
        return False
