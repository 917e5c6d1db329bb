"""COCO detection JSON from the consensus boxes of box queues.

Exactly what ``models_runtime.training.detector.load_coco_detection`` reads: category names are
taxonomy slugs (``models_runtime.taxonomy.CATEGORY_INDEX``), an image's ``file_name`` is its
storage name relative to ``MEDIA_ROOT``, ``bbox`` is ``[x, y, width, height]`` in pixels. One COCO
image per task (its id is the task id, so one scene boxed in two queues is two images). A task
with no counted label is left out; a task whose consensus has no box is an image without
annotations (evaluation counts its false positives).

``rollup="coarse"`` names the categories by the coarse level (Clothing, Shoes, ...): that file
is for outside tools and pycocotools; the platform's detector trainer refuses it, since it
needs the fine slugs (EXPORTS.md).
"""
from __future__ import annotations

import shutil
import tempfile

from labeling.exports.common import images_by_id, images_by_name, json_bytes, media_name, params_known
from labeling.exports.registry import ExportContext, ExportFormat, ExportParamsError, export_format_register
from labeling.exports.selectors import (export_queue_provenance, export_queues_clean, export_task_pages,
                                        export_tasks_count)
from labeling.models import TaskKind
from labeling.task_kinds import task_kind_spec
from models_runtime import taxonomy

ROLLUPS = ("fine", "coarse")
ROLLUP_UNKNOWN = "'rollup' must be one of: fine, coarse."
PARAMS = ("queues", "rollup")


def params_clean(params: dict) -> dict:
    params_known(params, PARAMS)
    rollup = params.get("rollup", "fine")
    if rollup not in ROLLUPS:
        raise ExportParamsError(ROLLUP_UNKNOWN, "rollup")
    return {"queues": export_queues_clean(params, task_kind=TaskKind.BOUNDING_BOXES), "rollup": rollup}


def provenance_build(params: dict) -> dict:
    return export_queue_provenance(params["queues"])


def items_count(params: dict, provenance: dict) -> int:
    return export_tasks_count(params["queues"])


def coco_categories(rollup: str) -> list[dict]:
    names = taxonomy.COARSE_CATEGORIES if rollup == "coarse" else taxonomy.CATEGORIES
    return [{"id": index + 1, "name": name, "supercategory": taxonomy.COARSE_OF.get(name, name)}
            for index, name in enumerate(names)]


def write(ctx: ExportContext) -> dict:
    spec = task_kind_spec(TaskKind.BOUNDING_BOXES)
    rollup = ctx.params["rollup"]
    categories = coco_categories(rollup)
    category_id = {category["name"]: category["id"] for category in categories}
    counts = {"images": 0, "annotations": 0, "tasks_without_labels": 0, "images_missing": 0,
              "boxes_unknown_category": 0}
    ctx.out.write(b'{"categories":' + json_bytes(categories) + b',"images":[')
    # Annotations follow every image in the file but are made in the same pass: they wait in a
    # temporary file on disk, never in memory.
    with tempfile.TemporaryFile() as annotations:
        for page in export_task_pages(queue_ids=ctx.params["queues"], last_label_id=ctx.provenance["last_label_id"]):
            by_id = images_by_id({t.payload["scene_id"] for t in page if isinstance(t.payload.get("scene_id"), int)})
            by_name = images_by_name({n for t in page if "scene_id" not in t.payload
                                      for n in [media_name(t.payload.get("image"))] if n})
            for task in page:
                if not task.answers:
                    counts["tasks_without_labels"] += 1
                    continue
                image = by_id.get(task.payload.get("scene_id"))
                if image is None:
                    name = media_name(task.payload.get("image")) or ""
                    found = by_name.get(name)
                    image = (name, found[1], found[2]) if found else None
                if image is None:
                    counts["images_missing"] += 1
                    continue
                file_name, width, height = image
                ctx.out.write((b"," if counts["images"] else b"") + json_bytes(
                    {"id": task.task_id, "file_name": file_name, "width": width, "height": height}))
                counts["images"] += 1
                consensus = spec.consensus(payload=task.payload, answers=task.answers)
                confidences = consensus.details.get("confidence", [])
                for entry, confidence in zip(consensus.answer["boxes"], confidences):
                    slug = entry["category"]
                    if slug not in taxonomy.CATEGORY_INDEX:
                        counts["boxes_unknown_category"] += 1
                        continue
                    name = taxonomy.COARSE_OF[slug] if rollup == "coarse" else slug
                    x0, y0, x1, y1 = entry["box"]
                    w, h = round(x1 - x0, 1), round(y1 - y0, 1)
                    counts["annotations"] += 1
                    annotations.write((b"," if counts["annotations"] > 1 else b"") + json_bytes({
                        "id": counts["annotations"], "image_id": task.task_id, "category_id": category_id[name],
                        "bbox": [x0, y0, w, h], "area": round(w * h, 2), "iscrowd": 0,
                        "score": round(confidence, 4)}))
            ctx.advance(len(page), "writing images and boxes")
        ctx.out.write(b'],"annotations":[')
        annotations.seek(0)
        shutil.copyfileobj(annotations, ctx.out, 1024 * 1024)
    ctx.out.write(b'],"info":' + json_bytes({"description": "consensus boxes", "rollup": rollup,
                                            "queues": ctx.params["queues"]}) + b"}")
    return counts


COCO_DETECTION = export_format_register(ExportFormat(
    name="coco_detection", label="COCO detection (consensus boxes)",
    description="Box queues' consensus boxes as COCO detection JSON; the detector trainer reads the fine rollup.",
    extension="json", content_type="application/json", celery_queue="default",
    params_clean=params_clean, provenance_build=provenance_build, items_count=items_count, write=write))
