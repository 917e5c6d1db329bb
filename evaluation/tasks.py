"""Celery interfaces of the evaluation pipeline: thin, take ids, call a service.

``eval_run_generate`` (queue ``default``) is the coordinator: it marks the run generating and fans
out one ``eval_run_generate_scenes`` (queue ``gpu``, see settings.CELERY_TASK_ROUTES) per chunk of
scenes not done yet. Both are safe to run twice: every scene carries a done mark written with its
rows (see PIPELINE.md). Retries cover transient failures (a lost database connection, a GPU out of
memory); a ValueError is a permanent problem (a bad checkpoint, an empty catalogue) and fails the
run at once with its message.
"""
from __future__ import annotations

from celery import Task, shared_task

from evaluation import services

MAX_RETRIES = 3


class EvalRunGenerationTask(Task):
    """Marks the run failed, with the error, once a task has used up its retries."""

    def on_failure(self, exc, task_id, args, kwargs, einfo):
        run_id = kwargs.get("run_id", args[0] if args else None)
        if run_id is not None:
            services.eval_run_fail(run_id=run_id, error=f"{type(exc).__name__}: {exc}")


RETRY_OPTIONS = {
    "base": EvalRunGenerationTask,
    "acks_late": True,
    "autoretry_for": (Exception,),
    "dont_autoretry_for": (ValueError,),
    "max_retries": MAX_RETRIES,
    "retry_backoff": 2,
    "retry_backoff_max": 60,
}


@shared_task(name="evaluation.tasks.eval_run_generate", **RETRY_OPTIONS)
def eval_run_generate(run_id: int) -> int:
    remaining = services.eval_run_generation_start(run_id=run_id)
    chunks = services.scene_chunks(remaining)
    for chunk in chunks:
        eval_run_generate_scenes.delay(run_id, chunk)
    return len(chunks)


@shared_task(name="evaluation.tasks.eval_run_generate_scenes", **RETRY_OPTIONS)
def eval_run_generate_scenes(run_id: int, scene_ids: list[int]) -> int:
    return services.eval_run_generate_scenes(run_id=run_id, scene_ids=scene_ids)
