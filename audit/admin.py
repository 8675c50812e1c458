from django.contrib import admin
from django.contrib.admin.options import IncorrectLookupParameters
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest, StreamingHttpResponse
from django.urls import URLPattern, path
from django.utils import timezone

from audit.exports import FORMATS, export_lines
from audit.models import AuditEvent
from audit.services import record_event


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    """Searchable, read-only, and exportable as CSV or JSON Lines (what the list shows, filters and search applied)."""

    list_display = ["created_at", "actor_label", "action", "object_type", "object_repr", "ip_address"]
    list_filter = ["action", "object_type"]
    search_fields = ["actor_label", "action", "object_repr", "=object_id", "=ip_address"]
    date_hierarchy = "created_at"

    def get_readonly_fields(self, request: HttpRequest, obj: AuditEvent | None = None) -> list[str]:
        return [field.name for field in AuditEvent._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: AuditEvent | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: AuditEvent | None = None) -> bool:
        return False

    def get_urls(self) -> list[URLPattern]:
        export = path("export.<str:fmt>", self.admin_site.admin_view(self.export_view), name="audit_auditevent_export")
        return [export, *super().get_urls()]

    def export_view(self, request: HttpRequest, fmt: str) -> HttpResponse:
        """Stream the events the change list shows for the same query string (staff with view permission)."""
        if fmt not in FORMATS:
            raise Http404(f"Unknown export format {fmt!r}.")
        if not self.has_view_permission(request):
            raise PermissionDenied
        try:
            events = self.get_changelist_instance(request).get_queryset(request)
        except IncorrectLookupParameters:
            return HttpResponseBadRequest("These filters do not apply to the audit log.")
        # Who took a copy of the log, and of which part of it, is itself on record.
        record_event(action="audit.exported", target=request.user, actor=request.user,
                     after={"format": fmt, "query": request.GET.urlencode()})  # fmt: skip
        response = StreamingHttpResponse(export_lines(events, fmt), content_type=FORMATS[fmt])
        response["Content-Disposition"] = f'attachment; filename="audit-{timezone.now():%Y%m%d-%H%M%S}.{fmt}"'
        return response
