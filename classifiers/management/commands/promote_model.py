"""Make a model version the active one of its kind."""

from django.core.management.base import BaseCommand, CommandError, CommandParser

from classifiers.models import ModelVersion
from classifiers.services import RegistryError, set_model_version_status


class Command(BaseCommand):
    help = "Promote a model version to active (the previous active version of its kind is retired)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("version", help="The version's name.")
        parser.add_argument("--status", default="active", choices=ModelVersion.Status.values)

    def handle(self, *args, version: str, status: str, **options) -> None:
        try:
            model = ModelVersion.objects.get(name=version)
        except ModelVersion.DoesNotExist as exc:
            known = ", ".join(ModelVersion.objects.values_list("name", flat=True)[:20])
            raise CommandError(f"No model version named {version!r}. Known: {known}") from exc
        try:
            set_model_version_status(version=model, status=status, actor_label="manage.py promote_model")
        except RegistryError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(self.style.SUCCESS(f"{model.name} is now {status}."))
