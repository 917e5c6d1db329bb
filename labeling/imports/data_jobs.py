"""Background imports of product catalogues and COCO detection files (``DataImport``), all or
nothing (labeling/imports/IMPORTS.md).

``data_import_create`` checks what it can at once (the name, the options, that the file can be read
as its format), stores the file in private storage and enqueues ``labeling.tasks.data_import_run``.
``data_import_run`` checks every row (``lines_done`` moves as it goes) and then, only when no row is
refused, stores everything in one transaction with the job's done mark. A done or failed job is
left as it is, so a retried or duplicated message changes nothing; a re-run of the same file
creates nothing new (products by id, images by content, tasks by scene, golden items by key).
"""
from __future__ import annotations

import io
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone
from PIL import Image as PILImage

from labeling.golden.services import GoldenItemInput, golden_items_put
from labeling.imports import catalogue, coco
from labeling.imports.stl_pairs import (ERRORS_KEPT, IMAGE_SOURCE_MAX_LENGTH, NAME_INVALID, NAME_MAX_LENGTH,
                                        WORLD_SOURCE, LineError, PairImportError, image_source_open)
from labeling.models import (Category, DataImport, DataImportKind, GoldenSet, GoldenSource, ImageKind, JobStatus,
                             Queue, TaskKind, User)
from labeling.services.images import images_store
from labeling.services.tasks import TaskSpec, tasks_create
from labeling.storage import private_storage
from labeling.taxonomy import taxonomy_snapshot

DATA_FILE_MAX_BYTES = 64 * 1024 * 1024
DATA_FILE_MAX_ROWS = 500_000
CHECK_CHUNK_ROWS = 500
STORE_CHUNK = 200
COCO_TARGETS = ("tasks", "golden")

KIND_UNKNOWN = "Unknown import kind '{kind}': one of " + ", ".join(DataImportKind.values) + "."
FILE_TOO_LARGE = "An import file holds at most {limit} bytes."
FILE_NOT_UTF8 = "The file is not UTF-8 text."
FILE_EMPTY = "The file holds no rows."
FILE_TOO_MANY_ROWS = "A file holds at most {limit} rows; this one holds {count}. Split it."
ROWS_REFUSED = "{refused} of {total} rows are refused; nothing was imported."
ENTRIES_REFUSED = "{refused} of the file's {total} entries are refused; nothing was imported."
ROWS_REFUSED_SHOWN = " The first {shown} are listed."
TARGET_INVALID = "A COCO import's target is 'tasks' (box tasks to label) or 'golden' (a golden set)."
QUEUE_REQUIRED = "Choose the box queue the tasks go to."
QUEUE_NOT_BOXES = "The queue '{name}' is a {kind} queue: COCO boxes go to a bounding-box queue."
QUEUE_UNKNOWN = "There is no queue {id}."
GOLDEN_SET_REQUIRED = "Choose the golden set the items go to."
GOLDEN_SET_NOT_BOXES = "The golden set '{name}' holds {kind} items: COCO boxes go to a bounding-box golden set."
GOLDEN_SET_UNKNOWN = "There is no golden set {id}."
STORED_FILE_MISSING = "The import's stored file is missing: {name}."


class DataImportError(ValueError):
    """An import refused before it runs; ``field`` names the input at fault (forms and the API)."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class DataImportOptions:
    """The user's choices, checked: what ``DataImport.options`` holds."""

    image_source: str
    file_format: str = ""  # catalogue: csv or jsonl
    target: str = ""  # COCO: tasks or golden
    queue_id: int | None = None
    golden_set_id: int | None = None
    skip_unmapped: bool = False

    def as_dict(self) -> dict:
        return {key: value for key, value in self.__dict__.items() if value not in (None, "")}


def _text(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")  # a spreadsheet's CSV often starts with a byte-order mark
    except UnicodeDecodeError:
        raise DataImportError(FILE_NOT_UTF8, "file") from None


def _rows_total(*, kind: str, text: str, options: DataImportOptions) -> int:
    """The rows the progress counts (catalogue rows, COCO images), or DataImportError on ``file``."""
    try:
        if kind == DataImportKind.CATALOGUE:
            count = len(catalogue.catalogue_rows(text, file_format=options.file_format))
        else:
            entries = coco.coco_entries(text)
            for key in coco.ARRAYS:
                if entries[key] is None:
                    raise ValueError(coco.FILE_ARRAY_MISSING.format(key=key))
            count = len(entries["images"])
    except ValueError as error:
        raise DataImportError(str(error), "file") from error
    if not count:
        raise DataImportError(coco.FILE_NO_IMAGES if kind == DataImportKind.COCO_DETECTION else FILE_EMPTY, "file")
    if count > DATA_FILE_MAX_ROWS:
        raise DataImportError(FILE_TOO_MANY_ROWS.format(limit=DATA_FILE_MAX_ROWS, count=count), "file")
    return count


def _id_of(value) -> int:
    """A row id from a form or a JSON body; -1 (matching no row) for anything else."""
    text = str(value).strip()
    return int(text) if text.isdigit() and len(text) < 10 else -1


def _options_clean(*, kind: str, options: dict, file_name: str) -> DataImportOptions:
    source = options.get("image_source") or ""
    if not isinstance(source, str) or len(source) > IMAGE_SOURCE_MAX_LENGTH:
        source = str(source)[:IMAGE_SOURCE_MAX_LENGTH + 1]
    try:
        image_source_open(source)
    except PairImportError as error:
        raise DataImportError(str(error), "image_source") from error
    if kind == DataImportKind.CATALOGUE:
        file_format = options.get("format") or catalogue.catalogue_format_guess(file_name=file_name)
        if file_format not in catalogue.FORMATS:
            raise DataImportError(catalogue.FORMAT_UNKNOWN.format(format=str(file_format)[:20]), "format")
        return DataImportOptions(image_source=source, file_format=file_format)
    target = options.get("target") or ""
    if target not in COCO_TARGETS:
        raise DataImportError(TARGET_INVALID, "target")
    skip = bool(options.get("skip_unmapped"))
    if target == "tasks":
        queue_id = options.get("queue")
        if queue_id in (None, ""):
            raise DataImportError(QUEUE_REQUIRED, "queue")
        queue = Queue.objects.filter(pk=_id_of(queue_id)).first()
        if queue is None:
            raise DataImportError(QUEUE_UNKNOWN.format(id=str(queue_id)[:20]), "queue")
        if queue.task_kind != TaskKind.BOUNDING_BOXES:
            raise DataImportError(QUEUE_NOT_BOXES.format(name=queue.name, kind=queue.get_task_kind_display()), "queue")
        return DataImportOptions(image_source=source, target=target, queue_id=queue.pk, skip_unmapped=skip)
    golden_set_id = options.get("golden_set")
    if golden_set_id in (None, ""):
        raise DataImportError(GOLDEN_SET_REQUIRED, "golden_set")
    golden_set = GoldenSet.objects.filter(pk=_id_of(golden_set_id)).first()
    if golden_set is None:
        raise DataImportError(GOLDEN_SET_UNKNOWN.format(id=str(golden_set_id)[:20]), "golden_set")
    if golden_set.task_kind != TaskKind.BOUNDING_BOXES:
        raise DataImportError(GOLDEN_SET_NOT_BOXES.format(name=golden_set.name,
                                                          kind=golden_set.get_task_kind_display()), "golden_set")
    return DataImportOptions(image_source=source, target=target, golden_set_id=golden_set.pk, skip_unmapped=skip)


def data_import_create(*, kind: str, name: str, data: bytes, file_name: str = "", options: dict,
                       created_by: User | None, enqueue: bool = True) -> DataImport:
    """Check the inputs that can be checked at once, store the file privately with the job, and
    enqueue its run once the job is committed. ``options``: ``image_source``; a catalogue's
    ``format`` (csv or jsonl; guessed from ``file_name`` when left out); a COCO file's ``target``
    (tasks or golden), ``queue`` or ``golden_set`` (ids) and ``skip_unmapped``."""
    if kind not in DataImportKind.values:
        raise DataImportError(KIND_UNKNOWN.format(kind=str(kind)[:40]), "kind")
    if not isinstance(name, str) or not name.strip() or len(name) > NAME_MAX_LENGTH:
        raise DataImportError(NAME_INVALID, "name")
    if len(data) > DATA_FILE_MAX_BYTES:
        raise DataImportError(FILE_TOO_LARGE.format(limit=DATA_FILE_MAX_BYTES), "file")
    cleaned = _options_clean(kind=kind, options=options, file_name=file_name)
    total = _rows_total(kind=kind, text=_text(data), options=cleaned)
    ending = ".json" if kind == DataImportKind.COCO_DETECTION else f".{cleaned.file_format}"
    with transaction.atomic():
        job = DataImport(kind=kind, name=name.strip(), options=cleaned.as_dict(), lines_total=total,
                         created_by=created_by)
        # Written before the row commits; a rollback leaves an unreferenced private file, harmless.
        job.file.save(uuid.uuid4().hex + ending, ContentFile(data), save=False)
        job.save()
        if enqueue:
            from labeling.tasks import data_import_run as data_import_run_task

            transaction.on_commit(lambda: data_import_run_task.delay(job.pk))
    return job


def _progress(job_id: int, done: int) -> None:
    # Outside any transaction (autocommit), so the page sees it while the run goes on.
    DataImport.objects.filter(pk=job_id).update(lines_done=done)


def _chunks(items: list, size: int) -> Iterator[list]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _options_of(job: DataImport) -> DataImportOptions:
    return DataImportOptions(**job.options)


def data_import_run(*, job_id: int) -> DataImport:
    """Check every row of the job's file, then store it all in one transaction, or nothing when a
    row is refused. A done or failed job is returned as it is."""
    with transaction.atomic():
        job = DataImport.objects.select_for_update().get(pk=job_id)
        if job.status in (JobStatus.DONE, JobStatus.FAILED):
            return job
        job.status, job.lines_done, job.errors, job.error = JobStatus.RUNNING, 0, [], ""
        job.started_at = timezone.now()
        job.save(update_fields=["status", "lines_done", "errors", "error", "started_at"])
    try:
        if not private_storage.exists(job.file.name):
            raise ValueError(STORED_FILE_MISSING.format(name=job.file.name))
        with private_storage.open(job.file.name, "rb") as handle:
            text = _text(handle.read())
        options = _options_of(job)
        source = image_source_open(options.image_source)
        if job.kind == DataImportKind.CATALOGUE:
            return _catalogue_run(job=job, text=text, options=options, source=source)
        return _coco_run(job=job, text=text, options=options, source=source)
    except (ValueError, PairImportError) as error:  # the file or the source: nothing a retry would fix
        return _job_fail(job=job, error=str(error))


def _image_refusal(source, role: str, key: str, checked: dict) -> str | None:
    """Why the image cannot be stored (decoded once per image), or None."""
    if key not in checked:
        try:
            source.check(role, key)
            checked[key] = None
        except ValueError as error:
            checked[key] = str(error)
    return checked[key]


def _catalogue_run(*, job: DataImport, text: str, options: DataImportOptions, source) -> DataImport:
    rows = catalogue.catalogue_rows(text, file_format=options.file_format)
    checker = catalogue.CatalogueRowChecker(snapshot=taxonomy_snapshot(), image_known=source.known)
    errors: list[LineError] = []
    good: list[catalogue.CatalogueRow] = []
    checked: dict[str, str | None] = {}
    done = 0
    for chunk in _chunks(rows, CHECK_CHUNK_ROWS):
        for number, record in chunk:
            result = record if isinstance(record, LineError) else checker.check(number, record)
            if isinstance(result, catalogue.CatalogueRow):
                reason = _image_refusal(source, "product", result.image_key, checked)
                if reason is not None:
                    result = LineError(number, catalogue.ROW_IMAGE_UNUSABLE.format(id=result.image_key, reason=reason))
            (errors if isinstance(result, LineError) else good).append(result)
        done += len(chunk)
        _progress(job.pk, done)
    if errors:
        return _job_fail(job=job, errors=[error.as_dict() for error in errors], total=len(rows))
    with transaction.atomic():
        locked = DataImport.objects.select_for_update().get(pk=job.pk)
        if locked.status != JobStatus.RUNNING:  # a twin run finished it meanwhile
            return locked
        pngs = {key: source.png("product", key) for key in {row.image_key for row in good}}
        categories = {c.slug: c for c in Category.objects.filter(slug__in={row.category for row in good})}
        result = catalogue.catalogue_products_write(rows=good, pngs=pngs, categories=categories)
        return _job_done(locked, result)


def _scene_size(source, key: str) -> tuple[int, int]:
    if not source.known("scene", key):
        raise LookupError(key)
    with PILImage.open(io.BytesIO(source.png("scene", key))) as image:
        return image.size


def _coco_run(*, job: DataImport, text: str, options: DataImportOptions, source) -> DataImport:
    entries = coco.coco_entries(text)
    plan = coco.coco_file_check(entries, snapshot=taxonomy_snapshot(), image_check=lambda key: _scene_size(source, key),
                                skip_unmapped=options.skip_unmapped,
                                progress=lambda done: done % 50 == 0 and _progress(job.pk, done))
    _progress(job.pk, job.lines_total)
    if plan.errors:
        message = None
        if plan.unmapped and not options.skip_unmapped:
            message = coco.unmapped_message(plan.unmapped)
        return _job_fail(job=job, errors=[error.as_dict() for error in plan.errors],
                         total=sum(len(entries[key]) for key in coco.ARRAYS), message=message,
                         sentence=ENTRIES_REFUSED)
    with transaction.atomic():
        locked = DataImport.objects.select_for_update().get(pk=job.pk)
        if locked.status != JobStatus.RUNNING:
            return locked
        stored = []
        for chunk in _chunks(plan.images, STORE_CHUNK):
            rows = images_store(items=[(source.png("scene", image.key), ImageKind.SCENE) for image in chunk])
            stored.extend(zip(chunk, rows))
        result = {"images": len(stored), "boxes": plan.boxes, "crowd_left_out": plan.crowd_left_out,
                  "unmapped_categories": plan.unmapped}
        if options.target == "tasks":
            result.update(_coco_tasks_write(queue=Queue.objects.get(pk=options.queue_id), stored=stored))
        else:
            result.update(_coco_golden_write(golden_set=GoldenSet.objects.get(pk=options.golden_set_id),
                                             stored=stored, expert=locked.created_by))
        return _job_done(locked, result)


def _scene_payload(image) -> dict:
    return {"scene_id": image.pk,
            "image": {"url": default_storage.url(image.file.name), "width": image.width, "height": image.height}}


def _coco_tasks_write(*, queue: Queue, stored: list) -> dict:
    """One task per scene (``scene:<image id>``, as a pre-annotated queue's), its boxes as proposals."""
    before = queue.tasks.count()
    for chunk in _chunks(stored, STORE_CHUNK):
        tasks_create(queue=queue, specs=[TaskSpec(source_key=f"scene:{row.pk}",
                                                  payload={**_scene_payload(row), "proposals": image.boxes})
                                         for image, row in chunk])
    created = queue.tasks.count() - before
    return {"queue": queue.name, "tasks_created": created, "tasks_existing": len(stored) - created}


def _coco_golden_write(*, golden_set: GoldenSet, stored: list, expert: User | None) -> dict:
    items = [GoldenItemInput(key=f"coco:{image.key}", payload=_scene_payload(row),
                             answer={"boxes": [{"box": box["box"], "category": box["category"]} for box in image.boxes]},
                             source=GoldenSource.IMPORT, expert=expert)
             for image, row in stored]
    _, created, revised = golden_items_put(golden_set=golden_set, items=items)
    return {"golden_set": golden_set.name, "items_created": created, "items_revised": revised,
            "items_unchanged": len(items) - created - revised}


def _job_done(job: DataImport, result: dict) -> DataImport:
    job.status, job.lines_done, job.result, job.finished_at = JobStatus.DONE, job.lines_total, result, timezone.now()
    job.save(update_fields=["status", "lines_done", "result", "finished_at"])
    return job


def _job_fail(*, job: DataImport, error: str = "", errors: list[dict] | None = None, total: int = 0,
              message: str | None = None, sentence: str = ROWS_REFUSED) -> DataImport:
    kept: list[dict] = []
    if errors:
        kept = errors[:ERRORS_KEPT]
        error = sentence.format(refused=len(errors), total=total)
        if len(errors) > ERRORS_KEPT:
            error += ROWS_REFUSED_SHOWN.format(shown=ERRORS_KEPT)
        if message:
            error = f"{message} {error}"
    DataImport.objects.filter(pk=job.pk).exclude(status=JobStatus.DONE).update(
        status=JobStatus.FAILED, errors=kept, error=error[:4000], finished_at=timezone.now())
    job.refresh_from_db()
    return job


def data_import_fail(*, job_id: int, error: str) -> None:
    """Mark a job failed with ``error`` (a worker that used up its retries); a done job stays done."""
    DataImport.objects.filter(pk=job_id).exclude(status=JobStatus.DONE).update(
        status=JobStatus.FAILED, error=error[:4000], finished_at=timezone.now())


__all__ = ["WORLD_SOURCE", "DataImportError", "data_import_create", "data_import_fail", "data_import_run"]
