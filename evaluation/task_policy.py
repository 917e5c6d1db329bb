"""How the evaluation pipeline's Celery tasks fail: one policy for every evaluation task.

- Transient errors are retried with exponential backoff, up to ``MAX_RETRIES`` times: the broker or
  the database went away (kombu/amqp/redis connection errors, Django's ``OperationalError`` and
  ``InterfaceError``), or a chunk ran past its soft time limit (its finished scenes are committed,
  one transaction each, so the retry redoes only the rest).
- A GPU out of memory is retried with half the batch size (``batch_size`` of the task), down to 1.
- Anything else is a bug or bad input that a retry would only repeat: the task fails at once and
  the run records ``"<Type>: <message>"``.

The base class ``PipelineTask`` applies it; ``evaluation/PIPELINE.md`` ("Workers") is the note.
Tasks stay ``acks_late`` with reject-on-worker-lost, so a message whose worker died is redelivered
where the broker can (and the stalled-run sweep, ``recovery.py``, covers it where it cannot).
"""
from __future__ import annotations

import logging
import sys
from dataclasses import dataclass

import amqp.exceptions
import kombu.exceptions
from celery import Task
from celery.exceptions import Ignore, Reject, Retry, SoftTimeLimitExceeded
from celery.utils.time import get_exponential_backoff_interval
from django import db
from django.conf import settings

try:
    import redis.exceptions
except ImportError:  # only the Redis broker needs it
    redis = None

logger = logging.getLogger(__name__)

MAX_RETRIES = 3
RETRY_BACKOFF_SECONDS = 2
RETRY_BACKOFF_MAX_SECONDS = 60
# The pipeline's detector batch when a task names none (models_runtime.pipeline.PipelineSettings,
# whose embedder batch is eight times it); an out-of-memory retry halves from here.
DEFAULT_BATCH_SIZE = 8
SMALLEST_BATCH_SIZE = 1

SOFT_TIME_LIMIT_ERROR = ("SoftTimeLimitExceeded: the task ran past its soft time limit of {limit} s (attempt "
                         "{attempts}; the scenes it finished are kept; settings EVAL_*_SOFT_TIME_LIMIT)")

TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    kombu.exceptions.OperationalError,
    amqp.exceptions.ConnectionError,
    amqp.exceptions.RecoverableConnectionError,
    ConnectionError,
    db.OperationalError,
    db.InterfaceError,
    SoftTimeLimitExceeded,
) + ((redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) if redis is not None else ())


@dataclass(frozen=True)
class FailureDecision:
    retry: bool
    # The batch size the retry runs with; None keeps the task's own.
    batch_size: int | None = None


def is_out_of_memory(error: BaseException) -> bool:
    """A GPU (CUDA or MPS) ran out of memory. torch is looked up, not imported: a process that never
    loaded it (a web process, a coordinator) cannot have run out of GPU memory."""
    torch = sys.modules.get("torch")
    out_of_memory = getattr(getattr(torch, "cuda", None), "OutOfMemoryError", None)
    if out_of_memory is not None and isinstance(error, out_of_memory):
        return True
    # Older torch and the MPS backend raise a bare RuntimeError ("CUDA out of memory", "CUDA error:
    # out of memory", "MPS backend out of memory").
    return isinstance(error, RuntimeError) and "out of memory" in str(error).lower()


def failure_decide(*, error: BaseException, batch_size: int | None) -> FailureDecision:
    """Whether a task that raised ``error`` is retried, and with which batch size."""
    if is_out_of_memory(error):
        smaller = (batch_size or DEFAULT_BATCH_SIZE) // 2
        if smaller < SMALLEST_BATCH_SIZE:
            return FailureDecision(retry=False)
        return FailureDecision(retry=True, batch_size=smaller)
    if isinstance(error, TRANSIENT_ERRORS):
        return FailureDecision(retry=True)
    return FailureDecision(retry=False)


def error_describe(error: BaseException, *, soft_time_limit: float | None = None, attempts: int = 1) -> str:
    """The text a failed run or job records: ``"<Type>: <message>"``."""
    if isinstance(error, SoftTimeLimitExceeded):
        return SOFT_TIME_LIMIT_ERROR.format(limit=soft_time_limit, attempts=attempts)
    return f"{type(error).__name__}: {error}"


def gpu_memory_release() -> None:
    """Give the caching allocator's free blocks back before a smaller retry runs in this process."""
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        torch.cuda.empty_cache()


def chunk_time_limits() -> dict:
    """Task options of model work (a chunk of scenes on the ``gpu`` queue)."""
    return {"soft_time_limit": settings.EVAL_CHUNK_SOFT_TIME_LIMIT, "time_limit": settings.EVAL_CHUNK_TIME_LIMIT}


def coordinator_time_limits() -> dict:
    """Task options of bookkeeping (coordinators, the sweep) on the ``default`` queue."""
    return {"soft_time_limit": settings.EVAL_COORDINATOR_SOFT_TIME_LIMIT,
            "time_limit": settings.EVAL_COORDINATOR_TIME_LIMIT}


def training_time_limits() -> dict:
    """Task options of a training job (one long task on the ``gpu`` queue)."""
    return {"soft_time_limit": settings.TRAINING_SOFT_TIME_LIMIT, "time_limit": settings.TRAINING_TIME_LIMIT}


class PipelineTask(Task):
    """Base of every evaluation task: retries what is transient (above), and once a task gives up,
    hands the error text to ``failure_record`` so the run or job it works for is marked failed.

    A task that takes ``batch_size`` as a keyword gets the halved size on an out-of-memory retry.
    """

    acks_late = True
    reject_on_worker_lost = True
    max_retries = MAX_RETRIES

    def __call__(self, *args, **kwargs):
        try:
            return super().__call__(*args, **kwargs)
        except (Retry, Ignore, Reject):
            raise
        except Exception as error:
            retries = self.request.retries or 0
            decision = failure_decide(error=error, batch_size=kwargs.get("batch_size"))
            if is_out_of_memory(error):
                gpu_memory_release()
            if not decision.retry or retries >= self.max_retries:
                raise
            if decision.batch_size is not None:
                kwargs = {**kwargs, "batch_size": decision.batch_size}
            countdown = get_exponential_backoff_interval(RETRY_BACKOFF_SECONDS, retries, RETRY_BACKOFF_MAX_SECONDS,
                                                         full_jitter=True)
            logger.warning("%s[%s] retry %d/%d in %d s after %s", self.name, self.request.id, retries + 1,
                           self.max_retries, countdown,
                           error_describe(error, soft_time_limit=self.soft_time_limit, attempts=retries + 1))
            raise self.retry(args=args, kwargs=kwargs, exc=error, countdown=countdown)

    def on_failure(self, exc, task_id, args, kwargs, einfo):
        error = error_describe(exc, soft_time_limit=self.soft_time_limit, attempts=(self.request.retries or 0) + 1)
        self.failure_record(args=tuple(args or ()), kwargs=dict(kwargs or {}), error=error)

    def failure_record(self, *, args: tuple, kwargs: dict, error: str) -> None:
        """Mark what the task worked for failed; a task with nothing to mark only logs."""
        logger.error("%s failed: %s", self.name, error)


def task_argument(*, args: tuple, kwargs: dict, name: str, position: int = 0):
    """A task's argument however it was sent (``delay(5)`` or ``delay(run_id=5)``)."""
    if name in kwargs:
        return kwargs[name]
    return args[position] if len(args) > position else None
