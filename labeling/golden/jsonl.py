"""Golden sets as JSON lines: one item per line, ``{"key", "payload", "answer", "reason", "source",
"expert", "revision"}``. Export streams; import checks every line first and stores all or nothing."""
from __future__ import annotations

import json
from collections.abc import Iterator

from labeling.golden.services import GoldenItemInput, golden_items_put
from labeling.models import GoldenSet, GoldenSource, User
from labeling.task_kinds import task_kind_spec

IMPORT_LINE_NOT_JSON = "Line {line} is not a JSON object: {error}."
IMPORT_LINE_NOT_OBJECT = "Line {line} must be a JSON object with 'payload' and 'answer'."
IMPORT_LINE_MISSING = "Line {line} is missing '{key}'."
IMPORT_LINE_INVALID = "Line {line}: {message}"
IMPORT_KEY_REPEATED = "Line {line} repeats the key '{key}' of line {first}."
IMPORT_EMPTY = "The file holds no items: send one JSON object per line."
IMPORT_TOO_MANY = "An import holds at most {limit} items; this one holds {count}. Split the file."
IMPORT_NOT_UTF8 = "The file is not UTF-8 text."
IMPORT_LINES_REFUSED = "{refused} of {total} lines are refused; nothing was imported."
IMPORT_MAX_ITEMS = 10_000
IMPORT_ERRORS_SHOWN = 50


class GoldenImportError(ValueError):
    """The file was refused; ``errors`` maps "line N" to what is wrong there (at most 50 lines)."""

    def __init__(self, message: str, errors: dict[str, str] | None = None):
        super().__init__(message)
        self.errors = errors or {}


def golden_set_export_lines(*, golden_set: GoldenSet) -> Iterator[str]:
    """One JSON line per item, in id order, read in chunks so a large set streams."""
    items = golden_set.items.select_related("expert").order_by("pk")
    for item in items.iterator(chunk_size=500):
        yield json.dumps({
            "key": item.key, "payload": item.payload, "answer": item.answer, "reason": item.reason,
            "source": item.source, "expert": item.expert.username if item.expert else None,
            "revision": item.revision,
        }, ensure_ascii=False, sort_keys=True) + "\n"


def golden_set_import(*, golden_set: GoldenSet, data: bytes, imported_by: User) -> tuple[int, int, int]:
    """Import JSON lines into ``golden_set``; returns (created, revised, unchanged). A line whose key
    exists in the set revises that item when its answer or reason differs. Items get the source
    ``import`` and the importing expert."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise GoldenImportError(IMPORT_NOT_UTF8) from None
    spec = task_kind_spec(golden_set.task_kind)
    errors: dict[str, str] = {}
    items: list[GoldenItemInput] = []
    first_line_of: dict[str, int] = {}
    lines = [(number, line) for number, line in enumerate(text.splitlines(), start=1) if line.strip()]
    if not lines:
        raise GoldenImportError(IMPORT_EMPTY)
    if len(lines) > IMPORT_MAX_ITEMS:
        raise GoldenImportError(IMPORT_TOO_MANY.format(limit=IMPORT_MAX_ITEMS, count=len(lines)))
    for number, line in lines:
        where = f"line {number}"
        try:
            record = json.loads(line)
        except ValueError as error:
            errors[where] = IMPORT_LINE_NOT_JSON.format(line=number, error=error)
            continue
        if not isinstance(record, dict):
            errors[where] = IMPORT_LINE_NOT_OBJECT.format(line=number)
            continue
        missing = [key for key in ("payload", "answer") if key not in record]
        if missing:
            errors[where] = IMPORT_LINE_MISSING.format(line=number, key=missing[0])
            continue
        key = record.get("key")
        key = str(key) if key not in (None, "") else f"line:{number}"
        if key in first_line_of:
            errors[where] = IMPORT_KEY_REPEATED.format(line=number, key=key, first=first_line_of[key])
            continue
        first_line_of[key] = number
        try:
            payload = spec.payload_clean(record["payload"])
            spec.answer_clean(payload=payload, answer=record["answer"])
        except ValueError as error:
            errors[where] = IMPORT_LINE_INVALID.format(line=number, message=error)
            continue
        reason = record.get("reason") or ""
        items.append(GoldenItemInput(key=key, payload=payload, answer=record["answer"], reason=str(reason),
                                     source=GoldenSource.IMPORT, expert=imported_by))
    if errors:
        shown = dict(list(errors.items())[:IMPORT_ERRORS_SHOWN])
        raise GoldenImportError(IMPORT_LINES_REFUSED.format(refused=len(errors), total=len(lines)), shown)
    _, created, revised = golden_items_put(golden_set=golden_set, items=items)
    return created, revised, len(items) - created - revised
