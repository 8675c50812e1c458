"""Masking personal data in text shown to crowd labelers: e-mail addresses, phone numbers, secret-bearing URLs.

Crowd workers are outside the trust boundary of the moderation team, so what they see is reduced to what the
question needs. A URL keeps its host (the host often is the signal: a scam domain) but loses its query string
and any path segment that looks like a token, because links in reported messages often carry password-reset,
unsubscribe or session tokens.
"""

import re

EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
URL = re.compile(r"\b(?:https?://|www\.)[^\s<>\"']+", re.IGNORECASE)
# 7 to 15 digits, optionally with a leading +, grouped by spaces, dots, dashes or parentheses.
PHONE = re.compile(r"(?<![\w.])\+?\(?\d(?:[\s.()-]{0,2}\d){6,14}(?![\w])")
# A path segment of 16+ characters mixing letters and digits, or 24+ of base64/hex alphabet: a token, not a word.
TOKEN_SEGMENT = re.compile(r"^(?=[^/]*\d)(?=[^/]*[A-Za-z])[A-Za-z0-9_=-]{16,}$|^[A-Za-z0-9_=+-]{24,}$")

EMAIL_MASK = "[email]"
PHONE_MASK = "[phone]"
TOKEN_MASK = "[token]"


def _mask_url(match: re.Match) -> str:
    url = match.group(0)
    trailing = ""
    while url and url[-1] in ".,;:!?)":
        trailing = url[-1] + trailing
        url = url[:-1]
    base, _, query = url.partition("?")
    base, _, fragment = base.partition("#")
    scheme, sep, rest = base.partition("://")
    if not sep:
        scheme, rest = "", base
    host, _, path = rest.partition("/")
    segments = [TOKEN_MASK if TOKEN_SEGMENT.match(s) else s for s in path.split("/")] if path else []
    masked = (f"{scheme}://" if sep else "") + host + ("/" + "/".join(segments) if path else "")
    if query or fragment:
        masked += "?" + TOKEN_MASK
    return masked + trailing


def mask_personal_data(text: str) -> str:
    """``text`` with e-mail addresses, phone numbers and URL secrets replaced by placeholders."""
    text = EMAIL.sub(EMAIL_MASK, text)
    text = URL.sub(_mask_url, text)
    return PHONE.sub(PHONE_MASK, text)
