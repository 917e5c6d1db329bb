"""Reads for label quality: the label records of a task kind and its golden answers, each in one query.

The records are the label export's lines (``labeling/quality/records.py``); staff labels (experts'
and admins') are left out: they are the reference, not the work being measured.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator

from labeling.models import GoldenItem, Label, Queue
from labeling.quality.aggregation import aggregated_answers
from labeling.quality.frames import quality_frames
from labeling.quality.records import (aggregated_to_json_line, golden_item_key, golden_to_json_line, record_to_json_line,
                                      task_item_key)
from labeling.task_kinds import task_kind_spec

_LABEL_COLUMNS = ("pk", "task_id", "task__queue_id", "task__is_golden", "task__golden_item_id", "task__payload",
                  "task__golden_item__answer", "labeler__username", "labeler__pool__name", "labeler__pool__kind",
                  "labeler__pool__cost_per_label", "is_simulated", "answer", "guide_version_id",
                  "guide_version__guide__title", "guide_version__version", "created_at", "time_spent_ms")


def guide_version_name(title: str | None, version: int | None) -> str | None:
    return f"{title} v{version}" if title is not None else None


def _label_rows(*, task_kind: str, queue_ids: Iterable[int] | None, labeler_id: int | None, after_label_id: int):
    labels = Label.objects.filter(task__queue__task_kind=task_kind, is_staff_label=False, pk__gt=after_label_id)
    if queue_ids is not None:
        labels = labels.filter(task__queue_id__in=list(queue_ids))
    if labeler_id is not None:
        labels = labels.filter(labeler_id=labeler_id)
    return labels.order_by("pk").values_list(*_LABEL_COLUMNS).iterator(chunk_size=5000)


def label_record_iter(*, task_kind: str, queue_ids: Iterable[int] | None = None, labeler_id: int | None = None,
                      after_label_id: int = 0) -> Iterator[tuple[int, dict, dict | None]]:
    """(label id, record, golden answer or None) per label of a kind, oldest first, from one query
    read in chunks (the export streams it)."""
    spec = task_kind_spec(task_kind)
    for (label_id, task_id, queue_id, is_golden, golden_item_id, payload, golden_answer, username, pool, pool_kind,
         cost, simulated, answer, guide_version_id, guide_title, guide_number, created_at,
         time_spent_ms) in _label_rows(task_kind=task_kind, queue_ids=queue_ids, labeler_id=labeler_id,
                                       after_label_id=after_label_id):
        item = golden_item_key(golden_item_id) if is_golden else task_item_key(task_id)
        yield label_id, {
            "item": item, "kind": task_kind, "queue": queue_id, "task": task_id, "labeler": username, "pool": pool,
            "pool_kind": pool_kind, "pool_cost_per_label": float(cost) if cost is not None else None,
            "simulated": simulated, "is_golden": is_golden, "answer": answer, "payload": payload,
            "guide_version": guide_version_name(guide_title, guide_number), "category": spec.item_category(payload),
            "created_at": created_at, "time_spent_ms": time_spent_ms,
        }, golden_answer if is_golden else None


def label_records(*, task_kind: str, queue_ids: Iterable[int] | None = None, labeler_id: int | None = None,
                  after_label_id: int = 0) -> tuple[list[dict], dict[str, dict], int]:
    """(records, golden answers by item, newest label id) of a kind's labels, in one query.

    The golden answers are each golden item's *current* answer, so a fixed golden answer re-scores
    every label at once (labeling/golden/GOLDEN.md)."""
    records, golden, last_label_id = [], {}, 0
    for label_id, record, golden_answer in label_record_iter(task_kind=task_kind, queue_ids=queue_ids,
                                                             labeler_id=labeler_id, after_label_id=after_label_id):
        if golden_answer is not None:
            golden[record["item"]] = golden_answer
        records.append(record)
        last_label_id = label_id
    return records, golden, last_label_id


def label_export_lines(*, task_kind: str, queue_ids: Iterable[int] | None = None) -> Iterator[str]:
    """The label export: one JSON line per label (docs/QUALITY_FORMATS.md)."""
    for _, record, _ in label_record_iter(task_kind=task_kind, queue_ids=queue_ids):
        yield record_to_json_line(record) + "\n"


def golden_export_lines(*, task_kind: str) -> Iterator[str]:
    """The golden export: ``{"item", "answer"}`` per golden item of the kind, keyed as the label export keys them."""
    for item, answer in golden_answer_rows(task_kind=task_kind):
        yield golden_to_json_line(item, answer) + "\n"


def golden_answer_rows(*, task_kind: str) -> list[tuple[str, dict]]:
    """(item, answer) of every golden item of a kind: the golden export, in one query."""
    return [(golden_item_key(pk), answer) for pk, answer in
            GoldenItem.objects.filter(golden_set__task_kind=task_kind).order_by("pk").values_list("pk", "answer")]


def aggregated_export_lines(*, queue: Queue, method: str) -> Iterator[str]:
    """A queue's aggregated answers as JSON lines, one per (item, unit), by ``method``."""
    records, golden, _ = label_records(task_kind=queue.task_kind, queue_ids=[queue.pk])
    aggregated = aggregated_answers(quality_frames(kind=queue.task_kind, records=records, golden=golden), method=method)
    for row in aggregated.itertuples(index=False):
        yield aggregated_to_json_line(row, method=method) + "\n"
