"""The quick check of one item accepts only what ItemInSerializer accepts, with the same result."""

import copy

import pytest

from intake.item_input import quick_submission
from intake.serializers import ItemInSerializer

FULL = {
    "source": "creatorhub.comments",
    "external_id": "c-98812",
    "text": "  DM me to double your crypto in 24h, guaranteed!!!\n",
    "author": {
        "external_id": "u-551",
        "handle": "@quickprofits",
        "account_created_at": "2026-11-20T08:00:00Z",
        "attributes": {"followers": 12, "tags": ["new"]},
    },
    "metadata": {"surface": "comment", "language": "en", "nested": {"a": None}},
    "reports": [
        {"id": "r-1", "reporter_id": "u-77", "reason": "scam_fraud", "text": " asks for money ", "reported_at": None},
        {"reason": "spam", "reported_at": "2026-11-20T10:00:00+02:00"},
        {"reporter_id": "", "reason": "other", "text": "", "reported_at": "2026-11-20 08:00"},
    ],
}
ACCEPTED = [
    FULL,
    {"source": "s", "external_id": "1", "text": "t"},
    {"source": "s", "external_id": "1", "text": "t", "author": None, "metadata": {}, "reports": []},
    {"source": "s", "external_id": "1", "text": "t", "author": {"external_id": "a"}},
    {"source": "s", "external_id": "x" * 255, "text": "é" * 20_000},
]


def with_(path: str, value: object) -> dict:
    """FULL with one value replaced (or removed, for ``...``), at a dotted path; list indexes are numbers."""
    payload = copy.deepcopy(FULL)
    *parents, last = path.split(".")
    target = payload
    for key in parents:
        target = target[int(key)] if key.isdigit() else target[key]
    key = int(last) if last.isdigit() else last
    if value is ...:
        del target[key]
    else:
        target[key] = value
    return payload


# Input the serializer refuses, or accepts only after changing it (trimming, turning a number into text).
LEFT_TO_THE_SERIALIZER = [
    with_("source", "bad source"),
    with_("source", 12),
    with_("source", " padded"),
    with_("source", "s" * 65),
    with_("external_id", ...),
    with_("external_id", ""),
    with_("external_id", " c-1"),
    with_("external_id", 5),
    with_("external_id", "x" * 256),
    with_("external_id", "nul\x00"),
    with_("external_id", "lone \ud800"),
    with_("text", ""),
    with_("text", None),
    with_("text", "x" * 20_001),
    with_("text", "surrogate \udfff"),
    with_("image_base64", "aGk="),
    with_("image_part", "photo"),
    with_("unknown", 1),
    with_("author", "u-551"),
    with_("author", []),
    with_("author.external_id", ...),
    with_("author.handle", " @padded"),
    with_("author.handle", None),
    with_("author.handle", "h" * 256),
    with_("author.account_created_at", "yesterday"),
    with_("author.account_created_at", 1732089600),
    with_("author.attributes", None),
    with_("author.attributes", ["a"]),
    with_("author.attributes", {"big": "x" * 70_000}),
    with_("author.extra", True),
    with_("metadata", None),
    with_("metadata", "surface=comment"),
    with_("metadata", {"big": "x" * 70_000}),
    with_("reports", None),
    with_("reports", {"reason": "spam"}),
    with_("reports", [{"reason": "spam"}] * 101),
    with_("reports.0", "spam"),
    with_("reports.0.reason", ...),
    with_("reports.0.reason", "Spam"),
    with_("reports.0.reason", 7),
    with_("reports.0.id", None),
    with_("reports.0.id", ""),
    with_("reports.0.id", 17),
    with_("reports.0.reporter_id", " u-77"),
    with_("reports.0.text", "x" * 5001),
    with_("reports.0.reported_at", "not a time"),
    with_("reports.0.extra", 1),
]


def serializer_result(payload: dict):  # noqa: ANN201
    serializer = ItemInSerializer(data=copy.deepcopy(payload))
    return serializer.to_submission() if serializer.is_valid() else None


@pytest.mark.parametrize("payload", ACCEPTED)
def test_well_formed_items_are_taken_quickly_and_come_out_as_the_serializer_makes_them(payload):
    quick = quick_submission(copy.deepcopy(payload))
    assert quick is not None
    assert quick == serializer_result(payload)


@pytest.mark.parametrize("payload", LEFT_TO_THE_SERIALIZER)
def test_anything_else_is_left_to_the_serializer(payload):
    assert quick_submission(copy.deepcopy(payload)) is None


def test_limits_follow_the_settings(settings):
    settings.MODERATION_MAX_TEXT_CHARS = 10
    settings.MODERATION_MAX_REPORTS_PER_ITEM = 1
    assert quick_submission({"source": "s", "external_id": "1", "text": "x" * 11}) is None
    assert quick_submission({"source": "s", "external_id": "1", "text": "x" * 10}) is not None
    assert quick_submission(with_("reports", [{"reason": "spam"}] * 2)) is None
