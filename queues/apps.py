from django.apps import AppConfig


class QueuesConfig(AppConfig):
    name = "queues"
    verbose_name = "Moderation queues and content"

    def ready(self) -> None:
        from classifiers.signals import model_version_activated
        from queues import schema  # noqa: F401 - registers the OpenAPI auth extension

        model_version_activated.connect(_reroute_after_activation, dispatch_uid="queues.reroute")


def _reroute_after_activation(sender, version_id: int, kind: str, **kwargs) -> None:  # noqa: ANN001
    """A new active model changes scores, so pending items are routed again (on a worker)."""
    from queues.tasks import reroute_pending

    reroute_pending.delay()
