"""Celery app. Two queues: ``default`` for bookkeeping, ``gpu`` for model work (detect, embed,
retrieve). Routing is by task name so a GPU machine runs ``celery -Q gpu`` and nothing else."""
import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("shoplabel")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
