"""Celery interfaces of the labeling app: thin, take ids, call a service.

``quality_snapshot_refresh_run`` recomputes a quality snapshot. ``pair_import_run`` (queue ``default``: no route sends it elsewhere, config/settings.py) runs a creator-pair import (labeling/imports/PAIRS.md). It is
safe to run twice: a done or failed job is left as it is, and the pairs are written in one
transaction with the job's done mark. Retries cover transient failures (a lost database
connection); a ValueError is a problem of the file itself and fails the job at once.
"""
from __future__ import annotations

from celery import Task, shared_task

from labeling.imports import stl_pairs

MAX_RETRIES = 3


class PairImportTask(Task):
    """Marks the import failed, with the error, once the task has used up its retries."""

    def on_failure(self, exc, task_id, args, kwargs, einfo):
        job_id = kwargs.get("job_id", args[0] if args else None)
        if job_id is not None:
            stl_pairs.pair_import_fail(job_id=job_id, error=f"{type(exc).__name__}: {exc}")


@shared_task(name="labeling.tasks.pair_import_run", base=PairImportTask, acks_late=True,
             autoretry_for=(Exception,), dont_autoretry_for=(ValueError,), max_retries=MAX_RETRIES,
             retry_backoff=2, retry_backoff_max=60)
def pair_import_run(job_id: int) -> int:
    return stl_pairs.pair_import_run(job_id=job_id).pairs_created


@shared_task(name="labeling.tasks.quality_snapshot_refresh_run", acks_late=True, autoretry_for=(Exception,),
             max_retries=MAX_RETRIES, retry_backoff=2, retry_backoff_max=60)
def quality_snapshot_refresh_run(task_kind: str) -> int:
    """Recompute one kind's quality snapshot (labeling/quality/services.py); idempotent: it always
    recomputes from every label, so a retry or a duplicate gives the same snapshot."""
    from labeling.quality.services import quality_snapshot_refresh

    return quality_snapshot_refresh(task_kind=task_kind).n_labels


@shared_task(name="labeling.tasks.export_job_run", acks_late=True, autoretry_for=(OSError,), max_retries=MAX_RETRIES,
             retry_backoff=2, retry_backoff_max=60)
def export_job_run(job_id: int) -> str:
    """Write one export (labeling/exports/EXPORTS.md). Safe to run twice: a done job is returned as
    it is, and a retry of a running one restarts it from scratch. Only an OSError (a full disk, a
    lost mount) is retried; any other error has failed the job with its message."""
    from labeling.exports.jobs import export_job_run as run

    return run(job_id=job_id).status


@shared_task(name="labeling.tasks.export_jobs_stalled_resume", acks_late=True)
def export_jobs_stalled_resume() -> dict:
    """Re-queue exports whose worker was lost and delete orphan temporary files."""
    from labeling.exports.jobs import export_jobs_stalled_resume as sweep

    return sweep()


class DataImportTask(Task):
    """Marks a catalogue or COCO import failed, with the error, once the task has used up its retries."""

    def on_failure(self, exc, task_id, args, kwargs, einfo):
        from labeling.imports.data_jobs import data_import_fail

        job_id = kwargs.get("job_id", args[0] if args else None)
        if job_id is not None:
            data_import_fail(job_id=job_id, error=f"{type(exc).__name__}: {exc}")


@shared_task(name="labeling.tasks.data_import_run", base=DataImportTask, acks_late=True,
             autoretry_for=(Exception,), dont_autoretry_for=(ValueError,), max_retries=MAX_RETRIES,
             retry_backoff=2, retry_backoff_max=60)
def data_import_run(job_id: int) -> str:
    """Run a product-catalogue or COCO import (labeling/imports/IMPORTS.md); safe to run twice."""
    from labeling.imports.data_jobs import data_import_run as run

    return run(job_id=job_id).status
