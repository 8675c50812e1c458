from django.apps import AppConfig


class QueuesConfig(AppConfig):
    name = "queues"
    verbose_name = "Moderation queues and content"

    def ready(self) -> None:
        from queues import schema  # noqa: F401 - registers the OpenAPI auth extension
