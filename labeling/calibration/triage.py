"""The expert's triage decisions (writes): about one item of the triage queue the expert decides
that the golden answer is wrong (fix it), that the case is ambiguous (an edge case and a new guide
version), or that the labelers are wrong (feedback to each of them). Every decision is a
``TriageDecision`` row with the expert and the time, and an audit event, in the transaction of the
change. labeling/calibration/CALIBRATION_sessions.md describes the rules.
"""
from __future__ import annotations

from django.db import transaction

from labeling.calibration.audit import AuditAction, audit_record
from labeling.calibration.guides import (EDGE_CASE_REASON_EMPTY, EDGE_CASE_RULE_EMPTY, edge_case_create,
                                         guide_version_publish)
from labeling.golden.selectors import golden_item_for_task
from labeling.golden.services import golden_item_revise
from labeling.models import (FeedbackKind, GoldenItem, Label, LabelerFeedback, Role, Task, TriageDecision,
                             TriageDecisionKind, User)
from labeling.selectors import guide_version_latest
from labeling.task_kinds import task_kind_spec

TRIAGE_NO_GOLDEN = "Task {task} has no golden answer to fix: make it golden from the task page instead."
TRIAGE_NO_REFERENCE = ("Task {task} has no golden answer: choose the right answer, so the platform can tell "
                       "which labelers were wrong.")
TRIAGE_NOBODY_WRONG = "No labeler's answer on task {task} differs from the right answer: there is nobody to tell."
TRIAGE_FEEDBACK_EMPTY = "Write the feedback the labelers will read: what they should do differently."
TRIAGE_SAME_ANSWER = "That is the golden answer already: choose the answer that is right instead."
EDGE_CASE_GUIDE_LINE = "- Edge case ({rule}): {reason}"


class TriageError(ValueError):
    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field


def _label_scores(*, task_kind: str, item: GoldenItem, golden: dict) -> list[dict]:
    """Each labeler's score, on the item's golden copies, against ``golden`` (one query): exactly the
    labels given against this item, staff labels left out as in the quality report."""
    spec = task_kind_spec(task_kind)
    scores = []
    for label_id, labeler_id, username, answer in (
            Label.objects.filter(task__golden_item=item, is_staff_label=False).order_by("pk")
            .values_list("pk", "labeler_id", "labeler__username", "answer")):
        comparison = spec.golden_compare(payload=item.payload, answer=answer, golden=golden)
        scores.append({"label": label_id, "labeler": labeler_id, "username": username,
                       "correct": bool(comparison.correct), "score": float(comparison.score)})
    return scores


def triage_golden_fix(*, task: Task, expert: User, answer, reason: str | None = None, note: str = "") -> TriageDecision:
    """The golden answer is wrong: revise the item (its old answer stays in its revisions) and
    record each affected labeler's score on the item before and after. Scores are computed on read
    against the current answer, so every page re-scores at once; the decision keeps the history."""
    item = golden_item_for_task(task=task)
    if item is None:
        raise TriageError(TRIAGE_NO_GOLDEN.format(task=task.pk), "answer")
    task_kind = item.golden_set.task_kind
    cleaned = task_kind_spec(task_kind).answer_clean(payload=item.payload, answer=answer)
    if cleaned == item.answer and (reason is None or reason == item.reason):
        raise TriageError(TRIAGE_SAME_ANSWER, "answer")
    with transaction.atomic():
        before = _label_scores(task_kind=task_kind, item=item, golden=item.answer)
        old_revision, old_answer = item.revision, item.answer
        item = golden_item_revise(item=item, answer=cleaned, expert=expert, reason=reason)
        after = {row["label"]: row for row in _label_scores(task_kind=task_kind, item=item, golden=item.answer)}
        rescored = [{"label": row["label"], "labeler": row["labeler"], "username": row["username"],
                     "before": {"correct": row["correct"], "score": row["score"]},
                     "after": {"correct": after[row["label"]]["correct"], "score": after[row["label"]]["score"]}}
                    for row in before]
        details = {"golden_item": item.pk, "old_revision": old_revision, "new_revision": item.revision,
                   "old_answer": old_answer, "new_answer": item.answer, "rescored": rescored}
        decision = TriageDecision.objects.create(kind=TriageDecisionKind.GOLDEN_WRONG, task=task, golden_item=item,
                                                 expert=expert, note=note, details=details)
        # golden_item_revise wrote the answer's own event; this one links it to the decision.
        audit_record(actor=expert, action=AuditAction.TRIAGE_DECIDED, target=decision,
                     details={"kind": decision.kind, "task": task.pk, "golden_item": item.pk,
                              "old_revision": old_revision, "new_revision": item.revision,
                              "labels_rescored": len(rescored)})
    return decision


def triage_ambiguous(*, task: Task, expert: User, rule: str, reason: str, answer, guide_body: str | None = None,
                     note: str = "") -> TriageDecision:
    """The case is ambiguous: publish the kind's guide again (the expert's edited body, or the
    current one plus a line for this case) and attach an edge case (the item, ``answer``, the
    reason) to the new version, the one that mentions it."""
    task_kind = task.queue.task_kind
    rule, reason = (rule or "").strip(), (reason or "").strip()
    # The edge case is checked before anything is published: its rule, its reason and its answer.
    if not rule:
        raise TriageError(EDGE_CASE_RULE_EMPTY, "rule")
    if not reason:
        raise TriageError(EDGE_CASE_REASON_EMPTY, "reason")
    task_kind_spec(task_kind).answer_clean(payload=task.payload, answer=answer)
    item = golden_item_for_task(task=task)
    with transaction.atomic():
        latest = guide_version_latest(task_kind=task_kind)
        line = EDGE_CASE_GUIDE_LINE.format(rule=rule, reason=reason)
        body = guide_body if (guide_body or "").strip() else "\n\n".join(
            part for part in ((latest.body.rstrip() if latest else ""), line) if part)
        version = guide_version_publish(task_kind=task_kind, body=body, published_by=expert,
                                        change_note=f"Edge case from triage of task #{task.pk}: {rule}")
        edge_case = edge_case_create(task_kind=task_kind, rule=rule, payload=task.payload, answer=answer,
                                     reason=reason, created_by=expert, guide_version=version, source_task=task,
                                     golden_item=item)
        decision = TriageDecision.objects.create(
            kind=TriageDecisionKind.AMBIGUOUS, task=task, golden_item=item, expert=expert, note=note,
            details={"edge_case": edge_case.pk, "rule": rule, "guide_version": version.pk,
                     "guide_version_number": version.version,
                     "previous_guide_version": latest.pk if latest else None})
        audit_record(actor=expert, action=AuditAction.TRIAGE_DECIDED, target=decision,
                     details={"kind": decision.kind, "task": task.pk, "edge_case": edge_case.pk,
                              "guide_version": version.version})
    return decision


def triage_labelers_wrong(*, task: Task, expert: User, body: str, answer=None, note: str = "") -> TriageDecision:
    """The labelers are wrong: one ``LabelerFeedback(kind=triage)`` to each labeler whose answer
    differs from the right answer (the golden answer, or ``answer`` when the item has none), about
    their label, with the expert's words. Staff labels get none: feedback goes to labelers."""
    body = (body or "").strip()
    if not body:
        raise TriageError(TRIAGE_FEEDBACK_EMPTY, "body")
    task_kind = task.queue.task_kind
    spec = task_kind_spec(task_kind)
    item = golden_item_for_task(task=task)
    if answer is not None:
        reference = spec.answer_clean(payload=task.payload, answer=answer)
    elif item is not None:
        reference = item.answer
    else:
        raise TriageError(TRIAGE_NO_REFERENCE.format(task=task.pk), "answer")
    wrong = []
    for label in (Label.objects.filter(task=task, is_staff_label=False, labeler__role=Role.LABELER)
                  .select_related("labeler").order_by("pk")):
        comparison = spec.golden_compare(payload=task.payload, answer=label.answer, golden=reference)
        if not comparison.correct:
            wrong.append((label, comparison))
    if not wrong:
        raise TriageError(TRIAGE_NOBODY_WRONG.format(task=task.pk), "answer")
    with transaction.atomic():
        decision = TriageDecision.objects.create(
            kind=TriageDecisionKind.LABELERS_WRONG, task=task, golden_item=item, expert=expert, note=note,
            details={"labelers": [label.labeler_id for label, _ in wrong],
                     "labels": [label.pk for label, _ in wrong], "reference_is_golden": answer is None})
        # The feedback names the task, never the answer: the expert's words say what to change.
        LabelerFeedback.objects.bulk_create([
            LabelerFeedback(labeler=label.labeler, author=expert, label=label, body=body, kind=FeedbackKind.TRIAGE,
                            details={"task": task.pk, "triage_decision": decision.pk,
                                     "score": float(comparison.score)})
            for label, comparison in wrong])
        audit_record(actor=expert, action=AuditAction.TRIAGE_DECIDED, target=decision,
                     details={"kind": decision.kind, "task": task.pk, "feedback_to": len(wrong)})
    return decision
