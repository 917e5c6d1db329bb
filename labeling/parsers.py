"""JSON input with a nesting-depth limit: the API's JSON parser and a JSON serializer field.

Python's ``json`` decoder recurses once per ``[`` or ``{``; 50,000 of them in a 100 KB body
raise ``RecursionError``, which nothing expects and which surfaced as a 500. So the depth is
measured *before* decoding, without recursion and in linear time: numpy finds the quotes that
open and close strings (brackets inside strings are text, not structure), and the running depth
of the other brackets is a cumulative sum. That is milliseconds for the 2.5 MB body Django
accepts by default (``DATA_UPLOAD_MAX_MEMORY_SIZE``).

Beyond ``settings.API_JSON_MAX_DEPTH`` levels (default 64; no answer schema needs more than 4) a
body is refused with a 400 ``json_too_deep``. ``BoundedJSONField`` applies the same limit to JSON
that arrives inside a form field (``multipart/form-data``), which DRF's ``JSONField`` would
decode with no limit, and it refuses ``NaN`` and ``Infinity`` there as the JSON parser does
(PostgreSQL's ``jsonb`` cannot store them).
"""
from __future__ import annotations

import json
from typing import Any

import numpy as np
from django.conf import settings
from rest_framework import serializers
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser, get_encoding
from rest_framework.utils.json import strict_constant

JSON_TOO_DEEP = "The JSON is nested more than {max_depth} levels deep."
JSON_PARSE_ERROR = "JSON parse error - {reason}"
JSON_TOO_DEEP_CODE = "json_too_deep"

_QUOTE, _BACKSLASH = ord('"'), ord("\\")
_OPEN_ARRAY, _OPEN_OBJECT, _CLOSE_ARRAY, _CLOSE_OBJECT = b"[{]}"


class JsonTooDeep(ValueError):
    pass


def json_max_depth() -> int:
    return int(settings.API_JSON_MAX_DEPTH)


def json_nesting_depth(document: str | bytes) -> int:
    """The deepest bracket nesting of a JSON text (0 for a bare scalar), counted without parsing.

    Brackets inside string literals do not count. A quote is escaped when an odd run of
    backslashes precedes it; the quotes that are not escaped open and close strings in turn.
    That reading is exact for any valid JSON prefix, and a decoder stops at the first invalid
    character, so the depth found is never below the depth a decoder would reach. Linear time.
    """
    data = document.encode("utf-8", "surrogatepass") if isinstance(document, str) else document
    codes = np.frombuffer(data, dtype=np.uint8)
    if not codes.size:
        return 0
    positions = np.arange(codes.size, dtype=np.int32)
    # For every position, where the run of backslashes ending there started (-1 before the text).
    last_plain = np.maximum.accumulate(np.where(codes != _BACKSLASH, positions, np.int32(-1)))
    quotes = np.flatnonzero(codes == _QUOTE)
    before = quotes - 1
    backslash_run = np.where(before >= 0, before - last_plain[np.maximum(before, 0)], 0)
    string_quotes = quotes[backslash_run % 2 == 0]
    toggles = np.zeros(codes.size, dtype=np.int8)
    toggles[string_quotes] = 1
    outside_strings = (np.cumsum(toggles, dtype=np.int32) % 2) == 0
    steps = (((codes == _OPEN_ARRAY) | (codes == _OPEN_OBJECT)) & outside_strings).astype(np.int32)
    steps -= (((codes == _CLOSE_ARRAY) | (codes == _CLOSE_OBJECT)) & outside_strings).astype(np.int32)
    return max(int(np.cumsum(steps).max()), 0)


def json_loads_bounded(document: str | bytes, *, max_depth: int, strict: bool = True) -> Any:
    """``json.loads`` that raises ``JsonTooDeep`` instead of recursing past ``max_depth`` levels.

    ``strict`` refuses ``NaN``/``Infinity`` (DRF's ``STRICT_JSON``). Other malformed input raises
    ``ValueError`` as ``json.loads`` does.
    """
    if json_nesting_depth(document) > max_depth:
        raise JsonTooDeep(JSON_TOO_DEEP.format(max_depth=max_depth))
    if isinstance(document, bytes):
        document = document.decode("utf-8")
    try:
        return json.loads(document, parse_constant=strict_constant if strict else None)
    except RecursionError as error:
        # Only reachable when the recursion limit is set below the configured depth.
        raise JsonTooDeep(JSON_TOO_DEEP.format(max_depth=max_depth)) from error


def data_nesting_depth(value: Any, *, stop_after: int) -> int:
    """Nesting depth of decoded JSON-like data, walked with a stack; stops once past ``stop_after``."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (dict, list, tuple)):
            depth += 1
            deepest = max(deepest, depth)
            if deepest > stop_after:
                return deepest
            stack.extend((child, depth) for child in (item.values() if isinstance(item, dict) else item))
    return deepest


class BoundedJSONParser(JSONParser):
    """DRF's JSON parser with the depth limit; drop-in for ``rest_framework.parsers.JSONParser``."""

    def parse(self, stream, media_type=None, parser_context=None):
        encoding = get_encoding(parser_context or {})
        try:
            document = stream.read().decode(encoding)
        except UnicodeDecodeError as error:
            raise ParseError(JSON_PARSE_ERROR.format(reason=error)) from error
        max_depth = json_max_depth()
        try:
            return json_loads_bounded(document, max_depth=max_depth, strict=self.strict)
        except JsonTooDeep as error:
            raise ParseError(str(error), code=JSON_TOO_DEEP_CODE) from error
        except ValueError as error:
            raise ParseError(JSON_PARSE_ERROR.format(reason=error)) from error


class BoundedJSONField(serializers.JSONField):
    """``serializers.JSONField`` whose input may be nested at most ``API_JSON_MAX_DEPTH`` levels.

    A value that arrives as text (a form field) is decoded with ``json_loads_bounded`` and
    strict constants; a value the JSON parser already decoded is measured with a stack walk.
    """

    default_error_messages = {"too_deep": JSON_TOO_DEEP}

    def to_internal_value(self, data):
        max_depth = json_max_depth()
        if self.binary or getattr(data, "is_json_string", False):
            try:
                return json_loads_bounded(data, max_depth=max_depth, strict=True)
            except JsonTooDeep:
                self.fail("too_deep", max_depth=max_depth)
            except (TypeError, ValueError):
                self.fail("invalid")
        if data_nesting_depth(data, stop_after=max_depth) > max_depth:
            self.fail("too_deep", max_depth=max_depth)
        return super().to_internal_value(data)
