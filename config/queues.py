"""The Celery queue names, defined once: settings route by them, scripts start workers on them and
the docs name them. ``default`` carries bookkeeping (coordinators, the stalled-run sweep); ``gpu``
carries model work (detect, embed, retrieve), so a GPU machine runs ``celery -Q gpu`` and nothing
else. This module imports nothing, so a shell script can read a name from it cheaply."""

QUEUE_DEFAULT = "default"
QUEUE_GPU = "gpu"
# What a single worker that does everything (the embedded ./scripts/run) consumes.
QUEUES_ALL = (QUEUE_DEFAULT, QUEUE_GPU)
WORKER_QUEUES_ALL = ",".join(QUEUES_ALL)
