"""Reads of golden sets and items, and the golden scores of labelers (computed on read against each
item's current answer, so fixing an answer re-scores every label at once)."""
from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Count, QuerySet

from labeling.models import GoldenItem, GoldenSet, Label, Queue, Task
from labeling.task_kinds import task_kind_spec


def golden_set_list() -> QuerySet[GoldenSet]:
    return GoldenSet.objects.annotate(n_items=Count("items", distinct=True)).prefetch_related("queues").order_by(
        "task_kind", "name")


def golden_items_of(*, golden_set: GoldenSet) -> QuerySet[GoldenItem]:
    return golden_set.items.select_related("expert", "golden_set").order_by("pk")


def golden_item_for_task(*, task: Task) -> GoldenItem | None:
    """The item a golden task serves, or for a normal task the item made from it (the newest)."""
    if task.golden_item_id is not None:
        return GoldenItem.objects.select_related("expert", "golden_set").get(pk=task.golden_item_id)
    return (GoldenItem.objects.select_related("expert", "golden_set").filter(source_task=task)
            .order_by("-updated_at", "-pk").first())


@dataclass(frozen=True)
class GoldenScore:
    labeler_id: int
    username: str
    n_golden_labels: int
    n_correct: int
    accuracy: float | None  # share of golden labels that match the golden answer
    mean_score: float | None  # mean partial score (for boxes, F1)
    is_simulated: bool = False


def golden_score_rows(*, queue: Queue) -> list[tuple]:
    """(labeler id, username, payload, answer, golden answer, simulated) of every label on the queue's
    golden tasks, in one query."""
    return list(Label.objects.filter(task__queue=queue, task__is_golden=True)
                .order_by("labeler_id", "pk")
                .values_list("labeler_id", "labeler__username", "task__golden_item__payload", "answer",
                             "task__golden_item__answer", "is_simulated"))


def golden_scores(*, task_kind: str, rows: list[tuple], **options) -> list[GoldenScore]:
    """Per labeler: golden labels, how many match, accuracy and mean partial score (pure)."""
    spec = task_kind_spec(task_kind)
    per_labeler: dict[int, list] = {}
    names: dict[int, str] = {}
    simulated: dict[int, bool] = {}
    for labeler_id, username, payload, answer, golden, is_simulated in rows:
        comparison = spec.golden_compare(payload=payload, answer=answer, golden=golden, **options)
        per_labeler.setdefault(labeler_id, []).append(comparison)
        names[labeler_id] = username
        simulated[labeler_id] = is_simulated
    scores = []
    for labeler_id, comparisons in per_labeler.items():
        n = len(comparisons)
        correct = sum(c.correct for c in comparisons)
        scores.append(GoldenScore(labeler_id, names[labeler_id], n, correct, correct / n,
                                  sum(c.score for c in comparisons) / n, simulated[labeler_id]))
    return sorted(scores, key=lambda score: score.username)


def queue_golden_scores(*, queue: Queue, **options) -> list[GoldenScore]:
    return golden_scores(task_kind=queue.task_kind, rows=golden_score_rows(queue=queue), **options)
