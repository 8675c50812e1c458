"""URLs of queues: the queue API and the queue overview page."""

from django.urls import path

from queues import api, views

api_urlpatterns = [
    path("queues", api.QueueListView.as_view(), name="api-queues"),
    path("queues/<int:queue_id>", api.QueueDetailView.as_view(), name="api-queue-detail"),
]

urlpatterns = [
    path("queues/<slug:slug>/overview", views.queue_overview, name="queue-overview"),
]
