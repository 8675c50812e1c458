"""Progress of the demo's background preparation (``manage.py prepare_demo``), for the home page.

``make run`` starts the web server as soon as the database and the demo items are in place, and prepares the
slow parts (training the demo text model, the pretrained image backbone, demo labelers and accounts) in a
background process. That process writes where it is to one small JSON file under ``VAR_DIR``; the home page
reads it. A file, not a table: the preparation runs beside the web server on one machine, and the file is
written atomically (a rename), so a reader never sees half of it.
"""

import json
import os
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from django.conf import settings


class State:
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


@dataclass
class DemoProgress:
    state: str
    steps: list[str]
    step: int = 0  # index into steps of the step running now (len(steps) when done)
    pid: int = 0
    started_at: str = ""
    step_started_at: str = ""
    finished_at: str = ""
    error: str = ""
    log: str = ""
    seconds_per_step: dict[str, float] = field(default_factory=dict)

    @property
    def current(self) -> str:
        return self.steps[self.step] if self.step < len(self.steps) else ""

    @property
    def step_number(self) -> int:
        return min(self.step + 1, len(self.steps))

    @property
    def percent(self) -> int:
        return round(100 * self.step / max(1, len(self.steps)))

    @property
    def started(self) -> datetime | None:
        return datetime.fromisoformat(self.step_started_at) if self.step_started_at else None

    def is_alive(self) -> bool:
        """Whether the process that writes this is still running (a stale 'running' after a reboot is not)."""
        if self.state != State.RUNNING or not self.pid:
            return False
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True


def progress_path() -> Path:
    return Path(settings.VAR_DIR) / "demo_progress.json"


def now_text() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def read_progress() -> DemoProgress | None:
    """The last progress written, or None when no preparation ever started here (or the file is unreadable)."""
    try:
        data = json.loads(progress_path().read_text(encoding="utf-8"))
        return DemoProgress(**data)
    except (OSError, ValueError, TypeError):
        return None


def write_progress(progress: DemoProgress) -> None:
    path = progress_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".tmp")
    partial.write_text(json.dumps(asdict(progress), indent=1), encoding="utf-8")
    partial.replace(path)  # atomic: the home page reads the old file or the new one
