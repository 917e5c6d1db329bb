"""Label records: the one shape every quality figure is computed from.

A label record is one line of the label export (``docs/QUALITY_FORMATS.md``): the database selector
(``labeling.quality.selectors.label_records``) and the file reader below produce the same records,
and ``labeling.quality.report.quality_report`` computes from them; that is why the dashboard and
``manage.py quality_report`` on an export give the same numbers.

Pure: no ORM here.
"""
from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from datetime import datetime, timezone

# Keys of a label record (and of a line of the label export), in export order.
LABEL_RECORD_KEYS = ("item", "kind", "queue", "task", "labeler", "pool", "pool_kind", "pool_cost_per_label",
                     "simulated", "is_golden", "answer", "payload", "guide_version", "category", "created_at",
                     "time_spent_ms")
REQUIRED_LABEL_KEYS = ("item", "labeler", "answer")
REQUIRED_GOLDEN_KEYS = ("item", "answer")

LINE_NOT_JSON = "line {line}: not valid JSON ({error})."
LINE_NOT_OBJECT = "line {line}: each line must be a JSON object."
LINE_MISSING_KEY = "line {line}: the key '{key}' is missing."
LINE_WRONG_KIND = "line {line}: the label is of kind '{got}', not '{expected}'."
LINE_BAD_TIME = "line {line}: 'created_at' must be an ISO 8601 time, got {value!r}."
LINE_BAD_NUMBER = "line {line}: '{key}' must be a number, got {value!r}."
GOLDEN_DUPLICATE = "line {line}: the golden item '{item}' appears twice."


class RecordFormatError(ValueError):
    """A line of a label or golden file does not fit the export format."""


def golden_item_key(golden_item_id: int) -> str:
    """Labels on golden copies are pooled per golden item, whatever queue served the copy."""
    return f"golden-{golden_item_id}"


def task_item_key(task_id: int) -> str:
    return f"task-{task_id}"


def record_to_json_line(record: dict) -> str:
    line = {key: record.get(key) for key in LABEL_RECORD_KEYS}
    created_at = line["created_at"]
    if isinstance(created_at, datetime):
        line["created_at"] = created_at.isoformat()
    if line["pool_cost_per_label"] is not None:
        line["pool_cost_per_label"] = float(line["pool_cost_per_label"])
    return json.dumps(line, ensure_ascii=False, separators=(",", ":"))


def _json_lines(lines: Iterable[str]) -> Iterator[tuple[int, dict]]:
    for number, text in enumerate(lines, start=1):
        text = text.strip()
        if not text:
            continue
        try:
            value = json.loads(text)
        except json.JSONDecodeError as error:
            raise RecordFormatError(LINE_NOT_JSON.format(line=number, error=error.msg)) from None
        if not isinstance(value, dict):
            raise RecordFormatError(LINE_NOT_OBJECT.format(line=number))
        yield number, value


def _parse_time(number: int, value) -> datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        raise RecordFormatError(LINE_BAD_TIME.format(line=number, value=value)) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def label_records_read(lines: Iterable[str], *, kind: str | None = None) -> list[dict]:
    """Label records from the lines of a label export; with ``kind``, a line of another kind is an
    error (an export holds one kind)."""
    records = []
    for number, value in _json_lines(lines):
        for key in REQUIRED_LABEL_KEYS:
            if key not in value:
                raise RecordFormatError(LINE_MISSING_KEY.format(line=number, key=key))
        if kind is not None and value.get("kind") not in (None, kind):
            raise RecordFormatError(LINE_WRONG_KIND.format(line=number, got=value.get("kind"), expected=kind))
        record = {key: value.get(key) for key in LABEL_RECORD_KEYS}
        record["item"], record["labeler"] = str(record["item"]), str(record["labeler"])
        record["created_at"] = _parse_time(number, record["created_at"])
        for key in ("time_spent_ms", "pool_cost_per_label"):
            if record[key] is not None and (isinstance(record[key], bool) or not isinstance(record[key], (int, float))):
                raise RecordFormatError(LINE_BAD_NUMBER.format(line=number, key=key, value=record[key]))
        record["payload"] = record["payload"] or {}
        record["simulated"] = bool(record["simulated"])
        record["is_golden"] = bool(record["is_golden"])
        records.append(record)
    return records


def golden_answers_read(lines: Iterable[str]) -> dict[str, dict]:
    """item -> golden answer, from the lines of a golden export (``{"item", "answer"}`` per line)."""
    answers: dict[str, dict] = {}
    for number, value in _json_lines(lines):
        for key in REQUIRED_GOLDEN_KEYS:
            if key not in value:
                raise RecordFormatError(LINE_MISSING_KEY.format(line=number, key=key))
        item = str(value["item"])
        if item in answers:
            raise RecordFormatError(GOLDEN_DUPLICATE.format(line=number, item=item))
        answers[item] = value["answer"]
    return answers


def golden_to_json_line(item: str, answer: dict) -> str:
    return json.dumps({"item": item, "answer": answer}, ensure_ascii=False, separators=(",", ":"))


def aggregated_to_json_line(row, *, method: str) -> str:
    """One aggregated answer (a row of ``report.aggregated_answers``) as the line both the API and
    ``quality_report --aggregate`` write."""
    return json.dumps({"item": row.item, "unit": row.unit, "field": row.field, "value": row.value,
                       "confidence": float(row.confidence), "n_labels": int(row.n_labels), "method": method},
                      ensure_ascii=False, separators=(",", ":"))
