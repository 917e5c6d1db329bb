"""Reads of calibration sessions, and their before and after figures
(labeling/calibration/CALIBRATION_sessions.md).

Blindness: a participant's reads (``calibration_sessions_of``, ``calibration_next_item``,
``calibration_own_answers``) return the expert's answers and reasons only once the session is
revealed, and never another participant's answers.

Figures (pure, one query per frame): a frame is a list of ``FrameRow`` (an item, its payload, the
reference answer, a participant and their answer).

- "before": the session's blind answers;
- "after": the follow-up items' answers and each participant's next ``followup_golden_n`` labels on
  golden copies of the kind in any queue, given after the reveal.

Per frame: agreement is Krippendorff's alpha among the participants (the quality report's own
computation, ``labeling.quality.coded.CodedFrames.alpha``); per labeler it is alpha between the
labeler and the reference answers (how far they agree with the expert beyond chance). Accuracy is
the mean golden score (the kind's ``golden_compare``) of the answers, per labeler and overall.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from django.db.models import Count

from labeling.models import (CalibrationAnswer, CalibrationItem, CalibrationParticipant, CalibrationSession,
                             CalibrationStatus, Label)
from labeling.quality.coded import CodedFrames
from labeling.quality.frames import quality_frames
from labeling.quality.records import golden_item_key
from labeling.task_kinds import task_kind_spec

REFERENCE_RATER = "(expert)"


@dataclass(frozen=True)
class FrameRow:
    item: str
    payload: dict
    reference: dict
    labeler_id: int
    username: str
    is_simulated: bool
    answer: dict


@dataclass(frozen=True)
class LabelerFigures:
    labeler_id: int
    username: str
    is_simulated: bool
    n_answers: int
    accuracy: float | None
    alpha_with_expert: float | None


@dataclass(frozen=True)
class FrameFigures:
    n_answers: int
    n_items: int
    alpha: float | None
    accuracy: float | None
    per_labeler: dict[int, LabelerFigures] = field(default_factory=dict)


@dataclass(frozen=True)
class SessionFigures:
    before: FrameFigures
    after: FrameFigures


# -- participants' reads ------------------------------------------------------------------------

def calibration_sessions_of(*, labeler) -> list[CalibrationSession]:
    """The open and revealed sessions the labeler takes part in, newest first (one query)."""
    return list(CalibrationSession.objects.filter(participants__labeler=labeler)
                .exclude(status=CalibrationStatus.CLOSED).order_by("-created_at", "-pk"))


def calibration_is_participant(*, session: CalibrationSession, labeler) -> bool:
    return CalibrationParticipant.objects.filter(session=session, labeler=labeler).exists()


def calibration_next_item(*, session: CalibrationSession, labeler) -> CalibrationItem | None:
    """The first item the labeler has not answered that is open to them now: a blind item while
    the session is open, a follow-up item once it is revealed. ``deferred`` keeps the expert's
    answer and reason out of the row (they are never loaded for a participant before the reveal)."""
    if session.status == CalibrationStatus.CLOSED:
        return None
    return (CalibrationItem.objects.filter(session=session,
                                           is_followup=session.status == CalibrationStatus.REVEALED)
            .exclude(answers__labeler=labeler).defer("answer", "reason").order_by("position").first())


def calibration_progress(*, session: CalibrationSession, labeler) -> tuple[int, int]:
    """(answered, total) of the items open to the labeler now."""
    items = CalibrationItem.objects.filter(session=session, is_followup=session.status == CalibrationStatus.REVEALED)
    return (CalibrationAnswer.objects.filter(item__in=items, labeler=labeler).count(), items.count())


def calibration_own_answers(*, session: CalibrationSession, labeler) -> list[dict]:
    """After the reveal: each blind item with the labeler's own answer beside the expert's answer
    and reason, and its score (one query). Before the reveal: nothing (the answers are blind)."""
    if session.status == CalibrationStatus.OPEN:
        return []
    spec = task_kind_spec(session.task_kind)
    own = {answer.item_id: answer.answer for answer in
           CalibrationAnswer.objects.filter(item__session=session, item__is_followup=False, labeler=labeler)}
    rows = []
    for item in CalibrationItem.objects.filter(session=session, is_followup=False).order_by("position"):
        answer = own.get(item.pk)
        comparison = (spec.golden_compare(payload=item.payload, answer=answer, golden=item.answer)
                      if answer is not None else None)
        rows.append({"item": item, "answer": answer, "expert_answer": item.answer, "reason": item.reason,
                     "score": comparison.score if comparison else None,
                     "correct": comparison.correct if comparison else None})
    return rows


# -- staff reads ----------------------------------------------------------------------------------

def calibration_session_list() -> list[CalibrationSession]:
    return list(CalibrationSession.objects.select_related("created_by").order_by("-created_at", "-pk"))


def calibration_participant_rows(*, session: CalibrationSession) -> list[tuple]:
    """(labeler id, username, simulated) of every participant (one query)."""
    return list(CalibrationParticipant.objects.filter(session=session).order_by("labeler__username")
                .values_list("labeler_id", "labeler__username", "labeler__is_simulated"))


def calibration_answer_counts(*, session: CalibrationSession) -> dict[int, int]:
    """Answers given per participant (one query)."""
    return dict(CalibrationAnswer.objects.filter(item__session=session).values("labeler_id")
                .annotate(n=Count("pk")).values_list("labeler_id", "n"))


def calibration_frame_rows(*, session: CalibrationSession, followup: bool) -> list[FrameRow]:
    """The session's answers to its blind (or follow-up) items with the expert's answers (one query)."""
    return [FrameRow(f"calibration-item-{item_id}", payload, reference, labeler_id, username, simulated, answer)
            for item_id, payload, reference, labeler_id, username, simulated, answer in
            CalibrationAnswer.objects.filter(item__session=session, item__is_followup=followup)
            .order_by("item__position", "labeler_id")
            .values_list("item_id", "item__payload", "item__answer", "labeler_id", "labeler__username",
                         "labeler__is_simulated", "answer")]


def calibration_queue_followup_rows(*, session: CalibrationSession) -> list[FrameRow]:
    """Every participant's labels on golden copies of the kind given after the reveal, against each
    golden item's current answer, oldest first (one query); ``followup_rows_first`` keeps the next N."""
    if session.revealed_at is None or session.followup_golden_n == 0:
        return []
    return [FrameRow(golden_item_key(item_id), payload, reference, labeler_id, username, simulated, answer)
            for item_id, payload, reference, labeler_id, username, simulated, answer in
            Label.objects.filter(task__queue__task_kind=session.task_kind, task__is_golden=True,
                                 is_staff_label=False, created_at__gt=session.revealed_at,
                                 labeler_id__in=CalibrationParticipant.objects.filter(session=session)
                                 .values("labeler_id"))
            .order_by("labeler_id", "created_at", "pk")
            .values_list("task__golden_item_id", "task__golden_item__payload", "task__golden_item__answer",
                         "labeler_id", "labeler__username", "is_simulated", "answer")]


def followup_rows_first(rows: list[FrameRow], *, n: int) -> list[FrameRow]:
    """Each labeler's first ``n`` rows, in the given (oldest first) order (pure)."""
    seen: dict[int, int] = {}
    kept = []
    for row in rows:
        if seen.get(row.labeler_id, 0) < n:
            seen[row.labeler_id] = seen.get(row.labeler_id, 0) + 1
            kept.append(row)
    return kept


# -- figures (pure) -------------------------------------------------------------------------------

def _record(row_item: str, payload: dict, rater: str, answer: dict) -> dict:
    return {"item": row_item, "task": None, "labeler": rater, "answer": answer, "payload": payload,
            "simulated": False, "is_golden": False}


def frame_figures(*, task_kind: str, rows: list[FrameRow]) -> FrameFigures:
    """A frame's alpha and accuracy, overall and per labeler (see the module's docstring)."""
    if not rows:
        return FrameFigures(0, 0, None, None, {})
    spec = task_kind_spec(task_kind)
    scores = [spec.golden_compare(payload=row.payload, answer=row.answer, golden=row.reference).score for row in rows]
    references = {row.item: (row.payload, row.reference) for row in rows}
    records = [_record(row.item, row.payload, str(row.labeler_id), row.answer) for row in rows]
    records += [_record(item, payload, REFERENCE_RATER, reference) for item, (payload, reference) in references.items()]
    prepared = CodedFrames(quality_frames(kind=task_kind, records=records, golden={}), seed=0, n_bootstrap=0)
    rater_names = prepared.labeler_names
    unit_rater = prepared.labeler
    reference_code = int(np.flatnonzero(rater_names == REFERENCE_RATER)[0])
    participants_only = unit_rater != reference_code
    overall_alpha = prepared.alpha(participants_only, "participants")["value"] if participants_only.any() else None
    per_labeler = {}
    by_labeler: dict[int, list[int]] = {}
    for index, row in enumerate(rows):
        by_labeler.setdefault(row.labeler_id, []).append(index)
    for labeler_id, indexes in by_labeler.items():
        first = rows[indexes[0]]
        code = int(np.flatnonzero(rater_names == str(labeler_id))[0])
        # Only the items this labeler answered: the reference's other items are no pair of theirs.
        own_items = {rows[i].item for i in indexes}
        in_items = prepared.frames.units["item"].astype(object).isin(own_items).to_numpy()
        with_expert = ((unit_rater == code) | (unit_rater == reference_code)) & in_items
        per_labeler[labeler_id] = LabelerFigures(
            labeler_id, first.username, first.is_simulated, len(indexes),
            float(np.mean([scores[i] for i in indexes])),
            prepared.alpha(with_expert, f"labeler:{labeler_id}")["value"])
    return FrameFigures(len(rows), len(references), overall_alpha, float(np.mean(scores)), per_labeler)


def calibration_session_figures(*, session: CalibrationSession) -> SessionFigures:
    """Before and after of a session: three queries (blind answers, follow-up answers, queue labels)."""
    before = calibration_frame_rows(session=session, followup=False)
    after = (calibration_frame_rows(session=session, followup=True)
             + followup_rows_first(calibration_queue_followup_rows(session=session), n=session.followup_golden_n))
    return SessionFigures(frame_figures(task_kind=session.task_kind, rows=before),
                          frame_figures(task_kind=session.task_kind, rows=after))


def calibration_participant_sees_image(*, labeler, name: str) -> bool:
    """Whether ``name`` (a stored file's name) is shown by an item of a session the labeler takes
    part in (not closed): the media view's rule for calibration items, which are no task the
    labeler holds. One query; the text match only narrows the candidates, the payload walk decides."""
    from django.conf import settings
    from django.db.models import TextField
    from django.db.models.functions import Cast

    from labeling.services.tasks import payload_media_names

    candidates = (CalibrationItem.objects.filter(session__participants__labeler=labeler)
                  .exclude(session__status=CalibrationStatus.CLOSED)
                  .annotate(payload_text=Cast("payload", TextField()))
                  .filter(payload_text__contains=settings.MEDIA_URL + name).values_list("payload", flat=True))
    return any(name in set(payload_media_names(payload)) for payload in candidates)
