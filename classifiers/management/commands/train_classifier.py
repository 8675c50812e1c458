"""Train a candidate model version from a labelled JSONL dataset and print its held-out metrics."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone
from tqdm import tqdm

from classifiers.datasets import DatasetError, read_dataset
from classifiers.models import ModelVersion, PolicyCategory
from classifiers.services import RegistryError, set_model_version_status
from classifiers.training import (
    dataset_fingerprint,
    train_image_version,
    train_text_version,
    train_tuned_text_version,
)


class Command(BaseCommand):
    help = (
        "Train a text or image classifier from a JSONL dataset ({'text' or 'image', 'labels': {category: 0|1}}), "
        "evaluate it on a held-out split, and register it as a candidate."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--kind", required=True, choices=ModelVersion.Kind.values)
        parser.add_argument("--dataset", required=True, type=Path)
        parser.add_argument("--name", help="Version name (default: <kind>-<date>-<dataset hash>).")
        parser.add_argument("--held-out", type=float, default=0.2, help="Share of examples kept for evaluation.")
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--activate", action="store_true", help="Promote the new version to active.")
        parser.add_argument(
            "--tune-encoder",
            action="store_true",
            help="Text: tune the encoder's last layer on the labels too, as a retraining run does from "
            "RETRAIN_TEXT_TUNE_MIN_LABELS labels (its settings; measured on one held-out share, not by "
            "cross-validation; about 0.2 CPU-seconds per text, twice).",
        )

    def handle(self, *args, kind: str, dataset: Path, name: str | None, held_out: float, seed: int, **options) -> None:
        if not 0 < held_out < 1:
            raise CommandError("--held-out must be between 0 and 1.")
        if options["tune_encoder"] and kind != ModelVersion.Kind.TEXT:
            raise CommandError("--tune-encoder is for text models (an image run fine-tunes in a retraining run).")
        categories = set(PolicyCategory.objects.values_list("slug", flat=True))
        try:
            examples = read_dataset(dataset, kind=kind, categories=categories)
        except DatasetError as exc:
            raise CommandError(str(exc)) from exc
        fingerprint = dataset_fingerprint(dataset)
        name = name or f"{kind}-{timezone.now():%Y%m%d-%H%M}-{fingerprint[:8]}"
        snapshot = f"{dataset.name} sha256:{fingerprint} ({len(examples)} examples)"
        bars: dict[str, tqdm] = {}

        def progress(stage: str, done: int, total: int) -> None:
            key = stage.split(" ")[0]
            bar = bars.get(key) or bars.setdefault(key, tqdm(total=total, desc=key, unit="step", leave=True))
            bar.set_postfix_str(stage[len(key) :].strip(" ()"))
            bar.update(done - bar.n)

        try:
            if kind == ModelVersion.Kind.TEXT and options["tune_encoder"]:
                result = train_tuned_text_version(
                    examples=examples, name=name, snapshot=snapshot, held_out=held_out, seed=seed, progress=progress
                )
            elif kind == ModelVersion.Kind.TEXT:
                result = train_text_version(
                    examples=examples, name=name, snapshot=snapshot, held_out=held_out, seed=seed, progress=progress
                )
            else:
                backbone = ModelVersion.objects.get(kind=ModelVersion.Kind.IMAGE, status=ModelVersion.Status.ACTIVE)
                result = train_image_version(
                    examples=examples, name=name, snapshot=snapshot, backbone=backbone, held_out=held_out, seed=seed,
                    progress=progress,
                )  # fmt: skip
        except (RegistryError, ValueError) as exc:
            raise CommandError(str(exc)) from exc
        finally:
            for bar in bars.values():
                bar.close()
        self._print_metrics(result.metrics, result.train_rows, result.held_out_rows, result.evaluation)
        self.stdout.write(self.style.SUCCESS(f"Registered {result.version.name} as a candidate."))
        if options["activate"]:
            set_model_version_status(version=result.version, status="active", actor_label="manage.py train_classifier")
            self.stdout.write(self.style.SUCCESS(f"{result.version.name} is now the active {kind} model."))

    def _print_metrics(self, metrics: dict, train_rows: int, held_out_rows: int, evaluation: str = "") -> None:
        if evaluation:
            self.stdout.write(f"Held-out metrics ({evaluation}):")
        elif train_rows == held_out_rows:
            self.stdout.write(f"Cross-validated metrics (out-of-fold, {held_out_rows} examples; trained on all):")
        else:
            self.stdout.write(f"Held-out metrics ({held_out_rows} examples; trained on {train_rows}):")
        self.stdout.write(
            f"  {'category':<12} {'prec':>6} {'recall':>6} {'F1':>6} {'ROC-AUC':>8} {'PR-AUC':>7} {'ECE':>6}"
        )

        def fmt(value: float | None, width: int) -> str:
            return f"{value:>{width}.3f}" if value is not None else f"{'—':>{width}}"

        for slug, row in metrics.items():
            self.stdout.write(
                f"  {slug:<12} {fmt(row['precision'], 6)} {fmt(row['recall'], 6)} {fmt(row['f1'], 6)} "
                f"{fmt(row['roc_auc'], 8)} {fmt(row['pr_auc'], 7)} {fmt(row['ece'], 6)}"
            )
            for key, label in (("f1_ci95", "F1"), ("pr_auc_ci95", "PR-AUC")):
                if row.get(key):
                    low, high = row[key]
                    self.stdout.write(f"  {'':<12} {label} 95% interval {low:.3f}-{high:.3f}")
