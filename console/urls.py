from django.urls import path

from console import api, views

urlpatterns = [
    path("console/", views.search, name="console-search"),
    path("console/team/", views.team, name="console-team"),
    path("console/filters/", views.save_filter, name="console-save-filter"),
    path("console/filters/<int:filter_id>/delete/", views.delete_filter, name="console-delete-filter"),
    path("console/bulk/confirm/", views.bulk_confirm, name="console-bulk-confirm"),
    path("console/bulk/", views.bulk_start, name="console-bulk-start"),
    path("console/bulk/<int:bulk_id>/", views.bulk_progress, name="console-bulk"),
    path("console/bulk/<int:bulk_id>/undo/", views.bulk_undo, name="console-bulk-undo"),
]

api_urlpatterns = [path("items/search", api.ItemSearchView.as_view(), name="api-items-search")]
