"""Export the ONNX files scoring workers run (the text encoder, image backbones) before a worker needs them."""

import time

from django.core.management.base import BaseCommand, CommandParser


class Command(BaseCommand):
    help = (
        "Export the int8 ONNX text encoder and the ONNX backbone of every active, shadow and candidate image "
        "version into the ONNX cache, unless already there, so a scoring worker starts without exporting them."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--text-only", action="store_true", help="Only the text encoder (reads no database: CI runs it first)."
        )

    def handle(self, *args, text_only: bool, **options) -> None:
        from classifiers.inference_exports import export_text_encoder, prepare_inference_models

        started = time.monotonic()
        files = [export_text_encoder()] if text_only else prepare_inference_models()
        for path in files:
            self.stdout.write(f"{path}")
        self.stdout.write(self.style.SUCCESS(f"{len(files)} ONNX files ready in {time.monotonic() - started:.1f} s."))
