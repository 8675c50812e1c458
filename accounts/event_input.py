"""The shape of an account event as the platform sends it, checked with pydantic.

pydantic's validators run in compiled code: a batch of 1,000 events is checked in a few milliseconds,
where DRF's serializers cost about a millisecond per nested object (see ``queues.item_input``). The same
model documents the API through drf-spectacular's pydantic support, so the documentation and the checks
are one definition. ``extra="forbid"`` makes an unknown field an error that names it.
"""

import hashlib
import ipaddress
import re
from collections import Counter
from datetime import datetime, timedelta
from decimal import Decimal
from functools import cached_property
from typing import Annotated, Any

import orjson
from django.conf import settings
from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from accounts.models import AccountEvent

SOURCE_PATTERN = r"^[A-Za-z0-9_.:-]{1,64}$"  # the same as an item's source (queues.serializers)
EVENT_TYPES = frozenset(AccountEvent.Type.values)
PAYMENT_TYPES = frozenset(
    {
        AccountEvent.Type.PAYMENT_SUCCEEDED,
        AccountEvent.Type.PAYMENT_FAILED,
        AccountEvent.Type.PAYMENT_REFUNDED,
        AccountEvent.Type.PAYMENT_CHARGED_BACK,
    }
)
# A fingerprint that is 12 to 19 digits is most likely a card number sent by mistake; refuse to store it.
_LOOKS_LIKE_A_CARD_NUMBER = re.compile(r"[0-9 -]{12,23}")

# What the documentation promises for an amount: pydantic's own schema for Decimal uses a look-ahead pattern
# that schema-driven test generators (schemathesis) cannot produce strings for.
AMOUNT_SCHEMA = {
    "anyOf": [
        # In cents: a number with more decimals is refused (max_digits, decimal_places), so the schema says so.
        {"type": "number", "minimum": 0, "maximum": 999_999_999_999.99, "multipleOf": 0.01},
        {"type": "string", "pattern": r"^\d{1,12}(\.\d{1,2})?$"},
    ]
}
# What _parses_as_ip accepts, for the schema.
IP_SCHEMA = {"type": "string", "anyOf": [{"format": "ipv4"}, {"format": "ipv6"}]}
OUTSIDE_WINDOW = "outside_time_window"  # the pydantic error type of an occurred_at too old or too far ahead
Text = Annotated[str, StringConstraints(strip_whitespace=False, max_length=512)]


class EventIn(BaseModel):
    """One account event. ``id`` is the client's: sending the same event again is a no-op."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False, frozen=True)

    id: Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=r"^[\x21-\x7e]+$")] = Field(
        description="The client's id of the event, unique per source (printable ASCII, no spaces)."
    )
    source: Annotated[str, StringConstraints(pattern=SOURCE_PATTERN)] = Field(
        description="The platform or surface, as in items (e.g. `creatorhub`)."
    )
    account: Annotated[str, StringConstraints(min_length=1, max_length=255)] = Field(
        description="The account's id on the platform: the same as an item author's `external_id`."
    )
    handle: Annotated[str, StringConstraints(max_length=255)] | None = Field(
        default=None, description="The account's current handle, if it changed or is new."
    )
    type: str = Field(
        description="What happened: " + ", ".join(f"`{t}`" for t in AccountEvent.Type.values) + ".",
        json_schema_extra={"enum": sorted(EVENT_TYPES)},
    )
    occurred_at: AwareDatetime = Field(description="When it happened, with a time zone (ISO 8601).")
    ip: Annotated[str, WithJsonSchema(IP_SCHEMA)] | None = Field(
        default=None, description="IPv4 or IPv6 address of the client."
    )
    user_agent: Text | None = None
    device_id: Annotated[str, StringConstraints(min_length=1, max_length=128)] | None = Field(
        default=None, description="The platform's stable device identifier."
    )
    country: Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")] | None = Field(
        default=None, description="ISO 3166-1 alpha-2 country code, upper case."
    )
    payment_fingerprint: Annotated[str, StringConstraints(min_length=8, max_length=128)] | None = Field(
        default=None, description="A hash identifying the payment instrument; never a card number."
    )
    amount: Annotated[Decimal, Field(ge=0, max_digits=14, decimal_places=2), WithJsonSchema(AMOUNT_SCHEMA)] | None = (
        Field(default=None, description="Payment amount in `currency` (needs `currency`).")
    )
    currency: Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")] | None = Field(
        default=None, description="ISO 4217 code, upper case."
    )
    outcome: Annotated[str, StringConstraints(max_length=64)] | None = Field(
        default=None, description="The platform's outcome or reason code, e.g. `bad_password`, `insufficient_funds`."
    )
    request_count: Annotated[int, Field(ge=0, le=2**31 - 1, strict=True)] | None = Field(
        default=None, description="Traffic summaries: requests in the window."
    )
    distinct_creators: Annotated[int, Field(ge=0, le=2**31 - 1, strict=True)] | None = Field(
        default=None, description="Traffic summaries: distinct creators' pages viewed in the window."
    )
    window_seconds: Annotated[int, Field(ge=1, le=86_400, strict=True)] | None = Field(
        default=None, description="Traffic summaries: the length of the window, in seconds."
    )

    @field_validator("type")
    @classmethod
    def _known_type(cls, value: str) -> str:
        if value not in EVENT_TYPES:
            raise ValueError(f"unknown event type {value!r}; known: {', '.join(sorted(EVENT_TYPES))}")
        return value

    @field_validator("ip")
    @classmethod
    def _parses_as_ip(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            return str(ipaddress.ip_address(value))
        except ValueError:
            raise ValueError(f"{value[:60]!r} is not an IPv4 or IPv6 address") from None

    @field_validator("payment_fingerprint")
    @classmethod
    def _not_a_card_number(cls, value: str | None) -> str | None:
        if value is not None and _LOOKS_LIKE_A_CARD_NUMBER.fullmatch(value):
            raise ValueError("looks like a card number; send a hash of the instrument, never the number")
        return value

    @field_validator("occurred_at")
    @classmethod
    def _not_too_far_off(cls, value: datetime, info: ValidationInfo) -> datetime:
        context = info.context or {}
        now, max_age, max_ahead = context.get("now"), context.get("max_age"), context.get("max_ahead")
        # Its own error type: a well-formed time outside the window is refused with 409, not 400 (parse_events).
        if now is not None and value < now - max_age:
            raise PydanticCustomError(
                OUTSIDE_WINDOW, f"more than {max_age.days} days in the past; older events are not accepted"
            )
        if now is not None and value > now + max_ahead:
            raise PydanticCustomError(
                OUTSIDE_WINDOW, f"more than {int(max_ahead.total_seconds())} seconds in the future; check the clock"
            )
        return value

    @model_validator(mode="after")
    def _fields_that_go_together(self) -> "EventIn":
        if self.amount is not None and self.currency is None:
            raise ValueError("'amount' needs 'currency'")
        if self.type == AccountEvent.Type.TRAFFIC_SUMMARY and (self.request_count is None or not self.window_seconds):
            raise ValueError("a traffic_summary needs 'request_count' and 'window_seconds'")
        return self

    @cached_property
    def digest(self) -> str:
        """SHA-256 of the event in a canonical form: the same event sent twice, keys in any order, has one digest."""
        canonical = orjson.dumps(self.model_dump(mode="json", exclude_none=True), option=orjson.OPT_SORT_KEYS)
        return hashlib.sha256(canonical).hexdigest()


class EventBatchIn(BaseModel):
    """A batch of events, stored together or not at all."""

    model_config = ConfigDict(extra="forbid")

    # The schema's bounds (parse_events enforces them with its own messages): an empty batch is refused, and
    # so is one over the operator's ACCOUNT_EVENT_BATCH_MAX, read when the schema is built.
    events: list[EventIn] = Field(
        min_length=1,
        max_length=settings.ACCOUNT_EVENT_BATCH_MAX,
        description="Up to `ACCOUNT_EVENT_BATCH_MAX` (1,000) events.",
    )


class EventInputError(Exception):
    """The request's events are not acceptable; ``errors`` maps each field path to its problems.
    ``only_time_window``: every problem is a well-formed time outside the accepted window (the schema cannot
    state a window that moves with the clock, so the API answers 409 for it, not the 400 of malformed input)."""

    def __init__(self, errors: dict[str, list[str]], *, only_time_window: bool = False) -> None:
        self.errors = errors
        self.only_time_window = only_time_window
        first, messages = next(iter(errors.items()))
        more = f" (and {len(errors) - 1} more field errors)" if len(errors) > 1 else ""
        super().__init__(f"{first}: {messages[0]}{more}")


_EVENTS = TypeAdapter(list[EventIn])


def parse_events(
    document: Any, *, now: datetime, max_age: timedelta, max_ahead: timedelta, max_batch: int
) -> tuple[list[EventIn], bool]:
    """The events of a request body (one event object, or ``{"events": [...]}``), and whether it was a batch.

    Raises ``EventInputError`` naming every bad field, with paths like ``events[3].ip``; nothing is
    partly accepted.
    """
    if not isinstance(document, dict):
        raise EventInputError({"non_field_errors": ['Send one event object, or {"events": [...]}.']})
    batch = "events" in document
    if batch:
        unknown = sorted(set(document) - {"events"})
        if unknown:
            raise EventInputError({name: ["Unknown field; a batch has only 'events'."] for name in unknown})
        raw = document["events"]
        if not isinstance(raw, list) or not raw:
            raise EventInputError({"events": ["A non-empty list of events."]})
        if len(raw) > max_batch:
            raise EventInputError({"events": [f"At most {max_batch} events a request; this one has {len(raw)}."]})
    else:
        raw = [document]
    context = {"now": now, "max_age": max_age, "max_ahead": max_ahead}
    try:
        events = _EVENTS.validate_python(raw, context=context)
    except ValidationError as exc:
        only_time_window = all(error["type"] == OUTSIDE_WINDOW for error in exc.errors())
        raise EventInputError(_errors_by_path(exc, batch), only_time_window=only_time_window) from None
    duplicates = _duplicate_ids(events)
    if duplicates:
        raise EventInputError(duplicates)
    return events, batch


def _duplicate_ids(events: list[EventIn]) -> dict[str, list[str]]:
    """Two events of one batch with the same id and different contents; identical repeats are harmless."""
    counts = Counter((event.source, event.id) for event in events)
    repeated = {key for key, n in counts.items() if n > 1}
    first: dict[tuple[str, str], tuple[int, str]] = {}
    errors: dict[str, list[str]] = {}
    for index, event in enumerate(events):
        key = (event.source, event.id)
        if key not in repeated:
            continue
        if key in first and first[key][1] != event.digest:
            errors[f"events[{index}].id"] = [
                f"Id {event.id!r} is also used by events[{first[key][0]}] with other content."
            ]
        first.setdefault(key, (index, event.digest))
    return errors


def _errors_by_path(exc: ValidationError, batch: bool) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    for error in exc.errors(include_url=False, include_context=False):
        index, *rest = error["loc"]
        prefix = f"events[{index}]" if batch else ""
        if error["type"] == "extra_forbidden":
            message = f"Unknown field {rest[-1]!r}."
        else:
            message = error["msg"].removeprefix("Value error, ")
            message = message[0].upper() + message[1:] + ("" if message.endswith(".") else ".")
        field = ".".join(str(part) for part in rest)
        path = f"{prefix}.{field}" if prefix and field else (prefix or field or "non_field_errors")
        errors.setdefault(path, []).append(message)
    return errors
