from django.apps import AppConfig


class LearningConfig(AppConfig):
    name = "learning"
    verbose_name = "Learning: monitoring and experiments"

    def ready(self) -> None:
        from classifiers.signals import model_version_activated

        model_version_activated.connect(_stop_experiments_after_activation, dispatch_uid="learning.experiments")


def _stop_experiments_after_activation(sender, version_id: int, kind: str, **kwargs) -> None:  # noqa: ANN001
    """An A/B experiment compares a candidate with the active version; a new active version ends it."""
    from learning.experiments import stop_experiments_after_activation

    stop_experiments_after_activation(version_id=version_id, kind=kind)
