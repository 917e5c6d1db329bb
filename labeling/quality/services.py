"""Writes for label quality: the dashboard's snapshots and experts' feedback to labelers.

A snapshot is the quality report of one kind (``labeling.quality.report``) stored in one row, so
the dashboard costs the same whatever the number of labels (labeling/quality/QUALITY.md). A page
that finds its snapshot stale asks for a refresh; the refresh runs in the Celery ``default`` queue.
"""
from __future__ import annotations

import time
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from labeling.models import Label, LabelerFeedback, QualitySnapshot, Role, User
from labeling.quality.report import quality_report
from labeling.quality.selectors import label_records

# A refresh asked for and not finished within this time is asked for again (its worker may be gone).
REFRESH_RETRY_AFTER = timedelta(minutes=5)
FEEDBACK_EMPTY = "Write the feedback: what the labeler should do differently."
FEEDBACK_NOT_LABELER = "Feedback goes to labelers; '{username}' is not a labeler."
FEEDBACK_LABEL_NOT_THEIRS = "That label was given by someone else."


class FeedbackError(ValueError):
    pass


def quality_snapshot_refresh(*, task_kind: str) -> QualitySnapshot:
    """Recompute the kind's report from every label and store it."""
    started = time.perf_counter()
    records, golden, last_label_id = label_records(task_kind=task_kind)
    report = quality_report(kind=task_kind, records=records, golden=golden)
    elapsed = time.perf_counter() - started
    snapshot, _ = QualitySnapshot.objects.update_or_create(
        task_kind=task_kind,
        defaults={"report": report, "n_labels": len(records), "last_label_id": last_label_id,
                  "computed_at": timezone.now(), "compute_seconds": elapsed, "refresh_requested_at": None})
    return snapshot


def quality_snapshot_is_stale(*, snapshot: QualitySnapshot | None, task_kind: str) -> bool:
    """Whether a label of the kind arrived after the snapshot (an index range scan from its newest label)."""
    after = snapshot.last_label_id if snapshot is not None else 0
    return Label.objects.filter(pk__gt=after, task__queue__task_kind=task_kind, is_staff_label=False).exists()


def quality_snapshot_request(*, task_kind: str, now: datetime | None = None) -> bool:
    """Ask for a refresh of the kind's snapshot unless one is already on its way; True when asked.

    The row's update is the guard: of two page views at once, one sets refresh_requested_at and
    enqueues, the other sees it set."""
    from labeling.tasks import quality_snapshot_refresh_run

    now = now or timezone.now()
    with transaction.atomic():
        snapshot, _ = QualitySnapshot.objects.get_or_create(task_kind=task_kind)
        updated = (QualitySnapshot.objects.filter(pk=snapshot.pk)
                   .filter(refresh_requested_at__isnull=True).update(refresh_requested_at=now)
                   or QualitySnapshot.objects.filter(pk=snapshot.pk, refresh_requested_at__lt=now - REFRESH_RETRY_AFTER)
                   .update(refresh_requested_at=now))
        if updated:
            transaction.on_commit(lambda: quality_snapshot_refresh_run.delay(task_kind))
    return bool(updated)


def labeler_feedback_give(*, labeler: User, author: User, body: str, label: Label | None = None) -> LabelerFeedback:
    body = (body or "").strip()
    if not body:
        raise FeedbackError(FEEDBACK_EMPTY)
    if labeler.role != Role.LABELER:
        raise FeedbackError(FEEDBACK_NOT_LABELER.format(username=labeler.username))
    if label is not None and label.labeler_id != labeler.pk:
        raise FeedbackError(FEEDBACK_LABEL_NOT_THEIRS)
    return LabelerFeedback.objects.create(labeler=labeler, author=author, body=body, label=label)
