"""Guides and edge cases: publishing a guide version and making an edge case (writes)."""
from __future__ import annotations

from django.db import transaction
from django.db.models import Max

from labeling.calibration.audit import AuditAction, audit_record
from labeling.models import EdgeCase, GoldenItem, Guide, GuideVersion, Task, User
from labeling.selectors import guide_version_latest
from labeling.task_kinds import task_kind_spec

GUIDE_BODY_EMPTY = "The guide's text is empty: write the guide before publishing it."
EDGE_CASE_RULE_EMPTY = "Name the guide rule this edge case illustrates."
EDGE_CASE_REASON_EMPTY = "Say why this is the right answer: labelers read the reason beside the answer."
EDGE_CASE_NO_GUIDE = "The {kind} kind has no guide yet: publish a guide before adding edge cases."


class GuideError(ValueError):
    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field


def guide_version_publish(*, task_kind: str, body: str, published_by: User | None, change_note: str = "",
                          requires_requalification: bool = False, title: str | None = None) -> GuideVersion:
    """Publish a new version of the kind's guide (made with its first version when there is none).

    Versions are numbered 1, 2, ... per guide under its row lock. Queues keep the version they were
    made with; new queues and golden answers take the newest (``guide_version_latest``). With
    ``requires_requalification`` every labeler must pass the kind's qualification again before
    claiming from a queue that requires qualification (labeling/calibration/qualification.py).
    """
    task_kind_spec(task_kind)  # an unknown kind is refused here
    # A browser's textarea sends CRLF; stored text has one line ending so diffs show only real changes.
    body = (body or "").replace("\r\n", "\n").replace("\r", "\n")
    if not body.strip():
        raise GuideError(GUIDE_BODY_EMPTY, "body")
    with transaction.atomic():
        latest = guide_version_latest(task_kind=task_kind)
        if latest is None:
            guide = Guide.objects.create(task_kind=task_kind, title=title or task_kind_spec(task_kind).default_guide_title)
        else:
            guide = Guide.objects.select_for_update().get(pk=latest.guide_id)
            if title and title != guide.title:
                guide.title = title
                guide.save(update_fields=["title"])
        number = (GuideVersion.objects.filter(guide=guide).aggregate(n=Max("version"))["n"] or 0) + 1
        version = GuideVersion.objects.create(guide=guide, version=number, body=body, created_by=published_by,
                                              change_note=change_note,
                                              requires_requalification=requires_requalification)
        audit_record(actor=published_by, action=AuditAction.GUIDE_VERSION_PUBLISHED, target=version,
                     details={"task_kind": task_kind, "version": number, "change_note": change_note,
                              "requires_requalification": requires_requalification})
    return version


def edge_case_create(*, task_kind: str, rule: str, payload: dict, answer, reason: str, created_by: User | None,
                     guide_version: GuideVersion | None = None, source_task: Task | None = None,
                     golden_item: GoldenItem | None = None) -> EdgeCase:
    """An edge case of the kind: the item, the right answer (checked by the kind) and the reason,
    attached to ``guide_version`` (default: the kind's newest)."""
    spec = task_kind_spec(task_kind)
    if not (rule or "").strip():
        raise GuideError(EDGE_CASE_RULE_EMPTY, "rule")
    if not (reason or "").strip():
        raise GuideError(EDGE_CASE_REASON_EMPTY, "reason")
    guide_version = guide_version or guide_version_latest(task_kind=task_kind)
    if guide_version is None:
        raise GuideError(EDGE_CASE_NO_GUIDE.format(kind=task_kind), "guide_version")
    payload = spec.payload_clean(payload)
    cleaned = spec.answer_clean(payload=payload, answer=answer)
    with transaction.atomic():
        edge_case = EdgeCase.objects.create(guide_version=guide_version, task_kind=task_kind, rule=rule.strip(),
                                            payload=payload, answer=cleaned, reason=reason.strip(),
                                            source_task=source_task, golden_item=golden_item, created_by=created_by)
        audit_record(actor=created_by, action=AuditAction.EDGE_CASE_CREATED, target=edge_case,
                     details={"task_kind": task_kind, "rule": edge_case.rule, "guide_version": guide_version.version})
    return edge_case
