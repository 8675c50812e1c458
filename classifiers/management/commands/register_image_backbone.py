"""Register an operator-supplied timm checkpoint (e.g. ImageNet weights) as an image model version's backbone."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from classifiers.models import ModelVersion
from classifiers.services import RegistryError, register_model_version, set_model_version_status


class Command(BaseCommand):
    help = (
        "Check that a timm checkpoint file loads into the named architecture, then register it as a candidate "
        "image version (prior-only until a policy head is trained on it with train_classifier --kind image)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--checkpoint", required=True, type=Path, help="A timm checkpoint or state_dict file.")
        parser.add_argument("--architecture", required=True, help="timm model name, e.g. mobilenetv3_small_100.")
        parser.add_argument("--name", required=True, help="Name of the new model version.")
        parser.add_argument("--activate", action="store_true", help="Make it the active image version.")

    def handle(self, *args, checkpoint: Path, architecture: str, name: str, activate: bool, **options) -> None:
        from classifiers.inference.image import ImageModel
        from classifiers.inference_exports import export_image_version

        if not checkpoint.is_file():
            raise CommandError(f"{checkpoint}: no such file")
        try:
            model = ImageModel.load(checkpoint, architecture, [])
        except (ValueError, RuntimeError, KeyError) as exc:
            raise CommandError(f"{checkpoint} does not load into {architecture}: {exc}") from exc
        try:
            version = register_model_version(
                name=name,
                kind=ModelVersion.Kind.IMAGE,
                architecture=architecture,
                backbone_path=checkpoint,
                notes=f"Operator-supplied checkpoint {checkpoint.name}; embedding dim {model.dim}.",
                actor=None,
            )
            export_image_version(version)  # before activation, so workers find it ready
            if activate:
                set_model_version_status(
                    version=version, status="active", actor_label="manage.py register_image_backbone"
                )
        except RegistryError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            self.style.SUCCESS(f"Registered {version.name} ({architecture}, dim {model.dim}, {version.status}).")
        )
