"""Reads of the triage queue: per task kind, the items with the lowest agreement and the golden
items labelers miss most often (labeling/calibration/CALIBRATION_sessions.md), and one item with
every answer, who gave it, and how each scores against the golden answer.

Each list is one query and a pure function: the lowest-agreement items are the quality report's own
figure (``labeling.quality.report``: item agreement, lowest first), not a second definition; the
golden misses use the kind's ``golden_compare``, the score every golden page shows. Staff labels
(experts', admins') are left out, as in the quality report: they are the reference.
"""
from __future__ import annotations

from dataclasses import dataclass

from labeling.golden.selectors import golden_item_for_task
from labeling.models import GoldenItem, Label, Task, TriageDecision
from labeling.quality.coded import CodedFrames
from labeling.quality.frames import quality_frames
from labeling.quality.report import _items as report_item_agreement
from labeling.quality.selectors import label_records
from labeling.task_kinds import task_kind_spec


@dataclass(frozen=True)
class LowAgreementItem:
    item: str  # the quality report's item key: task-<id> or golden-<id>
    task_id: int | None
    agreement: float
    n_labels: int


@dataclass(frozen=True)
class GoldenMissItem:
    golden_item_id: int
    task_id: int  # a golden copy that was labeled (the triage page opens it)
    n_labels: int
    n_wrong: int

    @property
    def share_wrong(self) -> float:
        return self.n_wrong / self.n_labels


@dataclass(frozen=True)
class TriageAnswer:
    label_id: int
    labeler_id: int
    username: str
    is_simulated: bool
    answer: dict
    # Against the item's current golden answer (None: the item has none).
    correct: bool | None
    score: float | None


@dataclass(frozen=True)
class TriageItem:
    task: Task
    golden_item: GoldenItem | None
    answers: list[TriageAnswer]
    decisions: list[TriageDecision]


# -- lowest agreement ---------------------------------------------------------------------------

def low_agreement_rank(*, task_kind: str, records: list[dict], golden: dict[str, dict]) -> list[LowAgreementItem]:
    """The report's item agreement, lowest first (ties: more labels first), of the records (pure).
    The report keeps its lowest items only (``report.LOWEST_AGREEMENT_ITEMS``); so does triage."""
    if not records:
        return []
    frames = quality_frames(kind=task_kind, records=records, golden=golden)
    # No bootstrap: triage ranks by the point figure, not its interval.
    items = report_item_agreement(CodedFrames(frames, seed=0, n_bootstrap=0))
    return [LowAgreementItem(row["item"], row["task"], row["agreement"], row["n_labels"]) for row in items["lowest"]]


def low_agreement_items(*, task_kind: str) -> list[LowAgreementItem]:
    """One query (the kind's label records)."""
    records, golden, _ = label_records(task_kind=task_kind)
    return low_agreement_rank(task_kind=task_kind, records=records, golden=golden)


# -- golden misses ------------------------------------------------------------------------------

def golden_miss_rows(*, task_kind: str) -> list[tuple]:
    """(golden item id, task id, payload, answer, current golden answer) of every labeler's label
    on a golden copy of the kind, in one query."""
    return list(Label.objects.filter(task__queue__task_kind=task_kind, task__is_golden=True, is_staff_label=False)
                .order_by("task__golden_item_id", "pk")
                .values_list("task__golden_item_id", "task_id", "task__golden_item__payload", "answer",
                             "task__golden_item__answer"))


def golden_miss_rank(*, task_kind: str, rows: list[tuple], **options) -> list[GoldenMissItem]:
    """Golden items with at least one wrong label, by share of wrong labels, then count of wrong
    labels (both highest first), then id (pure)."""
    spec = task_kind_spec(task_kind)
    counts: dict[int, list[int]] = {}
    task_of: dict[int, int] = {}
    for golden_item_id, task_id, payload, answer, golden in rows:
        comparison = spec.golden_compare(payload=payload, answer=answer, golden=golden, **options)
        tally = counts.setdefault(golden_item_id, [0, 0])
        tally[0] += 1
        tally[1] += 0 if comparison.correct else 1
        task_of.setdefault(golden_item_id, task_id)
    misses = [GoldenMissItem(item_id, task_of[item_id], n, wrong) for item_id, (n, wrong) in counts.items() if wrong]
    return sorted(misses, key=lambda miss: (-miss.share_wrong, -miss.n_wrong, miss.golden_item_id))


def golden_miss_items(*, task_kind: str) -> list[GoldenMissItem]:
    return golden_miss_rank(task_kind=task_kind, rows=golden_miss_rows(task_kind=task_kind))


def decided_task_ids(*, task_ids: list[int]) -> set[int]:
    """Which of these tasks already have a triage decision (one query)."""
    return set(TriageDecision.objects.filter(task_id__in=task_ids).values_list("task_id", flat=True))


# -- one item -----------------------------------------------------------------------------------

def triage_item(*, task_id: int) -> TriageItem | None:
    """The task, its golden item, every labeler's answer scored against the golden answer, and
    the decisions made about it (four queries whatever the number of labels)."""
    task = Task.objects.select_related("queue", "golden_item__golden_set").filter(pk=task_id).first()
    if task is None:
        return None
    golden_item = golden_item_for_task(task=task)
    spec = task_kind_spec(task.queue.task_kind)
    answers = []
    for label_id, labeler_id, username, is_simulated, answer in (
            Label.objects.filter(task=task, is_staff_label=False).order_by("labeler__username", "pk")
            .values_list("pk", "labeler_id", "labeler__username", "is_simulated", "answer")):
        comparison = (spec.golden_compare(payload=task.payload, answer=answer, golden=golden_item.answer)
                      if golden_item is not None else None)
        answers.append(TriageAnswer(label_id, labeler_id, username, is_simulated, answer,
                                    comparison.correct if comparison else None,
                                    comparison.score if comparison else None))
    decisions = list(TriageDecision.objects.filter(task=task).select_related("expert").order_by("-created_at", "-pk"))
    return TriageItem(task, golden_item, answers, decisions)
