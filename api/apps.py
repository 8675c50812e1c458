from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "api"
    verbose_name = "API tokens"

    def ready(self) -> None:
        from api import schema_extensions  # noqa: F401 - registers the OpenAPI bearer-token scheme
