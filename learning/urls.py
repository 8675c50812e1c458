"""URLs of learning: the model pages and the model, experiment and training snapshot APIs."""

from django.urls import path

from learning import api_catalog, api_experiments, api_models, api_snapshots, views

api_urlpatterns = [
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
]

urlpatterns = [
    path("models/<int:version_id>/", views.model_monitor, name="model-monitor"),
    path("models/<int:version_id>/recompute", views.model_monitor_refresh, name="model-monitor-refresh"),
    path("models/<int:version_id>/status", views.model_monitor_status, name="model-monitor-status"),
]
