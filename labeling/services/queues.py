"""Queues. Golden items and the sets queues draw them from: labeling/golden/services.py."""
from __future__ import annotations

from collections.abc import Iterable

from django.db import transaction

from labeling.models import GuideVersion, Pool, Queue, TaskKind, User

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
    show_preannotations: bool = True,
    created_by: User | None = None,
) -> Queue:
    """Create a queue; an empty ``allowed_pools`` opens it to every pool. ``staff_labels_count``:
    whether experts' and admins' labels take replication slots and count in the metrics.
    ``show_preannotations``: whether labelers see a model's pre-annotations (box proposals)."""
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
            staff_labels_count=staff_labels_count, show_preannotations=show_preannotations,
            created_by=created_by,
        )
        pools = list(allowed_pools)
        if pools:
            queue.allowed_pools.set(pools)
    return queue
