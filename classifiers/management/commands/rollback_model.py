"""Re-activate the previously active model version of a kind, retiring the current one."""

from django.core.management.base import BaseCommand, CommandError, CommandParser

from classifiers.models import ModelVersion
from classifiers.services import RegistryError, roll_back_model_version


class Command(BaseCommand):
    help = "Roll back: the version that was active before the current one becomes active again (audited)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("kind", choices=ModelVersion.Kind.values, help="Which model to roll back.")

    def handle(self, *args, kind: str, **options) -> None:
        try:
            restored = roll_back_model_version(kind=kind, actor_label="manage.py rollback_model")
        except RegistryError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(self.style.SUCCESS(f"{restored.name} is the active {kind} version again."))
