"""Stalled generations found and resumed without a person: the sweep.

A worker killed mid-chunk (SIGKILL, the kernel's OOM killer, a hard time limit, a lost machine)
leaves its run ``generating`` with some scenes done and nothing left to do the rest: the
filesystem broker deletes a message when a worker takes it, and Redis gives an unacknowledged one
back only after its visibility timeout (an hour). A coordinator message lost before it ran leaves a
run ``pending``. The sweep finds such runs (and box queue jobs) by their last progress
(``progress_at``: set when generation starts and on every written scene; ``created_at`` while still
pending) and re-sends their coordinator, which fans out chunks for the scenes without a done mark
only (PIPELINE.md, "Per-scene idempotency"), so resuming a run that was not stalled after all
costs nothing but a few skipped scenes.

A run that stalls again after ``max_resumes`` resumes has a chunk that keeps dying without an
error: it is failed with ``RUN_STALLED``. Runs the sweep or a person resumed are counted in
``resumes``. Runs every ``EVAL_SWEEP_INTERVAL_SECONDS`` (``CELERY_BEAT_SCHEDULE``), at every worker
start (config/celery.py), and by hand: ``manage.py eval_runs_resume``.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.db.models.functions import Coalesce
from django.utils import timezone

from config.queues import QUEUE_GPU
from evaluation import box_queues, services
from evaluation.models import BoxQueueJob, BoxQueueJobStatus, EvalRun, EvalRunStatus

logger = logging.getLogger(__name__)

RUN_STALLED = ("Stalled: generation made no progress for {seconds} s after {resumes} automatic resumes; a chunk "
               "keeps dying without an error (killed by its hard time limit or the out-of-memory killer? see the "
               "worker log). Start a new run once the cause is fixed.")
BOX_JOB_STALLED = ("Stalled: pre-annotation made no progress for {seconds} s after {resumes} automatic resumes; a "
                   "chunk keeps dying without an error (see the worker log).")


@dataclass
class SweepResult:
    resumed: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)


@dataclass
class SweepReport:
    runs: SweepResult = field(default_factory=SweepResult)
    box_jobs: SweepResult = field(default_factory=SweepResult)
    # Messages waiting on the gpu queue when the sweep looked; it resumes nothing while there are any.
    gpu_backlog: int = 0

    def as_dict(self) -> dict:
        return asdict(self)


def _stalled(model, *, statuses: list[str], cutoff: datetime):
    """Rows in ``statuses`` that last moved before ``cutoff``, locked for this transaction. A row
    another sweep holds is skipped: that sweep is resuming it."""
    return list(model.objects.select_for_update(skip_locked=True)
                .annotate(last_moved=Coalesce("progress_at", "created_at"))
                .filter(status__in=statuses, last_moved__lt=cutoff).order_by("pk").only("pk", "resumes"))


def _stalled_resume(model, *, statuses: list[str], stale_after: timedelta, max_resumes: int,
                    fail: Callable[[int, str], None], resend: Callable[[int], None], stalled_message: str) -> SweepResult:
    """Re-send every row of ``model`` in ``statuses`` without progress for ``stale_after``; fail a
    row already resumed ``max_resumes`` times with ``stalled_message``."""
    now = timezone.now()
    result = SweepResult()
    with transaction.atomic():
        for row in _stalled(model, statuses=statuses, cutoff=now - stale_after):
            if row.resumes >= max_resumes:
                fail(row.pk, stalled_message.format(seconds=int(stale_after.total_seconds()), resumes=row.resumes))
                result.failed.append(row.pk)
                continue
            # progress_at = now gives the re-sent coordinator a whole window before the next sweep
            # counts the row as stalled again.
            model.objects.filter(pk=row.pk).update(resumes=F("resumes") + 1, progress_at=now)
            transaction.on_commit(lambda row_id=row.pk: resend(row_id))
            result.resumed.append(row.pk)
    return result


def eval_runs_stalled_resume(*, stale_after: timedelta, max_resumes: int) -> SweepResult:
    """Re-send the coordinator of every pending or generating run without progress for
    ``stale_after``; fail a run already resumed ``max_resumes`` times."""
    from evaluation.tasks import eval_run_generate

    return _stalled_resume(EvalRun, statuses=[EvalRunStatus.PENDING, EvalRunStatus.GENERATING],
                           stale_after=stale_after, max_resumes=max_resumes,
                           fail=lambda run_id, error: services.eval_run_fail(run_id=run_id, error=error),
                           resend=lambda run_id: eval_run_generate.delay(run_id), stalled_message=RUN_STALLED)


def box_queue_jobs_stalled_resume(*, stale_after: timedelta, max_resumes: int) -> SweepResult:
    """The same for box queue jobs still pending or pre-annotating."""
    from evaluation.tasks import box_queue_preannotate

    return _stalled_resume(BoxQueueJob, statuses=[BoxQueueJobStatus.PENDING, BoxQueueJobStatus.PREANNOTATING],
                           stale_after=stale_after, max_resumes=max_resumes,
                           fail=lambda job_id, error: box_queues.box_queue_fail(job_id=job_id, error=error),
                           resend=lambda job_id: box_queue_preannotate.delay(job_id), stalled_message=BOX_JOB_STALLED)


def gpu_queue_backlog() -> int:
    """Messages waiting on the gpu queue (not those a worker holds). While there are any, a run
    without progress may only be waiting its turn behind other work, so the sweep leaves it be;
    once the queue drains, a run still without progress is stalled."""
    from kombu.exceptions import ChannelError

    from config.celery import app

    with app.connection_for_read() as connection:
        with connection.channel() as channel:
            try:
                return channel.queue_declare(queue=QUEUE_GPU, passive=True).message_count
            except ChannelError:
                # A broker that has never seen the queue (Redis before its first message) holds nothing on it.
                return 0


def stalled_generations_resume(*, stale_after: timedelta | None = None, max_resumes: int | None = None,
                               wait_for_backlog: bool = True) -> SweepReport:
    """The sweep: runs and box queue jobs, with the settings' limits unless given."""
    stale_after = stale_after if stale_after is not None else timedelta(seconds=settings.EVAL_STALE_AFTER_SECONDS)
    max_resumes = max_resumes if max_resumes is not None else settings.EVAL_MAX_RESUMES
    report = SweepReport()
    if wait_for_backlog:
        report.gpu_backlog = gpu_queue_backlog()
        if report.gpu_backlog:
            return report
    report.runs = eval_runs_stalled_resume(stale_after=stale_after, max_resumes=max_resumes)
    report.box_jobs = box_queue_jobs_stalled_resume(stale_after=stale_after, max_resumes=max_resumes)
    if report.runs.resumed or report.runs.failed or report.box_jobs.resumed or report.box_jobs.failed:
        logger.warning("stalled generations: runs resumed %s, failed %s; box queue jobs resumed %s, failed %s",
                       report.runs.resumed, report.runs.failed, report.box_jobs.resumed, report.box_jobs.failed)
    return report
