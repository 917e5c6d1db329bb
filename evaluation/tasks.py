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

from evaluation import box_queues, services

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


class BoxQueueJobTask(Task):
    """Marks the box queue job failed, with the error, once a task has used up its retries."""

    def on_failure(self, exc, task_id, args, kwargs, einfo):
        job_id = kwargs.get("job_id", args[0] if args else None)
        if job_id is not None:
            box_queues.box_queue_fail(job_id=job_id, error=f"{type(exc).__name__}: {exc}")


BOX_RETRY_OPTIONS = {**RETRY_OPTIONS, "base": BoxQueueJobTask}


@shared_task(name="evaluation.tasks.box_queue_preannotate", **BOX_RETRY_OPTIONS)
def box_queue_preannotate(job_id: int) -> int:
    remaining = box_queues.box_queue_preannotation_start(job_id=job_id)
    chunks = [remaining[start:start + box_queues.SCENES_PER_CHUNK]
              for start in range(0, len(remaining), box_queues.SCENES_PER_CHUNK)]
    for chunk in chunks:
        box_queue_preannotate_scenes.delay(job_id, chunk)
    return len(chunks)


@shared_task(name="evaluation.tasks.box_queue_preannotate_scenes", **BOX_RETRY_OPTIONS)
def box_queue_preannotate_scenes(job_id: int, scene_ids: list[int]) -> int:
    return box_queues.box_queue_preannotate_scenes(job_id=job_id, scene_ids=scene_ids)
