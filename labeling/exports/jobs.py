"""Export jobs: create (clean params, pin provenance, enqueue), run (stream into a temporary file,
rename into place, only then offer it), rebuild, and the sweep that restarts stalled jobs.

The design note is labeling/exports/EXPORTS.md. The rule everything here keeps: ``ExportJob.file``
is set in the same transaction that marks the job done, after the bytes are fsynced and renamed
to their final name, so no reader ever sees half a file.
"""
from __future__ import annotations

import hashlib
import os
import time
import uuid
from datetime import timedelta
from pathlib import Path

from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify

from labeling.exports.registry import ExportContext, ExportParamsError, export_format_get
from labeling.models import ExportJob, JobStatus, User
from labeling.storage import private_storage

EXPORT_NAME_EMPTY = "Give the export a name."
EXPORT_NAME_MAX_LENGTH = 200
EXPORT_NAME_TOO_LONG = f"The name is longer than {EXPORT_NAME_MAX_LENGTH} characters."
EXPORT_PARAMS_NOT_OBJECT = "'params' must be a JSON object."
EXPORT_NOT_DONE = "Export {id} is {status}: its file can be downloaded once it is done."
EXPORT_FILE_MISSING = "Export {id} is done but its file is missing from private storage."
EXPORT_STALLED = "The export stopped without finishing (its worker was lost); it was restarted."

TMP_FOLDER = "exports/tmp"
FINAL_FOLDER = "exports"
# Progress is saved at most this often (and at the end of each chunk a format reports), so a
# million-item export writes a few hundred progress rows, not a million.
PROGRESS_MIN_SECONDS = 0.5
# A running job started this long ago has lost its worker. ExportJob has no progress timestamp, so
# the sweep goes by the start: it must be longer than the longest export (a million labels take
# minutes: benchmarks/RESULTS.md, "Exports").
STALE_AFTER = timedelta(hours=2)


def _task():
    from labeling.tasks import export_job_run as task

    return task


def _enqueue(job: ExportJob, queue: str) -> None:
    transaction.on_commit(lambda: _task().apply_async(kwargs={"job_id": job.pk}, queue=queue))


def export_job_create(*, format: str, name: str, params: dict, created_by: User | None) -> ExportJob:
    """Clean ``params`` with the format, pin the provenance and enqueue the job on commit."""
    export_format = export_format_get(format)
    name = (name or "").strip()
    if not name:
        raise ExportParamsError(EXPORT_NAME_EMPTY, "name")
    if len(name) > EXPORT_NAME_MAX_LENGTH:
        raise ExportParamsError(EXPORT_NAME_TOO_LONG, "name")
    if not isinstance(params, dict):
        raise ExportParamsError(EXPORT_PARAMS_NOT_OBJECT, "params")
    cleaned = export_format.params_clean(params)
    provenance = export_format.provenance_build(cleaned)
    return _job_save(format=format, name=name, params=cleaned, provenance=provenance, created_by=created_by)


def _job_save(*, format: str, name: str, params: dict, provenance: dict, created_by: User | None) -> ExportJob:
    export_format = export_format_get(format)
    with transaction.atomic():
        job = ExportJob.objects.create(format=format, name=name, params=params, provenance=provenance,
                                       items_total=export_format.items_count(params, provenance),
                                       created_by=created_by)
        _enqueue(job, export_format.celery_queue)
    return job


def export_job_rebuild(*, job: ExportJob, created_by: User | None) -> ExportJob:
    """A new job with the same parameters and the same pinned provenance: the same bytes."""
    return _job_save(format=job.format, name=job.name, params=job.params, provenance=job.provenance,
                     created_by=created_by)


def _tmp_path(job_id: int) -> Path:
    return Path(private_storage.path(f"{TMP_FOLDER}/{job_id}-{uuid.uuid4().hex}.part"))


def _tmp_files(job_id: int | None = None) -> list[Path]:
    folder = Path(private_storage.path(TMP_FOLDER))
    if not folder.is_dir():
        return []
    pattern = f"{job_id}-*.part" if job_id is not None else "*.part"
    return sorted(folder.glob(pattern))


def _tmp_remove(job_id: int) -> None:
    for path in _tmp_files(job_id):
        path.unlink(missing_ok=True)


def _progress_save(job_id: int, done: int, step: str) -> None:
    ExportJob.objects.filter(pk=job_id).update(items_done=done, step=step[:200])


def _job_start(job_id: int) -> ExportJob | None:
    """Under the row lock: a done job is left as it is (None); anything else starts from scratch."""
    with transaction.atomic():
        job = ExportJob.objects.select_for_update().get(pk=job_id)
        if job.status == JobStatus.DONE:
            return None
        # A retried running job (its worker was killed) restarts: its half file is worthless.
        _tmp_remove(job.pk)
        job.status, job.items_done, job.step, job.error = JobStatus.RUNNING, 0, "starting", ""
        job.attempts += 1
        job.started_at, job.finished_at = timezone.now(), None
        job.save(update_fields=["status", "items_done", "step", "error", "attempts", "started_at", "finished_at"])
    return job


def export_job_run(*, job_id: int) -> ExportJob:
    """Write the job's file (synchronously: the Celery task and the management commands call this)."""
    job = _job_start(job_id)
    if job is None:
        return ExportJob.objects.get(pk=job_id)
    export_format = export_format_get(job.format)
    tmp = _tmp_path(job.pk)
    tmp.parent.mkdir(parents=True, exist_ok=True)
    done = {"n": 0, "saved_at": 0.0}
    final: Path | None = None

    def advance(n: int, step: str) -> None:
        done["n"] += n
        now = time.monotonic()
        if now - done["saved_at"] >= PROGRESS_MIN_SECONDS:
            done["saved_at"] = now
            _progress_save(job.pk, done["n"], step)

    try:
        digest = hashlib.sha256()
        with open(tmp, "wb") as raw:
            out = _HashingWriter(raw, digest)
            report = export_format.write(ExportContext(job_id=job.pk, params=job.params, provenance=job.provenance,
                                                       out=out, advance=advance))
            raw.flush()
            os.fsync(raw.fileno())
        size = tmp.stat().st_size
        final_name = f"{FINAL_FOLDER}/{job.pk}-{slugify(job.name)[:60] or 'export'}.{export_format.extension}"
        final_path = Path(private_storage.path(final_name))
        os.replace(tmp, final_path)
        final = final_path
        with transaction.atomic():
            job = ExportJob.objects.select_for_update().get(pk=job.pk)
            job.file.name = final_name
            job.sha256, job.size_bytes, job.report = digest.hexdigest(), size, report or {}
            job.items_done = max(done["n"], job.items_total)
            job.status, job.step, job.finished_at = JobStatus.DONE, "done", timezone.now()
            job.save(update_fields=["file", "sha256", "size_bytes", "report", "items_done", "status", "step",
                                    "finished_at"])
        return job
    except Exception as error:
        tmp.unlink(missing_ok=True)
        if final is not None:
            # Renamed but not recorded (the last transaction failed): the job offers no file, so
            # none may be left under its final name either.
            final.unlink(missing_ok=True)
        export_job_fail(job_id=job.pk, error=f"{type(error).__name__}: {error}")
        raise


class _HashingWriter:
    """The binary file a format writes to, hashing as it goes (one pass over the bytes)."""

    def __init__(self, raw, digest) -> None:
        self.raw, self.digest = raw, digest

    def write(self, data: bytes) -> int:
        self.digest.update(data)
        return self.raw.write(data)

    def flush(self) -> None:
        self.raw.flush()


def export_job_fail(*, job_id: int, error: str) -> None:
    """Fail a job that is not done, with its error; its temporary files go."""
    _tmp_remove(job_id)
    ExportJob.objects.filter(pk=job_id).exclude(status=JobStatus.DONE).update(
        status=JobStatus.FAILED, error=error[:2000], step="failed", finished_at=timezone.now())


def export_job_path(job: ExportJob) -> Path:
    """The absolute path of a done job's file; ``ExportNotDone`` otherwise."""
    if job.status != JobStatus.DONE or not job.file:
        raise ExportNotDone(EXPORT_NOT_DONE.format(id=job.pk, status=job.get_status_display().lower()))
    path = Path(private_storage.path(job.file.name))
    if not path.is_file():
        raise ExportNotDone(EXPORT_FILE_MISSING.format(id=job.pk))
    return path


class ExportNotDone(RuntimeError):
    """The job has no file to offer (yet): the API answers 409."""


def export_jobs_stalled_resume(*, stale_after: timedelta = STALE_AFTER) -> dict:
    """The sweep: re-queue running jobs whose worker was lost (started more than ``stale_after``
    ago) and delete ``.part`` files no running job owns."""
    cutoff = timezone.now() - stale_after
    resumed = []
    with transaction.atomic():
        stalled = list(ExportJob.objects.select_for_update(skip_locked=True)
                       .filter(status=JobStatus.RUNNING, started_at__lt=cutoff))
        for job in stalled:
            _tmp_remove(job.pk)
            job.status, job.step, job.error = JobStatus.PENDING, "waiting to restart", EXPORT_STALLED
            job.save(update_fields=["status", "step", "error"])
            _enqueue(job, export_format_get(job.format).celery_queue)
            resumed.append(job.pk)
    # The files are listed before the running jobs are read: a job marks itself running before it
    # creates its file, so every file listed here whose job is live belongs to a job read below.
    candidates = _tmp_files()
    running = set(ExportJob.objects.filter(status=JobStatus.RUNNING).values_list("pk", flat=True))
    orphans = 0
    for path in candidates:
        owner = path.name.split("-", 1)[0]
        if not (owner.isdigit() and int(owner) in running):
            path.unlink(missing_ok=True)
            orphans += 1
    return {"resumed": resumed, "orphan_files_removed": orphans}
