"""The append-only audit trail: golden-answer changes, guide versions, qualification decisions,
role and pool changes. ``audit_record`` is called inside the transaction of the change it records,
so a change and its event commit or roll back together."""
from __future__ import annotations

from django.db.models import QuerySet

from labeling.models import AuditEvent, User


class AuditAction:
    GOLDEN_ANSWER_CHANGED = "golden_answer.changed"
    GUIDE_VERSION_PUBLISHED = "guide_version.published"
    EDGE_CASE_CREATED = "edge_case.created"
    TRIAGE_DECIDED = "triage.decided"
    QUALIFICATION_FINISHED = "qualification.finished"
    LABELER_FLAGGED = "labeler.flagged"
    LABELER_CLEARED = "labeler.cleared"
    USER_CREATED = "user.created"
    USER_ROLE_CHANGED = "user.role_changed"
    USER_POOL_CHANGED = "user.pool_changed"
    CALIBRATION_REVEALED = "calibration.revealed"


def audit_record(*, actor: User | None, action: str, target, details: dict | None = None) -> AuditEvent:
    """Append one event about ``target`` (a model instance, or a ``(type, id)`` pair)."""
    if isinstance(target, tuple):
        target_type, target_id = target
    else:
        target_type, target_id = target._meta.label_lower, target.pk
    return AuditEvent.objects.create(actor=actor if actor is not None and actor.pk else None, action=action,
                                     target_type=str(target_type), target_id="" if target_id is None else str(target_id),
                                     details=details or {})


def audit_events(*, action: str | None = None, target_type: str | None = None) -> QuerySet[AuditEvent]:
    """The trail, newest first, optionally of one action or one target type."""
    events = AuditEvent.objects.select_related("actor").order_by("-created_at", "-pk")
    if action:
        events = events.filter(action=action)
    if target_type:
        events = events.filter(target_type=target_type)
    return events
