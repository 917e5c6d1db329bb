"""Pages of the expert's triage queue and of calibration sessions (labeling/calibration/
CALIBRATION_sessions.md). Thin: check the role, parse the form, call one service or selector, render."""
from __future__ import annotations

import json

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse

from labeling.answer_schemas import AnswerSchemaError
from labeling.calibration import session_selectors, triage_selectors
from labeling.calibration.guides import GuideError
from labeling.calibration.sessions import (CalibrationError, calibration_answer_submit, calibration_reveal,
                                           calibration_session_open)
from labeling.calibration.triage import TriageError, triage_ambiguous, triage_golden_fix, triage_labelers_wrong
from labeling.models import (CalibrationSession, CalibrationStatus, EdgeCase, GoldenItem, Pool, Role, Task,
                             TriageDecisionKind, User)
from labeling.permissions import role_required, user_has_role
from labeling.selectors import guide_version_latest
from labeling.task_kinds import task_kind_spec, task_kind_specs
from labeling.task_kinds.base import Consensus

TRIAGE_PER_PAGE = 20
TRIAGE_EXPERTS_DECIDE = "Only experts and admins decide triage items."
SESSION_EXPERTS_OPEN = "Only experts and admins open or reveal calibration sessions."
KIND_UNKNOWN = "'{kind}' is not a task kind; choose one of: {kinds}."
DECISION_UNKNOWN = "Choose a decision: the golden answer is wrong, the case is ambiguous, or the labelers are wrong."
ANSWER_SOURCE_UNKNOWN = "Choose which answer is right: the golden answer, the consensus, or one labeler's answer."
ANSWER_NOT_JSON = "The answer is not valid JSON."
IDS_NOT_NUMBERS = "{field}: write ids as numbers separated by commas."
NEW_SESSION_ITEMS_SHOWN = 200


def _kind_of(request) -> str:
    kind = request.GET.get("kind") or "relevance"
    if kind not in task_kind_specs():
        raise Http404(KIND_UNKNOWN.format(kind=kind, kinds=", ".join(sorted(task_kind_specs()))))
    return kind


# -- triage ---------------------------------------------------------------------------------------

@role_required(Role.EXPERT, Role.ENGINEER)
def triage_list(request):
    kind = _kind_of(request)
    low = Paginator(triage_selectors.low_agreement_items(task_kind=kind), TRIAGE_PER_PAGE).get_page(
        request.GET.get("page"))
    misses = Paginator(triage_selectors.golden_miss_items(task_kind=kind), TRIAGE_PER_PAGE).get_page(
        request.GET.get("miss_page"))
    decided = triage_selectors.decided_task_ids(
        task_ids=[row.task_id for row in low if row.task_id] + [row.task_id for row in misses])
    return render(request, "frontend/triage.html", {
        "nav_section": "triage", "kind": kind, "kind_spec": task_kind_spec(kind),
        "kinds": sorted(task_kind_specs().values(), key=lambda spec: spec.label),
        "low": low, "misses": misses, "decided": decided,
    })


def _answer_choices(view, consensus) -> list[tuple[str, str, dict]]:
    choices = []
    if view.golden_item is not None:
        choices.append(("golden", f"the golden answer (revision {view.golden_item.revision})", view.golden_item.answer))
    if consensus.answer is not None:
        choices.append(("consensus", "the consensus", consensus.answer))
    choices += [(f"label-{answer.label_id}", f"{answer.username}'s answer", answer.answer) for answer in view.answers]
    return choices


def _chosen_answer(request, choices) -> dict:
    source = request.POST.get("answer_source", "")
    if source == "json":
        try:
            return json.loads(request.POST.get("answer_json", ""))
        except ValueError:
            raise TriageError(ANSWER_NOT_JSON, "answer") from None
    for value, _, answer in choices:
        if value == source:
            return answer
    raise TriageError(ANSWER_SOURCE_UNKNOWN, "answer")


def _triage_decide(request, task: Task, choices) -> None:
    decision = request.POST.get("decision")
    note = request.POST.get("note", "")
    if decision == TriageDecisionKind.GOLDEN_WRONG:
        triage_golden_fix(task=task, expert=request.user, answer=_chosen_answer(request, choices),
                          reason=request.POST.get("reason") or None, note=note)
    elif decision == TriageDecisionKind.AMBIGUOUS:
        triage_ambiguous(task=task, expert=request.user, rule=request.POST.get("rule", ""),
                         reason=request.POST.get("reason", ""), answer=_chosen_answer(request, choices),
                         guide_body=request.POST.get("guide_body") or None, note=note)
    elif decision == TriageDecisionKind.LABELERS_WRONG:
        source = request.POST.get("answer_source") or "golden"
        answer = None if source == "golden" else _chosen_answer(request, choices)
        triage_labelers_wrong(task=task, expert=request.user, body=request.POST.get("body", ""), answer=answer,
                              note=note)
    else:
        raise TriageError(DECISION_UNKNOWN, "decision")


@role_required(Role.EXPERT, Role.ENGINEER)
def triage_item_page(request, task_id: int):
    """One triage item: every answer and who gave it (the kind's review), the golden answer, the
    decisions made, and the three decisions (experts)."""
    view = triage_selectors.triage_item(task_id=task_id)
    if view is None:
        raise Http404
    task = view.task
    spec = task_kind_spec(task.queue.task_kind)
    consensus = spec.consensus(payload=task.payload, answers=[answer.answer for answer in view.answers])
    choices = _answer_choices(view, consensus)
    if request.method == "POST":
        if not user_has_role(request.user, Role.EXPERT):
            raise PermissionDenied(TRIAGE_EXPERTS_DECIDE)
        try:
            _triage_decide(request, task, choices)
        except (TriageError, GuideError, AnswerSchemaError) as refusal:
            messages.error(request, str(refusal))
        else:
            messages.success(request, "Decision recorded.")
            return redirect("frontend:triage-item", task_id=task.pk)
    labels = [(triage_selectors_name(answer), answer.answer) for answer in view.answers]
    golden = view.golden_item.answer if view.golden_item else None
    latest = guide_version_latest(task_kind=spec.kind)
    return render(request, "frontend/triage_item.html", {
        "nav_section": "triage", "task": task, "queue": task.queue, "kind_spec": spec, "view": view,
        "labels": labels, "consensus": consensus, "golden_item": view.golden_item,
        "review": spec.review_context(payload=task.payload, labels=labels, consensus=consensus, golden=golden),
        "choices": [(value, label, json.dumps(answer, sort_keys=True)) for value, label, answer in choices],
        "can_decide": user_has_role(request.user, Role.EXPERT),
        "guide_body": latest.body if latest else "",
        "decision_kinds": TriageDecisionKind,
    }, status=400 if request.method == "POST" else 200)


def triage_selectors_name(answer):
    """The labeler's name as the review templates show it (simulated labelers marked)."""
    from frontend.selectors import LabelerName

    return LabelerName(answer.username, is_simulated=answer.is_simulated)


# -- calibration sessions: staff ------------------------------------------------------------------

def _ids(request, name: str, label: str) -> list[int]:
    values = request.POST.getlist(name)
    text = ",".join(values)
    try:
        return [int(part) for part in text.replace(" ", ",").split(",") if part.strip()]
    except ValueError:
        raise CalibrationError(IDS_NOT_NUMBERS.format(field=label), name) from None


@role_required(Role.EXPERT, Role.ENGINEER)
def calibration_session_list(request):
    return render(request, "frontend/calibration_sessions.html", {
        "nav_section": "calibration", "sessions": session_selectors.calibration_session_list(),
        "can_open": user_has_role(request.user, Role.EXPERT)})


@role_required(Role.EXPERT)
def calibration_session_new(request):
    kind = request.POST.get("task_kind") or _kind_of(request)
    if kind not in task_kind_specs():
        raise Http404(KIND_UNKNOWN.format(kind=kind, kinds=", ".join(sorted(task_kind_specs()))))
    if request.method == "POST":
        try:
            golden = {item.pk: item for item in GoldenItem.objects.select_related("golden_set").filter(
                pk__in=_ids(request, "golden_items", "Golden items") + _ids(request, "followup", "Follow-up items"))}
            session = calibration_session_open(
                name=request.POST.get("name", ""), task_kind=kind, created_by=request.user,
                golden_items=[golden[pk] for pk in _ids(request, "golden_items", "Golden items") if pk in golden],
                edge_cases=list(EdgeCase.objects.filter(pk__in=_ids(request, "edge_cases", "Edge cases"))),
                tasks=list(Task.objects.select_related("queue").filter(pk__in=_ids(request, "tasks", "Tasks"))),
                followup_golden_items=[golden[pk] for pk in _ids(request, "followup", "Follow-up items") if pk in golden],
                labelers=list(User.objects.filter(pk__in=_ids(request, "labelers", "Labelers"))),
                pools=list(Pool.objects.filter(pk__in=_ids(request, "pools", "Pools"))),
                followup_golden_n=int(request.POST.get("followup_golden_n") or 0))
        except (CalibrationError, ValueError) as refusal:
            messages.error(request, str(refusal))
        else:
            return redirect("frontend:calibration-session", session_id=session.pk)
    return render(request, "frontend/calibration_new.html", {
        "nav_section": "calibration", "kind": kind, "kind_spec": task_kind_spec(kind),
        "kinds": sorted(task_kind_specs().values(), key=lambda spec: spec.label),
        "golden_items": GoldenItem.objects.filter(golden_set__task_kind=kind).select_related("golden_set")
        .order_by("pk")[:NEW_SESSION_ITEMS_SHOWN],
        "edge_cases": EdgeCase.objects.filter(task_kind=kind).order_by("rule", "pk")[:NEW_SESSION_ITEMS_SHOWN],
        "pools": Pool.objects.order_by("name"),
        "labelers": User.objects.filter(role=Role.LABELER, is_active=True).select_related("pool").order_by("username"),
        "tasks_initial": request.GET.get("task", ""),
        "form": request.POST,
    }, status=400 if request.method == "POST" else 200)


@role_required(Role.EXPERT, Role.ENGINEER)
def calibration_session_page(request, session_id: int):
    session = get_object_or_404(CalibrationSession, pk=session_id)
    if request.method == "POST":
        if not user_has_role(request.user, Role.EXPERT):
            raise PermissionDenied(SESSION_EXPERTS_OPEN)
        try:
            calibration_reveal(session=session, expert=request.user)
        except CalibrationError as refusal:
            messages.error(request, str(refusal))
        else:
            messages.success(request, "Revealed: participants now see their answers beside yours, with the reasons.")
        return redirect("frontend:calibration-session", session_id=session.pk)
    figures = session_selectors.calibration_session_figures(session=session)
    counts = session_selectors.calibration_answer_counts(session=session)
    participants = [{"id": labeler_id, "username": username, "simulated": simulated, "answers": counts.get(labeler_id, 0),
                     "before": figures.before.per_labeler.get(labeler_id),
                     "after": figures.after.per_labeler.get(labeler_id)}
                    for labeler_id, username, simulated in
                    session_selectors.calibration_participant_rows(session=session)]
    spec = task_kind_spec(session.task_kind)
    items = list(session.items.order_by("is_followup", "position"))
    for item in items:  # the expert's answer in words, as the guide panel's edge cases show it
        item.answer_text = " · ".join(spec.answer_summary(payload=item.payload, answer=item.answer))
    return render(request, "frontend/calibration_session.html", {
        "nav_section": "calibration", "session": session, "figures": figures, "participants": participants,
        "items": items,
        "can_reveal": user_has_role(request.user, Role.EXPERT) and session.status == CalibrationStatus.OPEN,
    })


# -- calibration sessions: participants ---------------------------------------------------------

def _own_answer_reviews(spec, rows: list[dict]) -> list[dict]:
    """Each revealed item through the kind's review template: the participant's answer as the one
    label and the expert's answer in the golden column (no consensus: there is one answer)."""
    from frontend.selectors import LabelerName

    reviewed = []
    for row in rows:
        labels = [(LabelerName("Your answer"), row["answer"])] if row["answer"] is not None else []
        nobody = Consensus(answer=None, agreement=None, n_labels=0)
        summary = spec.answer_summary
        words = {"answer_text": " · ".join(summary(payload=row["item"].payload, answer=row["answer"]))
                 if row["answer"] is not None else None,
                 "expert_answer_text": " · ".join(summary(payload=row["item"].payload, answer=row["expert_answer"]))}
        reviewed.append({**row, **words, "labels": labels, "consensus": nobody, "golden": {"answer": row["expert_answer"]},
                         "review": spec.review_context(payload=row["item"].payload, labels=labels, consensus=nobody,
                                                       golden=row["expert_answer"])})
    return reviewed


@role_required(Role.LABELER, Role.EXPERT)
def calibration_answer_page(request, session_id: int):
    """A participant's page: the next item, blind, in the kind's editor; after the reveal their own
    answers beside the expert's, with reasons, and the follow-up items."""
    session = get_object_or_404(CalibrationSession, pk=session_id)
    if not session_selectors.calibration_is_participant(session=session, labeler=request.user):
        raise PermissionDenied("You are not a participant of this session.")
    status = 200
    if request.method == "POST":
        try:
            try:
                answer = json.loads(request.POST.get("answer", ""))
            except ValueError:
                raise CalibrationError(ANSWER_NOT_JSON, "answer") from None
            calibration_answer_submit(session=session, item_id=int(request.POST.get("item") or 0),
                                      labeler=request.user, answer=answer)
        except (CalibrationError, AnswerSchemaError, ValueError) as refusal:
            messages.error(request, str(refusal))
            status = 400
        else:
            return redirect("frontend:calibration-answer", session_id=session.pk)
    spec = task_kind_spec(session.task_kind)
    item = session_selectors.calibration_next_item(session=session, labeler=request.user)
    answered, total = session_selectors.calibration_progress(session=session, labeler=request.user)
    return render(request, "frontend/calibration_answer.html", {
        "nav_section": "queues", "session": session, "kind_spec": spec, "item": item,
        "answered": answered, "total": total,
        "own_answers": _own_answer_reviews(spec, session_selectors.calibration_own_answers(
            session=session, labeler=request.user)),
        "editor_context": {**spec.editor_context(), "show_preannotations": False},
        "calibration_task": ({"id": item.pk, "kind": spec.kind,
                              "payload": spec.payload_for_labeler(payload=item.payload, show_preannotations=False)}
                             if item else None),
        "action_url": reverse("frontend:calibration-answer", args=[session.pk]),
    }, status=status)
