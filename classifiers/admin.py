from django.contrib import admin

from classifiers.models import PolicyCategory


@admin.register(PolicyCategory)
class PolicyCategoryAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "severity", "position", "is_active", "updated_at"]
    list_editable = ["severity", "position", "is_active"]
    search_fields = ["slug", "name", "description"]
    prepopulated_fields = {"slug": ["name"]}
