"""The producer of attribute queues: one task per crop, shown with its scene. Crops come from a box
queue (its consensus boxes, or the detector's proposals of a pre-annotated box queue: a detector
run over a scene set) or from creator pairs (the creator's box). Golden items for the demo come
from the synthetic world's products. ``evaluation/PIPELINE.md`` ("Attribute queues") is the note.

Crops are cut from the stored scenes in this process and stored content-addressed, so producing
the same queue twice stores nothing new; a source of a few thousand crops takes seconds.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.core.files.storage import default_storage
from django.db import transaction

from evaluation.producers import producer_queue_create
from labeling.golden.services import GoldenItemInput, golden_items_put
from labeling.models import (CreatorPair, GoldenSet, GoldenSource, Image, ImageKind, Label, Pool, Queue, Task, TaskKind,
                             User)
from labeling.services.images import image_open, image_png_bytes, images_store
from labeling.services.tasks import TaskSpec, tasks_create
from labeling.task_kinds import task_kind_spec

ATTRIBUTE_QUEUE_NAME_EMPTY = "Give the queue a name."
ATTRIBUTE_QUEUE_NO_CROPS = "The source has no crops: {reason}"
ATTRIBUTE_SOURCE_NOT_BOXES = "Queue '{name}' is a {kind} queue, whose tasks offer no boxes to crop."
ATTRIBUTE_SOURCE_UNKNOWN = "'{source}' is not a crop source; choose one of: {sources}."
DEFAULT_PROPOSAL_MIN_SCORE = 0.5
# A crop keeps a margin of its box's size around it, so labelers see the edges of the product.
CROP_MARGIN = 0.05
WORLD_GOLDEN_REASON = "The synthetic world's product attributes (the world's oracle), not a person's."


class AttributeQueueError(ValueError):
    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class CropSpec:
    """One crop to label: a box on a stored scene and the category it shows."""

    key: str
    scene: Image
    box: list[float]
    category: str


def crops_from_box_queue(*, queue: Queue, source: str = "consensus",
                         min_score: float = DEFAULT_PROPOSAL_MIN_SCORE) -> list[CropSpec]:
    """The boxes a queue's tasks offer for cropping (the kind's ``crop_boxes``): for a box queue its
    labelers' consensus boxes (``consensus``) or the detector's proposals scoring at least
    ``min_score`` (``proposals``). Three queries whatever the size."""
    spec = task_kind_spec(queue.task_kind)
    if not spec.crop_sources:
        raise AttributeQueueError(ATTRIBUTE_SOURCE_NOT_BOXES.format(name=queue.name, kind=queue.task_kind), "source")
    if source not in spec.crop_sources:
        raise AttributeQueueError(ATTRIBUTE_SOURCE_UNKNOWN.format(source=source, sources=", ".join(spec.crop_sources)),
                                  "source")
    tasks = list(Task.objects.filter(queue=queue, is_golden=False).order_by("pk").values_list("pk", "payload"))
    scenes = Image.objects.in_bulk({payload["scene_id"] for _, payload in tasks if "scene_id" in payload})
    answers: dict[int, list[dict]] = {}
    if source == "consensus":
        for task_id, answer in (Label.objects.filter(task__queue=queue, task__is_golden=False,
                                                     counts_toward_replication=True)
                                .order_by("labeler_id").values_list("task_id", "answer")):
            answers.setdefault(task_id, []).append(answer)
    crops = []
    for task_id, payload in tasks:
        scene = scenes.get(payload.get("scene_id"))
        if scene is None:
            continue
        boxes = spec.crop_boxes(payload=payload, answers=answers.get(task_id, []), source=source, min_score=min_score)
        crops.extend(CropSpec(f"{source}:task:{task_id}:{index}", scene, list(entry["box"]), entry["category"])
                     for index, entry in enumerate(boxes))
    return crops


def crops_from_pairs(*, pairs: Iterable[CreatorPair]) -> list[CropSpec]:
    """The creator's box of each pair (labelers judge the attributes of what the creator tagged)."""
    return [CropSpec(f"pair:{pair.pk}", pair.scene, list(pair.box), pair.category)
            for pair in pairs if pair.category]


def _crop_images(crops: list[CropSpec]) -> list[Image]:
    pictures = {}
    items = []
    for crop in crops:
        if crop.scene.pk not in pictures:
            pictures[crop.scene.pk] = image_open(image=crop.scene)
        picture = pictures[crop.scene.pk]
        x0, y0, x1, y1 = crop.box
        margin_x, margin_y = (x1 - x0) * CROP_MARGIN, (y1 - y0) * CROP_MARGIN
        region = (max(0, int(x0 - margin_x)), max(0, int(y0 - margin_y)),
                  min(picture.width, int(x1 + margin_x + 1)), min(picture.height, int(y1 + margin_y + 1)))
        items.append((image_png_bytes(picture.crop(region)), ImageKind.CROP))
    return images_store(items=items)


def _payload(*, crop: CropSpec, image: Image) -> dict:
    scene = crop.scene
    return task_kind_spec(TaskKind.ATTRIBUTES).payload_clean({
        "category": crop.category,
        "crop": {"url": default_storage.url(image.file.name), "width": image.width, "height": image.height},
        "scene": {"url": default_storage.url(scene.file.name), "width": scene.width, "height": scene.height},
        "box": [round(float(v), 1) for v in crop.box],
    })


def attribute_tasks_payloads(*, crops: list[CropSpec]) -> list[tuple[str, dict]]:
    """(key, payload) of each crop, its image cut and stored."""
    images = _crop_images(crops)
    return [(crop.key, _payload(crop=crop, image=image)) for crop, image in zip(crops, images)]


def attribute_queue_create(*, name: str, crops: list[CropSpec], created_by: User | None, replication: int = 3,
                           golden_rate: float = 0.0, golden_sets: Iterable[GoldenSet] = (),
                           allowed_pools: Iterable[Pool] = ()) -> Queue:
    """An attribute queue with one task per crop (idempotent per crop key)."""
    if not name.strip():
        raise AttributeQueueError(ATTRIBUTE_QUEUE_NAME_EMPTY, "name")
    if not crops:
        raise AttributeQueueError(ATTRIBUTE_QUEUE_NO_CROPS.format(reason="nothing was boxed there yet"), "source")
    payloads = attribute_tasks_payloads(crops=crops)
    with transaction.atomic():
        queue = producer_queue_create(error_class=AttributeQueueError, task_kind=TaskKind.ATTRIBUTES, name=name,
                                      replication=replication, golden_rate=golden_rate, golden_sets=golden_sets,
                                      allowed_pools=allowed_pools, created_by=created_by)
        tasks_create(queue=queue, specs=[TaskSpec(source_key=key, payload=payload) for key, payload in payloads])
    return queue


def attribute_golden_set_from_world(*, name: str, scenes: list[Image], created_by: User | None = None
                                    ) -> tuple[GoldenSet, int]:
    """Golden attribute items for the true objects of synthetic scenes, answered with the world's
    product attributes (the demo's oracle). Returns (set, items created)."""
    from labeling import taxonomy
    from labeling.services.world_import import scene_truth_read
    from labeling.task_kinds.attributes import CANT_TELL
    from models_runtime.world.catalog import generate_product

    golden_set, _ = GoldenSet.objects.get_or_create(
        name=name, defaults={"task_kind": TaskKind.ATTRIBUTES, "created_by": created_by,
                             "description": "Crops of the world's true objects, answered with their products' attributes."})
    crops, answers = [], {}
    for scene in scenes:
        truth = scene_truth_read(sha256=scene.sha256)
        if truth is None:
            continue
        for index, obj in enumerate(truth["objects"]):
            product = generate_product(int(truth["world_seed"]), int(obj["product_id"]))
            known = dict(product.attributes, gender=product.gender)
            key = f"world:{scene.sha256}:{index}"
            crops.append(CropSpec(key, scene, [float(v) for v in obj["box"]], obj["category"]))
            answers[key] = {"attributes": {a.name: known.get(a.name, CANT_TELL)
                                           for a in taxonomy.attributes_for(obj["category"])}}
    items = [GoldenItemInput(key=key, payload=payload, answer=answers[key], reason=WORLD_GOLDEN_REASON,
                             source=GoldenSource.WORLD_ORACLE)
             for key, payload in attribute_tasks_payloads(crops=crops)]
    _, created, _ = golden_items_put(golden_set=golden_set, items=items)
    return golden_set, created


# -- truth for simulated labelers (evaluation/simulation.py) --------------------------------------

def attribute_truth_answers(*, payloads: dict[int, dict]) -> dict[int, dict | None]:
    """The true answer of each attribute task (task id -> payload): the attributes of the world's
    product under the crop's box (the true object it overlaps at IoU >= 0.5, as a detection finds
    an object), as ``attribute_golden_set_from_world`` answers them; None when the scene has no
    truth or the box covers no true object. One query for the scenes (their payload URLs), plus
    the taxonomy snapshot."""
    from labeling import taxonomy
    from labeling.services.tasks import payload_media_names
    from labeling.services.world_import import scene_truth_read
    from labeling.task_kinds.attributes import CANT_TELL
    from labeling.task_kinds.boxes import DEFAULT_IOU_THRESHOLD, box_iou
    from models_runtime.world.catalog import generate_product

    def scene_name(payload: dict) -> str | None:
        return next(payload_media_names((payload.get("scene") or {}).get("url")), None)

    names = {scene_name(payload) for payload in payloads.values()} - {None}
    sha_of = dict(Image.objects.filter(file__in=names).values_list("file", "sha256"))
    snapshot = taxonomy.taxonomy_snapshot()  # one read for every task
    truths: dict[str, dict | None] = {}
    answers = {}
    for task_id, payload in payloads.items():
        sha, box = sha_of.get(scene_name(payload)), payload.get("box")
        if sha is not None and sha not in truths:
            truths[sha] = scene_truth_read(sha256=sha)
        truth = truths.get(sha) if sha is not None else None
        found = None
        if truth is not None and box:
            found = max(truth["objects"], key=lambda obj: box_iou(box, obj["box"]), default=None)
        if found is None or box_iou(box, found["box"]) < DEFAULT_IOU_THRESHOLD:
            answers[task_id] = None
            continue
        product = generate_product(int(truth["world_seed"]), int(found["product_id"]))
        known = dict(product.attributes, gender=product.gender)
        answers[task_id] = {"attributes": {attribute.name: known.get(attribute.name, CANT_TELL)
                                           for attribute in snapshot.attributes_for(payload.get("category") or "")}}
    return answers
