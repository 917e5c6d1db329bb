"""The single-product dataset by the seed's Algorithm 1 (models_runtime/single_product.py): the
catalogue's products photographed alone, each with the largest box a detector finds, as COCO
detection JSON the detector trainer reads.

Params: ``detector`` (a detector model version id), the scene distribution that caps each
category, from ``scene_queues`` (box queues: their consensus boxes are counted) or, by default,
``scene_source: "world"`` (the synthetic world's train scenes: ``world_seed``, ``world_scenes``,
``world_products``), ``cover`` (0.8) and ``score_threshold`` (default: the detector version's).
The distribution and the last catalogue product are pinned in the provenance at creation, so a
rebuild reads the same products against the same caps. The format runs on the ``gpu`` queue: the
detector runs on every product image that passes the first two rules. The report holds how many
products each rule removed (labeling/exports/EXPORTS.md).
"""
from __future__ import annotations

from collections import Counter

from django.core.files.storage import default_storage
from PIL import Image as PILImage

from labeling.exports.common import json_bytes, params_known
from labeling.exports.registry import ExportContext, ExportFormat, ExportParamsError, export_format_register
from labeling.exports.selectors import export_queue_provenance, export_queues_clean, export_task_pages
from labeling.models import Product, TaskKind
from labeling.task_kinds import task_kind_spec
from models_runtime import taxonomy

PARAMS = ("detector", "scene_source", "scene_queues", "world_seed", "world_scenes", "world_products", "cover",
          "score_threshold")
SCENE_SOURCES = ("world", "queues")
DETECTOR_MISSING = "'detector' must be the id of a detector model version."
DETECTOR_UNKNOWN = "There is no detector model version with id {id}."
SCENE_SOURCE_UNKNOWN = "'scene_source' must be 'world' (the synthetic world's train scenes) or 'queues' (with 'scene_queues')."
SHARE_INVALID = "'{name}' must be a number from {low:g} to 1."
WORLD_NUMBER_INVALID = "'{name}' must be a whole number from {low} to {high}."
DETECT_BATCH = 16
PRODUCT_PAGE = 500


def _whole(params: dict, name: str, default: int, low: int, high: int) -> int:
    value = params.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ExportParamsError(WORLD_NUMBER_INVALID.format(name=name, low=low, high=high), name)
    return value


def _share(params: dict, name: str, default: float | None, low: float) -> float | None:
    value = params.get(name, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= 1:
        raise ExportParamsError(SHARE_INVALID.format(name=name, low=low), name)
    return float(value)


def params_clean(params: dict) -> dict:
    from evaluation.models import ModelKind, ModelVersion

    params_known(params, PARAMS)
    detector = params.get("detector")
    if isinstance(detector, bool) or not isinstance(detector, int) or detector < 1:
        raise ExportParamsError(DETECTOR_MISSING, "detector")
    if not ModelVersion.objects.filter(pk=detector, kind=ModelKind.DETECTOR).exists():
        raise ExportParamsError(DETECTOR_UNKNOWN.format(id=detector), "detector")
    source = params.get("scene_source", "queues" if "scene_queues" in params else "world")
    if source not in SCENE_SOURCES:
        raise ExportParamsError(SCENE_SOURCE_UNKNOWN, "scene_source")
    cleaned = {"detector": detector, "scene_source": source, "cover": _share(params, "cover", 0.8, 0.05),
               "score_threshold": _share(params, "score_threshold", None, 0.0)}
    if source == "queues":
        cleaned["scene_queues"] = export_queues_clean({"queues": params.get("scene_queues")},
                                                      task_kind=TaskKind.BOUNDING_BOXES)
    else:
        cleaned |= {"world_seed": _whole(params, "world_seed", 0, 0, 2**31 - 1),
                    "world_scenes": _whole(params, "world_scenes", 400, 10, 100000),
                    "world_products": _whole(params, "world_products", 2000, 1, 1000000)}
    return cleaned


def scene_distribution_world(*, seed: int, n_scenes: int, n_products: int) -> dict[str, int]:
    """Boxes per category in the synthetic world's train scenes (nothing is rendered)."""
    from models_runtime.world.world import build_world

    world = build_world(seed=seed, n_products=n_products, n_scenes=n_scenes)
    return dict(sorted(Counter(obj.category for scene in world.scenes_in("train") for obj in scene.objects).items()))


def scene_distribution_queues(*, queue_ids: list[int], last_label_id: int) -> dict[str, int]:
    """Boxes per category in the box queues' consensus (what their coco_detection export holds)."""
    spec = task_kind_spec(TaskKind.BOUNDING_BOXES)
    counts: Counter = Counter()
    for page in export_task_pages(queue_ids=queue_ids, last_label_id=last_label_id):
        for task in page:
            if task.answers:
                counts.update(box["category"] for box in spec.consensus(payload=task.payload, answers=task.answers)
                              .answer.get("boxes", []))
    return dict(sorted(counts.items()))


def provenance_build(params: dict) -> dict:
    from evaluation.models import ModelVersion

    detector = ModelVersion.objects.get(pk=params["detector"])
    provenance = {"detector": {"id": detector.pk, "name": detector.name, "version_tag": detector.version_tag},
                  "last_product_id": Product.objects.order_by("-pk").values_list("pk", flat=True).first() or 0}
    if params["scene_source"] == "queues":
        provenance |= export_queue_provenance(params["scene_queues"])
        provenance["scene_distribution"] = scene_distribution_queues(
            queue_ids=params["scene_queues"], last_label_id=provenance["last_label_id"])
    else:
        provenance["scene_distribution"] = scene_distribution_world(
            seed=params["world_seed"], n_scenes=params["world_scenes"], n_products=params["world_products"])
    return provenance


def items_count(params: dict, provenance: dict) -> int:
    return Product.objects.filter(pk__lte=provenance["last_product_id"]).count()


def _products(last_product_id: int):
    """The catalogue in product order, a page at a time; images are opened when the algorithm asks."""
    from models_runtime.single_product import ProductRecord

    after = 0
    while True:
        rows = list(Product.objects.filter(pk__gt=after, pk__lte=last_product_id).order_by("pk")
                    .values_list("pk", "external_id", "category__slug", "merchant_provided_category", "image__file")
                    [:PRODUCT_PAGE])
        if not rows:
            return
        for pk, external_id, category, merchant, image_name in rows:
            yield ProductRecord(product_id=pk, category=category, merchant_provided_category=merchant,
                                load_image=lambda name=image_name: _image_open(name),
                                extra={"image": image_name, "external_id": external_id})
        after = rows[-1][0]


def _image_open(name: str) -> PILImage.Image:
    with default_storage.open(name, "rb") as handle:
        image = PILImage.open(handle)
        image.load()
    return image


def write(ctx: ExportContext) -> dict:
    from evaluation import runtime_cache
    from evaluation.models import ModelVersion
    from models_runtime.single_product import coco_document, detector_boxes, single_product_dataset

    version = ModelVersion.objects.get(pk=ctx.params["detector"])
    threshold = ctx.params["score_threshold"]
    if threshold is None:
        threshold = float(version.config.get("score_threshold", 0.5))
    category_map = version.config.get("category_map") or {}
    detector = runtime_cache.detector_for(version)
    boxes = detector_boxes(detector, score_threshold=threshold, batch_size=8)
    result = single_product_dataset(
        _products(ctx.provenance["last_product_id"]), detect=boxes,
        scene_distribution=ctx.provenance["scene_distribution"], cover=ctx.params["cover"], batch_size=DETECT_BATCH,
        progress=lambda done, step: ctx.advance(done, step))
    kept = [item for item in result.kept if item.record.category in taxonomy.CATEGORY_INDEX]
    document = coco_document(kept, file_name=lambda item: item.record.extra["image"],
                             categories=list(taxonomy.CATEGORIES),
                             description=f"single-product dataset (Algorithm 1) by {version.name} {version.version_tag}")
    for image, item in zip(document["images"], kept):
        image["external_id"] = item.record.extra["external_id"]
    ctx.out.write(json_bytes(document))
    report = result.report()
    report |= {"score_threshold": threshold, "cover": ctx.params["cover"],
               "left_out_unknown_category": len(result.kept) - len(kept),
               "category_map_used": bool(category_map)}
    return report


SINGLE_PRODUCT = export_format_register(ExportFormat(
    name="single_product", label="Single-product dataset (Algorithm 1, COCO)",
    description="Catalogue products alone on white whose largest detected box covers 80% of the image, capped per "
                "category by the scene dataset; the detector trainer's COCO input. Runs the detector on a GPU worker.",
    extension="json", content_type="application/json", celery_queue="gpu",
    params_clean=params_clean, provenance_build=provenance_build, items_count=items_count, write=write))
