"""Celery app. Two queues (config/queues.py): ``default`` for bookkeeping, ``gpu`` for model work
(detect, embed, retrieve). Routing is by task name so a GPU machine runs ``celery -Q gpu`` and
nothing else.

Worker processes (and beat) hold no database connection between tasks: ``CONN_MAX_AGE`` is set to 0
when they start and ``close_old_connections`` runs after every task, as Django does after every
request. (Celery's Django fix-up also closes connections around each task unless
CELERY_DB_REUSE_MAX is set; this holds either way, and for code outside a task.) A worker idle for
hours, a database restart or a connection pooler's limit then cost nothing. At every worker start
the stalled-generation sweep is enqueued once (evaluation/recovery.py), so even a single local
worker without beat picks up the runs a killed worker left behind.
"""
import logging
import os

from celery import Celery, signals

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

logger = logging.getLogger(__name__)

app = Celery("shoplabel")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

WORKER_READY_MESSAGE = ("worker ready: database connections close after each task (CONN_MAX_AGE=%s); "
                        "stalled-generation sweep enqueued")


@signals.celeryd_init.connect
@signals.worker_process_init.connect
@signals.beat_init.connect
def database_connections_per_task(**kwargs) -> None:
    """CONN_MAX_AGE = 0 for every database of this process (a worker's main process, before its
    pool forks; each pool process; beat). Nothing is closed here: a forked process closing a
    connection it inherited would end its parent's (Celery's fix-up drops those itself)."""
    from django.conf import settings
    from django.db import connections

    for alias, database in settings.DATABASES.items():
        database["CONN_MAX_AGE"] = 0
        # The connection handler may hold its own copy of the dict in a later Django.
        connections.settings[alias]["CONN_MAX_AGE"] = 0


@signals.task_postrun.connect
def database_connections_close(sender=None, **kwargs) -> None:
    # An eager task (apply(), tests) runs inside its caller's transaction: leave that alone.
    if sender is None or getattr(sender.request, "is_eager", False):
        return
    from django.db import close_old_connections

    close_old_connections()


@signals.worker_ready.connect
def stalled_generations_resume_enqueue(sender=None, **kwargs) -> None:
    from django.db import connections

    from evaluation.tasks import stalled_generations_resume

    stalled_generations_resume.delay()
    logger.info(WORKER_READY_MESSAGE, connections["default"].settings_dict["CONN_MAX_AGE"])
