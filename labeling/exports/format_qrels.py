"""Relevance judgements of one evaluation run as TREC qrels, through the evaluation app's own
``eval_run_trec_qrels`` (evaluation/trec.py writes the lines; nothing is written twice here).

The qrels of a run are small (one line per judged slot of the run's top-k), so they are built in
one piece by the evaluation code and written in chunks of lines. The provenance pins the run, its
queue's aggregation and guide versions and its last label id; the lines come from every label of
the run as the run's metrics read them, so a rebuild after more judgements arrive has them too
(EXPORTS.md, "Provenance and rebuild").
"""
from __future__ import annotations

from labeling.exports.common import params_known
from labeling.exports.registry import ExportContext, ExportFormat, ExportParamsError, export_format_register
from labeling.exports.selectors import export_queue_provenance

PARAMS = ("eval_run",)
EVAL_RUN_MISSING = "Choose the evaluation run whose judgements to export ('eval_run': its id)."
EVAL_RUN_NOT_ID = "'eval_run' must be an evaluation run id (a positive integer)."
EVAL_RUN_UNKNOWN = "There is no evaluation run with id {id}."
EVAL_RUN_NO_QUEUE = "Evaluation run {id} has no judgement queue yet: generate it first."
LINES_PER_CHUNK = 1000


def params_clean(params: dict) -> dict:
    from evaluation.models import EvalRun

    params_known(params, PARAMS)
    run_id = params.get("eval_run")
    if run_id is None:
        raise ExportParamsError(EVAL_RUN_MISSING, "eval_run")
    if not isinstance(run_id, int) or isinstance(run_id, bool) or run_id <= 0:
        raise ExportParamsError(EVAL_RUN_NOT_ID, "eval_run")
    run = EvalRun.objects.filter(pk=run_id).first()
    if run is None:
        raise ExportParamsError(EVAL_RUN_UNKNOWN.format(id=run_id), "eval_run")
    if run.queue_id is None:
        raise ExportParamsError(EVAL_RUN_NO_QUEUE.format(id=run_id), "eval_run")
    return {"eval_run": run_id}


def provenance_build(params: dict) -> dict:
    from evaluation.models import EvalRun

    run = EvalRun.objects.get(pk=params["eval_run"])
    return {"eval_run": run.pk, "eval_run_name": run.name, **export_queue_provenance([run.queue_id])}


def items_count(params: dict, provenance: dict) -> int:
    return 1


def write(ctx: ExportContext) -> dict:
    from evaluation.models import EvalRun
    from evaluation.selectors import eval_run_trec_qrels

    lines = eval_run_trec_qrels(run=EvalRun.objects.get(pk=ctx.params["eval_run"]))
    for start in range(0, len(lines), LINES_PER_CHUNK):
        ctx.out.write("".join(lines[start:start + LINES_PER_CHUNK]).encode())
    ctx.advance(1, "qrels written")
    return {"qrels_lines": len(lines), "queries": len({line.split(" ", 1)[0] for line in lines})}


TREC_QRELS = export_format_register(ExportFormat(
    name="trec_qrels", label="TREC qrels (relevance judgements)",
    description="One evaluation run's aggregated relevance grades as TREC qrels, for trec_eval.",
    extension="txt", content_type="text/plain", celery_queue="default",
    params_clean=params_clean, provenance_build=provenance_build, items_count=items_count, write=write))
