from django.urls import path

from queues import api, api_review, views

api_urlpatterns = [
    path("items", api.ItemCollectionView.as_view(), name="api-items"),
    path("items/<int:item_id>", api.ItemDetailView.as_view(), name="api-item-detail"),
    path("queues/<int:queue_id>/claim", api_review.ClaimView.as_view(), name="api-queue-claim"),
    path("entries/<int:entry_id>/heartbeat", api_review.HeartbeatView.as_view(), name="api-entry-heartbeat"),
    path("entries/<int:entry_id>/release", api_review.ReleaseView.as_view(), name="api-entry-release"),
    path("entries/<int:entry_id>/escalate", api_review.EscalateView.as_view(), name="api-entry-escalate"),
    path("entries/<int:entry_id>/decision", api_review.DecisionView.as_view(), name="api-entry-decision"),
]

urlpatterns = [
    path("", views.home, name="home"),
]
