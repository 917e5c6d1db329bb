"""Qualification and re-calibration (CALIBRATION_qualification.md): what claim checks, what a golden
submit records, and the labeler's qualification attempts.

Claim's check is one statement (``claim_standing``) and runs only for queues that use qualification
or re-calibration. A golden submit on such a queue (or one with immediate feedback) reads the
labeler's last N golden labels of the kind in one statement (``golden_label_recorded``).
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime

from django.db import IntegrityError, connection, transaction
from django.db.models import DateTimeField, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from labeling.answer_schemas import answer_clean
from labeling.calibration.audit import AuditAction, audit_record
from labeling.models import (FeedbackKind, GoldenItem, GuideVersion, Label, LabelerFeedback, LabelerFlag, Qualification,
                             QualificationAnswer, QualificationStatus, Queue, Role, TaskKind, User)
from labeling.task_kinds import task_kind_spec

QUALIFICATION_NOT_REQUIRED = "This queue does not require a qualification."
QUALIFICATION_NO_SET = "This queue requires a qualification but has no qualification set yet; ask an expert to choose one."
QUALIFICATION_SET_EMPTY = "The qualification set has no golden items yet; ask an expert to add some."
QUALIFICATION_NOT_FOUND = "There is no qualification attempt of yours with this id."
QUALIFICATION_FINISHED = "This qualification attempt is finished; start a new one to try again."
QUALIFICATION_ITEM_NOT_DRAWN = "This golden item is not one of this attempt's items."
QUALIFICATION_ITEM_ANSWERED = "You already answered this item; answer the next one."
FLAG_NOT_FOUND = "This labeler has no open flag on this task kind."
QUALIFICATION_NONE_OPEN = "You have no open qualification attempt for this queue's kind; start one first."
FLAG_CLEARED_BY_QUALIFICATION = "re-qualified"
FLAG_CLEARED_BY_EXPERT = "cleared by an expert"
GOLDEN_MISS_BODY = "Your answer on a golden item did not match the expert's answer."
# Epoch: labels count toward the rolling window when made after the labeler's last cleared flag.
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.get_fixed_timezone(0))


class QualificationError(Exception):
    """A refused qualification action; ``status`` is its HTTP status, ``code`` its error code."""

    status = 409
    code = "qualification_refused"


class QualificationNotFound(QualificationError):
    status = 404
    code = "not_found"


class QualificationUnavailable(QualificationError):
    status = 409
    code = "qualification_unavailable"


class QualificationItemRefused(QualificationError):
    status = 409
    code = "qualification_item_refused"


def queue_uses_calibration(queue: Queue) -> bool:
    """Qualification or re-calibration is on: claim checks the labeler's standing for the kind."""
    return queue.requires_qualification or queue_recalibrates(queue)


def queue_recalibrates(queue: Queue) -> bool:
    return queue.recalibration_window is not None and queue.recalibration_threshold is not None


# -- what claim checks ----------------------------------------------------------------------------

_FLAG = LabelerFlag._meta.db_table
_QUAL = Qualification._meta.db_table
_GV = GuideVersion._meta.db_table
# One statement: the labeler's open flag of the kind (its accuracy and threshold, NULL when none) and
# whether a passed qualification of the kind is valid for the queue's guide version: made under that
# version or a newer one, or under an older one (of the same guide; none counts as version 0) with no
# version in between, up to the queue's, requiring re-qualification. A queue without a guide version
# takes any passed qualification of the kind (``cur`` matches no row).
_STANDING_SQL = (
    f"SELECT (SELECT f.rolling_accuracy FROM {_FLAG} f WHERE f.labeler_id = %s AND f.task_kind = %s"
    f" AND f.cleared_at IS NULL LIMIT 1),"
    f" (SELECT f.threshold FROM {_FLAG} f WHERE f.labeler_id = %s AND f.task_kind = %s"
    f" AND f.cleared_at IS NULL LIMIT 1),"
    f" EXISTS (SELECT 1 FROM {_QUAL} q LEFT JOIN {_GV} qg ON qg.id = q.guide_version_id"
    f" WHERE q.labeler_id = %s AND q.task_kind = %s AND q.status = '{QualificationStatus.PASSED}'"
    f" AND NOT EXISTS (SELECT 1 FROM {_GV} cur JOIN {_GV} v ON v.guide_id = cur.guide_id"
    f" WHERE cur.id = %s AND v.requires_requalification AND v.version <= cur.version"
    f" AND v.version > COALESCE(CASE WHEN qg.guide_id = cur.guide_id THEN qg.version END, 0)))"
)


@dataclass(frozen=True)
class ClaimStanding:
    qualified: bool
    flag_accuracy: float | None
    flag_threshold: float | None

    @property
    def flagged(self) -> bool:
        return self.flag_accuracy is not None


def claim_standing(*, queue: Queue, labeler: User) -> ClaimStanding:
    """The labeler's standing for the queue's kind, in one query."""
    kind = queue.task_kind
    with connection.cursor() as cursor:
        cursor.execute(_STANDING_SQL, [labeler.pk, kind, labeler.pk, kind, labeler.pk, kind, queue.guide_version_id])
        accuracy, threshold, qualified = cursor.fetchone()
    return ClaimStanding(qualified=bool(qualified), flag_accuracy=accuracy, flag_threshold=threshold)


def labeler_is_qualified(*, queue: Queue, labeler: User) -> bool:
    return claim_standing(queue=queue, labeler=labeler).qualified


# -- what a golden submit records -------------------------------------------------------------------

@dataclass(frozen=True)
class GoldenFeedback:
    """What a labeler is shown right after submitting a golden item (immediate feedback only)."""

    correct: bool
    score: float
    expert_answer: dict
    reason: str


def _last_golden_rows(*, labeler: User, task_kind: str, limit: int) -> list[tuple]:
    """(label id, item payload, answer, golden answer, reason) of the labeler's newest golden labels of
    the kind made after their last cleared flag, newest first: one query."""
    last_cleared = Subquery(LabelerFlag.objects.filter(labeler=labeler, task_kind=task_kind, cleared_at__isnull=False)
                            .order_by("-cleared_at").values("cleared_at")[:1], output_field=DateTimeField())
    return list(Label.objects.filter(labeler=labeler, task__is_golden=True, task__queue__task_kind=task_kind,
                                     is_staff_label=False)
                .filter(created_at__gt=Coalesce(last_cleared, Value(_EPOCH, output_field=DateTimeField())))
                .order_by("-pk")
                .values_list("pk", "task__golden_item__payload", "answer", "task__golden_item__answer",
                             "task__golden_item__reason")[:limit])


def golden_label_recorded(*, queue: Queue, label: Label, labeler: User) -> GoldenFeedback | None:
    """Called by label_submit, in its transaction, after a labeler's golden label on a queue with
    re-calibration or immediate feedback: flag the labeler when the mean golden score of their last
    ``recalibration_window`` golden labels of the kind (a full window) is below the threshold, and
    with immediate feedback return the expert's answer (writing a golden_miss feedback on a miss)."""
    spec = task_kind_spec(queue.task_kind)
    window = queue.recalibration_window if queue_recalibrates(queue) else 0
    rows = _last_golden_rows(labeler=labeler, task_kind=queue.task_kind, limit=max(window, 1))
    scores = []
    feedback = None
    for label_id, payload, answer, golden, reason in rows:
        if golden is None:
            continue
        comparison = spec.golden_compare(payload=payload, answer=answer, golden=golden)
        scores.append(comparison.score)
        if label_id == label.pk and queue.immediate_feedback:
            feedback = GoldenFeedback(correct=comparison.correct, score=comparison.score, expert_answer=golden,
                                      reason=reason or "")
    if feedback is not None and not feedback.correct:
        LabelerFeedback.objects.create(
            labeler=labeler, label=label, kind=FeedbackKind.GOLDEN_MISS, body=GOLDEN_MISS_BODY,
            details={"queue_id": queue.pk, "task_id": label.task_id, "expert_answer": feedback.expert_answer,
                     "reason": feedback.reason, "your_answer": label.answer, "score": feedback.score})
    if window and len(scores) >= window:
        accuracy = sum(scores[:window]) / window
        if accuracy < queue.recalibration_threshold:
            _flag_open(queue=queue, labeler=labeler, accuracy=accuracy)
    return feedback


def _flag_open(*, queue: Queue, labeler: User, accuracy: float) -> None:
    if LabelerFlag.objects.filter(labeler=labeler, task_kind=queue.task_kind, cleared_at__isnull=True).exists():
        return
    try:
        with transaction.atomic():
            flag = LabelerFlag.objects.create(labeler=labeler, task_kind=queue.task_kind, queue=queue,
                                              rolling_accuracy=accuracy, window=queue.recalibration_window,
                                              threshold=queue.recalibration_threshold)
            audit_record(actor=None, action=AuditAction.LABELER_FLAGGED, target=flag,
                         details={"labeler": labeler.username, "task_kind": queue.task_kind, "queue_id": queue.pk,
                                  "rolling_accuracy": accuracy, "window": queue.recalibration_window,
                                  "threshold": queue.recalibration_threshold})
    except IntegrityError:
        pass  # a concurrent golden submit of the same labeler opened it first


def labeler_flag_clear(*, labeler_id: int, task_kind: str, cleared_by: User | None,
                       reason: str = FLAG_CLEARED_BY_EXPERT, now: datetime | None = None) -> LabelerFlag:
    """Close an open flag: the labeler gets the kind's tasks again, and their rolling window
    restarts (only golden labels after the clear count)."""
    with transaction.atomic():
        flag = (LabelerFlag.objects.select_for_update()
                .filter(labeler_id=labeler_id, task_kind=task_kind, cleared_at__isnull=True).first())
        if flag is None:
            raise QualificationNotFound(FLAG_NOT_FOUND)
        flag.cleared_at = now or timezone.now()
        flag.cleared_by = cleared_by
        flag.cleared_reason = reason[:200]
        flag.save(update_fields=["cleared_at", "cleared_by", "cleared_reason"])
        audit_record(actor=cleared_by, action=AuditAction.LABELER_CLEARED, target=flag,
                     details={"labeler_id": flag.labeler_id, "task_kind": flag.task_kind, "reason": flag.cleared_reason})
    return flag


# -- qualification attempts ------------------------------------------------------------------------

def _drawable_items(qualification: Qualification) -> list[GoldenItem]:
    # Items added to the set after the attempt started do not change its draw.
    return list(GoldenItem.objects.filter(golden_set_id=qualification.golden_set_id,
                                          created_at__lte=qualification.started_at).order_by("pk"))


def qualification_items(*, qualification: Qualification) -> list[GoldenItem]:
    """The attempt's items in the order they are asked: a draw seeded by the attempt's id."""
    items = _drawable_items(qualification)
    return random.Random(f"qualification:{qualification.pk}").sample(items, min(qualification.n_items, len(items)))


def qualification_open(*, labeler: User, task_kind: str) -> Qualification | None:
    return Qualification.objects.filter(labeler=labeler, task_kind=task_kind,
                                        status=QualificationStatus.IN_PROGRESS).first()


def qualification_start(*, queue: Queue, labeler: User) -> Qualification:
    """The labeler's open attempt at the kind's qualification, or a new one drawing
    ``queue.qualification_items`` items of the queue's qualification set under its guide version."""
    if not queue.requires_qualification:
        raise QualificationUnavailable(QUALIFICATION_NOT_REQUIRED)
    if queue.qualification_set_id is None:
        raise QualificationUnavailable(QUALIFICATION_NO_SET)
    existing = qualification_open(labeler=labeler, task_kind=queue.task_kind)
    if existing is not None:
        return existing
    available = GoldenItem.objects.filter(golden_set_id=queue.qualification_set_id).count()
    if not available:
        raise QualificationUnavailable(QUALIFICATION_SET_EMPTY)
    try:
        with transaction.atomic():
            return Qualification.objects.create(
                labeler=labeler, task_kind=queue.task_kind, guide_version_id=queue.guide_version_id,
                golden_set_id=queue.qualification_set_id, pass_mark=queue.qualification_pass_mark,
                n_items=min(queue.qualification_items, available))
    except IntegrityError:
        # The one-open-attempt constraint: the labeler's concurrent start (a second tab) won.
        return qualification_open(labeler=labeler, task_kind=queue.task_kind)


@dataclass(frozen=True)
class QualificationProgress:
    qualification: Qualification
    answered: int
    next_item: GoldenItem | None


def qualification_progress(*, qualification: Qualification) -> QualificationProgress:
    answered_ids = set(qualification.answers.values_list("golden_item_id", flat=True))
    pending = [item for item in qualification_items(qualification=qualification) if item.pk not in answered_ids]
    next_item = pending[0] if pending and qualification.status == QualificationStatus.IN_PROGRESS else None
    return QualificationProgress(qualification=qualification, answered=len(answered_ids), next_item=next_item)


@dataclass(frozen=True)
class QualificationAnswerResult:
    qualification: Qualification
    correct: bool
    score: float
    expert_answer: dict
    reason: str
    answered: int


def qualification_answer_open(*, queue: Queue, labeler: User, golden_item_id: int, answer,
                              now: datetime | None = None) -> QualificationAnswerResult:
    """``qualification_answer`` on the labeler's open attempt of the queue's kind."""
    attempt = qualification_open(labeler=labeler, task_kind=queue.task_kind)
    if attempt is None:
        raise QualificationUnavailable(QUALIFICATION_NONE_OPEN)
    return qualification_answer(qualification_id=attempt.pk, labeler=labeler, golden_item_id=golden_item_id,
                                answer=answer, now=now)


def qualification_answer(*, qualification_id: int, labeler: User, golden_item_id: int, answer,
                         now: datetime | None = None) -> QualificationAnswerResult:
    """Score the labeler's answer to one item of their attempt and return the expert's answer and
    reason; the last answer finishes the attempt (passed when the mean score reaches the pass mark,
    which also clears the labeler's open flag of the kind). Raises QualificationError or
    AnswerSchemaError."""
    with transaction.atomic():
        qualification = (Qualification.objects.select_for_update()
                         .filter(pk=qualification_id, labeler=labeler).first())
        if qualification is None:
            raise QualificationNotFound(QUALIFICATION_NOT_FOUND)
        if qualification.status != QualificationStatus.IN_PROGRESS:
            raise QualificationUnavailable(QUALIFICATION_FINISHED)
        drawn = {item.pk: item for item in qualification_items(qualification=qualification)}
        item = drawn.get(golden_item_id)
        if item is None:
            raise QualificationItemRefused(QUALIFICATION_ITEM_NOT_DRAWN)
        scores = dict(qualification.answers.values_list("golden_item_id", "score"))
        if item.pk in scores:
            raise QualificationItemRefused(QUALIFICATION_ITEM_ANSWERED)
        cleaned = answer_clean(kind=qualification.task_kind, payload=item.payload, answer=answer)
        comparison = task_kind_spec(qualification.task_kind).golden_compare(payload=item.payload, answer=cleaned,
                                                                           golden=item.answer)
        QualificationAnswer.objects.create(qualification=qualification, golden_item=item, answer=cleaned,
                                           score=comparison.score)
        scores[item.pk] = comparison.score
        if len(scores) >= qualification.n_items:
            _qualification_finish(qualification=qualification, scores=list(scores.values()), now=now)
    return QualificationAnswerResult(qualification=qualification, correct=comparison.correct, score=comparison.score,
                                     expert_answer=item.answer, reason=item.reason, answered=len(scores))


def _qualification_finish(*, qualification: Qualification, scores: list[float], now: datetime | None) -> None:
    qualification.score = sum(scores) / len(scores)
    qualification.status = (QualificationStatus.PASSED if qualification.score >= qualification.pass_mark
                            else QualificationStatus.FAILED)
    qualification.finished_at = now or timezone.now()
    qualification.save(update_fields=["score", "status", "finished_at"])
    audit_record(actor=qualification.labeler, action=AuditAction.QUALIFICATION_FINISHED, target=qualification,
                 details={"task_kind": qualification.task_kind, "status": qualification.status,
                          "score": qualification.score, "pass_mark": qualification.pass_mark,
                          "guide_version_id": qualification.guide_version_id, "n_items": qualification.n_items})
    if qualification.status == QualificationStatus.PASSED:
        if LabelerFlag.objects.filter(labeler_id=qualification.labeler_id, task_kind=qualification.task_kind,
                                      cleared_at__isnull=True).exists():
            labeler_flag_clear(labeler_id=qualification.labeler_id, task_kind=qualification.task_kind,
                               cleared_by=None, reason=FLAG_CLEARED_BY_QUALIFICATION)


# -- what experts and labelers read ---------------------------------------------------------------

def qualifications_of(*, labeler: User) -> QuerySet[Qualification]:
    return (Qualification.objects.filter(labeler=labeler).select_related("guide_version", "golden_set")
            .order_by("-started_at", "-pk"))


def flags_of(*, labeler: User) -> QuerySet[LabelerFlag]:
    return LabelerFlag.objects.filter(labeler=labeler).select_related("cleared_by", "queue").order_by("-flagged_at", "-pk")


@dataclass(frozen=True)
class KindStanding:
    task_kind: str
    label: str
    qualified_version: int | None  # the guide version of the newest passed attempt (0: no guide)
    qualified: bool
    open_flag: LabelerFlag | None


def labeler_standings(*, labeler: User) -> list[KindStanding]:
    """Per kind: the newest passed qualification and whether it is still valid for the kind's newest
    guide version, and the open flag; three queries whatever the history."""
    passed: dict[str, Qualification] = {}
    for qualification in qualifications_of(labeler=labeler).filter(status=QualificationStatus.PASSED):
        passed.setdefault(qualification.task_kind, qualification)
    flags = {flag.task_kind: flag for flag in flags_of(labeler=labeler).filter(cleared_at__isnull=True)}
    versions: dict[str, list[GuideVersion]] = {}
    for version in GuideVersion.objects.select_related("guide").order_by("guide_id", "version"):
        versions.setdefault(version.guide.task_kind, []).append(version)
    standings = []
    for kind, label in TaskKind.choices:
        qualification = passed.get(kind)
        qualified = False
        version_number = None
        if qualification is not None:
            version_number = qualification.guide_version.version if qualification.guide_version else 0
            kind_versions = versions.get(kind, [])
            same_guide = [v for v in kind_versions if qualification.guide_version is None
                          or v.guide_id == qualification.guide_version.guide_id]
            qualified = not any(v.requires_requalification and v.version > version_number for v in same_guide)
        standings.append(KindStanding(task_kind=kind, label=label, qualified_version=version_number,
                                      qualified=qualified, open_flag=flags.get(kind)))
    return standings



# -- the labeler's feed ---------------------------------------------------------------------------

FEEDBACK_NOT_FOUND = "There is no feedback of yours with this id."


def labeler_feedback_mark_read(*, feedback_id: int, labeler: User, now: datetime | None = None) -> LabelerFeedback:
    """Mark one item of the labeler's own feed read (again: unchanged). Another's feedback is not found."""
    feedback = LabelerFeedback.objects.filter(pk=feedback_id, labeler=labeler).first()
    if feedback is None:
        raise QualificationNotFound(FEEDBACK_NOT_FOUND)
    if feedback.read_at is None:
        feedback.read_at = now or timezone.now()
        LabelerFeedback.objects.filter(pk=feedback.pk, read_at__isnull=True).update(read_at=feedback.read_at)
    return feedback


def labeler_feed(*, labeler: User) -> QuerySet[LabelerFeedback]:
    """Every feedback kind of the labeler's feed, newest first (unread ones are ``read_at`` None)."""
    return LabelerFeedback.objects.filter(labeler=labeler).select_related("author").order_by("-created_at", "-pk")


@dataclass(frozen=True)
class QualificationState:
    """What the qualify page and the status API show a labeler for one queue."""

    queue: Queue
    standing: ClaimStanding
    attempt: Qualification | None  # the open attempt, else the newest finished one of the kind
    progress: QualificationProgress | None


def qualification_state(*, queue: Queue, labeler: User) -> QualificationState:
    attempt = (Qualification.objects.filter(labeler=labeler, task_kind=queue.task_kind)
               .order_by("-started_at", "-pk").first())
    progress = qualification_progress(qualification=attempt) if attempt is not None else None
    return QualificationState(queue=queue, standing=claim_standing(queue=queue, labeler=labeler), attempt=attempt,
                              progress=progress)


QUEUE_GATE_QUALIFY = "qualify"
QUEUE_GATE_FLAGGED = "flagged"


def queue_gates_for(*, labeler: User, queues: list[Queue]) -> dict[int, str]:
    """Per queue the labeler may not claim from now: ``qualify`` (qualification needed) or ``flagged``;
    the same rule as claim's check, for a list of queues in at most three queries (My queues)."""
    gated = [queue for queue in queues if queue_uses_calibration(queue)]
    if not gated or labeler.is_superuser or labeler.role != Role.LABELER:
        return {}
    kinds = {queue.task_kind for queue in gated}
    flagged = set(LabelerFlag.objects.filter(labeler=labeler, task_kind__in=kinds, cleared_at__isnull=True)
                  .values_list("task_kind", flat=True))
    passed = list(Qualification.objects.filter(labeler=labeler, task_kind__in=kinds, status=QualificationStatus.PASSED)
                  .values_list("task_kind", "guide_version__guide_id", "guide_version__version"))
    guide_ids = {queue.guide_version.guide_id for queue in gated if queue.guide_version_id}
    voiding = list(GuideVersion.objects.filter(guide_id__in=guide_ids, requires_requalification=True)
                   .values_list("guide_id", "version")) if guide_ids else []
    gates = {}
    for queue in gated:
        if queue.task_kind in flagged:
            gates[queue.pk] = QUEUE_GATE_FLAGGED
        elif queue.requires_qualification and not _passed_is_valid(queue=queue, passed=passed, voiding=voiding):
            gates[queue.pk] = QUEUE_GATE_QUALIFY
    return gates


def _passed_is_valid(*, queue: Queue, passed: list[tuple], voiding: list[tuple]) -> bool:
    """The Python twin of ``_STANDING_SQL``'s qualification test (``queue.guide_version`` loaded)."""
    current = queue.guide_version
    for kind, guide_id, version in passed:
        if kind != queue.task_kind:
            continue
        if current is None:
            return True
        since = version if guide_id == current.guide_id else 0
        if not any(g == current.guide_id and since < v <= current.version for g, v in voiding):
            return True
    return False
