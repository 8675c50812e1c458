"""Prepare the demo's slow parts in the background, writing progress the home page shows.

``make run`` used to do all of this before starting the web server: on a busy 2-core machine a newcomer waited
a quarter of an hour for the first page, most of it embedding 2,000 mails for the demo text model. Now the
web server and worker start once the demo items are loaded (the worker scores them with the cold-start prior),
and this command does the rest beside them. When the trained text model and the pretrained image backbone
become active, the pending items are scored again with them (queues' reaction to an activation).

Each step is one existing management command, called by name (they belong to apps this one must not
import), each safe to run again; a second ``make run`` finds the preparation done, or still running, and
starts nothing.
"""

import os
import subprocess
import sys
import time
import traceback
from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser

from ops.demo_progress import DemoProgress, State, now_text, read_progress, write_progress

CORPUS = Path("var/datasets/spam-assassin")  # where scripts/fetch-datasets.sh puts it, as `make run` runs here
# (what the home page says, the command and its arguments), in order: the quick ones first, so their content
# is there within a minute, then the long one.
STEPS: list[tuple[str, str, dict]] = [
    # First: the worker that honcho starts beside this waits for these files (a lock) rather than exporting twice.
    ("Exporting the models scoring workers run (ONNX)", "prepare_inference_models", {}),
    ("Loading a simulated day of account events (synthetic)", "load_demo_accounts", {}),
    ("Setting up the demo labelers (LLM prompt, crowd tasks)", "setup_demo_labeling", {}),
    ("Installing the pretrained image backbone", "install_pretrained_backbone", {"activate": True}),
    ("Training the demo text model on 2,000 SpamAssassin mails", "prepare_demo_model", {"spamassassin": CORPUS}),
]


class Command(BaseCommand):
    help = "Train the demo models and load demo accounts and labelers, writing progress for the home page."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--background", action="store_true", help="Start the preparation as a detached process and return."
        )

    def handle(self, *args, background: bool, **options) -> None:
        progress = read_progress()
        if progress is not None and progress.state == State.DONE:
            self.stdout.write("The demo is prepared already.")
            return
        # The pid is this process's own when `--background` started it (and wrote the progress first).
        if progress is not None and progress.pid != os.getpid() and progress.is_alive():
            self.stdout.write(f"The demo is being prepared already (process {progress.pid}).")
            return
        if background:
            self._start_detached()
            return
        self._prepare()

    def _start_detached(self) -> None:
        log = Path(settings.VAR_DIR) / "prepare_demo.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("a", encoding="utf-8") as handle:
            # A session of its own: Ctrl-C on `make run` stops the servers, not a half-trained model.
            process = subprocess.Popen(
                [sys.executable, "manage.py", "prepare_demo"],
                cwd=settings.BASE_DIR,
                stdout=handle,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        # Written here too, so the first page already shows it even before the child writes.
        write_progress(_fresh_progress(pid=process.pid, log=str(log)))
        self.stdout.write(f"Preparing the demo models in the background (process {process.pid}, log {log}).")

    def _prepare(self) -> None:
        log = str(Path(settings.VAR_DIR) / "prepare_demo.log")
        progress = _fresh_progress(pid=os.getpid(), log=log)
        write_progress(progress)
        for index, (_, command, arguments) in enumerate(STEPS):
            progress.step, progress.step_started_at = index, now_text()
            write_progress(progress)
            started = time.monotonic()
            try:
                call_command(command, stdout=self.stdout, stderr=self.stderr, **arguments)
            except BaseException as exc:  # noqa: BLE001 - any failure is shown on the home page, then re-raised
                progress.state, progress.finished_at = State.FAILED, now_text()
                progress.error = f"{command}: {type(exc).__name__}: {exc}"[:500]
                write_progress(progress)
                traceback.print_exc()
                raise
            progress.seconds_per_step[command] = round(time.monotonic() - started, 1)
        progress.step, progress.state, progress.finished_at = len(STEPS), State.DONE, now_text()
        write_progress(progress)
        self.stdout.write(self.style.SUCCESS(f"The demo is prepared: {progress.seconds_per_step}"))


def _fresh_progress(*, pid: int, log: str) -> DemoProgress:
    now = now_text()
    return DemoProgress(
        state=State.RUNNING,
        steps=[label for label, _, _ in STEPS],
        pid=pid,
        started_at=now,
        step_started_at=now,
        log=log,
    )
