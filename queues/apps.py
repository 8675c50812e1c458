from celery import current_app
from django.apps import AppConfig


class QueuesConfig(AppConfig):
    name = "queues"
    verbose_name = "Queues, routing and decisions"

    def ready(self) -> None:
        from classifiers.signals import model_version_activated

        model_version_activated.connect(_reroute_after_activation, dispatch_uid="queues.reroute")


def _reroute_after_activation(sender, version_id: int, kind: str, **kwargs) -> None:  # noqa: ANN001
    """A new active model changes scores, so pending items are routed again (on a worker); failed items are
    scored again with it (the pending ones by that rerouting, the others through a scoring message)."""
    from intake.rescoring import rescore_failed_items

    rescore_failed_items()
    current_app.signature("queues.tasks.reroute_pending").delay()
