"""Retrain the account risk models from the case decisions and register a version (the first becomes active)."""

from celery import current_app
from django.core.management.base import BaseCommand, CommandError

from accounts.cases import rescore_open_cases
from accounts.risk_versions import RetrainingRefused, retrain_risk_models


class Command(BaseCommand):
    help = "Train a risk model per case type from the case decisions and register it as an account risk version."

    def add_arguments(self, parser) -> None:  # noqa: ANN001
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--send", action="store_true", help="send the run to a worker instead of running it here")

    def handle(self, *args, seed: int, send: bool, **options) -> None:
        if send:
            current_app.signature("accounts.tasks.retrain_risk_model", kwargs={"actor_label": "manage.py"}).delay()
            self.stdout.write("sent accounts.tasks.retrain_risk_model to a worker")
            return
        try:
            version = retrain_risk_models(actor_label="manage.py retrain_account_risk", seed=seed)
        except RetrainingRefused as refused:
            raise CommandError(str(refused)) from refused
        rescored = rescore_open_cases()
        status = version.get_status_display().lower()
        self.stdout.write(f"registered {version.name} ({status}); rescored {rescored} open cases")
        for case_type in version.case_types:
            m = version.metrics[case_type]
            ap = m["held_out_average_precision"]
            self.stdout.write(
                f"  {case_type}: {m['train_decisions']} trained, {m['held_out_decisions']} held out, "
                f"average precision {'n/a' if ap is None else f'{ap:.3f}'}"
            )
        for why in version.metrics.get("skipped", {}).values():
            self.stdout.write(f"  skipped: {why}")
