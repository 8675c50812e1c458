"""Templated notices: the words the platform shows a user after an action, from ``NoticeTemplate`` rows.

A reviewer may still write a notice of their own; when they do not (and an acting detection rule never
does), the template of the action and the case's type is used, else the action's general one, else none.
Placeholders are filled by name from a fixed set, so a template can name nothing but these.
"""

import string
from datetime import datetime

from accounts.models import Account, AccountCase, NoticeTemplate

PLACEHOLDERS = {
    "handle": "The account's handle (or its external id).",
    "until": "When a suspension or rate limit ends (UTC), or 'further notice'.",
    "case_type": "What the case was about, in words ('Account takeover').",
}


def template_problems(text: str) -> list[str]:
    """What is wrong with a template's text, in words an admin can act on; empty when it is fine."""
    try:
        named = [field for _, field, _, _ in string.Formatter().parse(text) if field is not None]
    except ValueError as exc:
        return [f"Braces must pair up: {exc}. Write {{{{ and }}}} for a literal brace."]
    unknown = sorted({field for field in named if field not in PLACEHOLDERS})
    if unknown:
        return [f"Unknown placeholders {unknown}; use {', '.join('{' + p + '}' for p in PLACEHOLDERS)}."]
    return []


def template_for(kind: str, case: AccountCase | None) -> NoticeTemplate | None:
    """The template of ``kind`` for the case's type, else the one for any type."""
    case_type = case.case_type if case is not None else ""
    candidates = NoticeTemplate.objects.filter(action=kind, case_type__in={case_type, ""})
    return min(candidates, key=lambda template: template.case_type == "", default=None)


def render(template: NoticeTemplate, *, account: Account, case: AccountCase | None, until: datetime | None) -> str:
    values = {
        "handle": account.author.handle or account.author.external_id,
        "until": f"{until:%Y-%m-%d %H:%M} UTC" if until else "further notice",
        "case_type": case.get_case_type_display() if case is not None else "a review of your account",
    }
    return template.text.format_map(values)
