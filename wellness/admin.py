from django.contrib import admin

from audit.admin_mixins import AuditedAdminMixin
from wellness.models import ExposureCap


@admin.register(ExposureCap)
class ExposureCapAdmin(AuditedAdminMixin, admin.ModelAdmin):
    list_display = ["category", "daily_cap", "updated_at"]
    list_editable = ["daily_cap"]
