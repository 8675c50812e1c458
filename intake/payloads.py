"""What a submission carries once its input is checked (the item, its author and reports), and what it gave."""

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime

from intake.images import CheckedImage


@dataclass(frozen=True)
class AuthorSubmission:
    external_id: str
    handle: str = ""
    account_created_at: datetime | None = None
    attributes: dict = field(default_factory=dict)


@dataclass(frozen=True)
class ReportSubmission:
    reason: str
    reporter_id: str = ""
    text: str = ""
    reported_at: datetime | None = None
    external_id: str | None = None

    def fingerprint(self) -> str:
        """What makes two reports the same report, so that re-sending one counts it once.

        A report id from the sender is its identity. Without one, the same reporter giving the
        same reason and words (at the same time, when a time is sent) is the same report.
        """
        if self.external_id:
            identity = ["id", self.external_id]
        else:
            when = self.reported_at.isoformat() if self.reported_at else ""
            identity = ["content", self.reporter_id, self.reason, self.text, when]
        return hashlib.sha256(json.dumps(identity).encode()).hexdigest()


@dataclass(frozen=True)
class ItemSubmission:
    source: str
    external_id: str
    text: str = ""
    image: CheckedImage | None = None
    author: AuthorSubmission | None = None
    metadata: dict = field(default_factory=dict)
    reports: list[ReportSubmission] = field(default_factory=list)

    @property
    def key(self) -> tuple[str, str]:
        return (self.source, self.external_id)


@dataclass(frozen=True)
class SubmissionResult:
    index: int
    item_id: int
    source: str
    external_id: str
    created: bool
    state: str
    report_count: int
