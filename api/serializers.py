"""Serializer pieces every API input uses: strict fields that refuse unknown keys, surrogates and oversized JSON."""

import json
import re
from typing import Any

from django.conf import settings
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.validators import ProhibitSurrogateCharactersValidator

from api.json_input import value_depth

_SURROGATES = re.compile("[\ud800-\udfff]")


def _refuse_surrogates(value: str) -> None:
    match = _SURROGATES.search(value)
    if match:
        raise serializers.ValidationError(f"Surrogate character U+{ord(match.group()):04X} is not allowed.")


class StrictCharField(serializers.CharField):
    """A CharField that refuses numbers and booleans instead of quietly turning them into text."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        # DRF's own surrogate check walks the string in Python, a character at a time: ~30 ms for a
        # batch of 500 texts. The same check as one regular-expression search runs in C.
        self.validators = [
            _refuse_surrogates if isinstance(validator, ProhibitSurrogateCharactersValidator) else validator
            for validator in self.validators
        ]

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictSerializer(serializers.Serializer):
    """Refuses fields it does not know, so a client's typo is an error rather than lost data."""

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError({name: ["Unknown field."] for name in unknown})
        return super().to_internal_value(data)


class StrictModelSerializer(StrictSerializer, serializers.ModelSerializer):
    """A ModelSerializer that refuses fields it does not know (read-only ones sent back are still ignored)."""


def _check_json_size(value: dict, field: str) -> dict:
    # Depth first: measuring the size serializes the value, which recurses once per level.
    depth, depth_limit = value_depth(value), settings.MODERATION_MAX_METADATA_DEPTH
    if depth > depth_limit:
        raise serializers.ValidationError(
            f"{field} is nested {depth} levels deep; the limit is {depth_limit} (MODERATION_MAX_METADATA_DEPTH): "
            "it holds key/value context, not documents."
        )
    size = len(json.dumps(value, separators=(",", ":")))
    limit = settings.MODERATION_MAX_JSON_FIELD_BYTES
    if size > limit:
        raise serializers.ValidationError(f"{field} is {size} bytes as JSON; the limit is {limit} bytes.")
    return value


_NO_NUL = {"type": "string", "pattern": r"^[^\x00]*$"}


def _json_value_schema(levels: int) -> dict:
    """Any JSON value with at most ``levels`` more containers, no NUL in a string or key (PostgreSQL's jsonb
    cannot hold one): what ``_check_json_size`` accepts, stated so that a schema-driven client stays inside it."""
    scalar = {"anyOf": [_NO_NUL, {"type": "number"}, {"type": "boolean"}], "nullable": True}
    if levels == 0:
        return scalar
    inner = _json_value_schema(levels - 1)
    return {
        "anyOf": [
            *scalar["anyOf"],
            {"type": "array", "items": inner},
            {"type": "object", "propertyNames": _NO_NUL, "additionalProperties": inner},
        ],
        "nullable": True,
    }


@extend_schema_field(
    {
        "type": "object",
        "propertyNames": _NO_NUL,
        # The object itself is the first level of MODERATION_MAX_METADATA_DEPTH.
        "additionalProperties": _json_value_schema(settings.MODERATION_MAX_METADATA_DEPTH - 1),
    }
)
class JsonObjectField(serializers.DictField):
    """A JSON object of any content, bounded in size."""

    def to_internal_value(self, data: Any) -> dict:
        return _check_json_size(super().to_internal_value(data), self.field_name)
