"""Queues and their golden answers."""
from __future__ import annotations

from collections.abc import Iterable

from django.db import transaction

from labeling.answer_schemas import answer_clean
from labeling.models import GoldenAnswer, GuideVersion, Pool, Queue, Task, TaskKind, User

TASK_KIND_UNKNOWN = "'{kind}' is not a task kind; choose one of: {kinds}."
GUIDE_KIND_MISMATCH = "The guide is for '{guide_kind}' tasks but the queue is for '{queue_kind}' tasks."
REPLICATION_NOT_POSITIVE = "Replication must be at least 1."
GOLDEN_RATE_NOT_SHARE = "The golden rate is a share between 0 and 1."
LEASE_SECONDS_NOT_POSITIVE = "A lease must last at least one second."


class QueueCreateError(ValueError):
    pass


def queue_create(
    *,
    name: str,
    task_kind: str,
    replication: int = 3,
    golden_rate: float = 0.0,
    allowed_pools: Iterable[Pool] = (),
    guide_version: GuideVersion | None = None,
    priority: int = 0,
    lease_seconds: int = 600,
    staff_labels_count: bool = False,
) -> Queue:
    """Create a queue; an empty ``allowed_pools`` opens it to every pool. ``staff_labels_count``:
    whether experts' and admins' labels take replication slots and count in the metrics."""
    if task_kind not in TaskKind.values:
        raise QueueCreateError(TASK_KIND_UNKNOWN.format(kind=task_kind, kinds=", ".join(TaskKind.values)))
    if replication < 1:
        raise QueueCreateError(REPLICATION_NOT_POSITIVE)
    if not 0.0 <= golden_rate <= 1.0:
        raise QueueCreateError(GOLDEN_RATE_NOT_SHARE)
    if lease_seconds < 1:
        raise QueueCreateError(LEASE_SECONDS_NOT_POSITIVE)
    if guide_version is not None and guide_version.guide.task_kind != task_kind:
        raise QueueCreateError(GUIDE_KIND_MISMATCH.format(guide_kind=guide_version.guide.task_kind, queue_kind=task_kind))
    with transaction.atomic():
        queue = Queue.objects.create(
            name=name, task_kind=task_kind, replication=replication, golden_rate=golden_rate,
            guide_version=guide_version, priority=priority, lease_seconds=lease_seconds,
            staff_labels_count=staff_labels_count,
        )
        pools = list(allowed_pools)
        if pools:
            queue.allowed_pools.set(pools)
    return queue


def golden_answer_set(*, task: Task, expert: User, answer, reason: str = "") -> GoldenAnswer:
    """Record (or replace) the expert's answer for ``task`` and make the task golden.

    The answer is validated against the task kind's schema like any label. A golden task is served
    to every labeler at the queue's golden rate and never counts towards replication.
    Raises labeling.answer_schemas.AnswerSchemaError for an invalid answer.
    """
    cleaned_answer = answer_clean(kind=task.queue.task_kind, payload=task.payload, answer=answer)
    with transaction.atomic():
        golden, _ = GoldenAnswer.objects.update_or_create(
            task=task, defaults={"answer": cleaned_answer, "expert": expert, "reason": reason},
        )
        if not task.is_golden:
            task.is_golden = True
            task.save(update_fields=["is_golden"])
    return golden
