"""Reads of the exports: the job list, and what every format streams from (the queues' tasks page
by page, each with its labels up to the pinned last label id) and pins (the provenance).

A page is one keyset query for ~1000 tasks plus one for their labels, so memory holds one page
whatever the size of the export (labeling/exports/EXPORTS.md, "Streaming").
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from django.db.models import Max, QuerySet

from labeling.exports.registry import ExportParamsError
from labeling.models import AggregationMethod, ExportJob, Label, Queue, Task

PAGE_SIZE = 1000

QUEUES_MISSING = "Choose at least one queue ('queues': a list of queue ids)."
QUEUES_NOT_IDS = "'queues' must be a list of queue ids (positive integers)."
QUEUE_UNKNOWN = "There is no queue with id {id}."
QUEUE_WRONG_KIND = "Queue {id} ({name}) holds {kind} tasks; this format reads {wanted} queues."
QUEUE_DAWID_SKENE = ("Queue {id} ({name}) aggregates by Dawid-Skene, which this format cannot export: Dawid-Skene "
                     "fits every label of the queue at once, so it cannot stream page by page, and it aggregates "
                     "quality units, not boxes. Set the queue's aggregation to majority vote to export it.")


def export_job_list() -> QuerySet[ExportJob]:
    return ExportJob.objects.select_related("created_by").order_by("-created_at", "-pk")


def export_job_get(*, job_id: int) -> ExportJob | None:
    return export_job_list().filter(pk=job_id).first()


def export_queues_clean(params: dict, *, task_kind: str) -> list[int]:
    """The ``queues`` parameter: existing queues of ``task_kind`` aggregated by majority vote."""
    ids = params.get("queues")
    if ids is None or ids == []:
        raise ExportParamsError(QUEUES_MISSING, "queues")
    if not isinstance(ids, list) or not all(isinstance(i, int) and not isinstance(i, bool) and i > 0 for i in ids):
        raise ExportParamsError(QUEUES_NOT_IDS, "queues")
    ids = sorted(set(ids))
    queues = Queue.objects.in_bulk(ids)
    for queue_id in ids:
        queue = queues.get(queue_id)
        if queue is None:
            raise ExportParamsError(QUEUE_UNKNOWN.format(id=queue_id), "queues")
        if queue.task_kind != task_kind:
            raise ExportParamsError(QUEUE_WRONG_KIND.format(id=queue.pk, name=queue.name, kind=queue.task_kind,
                                                            wanted=task_kind), "queues")
        if queue.aggregation == AggregationMethod.DAWID_SKENE:
            raise ExportParamsError(QUEUE_DAWID_SKENE.format(id=queue.pk, name=queue.name), "queues")
    return ids


def export_queue_provenance(queue_ids: list[int]) -> dict:
    """What a queue export is built from: the queues, their aggregation and guide versions, and the
    last label id at this moment, so that a rebuild reads exactly these labels."""
    queues = list(Queue.objects.filter(pk__in=queue_ids).order_by("pk")
                  .values("pk", "name", "task_kind", "aggregation", "guide_version_id"))
    labels = Label.objects.filter(task__queue_id__in=queue_ids)
    last_label_id = labels.aggregate(last=Max("pk"))["last"] or 0
    guide_versions = sorted(v for v in labels.values_list("guide_version_id", flat=True).distinct() if v is not None)
    return {
        "queues": [{"id": q["pk"], "name": q["name"], "task_kind": q["task_kind"], "aggregation": q["aggregation"],
                    "guide_version": q["guide_version_id"]} for q in queues],
        "aggregation": sorted({q["aggregation"] for q in queues}),
        "guide_versions": guide_versions,
        "last_label_id": last_label_id,
        # Golden tasks are copies of golden items (the answer key): never training data.
        "golden_tasks": "left out",
    }


def export_tasks_count(queue_ids: list[int]) -> int:
    return Task.objects.filter(queue_id__in=queue_ids, is_golden=False).count()


@dataclass(frozen=True)
class TaskAnswers:
    task_id: int
    queue_id: int
    source_key: str
    payload: dict
    answers: list[dict]  # the counted labels' answers, by labeler id (the kinds' consensus order)


def export_task_pages(*, queue_ids: list[int], last_label_id: int,
                      page_size: int = PAGE_SIZE) -> Iterator[list[TaskAnswers]]:
    """The queues' ordinary tasks by primary key, a page at a time, each with the answers of its
    counted labels up to ``last_label_id``; two queries a page."""
    after = 0
    while True:
        rows = list(Task.objects.filter(queue_id__in=queue_ids, is_golden=False, pk__gt=after).order_by("pk")
                    .values_list("pk", "queue_id", "source_key", "payload")[:page_size])
        if not rows:
            return
        answers: dict[int, list[dict]] = {}
        labels = (Label.objects.filter(task_id__in=[row[0] for row in rows], pk__lte=last_label_id,
                                       counts_toward_replication=True)
                  .order_by("task_id", "labeler_id").values_list("task_id", "answer"))
        for task_id, answer in labels.iterator(chunk_size=page_size * 4):
            answers.setdefault(task_id, []).append(answer)
        yield [TaskAnswers(pk, queue_id, key, payload, answers.get(pk, [])) for pk, queue_id, key, payload in rows]
        after = rows[-1][0]
