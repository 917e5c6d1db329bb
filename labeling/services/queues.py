"""Queues. Golden items and the sets queues draw them from: labeling/golden/services.py."""
from __future__ import annotations

from collections.abc import Iterable

from django.db import transaction

from labeling.models import AggregationMethod, GuideVersion, Pool, Queue, TaskKind, User

TASK_KIND_UNKNOWN = "'{kind}' is not a task kind; choose one of: {kinds}."
GUIDE_KIND_MISMATCH = "The guide is for '{guide_kind}' tasks but the queue is for '{queue_kind}' tasks."
REPLICATION_NOT_POSITIVE = "Replication must be at least 1."
GOLDEN_RATE_NOT_SHARE = "The golden rate is a share between 0 and 1."
LEASE_SECONDS_NOT_POSITIVE = "A lease must last at least one second."
MIN_LABELS_OUT_OF_RANGE = ("The minimum number of labels must be a whole number from 2 to the replication "
                           "({replication}): one label always agrees with itself, so a minimum of 1 would stop every "
                           "task at one label.")
MIN_LABELS_WITHOUT_TARGET = ("A minimum number of labels needs an agreement target; without one every task gets "
                             "exactly the replication.")
MIN_LABELS_MISSING = ("An agreement target needs a minimum number of labels: how many labels every task gets "
                      "before its agreement is checked.")
AGREEMENT_TARGET_NOT_SHARE = "The agreement target is a share above 0 and at most 1 (1 = every label must agree)."


class QueueCreateError(ValueError):
    pass


class QueueReplicationError(ValueError):
    """A refused replication setting; ``field`` names the argument at fault."""

    def __init__(self, message: str, field: str):
        super().__init__(message)
        self.field = field


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


def _is_whole(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def queue_replication_set(*, queue: Queue, replication: int, min_labels: int | None,
                          agreement_target: float | None) -> Queue:
    """Set how many labels the queue's tasks get (labeling/QUEUE.md, "Adaptive replication").

    No ``agreement_target`` (and no ``min_labels``): every task gets exactly ``replication`` labels.
    With both: a task gets ``min_labels`` labels, then one more at a time while the agreement of its
    labels stays under the target, up to ``replication``. A change applies to claims and submits
    after it; a task that already has ``min_labels`` labels or more and was never checked (the
    queue was fixed when they came in) counts as done.
    """
    if not _is_whole(replication) or replication < 1:
        raise QueueReplicationError(REPLICATION_NOT_POSITIVE, "replication")
    if agreement_target is not None:
        if (isinstance(agreement_target, bool) or not isinstance(agreement_target, (int, float))
                or not 0.0 < agreement_target <= 1.0):
            raise QueueReplicationError(AGREEMENT_TARGET_NOT_SHARE, "agreement_target")
    if min_labels is None:
        if agreement_target is not None:
            raise QueueReplicationError(MIN_LABELS_MISSING, "min_labels")
    elif agreement_target is None:
        raise QueueReplicationError(MIN_LABELS_WITHOUT_TARGET, "min_labels")
    elif not _is_whole(min_labels) or not 2 <= min_labels <= replication:
        raise QueueReplicationError(MIN_LABELS_OUT_OF_RANGE.format(replication=replication), "min_labels")
    queue.replication = replication
    queue.min_labels = min_labels
    queue.agreement_target = None if agreement_target is None else float(agreement_target)
    queue.save(update_fields=["replication", "min_labels", "agreement_target"])
    return queue


AGGREGATION_UNKNOWN = "'{method}' is not an aggregation method; choose one of: {methods}."


def queue_settings_update(*, queue: Queue, aggregation: str, replication: int, min_labels: int | None,
                          agreement_target: float | None) -> Queue:
    """Set how a queue aggregates its labels and how many labels its tasks get, together or not at all."""
    if aggregation not in AggregationMethod.values:
        raise QueueReplicationError(AGGREGATION_UNKNOWN.format(method=aggregation,
                                                               methods=", ".join(AggregationMethod.values)),
                                    "aggregation")
    with transaction.atomic():
        queue_replication_set(queue=queue, replication=replication, min_labels=min_labels,
                              agreement_target=agreement_target)
        queue.aggregation = aggregation
        queue.save(update_fields=["aggregation"])
    return queue
