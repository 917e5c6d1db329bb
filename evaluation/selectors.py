"""Reads of the evaluation app. Metrics are computed on read from the labels stored so far, so a
run's numbers move as labels arrive; the result is cached under a key that changes with every new
label, so a poll between labels costs one small aggregate query."""
from __future__ import annotations

import pandas as pd
from django.core.cache import cache
from django.db.models import Count, Max, Q, QuerySet

from evaluation import metrics
from evaluation.models import EvalRun, ModelVersion, QueryObject
from labeling.models import Label, SceneSet
from labeling.task_kinds import relevance

METRICS_CACHE_SECONDS = 600
LABEL_FRAME_COLUMNS = relevance.SLOT_FRAME_COLUMNS


def eval_run_list() -> QuerySet[EvalRun]:
    return EvalRun.objects.select_related("scene_set", "detector", "embedder", "queue").order_by("-created_at", "-pk")


def eval_run_get(*, run_id: int) -> EvalRun:
    return eval_run_list().get(pk=run_id)


def model_version_list() -> QuerySet[ModelVersion]:
    return ModelVersion.objects.order_by("kind", "name", "-created_at")


def scene_set_list() -> QuerySet[SceneSet]:
    return SceneSet.objects.annotate(n_scenes=Count("scenes")).order_by("name")


def eval_run_label_frame(*, run: EvalRun) -> pd.DataFrame:
    """One row per (labeler, query object, slot) of the run's non-golden labels, from one query.

    Staff labels are in it only when the run's queue counts them (``Queue.staff_labels_count``);
    ``eval_run_staff_labels`` says how many there are either way.

    """
    rows = list(Label.objects.filter(task__queue_id=run.queue_id, task__is_golden=False,
                                     task__query_object__isnull=False, counts_toward_replication=True)
                .values_list("task__query_object__id", "labeler_id", "answer"))
    return relevance.slot_label_frame(rows)


def eval_run_staff_labels(*, run: EvalRun) -> dict:
    """How many of the run's labels came from experts or admins, and how many of those count."""
    counts = Label.objects.filter(task__queue_id=run.queue_id, is_staff_label=True).aggregate(
        total=Count("pk"), counted=Count("pk", filter=Q(counts_toward_replication=True)))
    return {"total": counts["total"], "counted": counts["counted"]}


def eval_run_query_object_frame(*, run: EvalRun) -> pd.DataFrame:
    """One row per query object of the run, from one query."""
    rows = list(QueryObject.objects.filter(run=run).annotate(n_candidates=Count("candidates"))
                .values_list("pk", "scene_id", "category", "n_candidates"))
    return pd.DataFrame(rows, columns=list(metrics.QUERY_OBJECT_COLUMNS))


def _labels_version(run: EvalRun) -> tuple[int, int]:
    state = Label.objects.filter(task__queue_id=run.queue_id).aggregate(n=Count("pk"), last=Max("pk"))
    return state["n"], state["last"] or 0


def eval_run_metrics(*, run: EvalRun) -> dict:
    """The metrics block of a run: P@5s, Bad rate, counts, per category, 95% intervals, with the
    slots aggregated as the run's queue says (``by_aggregation`` has the overall figures both ways)."""
    n_labels, last_label = _labels_version(run)
    aggregation = run.queue.aggregation if run.queue_id else "majority"
    key = f"eval-run-metrics:{run.pk}:{run.scenes_done}:{n_labels}:{last_label}:{aggregation}"
    block = cache.get(key)
    if block is None:
        block = metrics.relevance_metrics_both(eval_run_label_frame(run=run), eval_run_query_object_frame(run=run),
                                               k=run.top_k, aggregation=aggregation)
        block["staff_labels"] = eval_run_staff_labels(run=run)
        cache.set(key, block, METRICS_CACHE_SECONDS)
    return block


def eval_run_comparison(*, run: EvalRun) -> dict | None:
    """Relative gains of ``run`` over its baseline on the scenes both runs judged, or None."""
    if run.baseline_id is None:
        return None
    baseline = run.baseline
    base_n, base_last = _labels_version(baseline)
    n, last = _labels_version(run)
    key = f"eval-run-comparison:{run.pk}:{baseline.pk}:{n}:{last}:{base_n}:{base_last}"
    comparison = cache.get(key)
    if comparison is None:
        comparison = {
            "baseline_id": baseline.pk,
            "baseline_name": baseline.name,
            "gains": metrics.relative_gains(
                eval_run_label_frame(run=baseline), eval_run_query_object_frame(run=baseline),
                eval_run_label_frame(run=run), eval_run_query_object_frame(run=run), k=run.top_k),
        }
        cache.set(key, comparison, METRICS_CACHE_SECONDS)
    return comparison
