"""Reads of the evaluation app. Metrics are computed on read from the labels stored so far, so a
run's numbers move as labels arrive; the result is cached under a key that changes with every new
label, so a poll between labels costs one small aggregate query."""
from __future__ import annotations

import json

import pandas as pd
from django.core.cache import cache
from django.db import connection
from django.db.models import Count, Max, Q, QuerySet

from evaluation import metrics
from evaluation.models import Candidate, EvalRun, EvalRunStatus, ModelVersion, QueryObject
from labeling.models import Label, SceneSet, Task
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


def _judgement_sql(*, run: EvalRun, columns: str) -> tuple[str, list]:
    """The join from this run's candidates to every label that judged the same (crop, product) pair.

    A candidate's judgements are the labels of the tasks its pair was asked in (``task_slot`` set):
    its own run's task, and with reuse any live run's whose queue has this run's guide version (any
    version when ``reuse_across_guides``). Crops are content-addressed, so the same crop id means
    the same pixels. Golden copies are never query-object tasks, so they are not in it.
    """
    tables = {"candidate": Candidate._meta.db_table, "query_object": QueryObject._meta.db_table,
              "run": EvalRun._meta.db_table, "task": Task._meta.db_table, "label": Label._meta.db_table,
              "queue": EvalRun._meta.get_field("queue").related_model._meta.db_table}
    sql = f"""
        SELECT {columns}
        FROM {tables['candidate']} t
        JOIN {tables['query_object']} tq ON tq.id = t.query_object_id
        JOIN {tables['query_object']} sq ON sq.crop_id = tq.crop_id
        JOIN {tables['candidate']} s ON s.query_object_id = sq.id AND s.product_id = t.product_id
        JOIN {tables['run']} sr ON sr.id = sq.run_id
        JOIN {tables['queue']} squeue ON squeue.id = sr.queue_id
        JOIN {tables['label']} l ON l.task_id = sq.task_id
        WHERE tq.run_id = %s AND s.task_slot IS NOT NULL AND l.counts_toward_replication
    """
    params: list = [run.pk]
    if not run.reuse_judgements:
        sql += " AND sq.run_id = tq.run_id"
    else:
        sql += " AND (sq.run_id = tq.run_id OR sr.status <> %s)"
        params.append(EvalRunStatus.FAILED)
        if not run.reuse_across_guides:
            sql += f"""
                AND EXISTS (SELECT 1 FROM {tables['queue']} tqueue WHERE tqueue.id = %s
                            AND (squeue.guide_version_id = tqueue.guide_version_id
                                 OR (squeue.guide_version_id IS NULL AND tqueue.guide_version_id IS NULL)))"""
            params.append(run.queue_id)
    return sql, params


def eval_run_label_frame(*, run: EvalRun) -> pd.DataFrame:
    """One row per (labeler, query object, slot) judging this run's candidates, from one query.

    ``slot`` is the candidate's rank in this run. A grade comes from the label of whichever run asked
    the pair (grade ``task_slot - 1`` of that label), so a run that reused judgements sees the
    earlier runs' grades of its pairs beside its own (PIPELINE.md, "Judgement reuse"). Staff labels
    are in it only when their queue counts them (``Queue.staff_labels_count``);
    ``eval_run_staff_labels`` says how many there are either way.
    """
    sql, params = _judgement_sql(run=run, columns="t.query_object_id, t.rank, l.labeler_id, l.answer, s.task_slot")
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    grades = []
    for query_object_id, rank, labeler_id, answer, task_slot in rows:
        if isinstance(answer, str):
            answer = json.loads(answer)
        answered = (answer or {}).get("grades") or []
        if task_slot <= len(answered) and answered[task_slot - 1] is not None:
            grades.append((query_object_id, labeler_id, rank, answered[task_slot - 1]))
    frame = pd.DataFrame(grades, columns=["query_object_id", "labeler_id", "slot", "grade"])
    frame = frame.astype({"query_object_id": "int64", "labeler_id": "int64", "slot": "int64", "grade": "object"})
    return frame.sort_values(["query_object_id", "slot", "labeler_id"], ignore_index=True)[list(LABEL_FRAME_COLUMNS)]


def eval_run_reuse(*, run: EvalRun) -> dict:
    """How many of the run's candidate slots it asked and how many it reused, and judged@k coverage:
    the share of its top-k slots with at least one judgement (docs/METRICS.md, section 1)."""
    counts = Candidate.objects.filter(query_object__run=run).aggregate(
        slots=Count("pk"), asked=Count("pk", filter=Q(task_slot__isnull=False)))
    sql, params = _judgement_sql(run=run, columns="DISTINCT t.id")
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT COUNT(*) FROM ({sql}) judged", params)
        judged = cursor.fetchone()[0]
    slots = counts["slots"]
    return {"slots": slots, "asked": counts["asked"], "reused": slots - counts["asked"], "judged": judged,
            "judged_coverage": (judged / slots) if slots else None,
            "reuse_judgements": run.reuse_judgements, "reuse_across_guides": run.reuse_across_guides}


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
    """(label count, newest label id) over the queues whose labels can judge this run's pairs: its
    own, and with reuse those of every run sharing a (crop, product) pair with it."""
    queue_ids = {run.queue_id}
    if run.reuse_judgements:
        sql, params = _judgement_sql(run=run, columns="DISTINCT sr.queue_id")
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            queue_ids |= {row[0] for row in cursor.fetchall()}
    state = Label.objects.filter(task__queue_id__in=queue_ids).aggregate(n=Count("pk"), last=Max("pk"))
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


# -- comparison of several runs and the sample-size planner (evaluation/comparison.py) -----------

from evaluation import comparison  # noqa: E402 - imported with the functions that use it


def _run_aggregation(run: EvalRun) -> str:
    return run.queue.aggregation if run.queue_id else "majority"


def eval_run_compare(*, run_ids: list[int], baseline_id: int | None = None, mode: str = "baseline") -> dict:
    """Values, intervals and relative gains of two or more runs (``comparison.compare_runs``).

    Rows are the runs oldest first (created, then id), so that a chain reads as the history of the
    changes; the baseline is the oldest run unless ``baseline_id`` names another. Each run's slots
    are aggregated as its queue says, as on its own page. Raises ``comparison.EvalRunCompareError``
    for a bad request and ``comparison.EvalRunCompareMissing`` naming the ids no run has. Cached
    under every run's label version, like ``eval_run_comparison``.
    """
    comparison.compare_request_check(run_ids=run_ids, baseline_id=baseline_id, mode=mode)
    runs = list(eval_run_list().filter(pk__in=run_ids).order_by("created_at", "pk"))
    missing = sorted(set(run_ids) - {run.pk for run in runs})
    if missing:
        raise comparison.EvalRunCompareMissing(missing)
    baseline_index = next((index for index, run in enumerate(runs) if run.pk == baseline_id), 0)
    versions = [(run.pk, run.scenes_done, *_labels_version(run), _run_aggregation(run)) for run in runs]
    key = f"eval-run-compare:{mode}:{runs[baseline_index].pk}:" + ";".join(
        ":".join(str(part) for part in version) for version in versions)
    block = cache.get(key)
    if block is None:
        objects = pd.DataFrame(
            list(QueryObject.objects.filter(run__in=runs).annotate(n_candidates=Count("candidates"))
                 .values_list("run_id", "pk", "scene_id", "category", "n_candidates")),
            columns=["run_id", *metrics.QUERY_OBJECT_COLUMNS])
        compared = []
        for run in runs:
            own = objects[objects["run_id"] == run.pk].drop(columns="run_id").reset_index(drop=True)
            counts = comparison.run_counts(eval_run_label_frame(run=run), own, aggregation=_run_aggregation(run))
            compared.append(comparison.RunCounts(run_id=run.pk, name=run.name, counts=counts, k=run.top_k))
        block = comparison.compare_runs(compared, mode=mode, baseline_index=baseline_index)
        for entry, run in zip(block["runs"], runs):
            entry["aggregation"] = _run_aggregation(run)
        cache.set(key, block, METRICS_CACHE_SECONDS)
    return block


def eval_run_sample_size_plan(*, run: EvalRun) -> dict:
    """How many scenes a comparison with this run needs per relative gain, from its judged scenes
    (``comparison.run_sample_size_plan``); cached under the run's label version."""
    n_labels, last_label = _labels_version(run)
    aggregation = _run_aggregation(run)
    key = f"eval-run-plan:{run.pk}:{run.scenes_done}:{n_labels}:{last_label}:{aggregation}"
    plan = cache.get(key)
    if plan is None:
        counts = comparison.run_counts(eval_run_label_frame(run=run), eval_run_query_object_frame(run=run),
                                       aggregation=aggregation)
        plan = comparison.run_sample_size_plan(counts, k=run.top_k)
        cache.set(key, plan, METRICS_CACHE_SECONDS)
    return plan


def eval_run_candidate_frame(*, run: EvalRun) -> pd.DataFrame:
    """The run's retrieved candidates: ``query_object_id``, ``rank``, ``product_id``, from one query."""
    rows = list(Candidate.objects.filter(query_object__run=run).values_list("query_object_id", "rank", "product_id"))
    return pd.DataFrame(rows, columns=["query_object_id", "rank", "product_id"])


def eval_run_trec_qrels(*, run: EvalRun) -> list[str]:
    """TREC qrels of the run: each judged slot's grade, aggregated as the run's metrics aggregate it."""
    from evaluation import trec

    aggregation = run.queue.aggregation if run.queue_id else "majority"
    slot_grades = metrics.aggregate_slot_grades(eval_run_label_frame(run=run), method=aggregation)
    return list(trec.qrels_lines(slot_grades, eval_run_candidate_frame(run=run)))


def eval_run_trec_run(*, run: EvalRun) -> list[str]:
    """The run's top-k as a TREC run file, tagged ``run<id>``."""
    from evaluation import trec

    return list(trec.run_lines(eval_run_candidate_frame(run=run), tag=f"run{run.pk}"))
