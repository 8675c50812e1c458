from django.apps import AppConfig


class LearningConfig(AppConfig):
    name = "learning"
    verbose_name = "Learning: monitoring and experiments"

    def ready(self) -> None:
        from classifiers.signals import model_version_activated

        model_version_activated.connect(_stop_experiments_after_activation, dispatch_uid="learning.experiments")
        model_version_activated.connect(_first_monitoring_at_activation, dispatch_uid="learning.monitoring")
        model_version_activated.connect(_reembed_after_activation, dispatch_uid="learning.reembedding")


def _stop_experiments_after_activation(sender, version_id: int, kind: str, **kwargs) -> None:  # noqa: ANN001
    """An A/B experiment compares a candidate with the active version; a new active version ends it."""
    from learning.experiments import stop_experiments_after_activation

    stop_experiments_after_activation(version_id=version_id, kind=kind)


def _first_monitoring_at_activation(sender, version_id: int, kind: str, **kwargs) -> None:  # noqa: ANN001
    """A newly active model gets its first monitoring figures now, not at the next periodic run (up to an hour).

    Sent by name to a worker, like "Recompute now": computing the report reads the labelled scores of the window.
    """
    from celery import current_app

    current_app.signature("queues.tasks.refresh_model_health", args=[version_id]).delay()


def _reembed_after_activation(sender, version_id: int, kind: str, **kwargs) -> None:  # noqa: ANN001
    """A newly active image backbone is a new embedding space: stored images are embedded into it in the background."""
    from learning.reembedding import start_after_activation

    if kind == "image":
        start_after_activation(version_id=version_id)
