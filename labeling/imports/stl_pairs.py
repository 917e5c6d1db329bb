"""Creator-annotated pairs in the Shop The Look format: check a file, import it all or nothing.

A file is JSON lines, ``{"product": "<id>", "scene": "<id>", "bbox": [left, top, right, bottom]}``,
the box normalised to [0, 1] with (0, 0) the top-left corner; an optional category file maps product
ids to Google Product Taxonomy paths (fixtures/stl_pairs/README.md). Images are found by id in an
image source: the synthetic world (``"world"``, ids of models_runtime.world.creator_pairs) or a
folder under ``settings.PAIR_IMAGE_ROOT`` holding ``<id>.jpg`` or ``<id>.png``.

Three parts, in this order:

* pure checks (no ORM): the file's lines, one reason per refused line (``PairLineChecker``), the
  category file (``categories_parse``), boxes in pixels (``box_in_pixels``);
* image sources (the filesystem or the world's renderer, no ORM);
* services: ``pair_import_create`` stores the file privately and enqueues ``pair_import_run``,
  which checks every line (``lines_done`` moves as it goes) and then, only when no line is refused,
  writes every pair in one transaction; ``synthetic_pairs_import`` writes a world's creator pairs,
  with their noise and truth, and imports them.

Design note: labeling/imports/PAIRS.md.
"""
from __future__ import annotations

import json
import math
import re
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import transaction
from django.utils import timezone

from labeling.models import CreatorPair, Image, ImageKind, PairImport, PairImportStatus, Product, User
from labeling.services.images import image_png_bytes, image_upload_png, images_store
from labeling.storage import private_storage
from labeling.taxonomy import category_map
from models_runtime.world import build_world
from models_runtime.world.catalog import generate_product
from models_runtime.world.creator_pairs import WORLD_KEY_MAX, creator_pairs_generate, world_key_parse

# -- the format ----------------------------------------------------------------------------------

PAIR_KEYS = ("product", "scene", "bbox")
ROLES = ("scene", "product")
# Ids name files in a folder source: no path separators, and no leading dot (hidden files, "..").
ID_PATTERN = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.:-]{0,199}")
WORLD_SOURCE = "world"
PAIR_FILE_MAX_BYTES = 64 * 1024 * 1024
PAIR_FILE_MAX_LINES = 500_000
CATEGORIES_MAX_BYTES = 32 * 1024 * 1024
NAME_MAX_LENGTH = 200
IMAGE_SOURCE_MAX_LENGTH = 300
ERRORS_KEPT = 200
BOX_DECIMALS = 2

LINE_NOT_JSON = "Not JSON: {error}."
LINE_NOT_OBJECT = 'Not a JSON object: each line is {"product": "<id>", "scene": "<id>", "bbox": [l, t, r, b]}.'
LINE_KEY_MISSING = "'{key}' is missing."
LINE_ID_INVALID = ("'{key}' must be an id: text of 1 to 200 letters, digits, '_', '-', '.' or ':', starting with a "
                   "letter, a digit or '_'.")
LINE_IMAGE_UNKNOWN = "Unknown image: the image source has no {role} image '{id}'."
LINE_IMAGE_INVALID = "The {role} image '{id}' cannot be used: {reason}"
LINE_BBOX_NOT_FOUR_NUMBERS = "'bbox' must be 4 numbers [left, top, right, bottom]."
LINE_BBOX_OUTSIDE = "'bbox' must lie inside [0, 1]; it is {bbox}."
LINE_BBOX_EMPTY = "'bbox' must have left < right and top < bottom; it is {bbox}."
LINE_PAIR_REPEATED = "Duplicate pair: scene '{scene}' and product '{product}' are paired on line {first} already."

FILE_NOT_UTF8 = "The file is not UTF-8 text."
FILE_EMPTY = "The file holds no pairs: send one JSON object per line."
FILE_TOO_MANY_LINES = "A file holds at most {limit} pairs; this one holds {count}. Split it."
FILE_TOO_LARGE = "A pair file holds at most {limit} bytes."
FILE_LINES_REFUSED = "{refused} of {total} lines are refused; nothing was imported."
FILE_LINES_REFUSED_SHOWN = " The first {shown} are listed."
CATEGORIES_INVALID = ("The category file must be a JSON object mapping product ids to taxonomy paths, e.g. "
                      '{"<product id>": "Apparel & Accessories|Shoes"}.')
CATEGORIES_TOO_LARGE = "A category file holds at most {limit} bytes."
NAME_INVALID = "Give the import a name of 1 to 200 characters."
IMAGE_SOURCE_OUTSIDE = ("'{source}' is not a folder under the pair image folder (PAIR_IMAGE_ROOT): give the name of "
                        "a folder inside it, or 'world'.")
IMAGE_SOURCE_MISSING = "There is no folder '{source}' in the pair image folder (PAIR_IMAGE_ROOT)."
IMAGE_SOURCE_UNREADABLE = "The image source '{source}' is no longer usable: {reason}"
SIDECAR_MISSING = "The import's stored file is missing: {name}."


class PairImportError(ValueError):
    """An import refused before it runs; ``field`` names the input at fault (for forms and the API)."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field


class PairFileError(ValueError):
    """The whole file is refused (not text, no pairs, too many)."""


@dataclass(frozen=True)
class PairLine:
    line: int
    scene_key: str
    product_key: str
    bbox: tuple[float, float, float, float]

    @property
    def key(self) -> tuple[str, str]:
        return (self.scene_key, self.product_key)


@dataclass(frozen=True)
class LineError:
    line: int
    message: str

    def as_dict(self) -> dict:
        return {"line": self.line, "message": self.message}


ImageKnown = Callable[[str, str], bool]  # (role, id) -> whether the image source has it


def pair_file_lines(data: bytes) -> list[tuple[int, str]]:
    """The non-blank lines of a pair file with their numbers (1-based, blank lines counted), or
    ``PairFileError``."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise PairFileError(FILE_NOT_UTF8) from None
    lines = [(number, line) for number, line in enumerate(text.splitlines(), start=1) if line.strip()]
    if not lines:
        raise PairFileError(FILE_EMPTY)
    if len(lines) > PAIR_FILE_MAX_LINES:
        raise PairFileError(FILE_TOO_MANY_LINES.format(limit=PAIR_FILE_MAX_LINES, count=len(lines)))
    return lines


def _is_number(value) -> bool:
    # bool is an int in Python, not a number in JSON; NaN and infinities are no coordinates.
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _bbox_text(values) -> str:
    return "[" + ", ".join(f"{v:g}" for v in values) + "]"


class PairLineChecker:
    """Checks lines one at a time (a file is checked in chunks, with progress in between); keeps
    the first line of each (scene, product) pair so a repeat is refused with that line's number."""

    def __init__(self, *, image_known: ImageKnown):
        self.image_known = image_known
        self.first_line_of: dict[tuple[str, str], int] = {}

    def check(self, number: int, text: str) -> PairLine | LineError:
        def refused(message: str) -> LineError:
            return LineError(number, message)

        try:
            record = json.loads(text)
        except (ValueError, RecursionError) as error:  # a deeply nested line overflows the decoder
            return refused(LINE_NOT_JSON.format(error=str(error)[:200].rstrip(".")))
        if not isinstance(record, dict):
            return refused(LINE_NOT_OBJECT)
        for key in PAIR_KEYS:
            if key not in record:
                return refused(LINE_KEY_MISSING.format(key=key))
        for key in ("scene", "product"):
            if not isinstance(record[key], str) or not ID_PATTERN.fullmatch(record[key]):
                return refused(LINE_ID_INVALID.format(key=key))
        scene, product, bbox = record["scene"], record["product"], record["bbox"]
        first = self.first_line_of.setdefault((scene, product), number)
        if first != number:
            return refused(LINE_PAIR_REPEATED.format(scene=scene, product=product, first=first))
        if not isinstance(bbox, list) or len(bbox) != 4 or not all(_is_number(v) for v in bbox):
            return refused(LINE_BBOX_NOT_FOUR_NUMBERS)
        if not all(0.0 <= v <= 1.0 for v in bbox):
            return refused(LINE_BBOX_OUTSIDE.format(bbox=_bbox_text(bbox)))
        left, top, right, bottom = (float(v) for v in bbox)
        if left >= right or top >= bottom:
            return refused(LINE_BBOX_EMPTY.format(bbox=_bbox_text(bbox)))
        for role, key in (("scene", scene), ("product", product)):
            if not self.image_known(role, key):
                return refused(LINE_IMAGE_UNKNOWN.format(role=role, id=key))
        return PairLine(number, scene, product, (left, top, right, bottom))


def categories_parse(data: bytes) -> dict[str, str]:
    """A category file (product id -> taxonomy path), or ``PairImportError`` (field ``categories``)."""
    if len(data) > CATEGORIES_MAX_BYTES:
        raise PairImportError(CATEGORIES_TOO_LARGE.format(limit=CATEGORIES_MAX_BYTES), "categories")
    try:
        mapping = json.loads(data.decode("utf-8"))
    except (ValueError, RecursionError):
        raise PairImportError(CATEGORIES_INVALID, "categories") from None
    if not isinstance(mapping, dict) or not all(isinstance(v, str) for v in mapping.values()):
        raise PairImportError(CATEGORIES_INVALID, "categories")
    return mapping


def box_in_pixels(bbox: Iterable[float], *, width: int, height: int) -> list[float]:
    """A normalised [left, top, right, bottom] as [x0, y0, x1, y1] in pixels of a width x height image."""
    left, top, right, bottom = bbox
    return [round(left * width, BOX_DECIMALS), round(top * height, BOX_DECIMALS),
            round(right * width, BOX_DECIMALS), round(bottom * height, BOX_DECIMALS)]


def errors_summary(*, errors: list[LineError], total: int) -> tuple[list[dict], str]:
    """What a failed job keeps: the first ERRORS_KEPT errors and the sentence that sums them up."""
    message = FILE_LINES_REFUSED.format(refused=len(errors), total=total)
    if len(errors) > ERRORS_KEPT:
        message += FILE_LINES_REFUSED_SHOWN.format(shown=ERRORS_KEPT)
    return [error.as_dict() for error in errors[:ERRORS_KEPT]], message


# -- image sources (filesystem or world, no ORM) --------------------------------------------------

KIND_OF_ROLE = {"scene": ImageKind.SCENE, "product": ImageKind.PRODUCT}
FOLDER_EXTENSIONS = (".jpg", ".png")
# The size world_import renders catalogue products at: the same bytes, so the same Image row.
WORLD_PRODUCT_SIZE = 128


def pair_image_folder(source: str) -> Path:
    """The folder ``source`` names under PAIR_IMAGE_ROOT, or ``PairImportError``: a name that
    leads outside it ("../x", an absolute path, a link out of it) is refused, whether it exists or not."""
    root = Path(settings.PAIR_IMAGE_ROOT).resolve()
    if not source or "\x00" in source:
        raise PairImportError(IMAGE_SOURCE_OUTSIDE.format(source=source), "image_source")
    folder = (root / source).resolve()
    if root not in folder.parents:
        raise PairImportError(IMAGE_SOURCE_OUTSIDE.format(source=source), "image_source")
    if not folder.is_dir():
        raise PairImportError(IMAGE_SOURCE_MISSING.format(source=source), "image_source")
    return folder


class FolderImageSource:
    """``<id>.jpg`` or ``<id>.png`` in one folder (the .jpg when both are there)."""

    def __init__(self, folder: Path):
        self.folder = folder
        self._paths: dict[str, Path | None] = {}  # a scene is on many lines: look it up once

    def path_of(self, key: str) -> Path | None:
        if key not in self._paths:
            self._paths[key] = self._find(key)
        return self._paths[key]

    def _find(self, key: str) -> Path | None:
        for extension in FOLDER_EXTENSIONS:
            path = self.folder / f"{key}{extension}"
            # A link inside the folder may point anywhere: only files that really lie in it count.
            if path.is_file() and path.resolve().parent == self.folder:
                return path
        return None

    def known(self, role: str, key: str) -> bool:
        return self.path_of(key) is not None

    def png(self, role: str, key: str) -> bytes:
        """The PNG the platform stores for the image; ValueError saying why it cannot be used."""
        path = self.path_of(key)
        if path is None:
            raise ValueError(LINE_IMAGE_UNKNOWN.format(role=role, id=key))
        with path.open("rb") as handle:
            # One byte past the limit is enough for image_upload_png to refuse the file by its size.
            data = handle.read(int(settings.IMAGE_UPLOAD_MAX_BYTES) + 1)
        return image_upload_png(data=data)

    # Decoding is the check: a file that decodes now decodes again when it is stored.
    check = png


class WorldImageSource:
    """The synthetic world's scenes and products, rendered from their ids."""

    def __init__(self):
        self._worlds: dict[tuple[int, int], object] = {}

    def known(self, role: str, key: str) -> bool:
        parsed = world_key_parse(key)
        return parsed is not None and parsed.kind == role

    def png(self, role: str, key: str) -> bytes:
        parsed = world_key_parse(key)
        if parsed is None or parsed.kind != role:
            raise ValueError(LINE_IMAGE_UNKNOWN.format(role=role, id=key))
        if role == "scene":
            world = self._worlds.get((parsed.seed, parsed.n_products))
            if world is None:
                # Scenes are built lazily: a world of the largest size costs nothing until used.
                world = self._worlds[(parsed.seed, parsed.n_products)] = build_world(
                    seed=parsed.seed, n_products=parsed.n_products, n_scenes=WORLD_KEY_MAX)
            return image_png_bytes(world.render_scene(parsed.object_id))
        world = build_world(seed=parsed.seed, n_products=parsed.object_id + 1, n_scenes=0)
        return image_png_bytes(world.render_product(parsed.object_id, size=WORLD_PRODUCT_SIZE, background="white"))

    def check(self, role: str, key: str) -> None:
        """Every id the world parses renders: nothing to check before storing."""


def image_source_open(source: str) -> FolderImageSource | WorldImageSource:
    if not isinstance(source, str) or len(source) > IMAGE_SOURCE_MAX_LENGTH:
        raise PairImportError(IMAGE_SOURCE_OUTSIDE.format(source=str(source)[:80]), "image_source")
    if source == WORLD_SOURCE:
        return WorldImageSource()
    return FolderImageSource(pair_image_folder(source))


def world_product_category(product_key: str) -> str | None:
    """The category of a synthetic world product id (products are a pure function of their id)."""
    parsed = world_key_parse(product_key)
    if parsed is None or parsed.kind != "product":
        return None
    return generate_product(parsed.seed, parsed.object_id).category


# -- services ------------------------------------------------------------------------------------

CHECK_CHUNK_LINES = 500  # lines checked between two progress updates
STORE_CHUNK_IMAGES = 200
PAIRS_BATCH = 1000
CATEGORIES_SUFFIX = ".categories.json"
TRUTH_SUFFIX = ".truth.json"
FILE_SUFFIX = ".jsonl"


def _sidecar_name(job: PairImport, suffix: str) -> str:
    return job.file.name.removesuffix(FILE_SUFFIX) + suffix


def pair_import_create(*, name: str, data: bytes, image_source: str, categories: bytes | None,
                       created_by: User | None) -> PairImport:
    """Check the inputs that can be checked at once, store the file (and the category file) in
    private storage, create the job, and enqueue its run once the job is committed."""
    return _pair_import_create(name=name, data=data, image_source=image_source, categories=categories,
                               truth=None, created_by=created_by, enqueue=True)


def _pair_import_create(*, name: str, data: bytes, image_source: str, categories: bytes | None,
                        truth: list[dict] | None, created_by: User | None, enqueue: bool) -> PairImport:
    if not isinstance(name, str) or not name.strip() or len(name) > NAME_MAX_LENGTH:
        raise PairImportError(NAME_INVALID, "name")
    if len(data) > PAIR_FILE_MAX_BYTES:
        raise PairImportError(FILE_TOO_LARGE.format(limit=PAIR_FILE_MAX_BYTES), "file")
    try:
        lines_total = len(pair_file_lines(data))
    except PairFileError as error:
        raise PairImportError(str(error), "file") from error
    image_source_open(image_source)
    if categories is not None:
        categories_parse(categories)
    stem = uuid.uuid4().hex
    with transaction.atomic():
        job = PairImport(name=name.strip(), image_source=image_source, lines_total=lines_total,
                         created_by=created_by)
        # Written before the row commits; a rollback leaves an unreferenced private file, harmless.
        job.file.save(stem + FILE_SUFFIX, ContentFile(data), save=False)
        if categories is not None:
            private_storage.save(_sidecar_name(job, CATEGORIES_SUFFIX), ContentFile(categories))
        if truth is not None:
            private_storage.save(_sidecar_name(job, TRUTH_SUFFIX), ContentFile(json.dumps(truth).encode()))
        job.save()
        if enqueue:
            from labeling.tasks import pair_import_run as pair_import_run_task

            transaction.on_commit(lambda: pair_import_run_task.delay(job.pk))
    return job


def _read_private(name: str) -> bytes:
    if not private_storage.exists(name):
        raise ValueError(SIDECAR_MISSING.format(name=name))
    with private_storage.open(name, "rb") as handle:
        return handle.read()


def _sidecar_read(job: PairImport, suffix: str) -> bytes | None:
    name = _sidecar_name(job, suffix)
    return _read_private(name) if private_storage.exists(name) else None


def _progress(job_id: int, done: int) -> None:
    # Outside any transaction (autocommit), so the page sees it while the run goes on.
    PairImport.objects.filter(pk=job_id).update(lines_done=done)


def _existing_pairs(keys: list[tuple[str, str]]) -> set[tuple[str, str]]:
    """Which of these (scene, product) pairs are stored already (one query per chunk)."""
    if not keys:
        return set()
    wanted = set(keys)
    rows = CreatorPair.objects.filter(scene_key__in={s for s, _ in wanted},
                                      product_key__in={p for _, p in wanted}).values_list("scene_key", "product_key")
    return {row for row in rows if row in wanted}


class _ImagesRefused(Exception):
    def __init__(self, errors: list[LineError]):
        super().__init__(f"{len(errors)} images refused")
        self.errors = errors


def _chunks(items: list, size: int) -> Iterator[list]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def pair_import_run(*, job_id: int) -> PairImport:
    """Check every line of the job's file, then write its new pairs in one transaction, or none of
    them when a line is refused. A job that is done or failed is left as it is (a retried or
    duplicated run changes nothing)."""
    with transaction.atomic():
        job = PairImport.objects.select_for_update().get(pk=job_id)
        if job.status in (PairImportStatus.DONE, PairImportStatus.FAILED):
            return job
        job.status, job.lines_done, job.errors, job.error = PairImportStatus.RUNNING, 0, [], ""
        job.save(update_fields=["status", "lines_done", "errors", "error"])
    try:
        lines = pair_file_lines(_read_private(job.file.name))
        source = image_source_open(job.image_source)
        categories_data = _sidecar_read(job, CATEGORIES_SUFFIX)
        categories = categories_parse(categories_data) if categories_data is not None else {}
    except ValueError as error:  # the file, a sidecar or the image source: nothing a retry would fix
        return _job_fail(job=job, error=str(error))
    if job.lines_total != len(lines):
        PairImport.objects.filter(pk=job.pk).update(lines_total=len(lines))
        job.lines_total = len(lines)

    checker = PairLineChecker(image_known=source.known)
    errors: list[LineError] = []
    new_lines: list[PairLine] = []
    checked_images: dict[tuple[str, str], str | None] = {}
    done = 0
    for chunk in _chunks(lines, CHECK_CHUNK_LINES):
        good = []
        for number, text in chunk:
            result = checker.check(number, text)
            (errors if isinstance(result, LineError) else good).append(result)
        existing = _existing_pairs([line.key for line in good])
        for line in good:
            if line.key in existing:
                continue
            refusal = _images_check(source, line, checked_images)
            if refusal is not None:
                errors.append(refusal)
            else:
                new_lines.append(line)
        done += len(chunk)
        _progress(job.pk, done)
    if errors:
        errors.sort(key=lambda error: error.line)
        return _job_fail(job=job, errors=errors)
    truth_data = _sidecar_read(job, TRUTH_SUFFIX)
    truth = ({(row["scene"], row["product"]): row["truth"] for row in json.loads(truth_data)}
             if truth_data is not None else {})
    try:
        return _pairs_write(job=job, source=source, lines=new_lines, categories=categories, truth=truth)
    except _ImagesRefused as refusal:
        return _job_fail(job=job, errors=refusal.errors)


def _images_check(source, line: PairLine, checked: dict[tuple[str, str], str | None]) -> LineError | None:
    """The line's refusal when one of its images cannot be stored (checked once per image)."""
    for role, key in (("scene", line.scene_key), ("product", line.product_key)):
        if (role, key) not in checked:
            try:
                source.check(role, key)
                checked[(role, key)] = None
            except ValueError as error:
                checked[(role, key)] = LINE_IMAGE_INVALID.format(role=role, id=key, reason=error)
        if checked[(role, key)] is not None:
            return LineError(line.line, checked[(role, key)])
    return None


def _pairs_write(*, job: PairImport, source, lines: list[PairLine], categories: dict[str, str],
                 truth: dict[tuple[str, str], dict]) -> PairImport:
    with transaction.atomic():
        locked = PairImport.objects.select_for_update().get(pk=job.pk)
        if locked.status != PairImportStatus.RUNNING:  # a twin run finished it meanwhile
            return locked
        product_keys = sorted({line.product_key for line in lines})
        products: dict[str, Product] = {}
        for chunk in _chunks(product_keys, PAIRS_BATCH):
            products.update({p.external_id: p for p in
                             Product.objects.filter(external_id__in=chunk).select_related("category", "image")})
        images = _images_store(source=source, lines=lines, products=products)
        slug_of_path, _ = category_map(sorted({categories[key] for key in product_keys if key in categories}))
        rows = []
        for line in lines:
            scene = images[("scene", line.scene_key)]
            product = products.get(line.product_key)
            rows.append(CreatorPair(
                pair_import=locked, scene_key=line.scene_key, product_key=line.product_key, scene=scene,
                product_image=images[("product", line.product_key)], product=product,
                box_normalized=list(line.bbox), box=box_in_pixels(line.bbox, width=scene.width, height=scene.height),
                category=_pair_category(line.product_key, categories=categories, slug_of_path=slug_of_path,
                                        product=product),
                truth=truth.get(line.key)))
        # A pair another import stored meanwhile stays as it is; ignore_conflicts keeps it.
        CreatorPair.objects.bulk_create(rows, ignore_conflicts=True, batch_size=PAIRS_BATCH)
        created = CreatorPair.objects.filter(pair_import=locked).count()
        locked.status, locked.lines_done, locked.pairs_created = PairImportStatus.DONE, locked.lines_total, created
        locked.finished_at = timezone.now()
        locked.save(update_fields=["status", "lines_done", "pairs_created", "finished_at"])
    return locked


def _images_store(*, source, lines: list[PairLine], products: dict[str, Product]) -> dict[tuple[str, str], Image]:
    images: dict[tuple[str, str], Image] = {}
    first_line: dict[tuple[str, str], int] = {}
    for line in lines:
        for role, key in (("scene", line.scene_key), ("product", line.product_key)):
            first_line.setdefault((role, key), line.line)
    wanted = []
    for role, key in first_line:
        catalogue = products.get(key) if role == "product" and isinstance(source, WorldImageSource) else None
        if catalogue is not None:
            # The world renders a catalogue product exactly as world_import stored it: reuse that row.
            images[(role, key)] = catalogue.image
        else:
            wanted.append((role, key))
    refused = []
    for chunk in _chunks(wanted, STORE_CHUNK_IMAGES):
        items, stored = [], []
        for role, key in chunk:
            try:
                items.append((source.png(role, key), KIND_OF_ROLE[role]))
                stored.append((role, key))
            except ValueError as error:  # a file that changed since it was checked
                refused.append(LineError(first_line[(role, key)],
                                         LINE_IMAGE_INVALID.format(role=role, id=key, reason=error)))
        for identity, image in zip(stored, images_store(items=items)):
            images[identity] = image
    if refused:
        raise _ImagesRefused(sorted(refused, key=lambda error: error.line))
    return images


def _pair_category(product_key: str, *, categories: dict[str, str], slug_of_path: dict[str, str],
                   product: Product | None) -> str:
    """The category file's, else the catalogue product's, else the world product's, else ""."""
    path = categories.get(product_key)
    if path is not None and path in slug_of_path:
        return slug_of_path[path]
    if product is not None:
        return product.category.slug
    return world_product_category(product_key) or ""


def _job_fail(*, job: PairImport, error: str = "", errors: list[LineError] | None = None) -> PairImport:
    kept: list[dict] = []
    if errors:
        kept, error = errors_summary(errors=errors, total=job.lines_total)
    PairImport.objects.filter(pk=job.pk).exclude(status=PairImportStatus.DONE).update(
        status=PairImportStatus.FAILED, errors=kept, error=error[:4000], finished_at=timezone.now())
    job.refresh_from_db()
    return job


def pair_import_fail(*, job_id: int, error: str) -> None:
    """Mark a job failed with ``error`` (a worker that used up its retries); a done job stays done."""
    PairImport.objects.filter(pk=job_id).exclude(status=PairImportStatus.DONE).update(
        status=PairImportStatus.FAILED, error=error[:4000], finished_at=timezone.now())


# -- synthetic creator pairs ---------------------------------------------------------------------

SYNTHETIC_N_PRODUCTS = 2000  # the demo catalogue's size, so the pairs name its products


def synthetic_pairs_import(*, name: str, seed: int, n_pairs: int, rates: dict, created_by: User | None,
                           n_products: int = SYNTHETIC_N_PRODUCTS) -> PairImport:
    """Generate ``n_pairs`` creator pairs of the world (seed, n_products) with noise at ``rates``
    (models_runtime.world.creator_pairs), and import them in this process, each pair's truth on its
    CreatorPair. Returns the finished job (done, or failed with its errors)."""
    # One scene holds at least one pair: n_pairs scenes are always enough (built lazily).
    world = build_world(seed=seed, n_products=n_products, n_scenes=max(1, n_pairs))
    generated = creator_pairs_generate(world, n_pairs=n_pairs, rates=rates, seed=seed)
    job = _pair_import_create(name=name, data=generated.jsonl().encode(), image_source=WORLD_SOURCE,
                              categories=generated.categories_json().encode(), truth=generated.truth_rows(),
                              created_by=created_by, enqueue=False)
    return pair_import_run(job_id=job.pk)
