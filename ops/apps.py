from django.apps import AppConfig


class OpsConfig(AppConfig):
    """Health checks, Prometheus metrics, request ids and structured logs: watching the service run."""

    name = "ops"
    verbose_name = "Operations"

    def ready(self) -> None:
        from ops import worker_signals

        worker_signals.connect()
