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


_UNCHANGED = object()


def queue_settings_update(*, queue: Queue, aggregation: str, replication: int, min_labels: int | None,
                          agreement_target: float | None, requires_qualification=_UNCHANGED,
                          qualification_set=_UNCHANGED, qualification_pass_mark=_UNCHANGED,
                          qualification_items=_UNCHANGED, recalibration_window=_UNCHANGED,
                          recalibration_threshold=_UNCHANGED, immediate_feedback=_UNCHANGED) -> Queue:
    """Set how a queue aggregates its labels and how many labels its tasks get, and (each left out:
    unchanged) its qualification, re-calibration and immediate feedback, together or not at all."""
    calibration = {"requires_qualification": requires_qualification, "qualification_set": qualification_set,
                   "qualification_pass_mark": qualification_pass_mark, "qualification_items": qualification_items,
                   "recalibration_window": recalibration_window, "recalibration_threshold": recalibration_threshold,
                   "immediate_feedback": immediate_feedback}
    if any(value is not _UNCHANGED for value in calibration.values()):
        with transaction.atomic():
            queue_settings_update(queue=queue, aggregation=aggregation, replication=replication,
                                  min_labels=min_labels, agreement_target=agreement_target)
            queue_calibration_update(queue=queue, **{
                name: getattr(queue, name) if value is _UNCHANGED else value for name, value in calibration.items()})
        return queue
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


# -- qualification, re-calibration and immediate feedback (labeling/calibration/CALIBRATION_qualification.md)

QUALIFICATION_SET_MISSING = "A queue that requires qualification needs a qualification set to draw it from."
QUALIFICATION_SET_WRONG_KIND = "The qualification set is for '{set_kind}' items but the queue is for '{queue_kind}' tasks."
QUALIFICATION_PASS_MARK_NOT_SHARE = "The qualification pass mark is a share between 0 and 1."
QUALIFICATION_ITEMS_NOT_POSITIVE = "A qualification asks at least 1 item (and at most 500)."
RECALIBRATION_WINDOW_NOT_POSITIVE = "The re-calibration window is a whole number of golden labels from 1 to 1000."
RECALIBRATION_THRESHOLD_NOT_SHARE = "The re-calibration threshold is a share between 0 and 1."
QUALIFICATION_SET_SERVED = ("The qualification set is one of the golden sets this queue serves: a qualification shows "
                            "the expert's answers, which would then be known on the queue's golden items. Choose "
                            "another set.")
RECALIBRATION_HALF_SET = ("Re-calibration needs both a window (the last N golden labels) and a threshold; set both, "
                          "or neither to turn it off.")


def _is_share(value) -> bool:
    return not isinstance(value, bool) and isinstance(value, (int, float)) and 0.0 <= value <= 1.0


def queue_calibration_update(*, queue: Queue, requires_qualification: bool, qualification_set,
                             qualification_pass_mark: float, qualification_items: int,
                             recalibration_window: int | None, recalibration_threshold: float | None,
                             immediate_feedback: bool) -> Queue:
    """Set the queue's qualification, re-calibration and immediate feedback, together or not at all
    (claim enforces them: labeling/QUEUE.md, "Qualification and re-calibration in claim")."""
    if requires_qualification and qualification_set is None:
        raise QueueReplicationError(QUALIFICATION_SET_MISSING, "qualification_set")
    if qualification_set is not None and qualification_set.task_kind != queue.task_kind:
        raise QueueReplicationError(QUALIFICATION_SET_WRONG_KIND.format(set_kind=qualification_set.task_kind,
                                                                        queue_kind=queue.task_kind),
                                    "qualification_set")
    if qualification_set is not None and queue.golden_sets.filter(pk=qualification_set.pk).exists():
        raise QueueReplicationError(QUALIFICATION_SET_SERVED, "qualification_set")
    if not _is_share(qualification_pass_mark):
        raise QueueReplicationError(QUALIFICATION_PASS_MARK_NOT_SHARE, "qualification_pass_mark")
    if not _is_whole(qualification_items) or not 1 <= qualification_items <= 500:
        raise QueueReplicationError(QUALIFICATION_ITEMS_NOT_POSITIVE, "qualification_items")
    if (recalibration_window is None) != (recalibration_threshold is None):
        raise QueueReplicationError(RECALIBRATION_HALF_SET,
                                    "recalibration_threshold" if recalibration_threshold is None else "recalibration_window")
    if recalibration_window is not None and (not _is_whole(recalibration_window) or not 1 <= recalibration_window <= 1000):
        raise QueueReplicationError(RECALIBRATION_WINDOW_NOT_POSITIVE, "recalibration_window")
    if recalibration_threshold is not None and not _is_share(recalibration_threshold):
        raise QueueReplicationError(RECALIBRATION_THRESHOLD_NOT_SHARE, "recalibration_threshold")
    queue.requires_qualification = bool(requires_qualification)
    queue.qualification_set = qualification_set
    queue.qualification_pass_mark = float(qualification_pass_mark)
    queue.qualification_items = qualification_items
    queue.recalibration_window = recalibration_window
    queue.recalibration_threshold = None if recalibration_threshold is None else float(recalibration_threshold)
    queue.immediate_feedback = bool(immediate_feedback)
    queue.save(update_fields=["requires_qualification", "qualification_set", "qualification_pass_mark",
                              "qualification_items", "recalibration_window", "recalibration_threshold",
                              "immediate_feedback"])
    return queue
