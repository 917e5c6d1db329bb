"""Celery interfaces of the evaluation pipeline: thin, take ids, call a service.

``eval_run_generate`` (queue ``default``) is the coordinator: it marks the run generating and fans
out one ``eval_run_generate_scenes`` (queue ``gpu``, see config/queues.py and
settings.CELERY_TASK_ROUTES) per chunk of scenes not done yet. Both are safe to run twice: every
scene carries a done mark written with its rows (see PIPELINE.md). How they fail is one policy for
all (``task_policy.py``): transient errors are retried, a GPU out of memory is retried with half
the batch, anything else fails the run at once with its message. ``stalled_generations_resume``
(beat, and once at every worker start) resumes generations whose worker died (``recovery.py``).
"""
from __future__ import annotations

from celery import shared_task

from evaluation import box_queues, recovery, services
from evaluation.task_policy import (PipelineTask, chunk_time_limits, coordinator_time_limits, task_argument,
                                    training_time_limits)


class EvalRunGenerationTask(PipelineTask):
    """Marks the run failed, with the error, once a task has given up (task_policy.py)."""

    def failure_record(self, *, args, kwargs, error):
        run_id = task_argument(args=args, kwargs=kwargs, name="run_id")
        if run_id is not None:
            services.eval_run_fail(run_id=run_id, error=error)


RETRY_OPTIONS = {"base": EvalRunGenerationTask}


@shared_task(name="evaluation.tasks.eval_run_generate", **RETRY_OPTIONS, **coordinator_time_limits())
def eval_run_generate(run_id: int) -> int:
    remaining = services.eval_run_generation_start(run_id=run_id)
    chunks = services.scene_chunks(remaining)
    for chunk in chunks:
        eval_run_generate_scenes.delay(run_id, chunk)
    return len(chunks)


@shared_task(name="evaluation.tasks.eval_run_generate_scenes", **RETRY_OPTIONS, **chunk_time_limits())
def eval_run_generate_scenes(run_id: int, scene_ids: list[int], batch_size: int | None = None) -> int:
    return services.eval_run_generate_scenes(run_id=run_id, scene_ids=scene_ids, batch_size=batch_size)


class BoxQueueJobTask(PipelineTask):
    """Marks the box queue job failed, with the error, once a task has given up (task_policy.py)."""

    def failure_record(self, *, args, kwargs, error):
        job_id = task_argument(args=args, kwargs=kwargs, name="job_id")
        if job_id is not None:
            box_queues.box_queue_fail(job_id=job_id, error=error)


BOX_RETRY_OPTIONS = {"base": BoxQueueJobTask}


@shared_task(name="evaluation.tasks.box_queue_preannotate", **BOX_RETRY_OPTIONS, **coordinator_time_limits())
def box_queue_preannotate(job_id: int) -> int:
    remaining = box_queues.box_queue_preannotation_start(job_id=job_id)
    chunks = [remaining[start:start + box_queues.SCENES_PER_CHUNK]
              for start in range(0, len(remaining), box_queues.SCENES_PER_CHUNK)]
    for chunk in chunks:
        box_queue_preannotate_scenes.delay(job_id, chunk)
    return len(chunks)


@shared_task(name="evaluation.tasks.box_queue_preannotate_scenes", **BOX_RETRY_OPTIONS, **chunk_time_limits())
def box_queue_preannotate_scenes(job_id: int, scene_ids: list[int], batch_size: int | None = None) -> int:
    return box_queues.box_queue_preannotate_scenes(job_id=job_id, scene_ids=scene_ids, batch_size=batch_size)


@shared_task(name="evaluation.tasks.stalled_generations_resume", base=PipelineTask, **coordinator_time_limits())
def stalled_generations_resume() -> dict:
    """The sweep (beat schedule and worker start): resume runs and box queue jobs whose generation
    stalled, fail those that keep stalling. Nothing to mark failed when it fails: the next sweep
    does the same work."""
    return recovery.stalled_generations_resume().as_dict()


@shared_task(name="evaluation.tasks.offline_evaluation_run", base=PipelineTask, **chunk_time_limits())
def offline_evaluation_run(evaluation_id: int) -> str:
    """An offline evaluation (queue ``gpu``). The service records any failure of the evaluation in
    the row (running the same model on the same test sets again would fail the same way); only a
    transient error around it, such as a lost database connection while claiming the row, is
    retried (task_policy.py)."""
    from evaluation import offline

    return offline.offline_evaluation_execute(evaluation_id=evaluation_id)


class TrainingJobTask(PipelineTask):
    """Marks the training job failed, with the error, once the task has given up (task_policy.py)."""

    def failure_record(self, *, args, kwargs, error):
        from evaluation.training import training_job_fail

        job_id = task_argument(args=args, kwargs=kwargs, name="job_id")
        if job_id is not None:
            training_job_fail(job_id=job_id, error=error)


@shared_task(name="evaluation.tasks.training_job_run", base=TrainingJobTask, **training_time_limits())
def training_job_run(job_id: int) -> str:
    """A training job (queue ``gpu``; evaluation/TRAINING.md). Transient errors are retried and the
    retry starts the training again; the version is registered with the done mark, so once only."""
    from evaluation import training

    return training.training_job_run(job_id=job_id).status
