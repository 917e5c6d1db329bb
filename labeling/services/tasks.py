"""Task creation for producers (evaluation runs, imports). Idempotent by ``source_key``.

``tasks_create`` also records which stored images each task shows (``TaskImage``), read from the
media URLs in its payload: the media view lets a labeler see a file only through that table.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

from django.conf import settings

from labeling.models import GoldenItem, Image, Queue, Task, TaskImage


@dataclass(frozen=True)
class TaskSpec:
    """One task to create. A golden task is always the copy of a golden item (``golden_item``;
    labeling/golden/services.py makes them); ``twin_of`` is the normal task of the same queue the
    item was made from, if any."""

    source_key: str
    payload: dict
    priority: int = 0
    golden_item: GoldenItem | None = field(default=None, compare=False)
    twin_of: Task | None = field(default=None, compare=False)

    @property
    def is_golden(self) -> bool:
        return self.golden_item is not None


def tasks_create(*, queue: Queue, specs: list[TaskSpec]) -> list[Task]:
    """Create the tasks of ``specs`` that the queue does not have yet; return all of them, in order.

    Producers may retry: the unique (queue, source_key) constraint makes a replay store nothing new.
    Call inside the producer's transaction so the tasks land together with the producer's own rows.
    """
    if not specs:
        return []
    Task.objects.bulk_create(
        [Task(queue=queue, source_key=s.source_key, payload=s.payload, priority=s.priority, is_golden=s.is_golden,
              golden_item=s.golden_item, twin_of=s.twin_of)
         for s in specs],
        ignore_conflicts=True,
    )
    by_key = {t.source_key: t for t in Task.objects.filter(queue=queue, source_key__in=[s.source_key for s in specs])}
    tasks = [by_key[s.source_key] for s in specs]
    task_images_link(tasks=tasks)
    return tasks


def payload_media_names(payload) -> Iterator[str]:
    """Storage names of the media files a payload shows: every string anywhere in it that is a
    URL under ``MEDIA_URL`` (``/media/images/ab/cd/<sha>.png`` -> ``images/ab/cd/<sha>.png``)."""
    prefix = settings.MEDIA_URL
    pending = [payload]
    while pending:
        value = pending.pop()
        if isinstance(value, dict):
            pending.extend(value.values())
        elif isinstance(value, list):
            pending.extend(value)
        elif isinstance(value, str) and value.startswith(prefix):
            name = unquote(urlsplit(value[len(prefix):]).path)
            if name:
                yield name


def task_images_link(*, tasks: list[Task]) -> None:
    """Record the stored images each task's payload shows, in two queries whatever the count:
    one select of the images by file name, one ``bulk_create`` (a replay adds nothing)."""
    names_of = {task.pk: set(payload_media_names(task.payload)) for task in tasks}
    wanted = set().union(*names_of.values())
    if not wanted:
        return
    image_ids = dict(Image.objects.filter(file__in=wanted).values_list("file", "pk"))
    links = [TaskImage(task_id=task_id, image_id=image_ids[name])
             for task_id, names in names_of.items() for name in sorted(names) if name in image_ids]
    if links:
        TaskImage.objects.bulk_create(links, ignore_conflicts=True, batch_size=1000)
