"""Move the scene ground truth out of media, and link existing tasks to the images they show.

1. Installs made before issue 6 kept each synthetic scene's ground truth (the golden answer key) at
   ``MEDIA_ROOT/scene_truth/ab/<sha>.json``, which ``/media/`` served to anyone. ``scene_truth_move``
   moves every such file to the same name in private storage (``PRIVATE_ROOT``) and removes the
   emptied folders. Safe to run again and when there is nothing to move.
2. The media view lets a labeler see an image only through ``TaskImage`` rows, which
   ``tasks_create`` now writes; ``task_images_backfill`` writes them for the tasks made before.
3. An index on ``Image.file``: both look images up by storage name.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

from django.conf import settings
from django.db import migrations, models

TRUTH_FOLDER = "scene_truth"
BACKFILL_BATCH = 1000


def scene_truth_move(*, media_root: Path | str | None = None) -> int:
    """Move every file under ``<media_root>/scene_truth/`` into private storage; return how many
    files left media. A file already in private storage wins (it was written by the current code);
    the media copy is deleted either way, because nothing under media may hold the truth."""
    from labeling.storage import private_storage

    source_root = Path(media_root or settings.MEDIA_ROOT)
    truth_root = source_root / TRUTH_FOLDER
    if not truth_root.is_dir():
        return 0
    moved = 0
    for source in sorted(path for path in truth_root.rglob("*") if path.is_file() or path.is_symlink()):
        name = source.relative_to(source_root).as_posix()
        target = Path(private_storage.path(name))
        if target.exists() or source.is_symlink():
            source.unlink()
        else:
            target.parent.mkdir(parents=True, exist_ok=True, mode=0o750)
            shutil.move(str(source), str(target))
            os.chmod(target, 0o640)
        moved += 1
    for folder in sorted((path for path in truth_root.rglob("*") if path.is_dir()), reverse=True):
        if not any(folder.iterdir()):
            folder.rmdir()
    if not any(truth_root.iterdir()):
        truth_root.rmdir()
    return moved


def _move_truth(apps, schema_editor) -> None:
    scene_truth_move()


def task_images_backfill(*, task_model, image_model, task_image_model) -> int:
    """Write the TaskImage rows of every existing task (models given so the migration can pass its
    historical ones); rows already there are kept. Returns how many links the payloads name. A
    batch of tasks costs one select of tasks, one of images and one insert."""
    from labeling.services.tasks import payload_media_names

    linked = 0
    last_pk = 0
    while True:
        batch = list(task_model.objects.filter(pk__gt=last_pk).order_by("pk")
                     .values_list("pk", "payload")[:BACKFILL_BATCH])
        if not batch:
            return linked
        last_pk = batch[-1][0]
        names_of = {pk: set(payload_media_names(payload)) for pk, payload in batch}
        wanted = set().union(*names_of.values())
        if not wanted:
            continue
        image_ids = dict(image_model.objects.filter(file__in=wanted).values_list("file", "pk"))
        links = [task_image_model(task_id=pk, image_id=image_ids[name])
                 for pk, names in names_of.items() for name in sorted(names) if name in image_ids]
        task_image_model.objects.bulk_create(links, ignore_conflicts=True)
        linked += len(links)


def _backfill_task_images(apps, schema_editor) -> None:
    task_images_backfill(task_model=apps.get_model("labeling", "Task"),
                         image_model=apps.get_model("labeling", "Image"),
                         task_image_model=apps.get_model("labeling", "TaskImage"))


class Migration(migrations.Migration):

    dependencies = [
        ("labeling", "0002_security_foundations"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="image",
            index=models.Index(fields=["file"], name="image_file"),
        ),
        migrations.RunPython(_move_truth, migrations.RunPython.noop, elidable=True),
        migrations.RunPython(_backfill_task_images, migrations.RunPython.noop, elidable=True),
    ]
