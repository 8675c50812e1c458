"""Strict JSON input, the same on every path JSON enters: a request body, a multipart ``payload`` part, a
stored JSON field (metadata).

Refused with a 400 that names the problem:
* nesting deeper than ``API_MAX_JSON_DEPTH`` (default 12) containers: the standard parser recurses once per
  level and ends in a RecursionError (a 500) near a thousand, and a stored document that deep breaks every
  page that renders it. Item metadata has its own, smaller limit (``MODERATION_MAX_METADATA_DEPTH``);
* bytes that are not UTF-8 (RFC 8259), in a body or a multipart text part alike;
* strings holding NUL or a lone surrogate (``"\\ud800"``), which PostgreSQL cannot store (a field error).

The depth is measured on the raw text before parsing, with the string literals cut out first, so a hostile
body costs a few regular-expression passes in C, never a deep recursion.
"""

import codecs
import json
import re
from typing import Any

from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.http.multipartparser import MultiPartParser as DjangoMultiPartParser
from django.http.multipartparser import MultiPartParserError
from rest_framework import serializers
from rest_framework.exceptions import ParseError
from rest_framework.parsers import DataAndFiles, JSONParser, MultiPartParser

_STRING_LITERAL = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_BRACKETS_ONLY = str.maketrans("", "", "".join(chr(c) for c in range(128) if chr(c) not in "[]{}"))


class JsonDepthError(ValueError):
    pass


def text_depth(text: str) -> int:
    """The deepest nesting of arrays and objects in JSON text (0 for a scalar), without parsing it."""
    brackets = _STRING_LITERAL.sub("", text)
    depth = deepest = 0
    # Only bracket characters are left to walk; a long flat body of text leaves almost nothing.
    for char in brackets.translate(_BRACKETS_ONLY):
        if char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


def value_depth(value: Any) -> int:
    """The deepest nesting of lists and dicts in a parsed value, walked without recursion."""
    deepest = 0
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            deepest = max(deepest, depth)
            stack.extend((child, depth + 1) for child in node.values())
        elif isinstance(node, list):
            deepest = max(deepest, depth)
            stack.extend((child, depth + 1) for child in node)
    return deepest


_SURROGATE = re.compile("[\ud800-\udfff]")


def _bad_string(text: str) -> str | None:
    # The string fields' own words (api.serializers), so a refusal reads alike wherever it comes from.
    if "\x00" in text:
        return "Null characters are not allowed."
    found = _SURROGATE.search(text)
    if found:
        return f"Surrogate character U+{ord(found.group()):04X} is not allowed."
    return None


def refuse_unstorable_strings(value: Any, *, path: str = "") -> None:
    """Raise a ValidationError naming the path of the first key or string that holds NUL or a lone surrogate
    (a 400 whose ``errors`` is keyed by that path, like any field error)."""
    stack: list[tuple[Any, str]] = [(value, path)]
    while stack:
        node, where = stack.pop()
        if isinstance(node, str):
            problem = _bad_string(node)
            if problem:
                raise serializers.ValidationError({where or "non_field_errors": [problem]})
        elif isinstance(node, dict):
            for key, child in node.items():
                problem = _bad_string(key)
                if problem:
                    raise serializers.ValidationError({where or "non_field_errors": [f"A key: {problem}"]})
                stack.append((child, f"{where}.{key}" if where else key))
        elif isinstance(node, list):
            stack.extend((child, f"{where}[{index}]") for index, child in enumerate(node))


def refuse_deep_value(value: Any, *, limit: int, where: str, setting: str) -> None:
    """For JSON already parsed (a stored field, a form field): refuse nesting past ``limit``."""
    if value_depth(value) > limit:
        raise JsonDepthError(
            f"{where} is nested deeper than {limit} levels of arrays and objects (the limit, {setting})."
        )


def load_json_text(text: str, *, where: str, path: str = "") -> Any:
    """Parse JSON text under the same rules as a request body. ParseError names ``where`` (the body, a
    multipart part) and, for a bad string, its ``path`` inside the document (prefixed by ``path``)."""
    limit = settings.API_MAX_JSON_DEPTH
    if text_depth(text) > limit:
        raise ParseError(
            f"{where} is nested deeper than {limit} levels of arrays and objects (the limit, API_MAX_JSON_DEPTH)."
        )
    try:
        value = json.loads(text, parse_constant=_refuse_constant)
    except ValueError as exc:
        raise ParseError(f"{where} is not valid JSON: {exc}") from exc
    refuse_unstorable_strings(value, path=path)
    return value


def _refuse_constant(name: str) -> None:
    raise ValueError(f"{name} is not a JSON number")


def decode_utf8(raw: bytes, *, where: str) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ParseError(f"{where} is not valid UTF-8 (byte {exc.start}: {raw[exc.start : exc.start + 1]!r}).") from exc


class StrictJSONParser(JSONParser):
    """DRF's JSON parser with the limits above; meant as the default parser for every API view."""

    def parse(self, stream, media_type=None, parser_context=None) -> Any:  # noqa: ANN001 - DRF's signature
        raw = stream.read() if stream is not None else b""
        return load_json_text(decode_utf8(raw, where="The request body"), where="The request body")


# Django's multipart parser decodes text parts with errors="replace", so invalid UTF-8 in a JSON part would
# arrive as U+FFFD and be stored. Decoding through this codec, which ignores the errors argument, makes it fail.
_STRICT_CODEC = "moderation-strict-utf-8"


def _strict_utf8_search(name: str) -> codecs.CodecInfo | None:
    if name.replace("_", "-") != _STRICT_CODEC:
        return None
    utf8 = codecs.lookup("utf-8")

    def decode(data: bytes, errors: str = "strict") -> tuple[str, int]:
        # Undecodable bytes survive as lone surrogates, so the parser below can tell and recover them.
        return codecs.utf_8_decode(data, "surrogateescape", True)

    return codecs.CodecInfo(name=_STRICT_CODEC, encode=utf8.encode, decode=decode)


codecs.register(_strict_utf8_search)


class StrictMultiPartParser(MultiPartParser):
    """Multipart bodies whose text parts must be UTF-8; the ``payload`` part is then read with
    :func:`load_json_text`. A part without a file name whose bytes are not UTF-8 is binary sent without a
    name (the OpenAPI schema's ``format: binary`` parts, as some clients send them): it is kept as a file,
    with its bytes as sent; only ``payload``, which must be text, is refused for it."""

    def parse(self, stream, media_type=None, parser_context=None) -> DataAndFiles:  # noqa: ANN001
        request = (parser_context or {})["request"]
        meta = request.META.copy()
        meta["CONTENT_TYPE"] = media_type
        try:
            parser = DjangoMultiPartParser(meta, stream, request.upload_handlers, _STRICT_CODEC)
            data, files = parser.parse()
        except MultiPartParserError as exc:
            raise ParseError(f"Multipart form parse error - {exc}") from exc
        data = data.copy()
        for name in list(data):
            values = data.getlist(name)
            if not any(_ESCAPED.search(value) for value in values):
                continue
            raw = [value.encode("utf-8", "surrogateescape") for value in values]
            if name == "payload":
                first = next(part for part in raw if _not_utf8(part) is not None)
                raise ParseError(f"A text part of the multipart body is not valid UTF-8 (byte {_not_utf8(first)}).")
            del data[name]
            for part in raw:
                # A fixed file name: the part's name can be anything, "" and ".." included, which Django refuses.
                files.appendlist(name, SimpleUploadedFile("part.bin", part, content_type="application/octet-stream"))
        return DataAndFiles(data, files)


_ESCAPED = re.compile("[\udc80-\udcff]")


def _not_utf8(raw: bytes) -> int | None:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc.start
    return None
