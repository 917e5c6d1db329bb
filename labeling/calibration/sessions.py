"""Calibration sessions (writes): an expert opens a session on chosen items for chosen labelers or
pools; participants answer blind; the expert reveals the answers with reasons; participants then
answer the follow-up golden items, the session's "after". labeling/calibration/CALIBRATION_sessions.md.

Blindness is a rule of the data, not of a page: before the reveal no selector a participant reaches
returns an expert's answer or another participant's answer (session_selectors.py).
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from django.db import IntegrityError, transaction
from django.utils import timezone

from labeling.calibration.audit import AuditAction, audit_record
from labeling.golden.selectors import golden_item_for_task
from labeling.models import (CalibrationAnswer, CalibrationItem, CalibrationParticipant, CalibrationSession,
                             CalibrationStatus, EdgeCase, FeedbackKind, GoldenItem, LabelerFeedback, Pool, Role, Task,
                             User)
from labeling.task_kinds import task_kind_spec

if TYPE_CHECKING:
    from labeling.quality.simulation import LabelerProfile

SESSION_NAME_EMPTY = "Give the session a name."
SESSION_NO_ITEMS = "Pick at least one item for the session: golden items, edge cases or triage tasks."
SESSION_NO_PARTICIPANTS = "Pick at least one labeler or pool: nobody would answer."
SESSION_KIND_MISMATCH = "{what} #{id} is a {kind} item, but the session is about {session_kind}."
SESSION_TASK_NO_ANSWER = ("Task #{id} has no golden answer: make it golden (or an edge case) first, so the "
                          "reveal has an answer to show.")
SESSION_NOT_PARTICIPANT = "You are not a participant of this session."
SESSION_NOT_OPEN = "The session's answers are revealed: blind answers can no longer be given."
SESSION_FOLLOWUP_BEFORE_REVEAL = "The follow-up items open after the reveal."
SESSION_CLOSED = "The session is closed."
SESSION_ALREADY_ANSWERED = "You answered this item already; answers are final."
SESSION_ITEM_NOT_OF_SESSION = "Item #{id} is not an item of this session."
SESSION_NOT_OPEN_TO_REVEAL = "Only an open session can be revealed; this one is {status}."
SESSION_FOLLOWUP_N = "followup_golden_n is {value}; it must lie from 0 to 100."
SESSION_SIMULATE_PEOPLE = "'{username}' is a person, not a simulated labeler: only simulated answers are made up."
CALIBRATION_REVEAL_FEEDBACK = ("The answers of the calibration session \"{name}\" are revealed: see your answers "
                               "beside the expert's, with the reasons.")


class CalibrationError(ValueError):
    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field


def _items_from(*, task_kind: str, golden_items: Sequence[GoldenItem], edge_cases: Sequence[EdgeCase],
                tasks: Sequence[Task]) -> list[dict]:
    rows = []
    for item in golden_items:
        if item.golden_set.task_kind != task_kind:
            raise CalibrationError(SESSION_KIND_MISMATCH.format(what="Golden item", id=item.pk,
                                                                kind=item.golden_set.task_kind,
                                                                session_kind=task_kind), "golden_items")
        rows.append({"payload": item.payload, "answer": item.answer, "reason": item.reason, "golden_item": item})
    for edge_case in edge_cases:
        if edge_case.task_kind != task_kind:
            raise CalibrationError(SESSION_KIND_MISMATCH.format(what="Edge case", id=edge_case.pk,
                                                                kind=edge_case.task_kind, session_kind=task_kind),
                                   "edge_cases")
        rows.append({"payload": edge_case.payload, "answer": edge_case.answer, "reason": edge_case.reason,
                     "edge_case": edge_case, "golden_item": edge_case.golden_item})
    for task in tasks:
        if task.queue.task_kind != task_kind:
            raise CalibrationError(SESSION_KIND_MISMATCH.format(what="Task", id=task.pk, kind=task.queue.task_kind,
                                                                session_kind=task_kind), "tasks")
        item = golden_item_for_task(task=task)
        if item is None:
            raise CalibrationError(SESSION_TASK_NO_ANSWER.format(id=task.pk), "tasks")
        rows.append({"payload": task.payload, "answer": item.answer, "reason": item.reason, "golden_item": item,
                     "source_task": task})
    return rows


def calibration_session_open(*, name: str, task_kind: str, created_by: User,
                             golden_items: Sequence[GoldenItem] = (), edge_cases: Sequence[EdgeCase] = (),
                             tasks: Sequence[Task] = (), followup_golden_items: Sequence[GoldenItem] = (),
                             labelers: Sequence[User] = (), pools: Sequence[Pool] = (),
                             followup_golden_n: int = 10) -> CalibrationSession:
    """Open a session: the blind items in the order given (golden items, edge cases, tasks), the
    follow-up golden items, and the participants: the labelers named and every active labeler of
    the pools named."""
    task_kind_spec(task_kind)
    name = (name or "").strip()
    if not name:
        raise CalibrationError(SESSION_NAME_EMPTY, "name")
    if not 0 <= followup_golden_n <= 100:
        raise CalibrationError(SESSION_FOLLOWUP_N.format(value=followup_golden_n), "followup_golden_n")
    blind = _items_from(task_kind=task_kind, golden_items=golden_items, edge_cases=edge_cases, tasks=tasks)
    followup = _items_from(task_kind=task_kind, golden_items=followup_golden_items, edge_cases=(), tasks=())
    if not blind:
        raise CalibrationError(SESSION_NO_ITEMS, "golden_items")
    participants = {user.pk: user for user in labelers if user.role == Role.LABELER}
    if pools:
        participants.update({user.pk: user for user in User.objects.filter(pool__in=list(pools), role=Role.LABELER,
                                                                           is_active=True)})
    if not participants:
        raise CalibrationError(SESSION_NO_PARTICIPANTS, "labelers")
    with transaction.atomic():
        session = CalibrationSession.objects.create(name=name, task_kind=task_kind, created_by=created_by,
                                                    followup_golden_n=followup_golden_n)
        session.pools.set(pools)
        CalibrationParticipant.objects.bulk_create([CalibrationParticipant(session=session, labeler=user)
                                                    for user in participants.values()])
        CalibrationItem.objects.bulk_create(
            [CalibrationItem(session=session, position=position, is_followup=False, **row)
             for position, row in enumerate(blind, start=1)]
            + [CalibrationItem(session=session, position=position, is_followup=True, **row)
               for position, row in enumerate(followup, start=1)])
    return session


def calibration_answer_submit(*, session: CalibrationSession, item_id: int, labeler: User, answer) -> CalibrationAnswer:
    """A participant's answer to one item: blind items while the session is open, follow-up items
    after the reveal; one answer per item, final."""
    if not CalibrationParticipant.objects.filter(session=session, labeler=labeler).exists():
        raise CalibrationError(SESSION_NOT_PARTICIPANT)
    item = CalibrationItem.objects.filter(session=session, pk=item_id).first()
    if item is None:
        raise CalibrationError(SESSION_ITEM_NOT_OF_SESSION.format(id=item_id), "item")
    if session.status == CalibrationStatus.CLOSED:
        raise CalibrationError(SESSION_CLOSED)
    if item.is_followup and session.status != CalibrationStatus.REVEALED:
        raise CalibrationError(SESSION_FOLLOWUP_BEFORE_REVEAL, "item")
    if not item.is_followup and session.status != CalibrationStatus.OPEN:
        raise CalibrationError(SESSION_NOT_OPEN, "item")
    cleaned = task_kind_spec(session.task_kind).answer_clean(payload=item.payload, answer=answer)
    try:
        with transaction.atomic():
            return CalibrationAnswer.objects.create(item=item, labeler=labeler, answer=cleaned)
    except IntegrityError:
        raise CalibrationError(SESSION_ALREADY_ANSWERED, "item") from None


def calibration_reveal(*, session: CalibrationSession, expert: User) -> CalibrationSession:
    """Reveal the expert's answers and reasons: every participant may now see their own answers
    beside the expert's, gets a ``LabelerFeedback(kind=calibration)`` in their feed, and may answer
    the follow-up items."""
    with transaction.atomic():
        session = CalibrationSession.objects.select_for_update().get(pk=session.pk)
        if session.status != CalibrationStatus.OPEN:
            raise CalibrationError(SESSION_NOT_OPEN_TO_REVEAL.format(status=session.get_status_display()))
        session.status, session.revealed_at = CalibrationStatus.REVEALED, timezone.now()
        session.save(update_fields=["status", "revealed_at"])
        labeler_ids = list(session.participants.values_list("labeler_id", flat=True))
        LabelerFeedback.objects.bulk_create([
            LabelerFeedback(labeler_id=labeler_id, author=expert, kind=FeedbackKind.CALIBRATION,
                            body=CALIBRATION_REVEAL_FEEDBACK.format(name=session.name),
                            details={"calibration_session": session.pk})
            for labeler_id in labeler_ids])
        audit_record(actor=expert, action=AuditAction.CALIBRATION_REVEALED, target=session,
                     details={"participants": len(labeler_ids), "task_kind": session.task_kind})
    return session



def calibration_simulated_answers(*, session: CalibrationSession, labelers: Sequence[tuple[User, "LabelerProfile"]],
                                  followup: bool, seed: int) -> int:
    """Simulated participants answer the session's blind (or follow-up) items from their error
    model, the item's expert answer as the truth (labeling/quality/simulation.py); after the
    reveal each answers with its calibrated profile (``labeler_profile_calibrated``). Only
    simulated accounts: a person's answers are never made up. Returns how many answers were given."""
    import random

    from labeling.quality.simulation import labeler_profile_calibrated

    spec = task_kind_spec(session.task_kind)
    items = list(CalibrationItem.objects.filter(session=session, is_followup=followup).order_by("position"))
    given = 0
    for user, profile in labelers:
        if not user.is_simulated:
            raise CalibrationError(SESSION_SIMULATE_PEOPLE.format(username=user.username))
        profile = labeler_profile_calibrated(profile) if followup else profile
        rng = random.Random(f"{seed}:{session.pk}:{user.username}:{followup}")
        for item in items:
            answer = spec.simulated_answer(payload=item.payload, truth=item.answer, profile=profile, rng=rng,
                                           shared_key=f"{seed}:{user.pool_id}:{item.pk}")
            calibration_answer_submit(session=session, item_id=item.pk, labeler=user, answer=answer)
            given += 1
    return given
