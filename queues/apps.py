from django.apps import AppConfig


class QueuesConfig(AppConfig):
    name = "queues"
    verbose_name = "Moderation queues and content"

    def ready(self) -> None:
        from classifiers.signals import model_version_activated
        from queues import schema  # noqa: F401 - registers the OpenAPI auth extension

        model_version_activated.connect(_reroute_after_activation, dispatch_uid="queues.reroute")
        model_version_activated.connect(_stop_experiments_after_activation, dispatch_uid="queues.experiments")


def _reroute_after_activation(sender, version_id: int, kind: str, **kwargs) -> None:  # noqa: ANN001
    """A new active model changes scores, so pending items are routed again (on a worker)."""
    from queues.tasks import reroute_pending

    reroute_pending.delay()


def _stop_experiments_after_activation(sender, version_id: int, kind: str, **kwargs) -> None:  # noqa: ANN001
    """An A/B experiment compares a candidate with the active version; a new active version ends it."""
    from queues.experiments import stop_experiments_after_activation

    stop_experiments_after_activation(version_id=version_id, kind=kind)
