from django.urls import path

from queues import (
    api,
    api_catalog,
    api_decisions,
    api_experiments,
    api_models,
    api_review,
    api_snapshots,
    views,
    views_models,
    views_qa,
    views_quality,
)

api_urlpatterns = [
    path("items", api.ItemCollectionView.as_view(), name="api-items"),
    path("items/<int:item_id>", api.ItemDetailView.as_view(), name="api-item-detail"),
    path("items/<int:item_id>/ticket", api.ItemTicketView.as_view(), name="api-item-ticket"),
    path("items/<int:item_id>/decision", api_decisions.ItemDecisionView.as_view(), name="api-item-decision"),
    path("decisions", api_decisions.DecisionListView.as_view(), name="api-decisions"),
    path("queues", api_catalog.QueueListView.as_view(), name="api-queues"),
    path("queues/<int:queue_id>", api_catalog.QueueDetailView.as_view(), name="api-queue-detail"),
    path("categories", api_catalog.CategoryListView.as_view(), name="api-categories"),
    path("model-versions", api_catalog.ModelVersionListView.as_view(), name="api-model-versions"),
    path("model-versions/<int:version_id>/health", api_models.ModelHealthView.as_view(), name="api-model-health"),
    path(
        "model-versions/<int:version_id>/status",
        api_experiments.ModelVersionStatusView.as_view(),
        name="api-model-version-status",
    ),
    path("model-versions/rollback", api_experiments.ModelRollbackView.as_view(), name="api-model-versions-rollback"),
    path("experiments", api_experiments.ExperimentCollectionView.as_view(), name="api-experiments"),
    path(
        "experiments/<int:experiment_id>", api_experiments.ExperimentDetailView.as_view(), name="api-experiment-detail"
    ),
    path(
        "experiments/<int:experiment_id>/stop", api_experiments.ExperimentStopView.as_view(), name="api-experiment-stop"
    ),
    path("labels", api_catalog.LabelListView.as_view(), name="api-labels"),
    path("training-snapshots", api_snapshots.TrainingSnapshotListView.as_view(), name="api-training-snapshots"),
    path(
        "training-snapshots/<int:snapshot_id>",
        api_snapshots.TrainingSnapshotDetailView.as_view(),
        name="api-training-snapshot-detail",
    ),
    path(
        "training-snapshots/<int:snapshot_id>/items.jsonl",
        api_snapshots.TrainingSnapshotItemsView.as_view(),
        name="api-training-snapshot-items",
    ),
    path("queues/<int:queue_id>/claim", api_review.ClaimView.as_view(), name="api-queue-claim"),
    path("entries/<int:entry_id>/heartbeat", api_review.HeartbeatView.as_view(), name="api-entry-heartbeat"),
    path("entries/<int:entry_id>/release", api_review.ReleaseView.as_view(), name="api-entry-release"),
    path("entries/<int:entry_id>/escalate", api_review.EscalateView.as_view(), name="api-entry-escalate"),
    path("entries/<int:entry_id>/decision", api_review.DecisionView.as_view(), name="api-entry-decision"),
]

urlpatterns = [
    path("", views.home, name="home"),
    path("queues/<slug:slug>/", views.work, name="work"),
    path("queues/<slug:slug>/overview", views.queue_overview, name="queue-overview"),
    path("queues/<slug:slug>/entries/<int:entry_id>/", views.entry, name="entry"),
    path("queues/<slug:slug>/entries/<int:entry_id>/decide", views.decide, name="decide"),
    path("queues/<slug:slug>/entries/<int:entry_id>/skip", views.skip, name="skip"),
    path("queues/<slug:slug>/entries/<int:entry_id>/escalate", views.escalate, name="escalate"),
    path("queues/<slug:slug>/entries/<int:entry_id>/heartbeat", views.heartbeat, name="heartbeat"),
    path("queues/<slug:slug>/decisions/<int:decision_id>/undo", views.undo, name="undo"),
    path("items/<int:item_id>/image", views.item_image, name="item-image"),
    path("preferences/blur", views.toggle_blur, name="toggle-blur"),
    path("models/<int:version_id>/", views_models.model_monitor, name="model-monitor"),
    path("models/<int:version_id>/recompute", views_models.model_monitor_refresh, name="model-monitor-refresh"),
    path("models/<int:version_id>/status", views_models.model_monitor_status, name="model-monitor-status"),
    path("qa/", views_qa.qa_next, name="qa"),
    path("qa/decisions/<int:decision_id>/", views_qa.qa_decision, name="qa-decision"),
    path("qa/decisions/<int:decision_id>/reveal", views_qa.qa_reveal, name="qa-reveal"),
    path("qa/decisions/<int:decision_id>/verdict", views_qa.qa_verdict, name="qa-verdict"),
    path("quality/", views_quality.quality, name="quality"),
]
