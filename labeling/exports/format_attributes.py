"""The attribute dataset: one JSON line per crop whose attribute consensus says something, with a
seeded 90:10 train/evaluation split.

A line is a manifest record of ``models_runtime.training.embedder`` (as the matching export's)::

    {"image", "box"?, "product_id": the crop image's id, "category", <attribute>: value ...,
     "source": "scene" | "crop", "split": "train" | "eval", "task_id", "item_key"}

With the scene and the box in the payload the record points at the scene and the box (the
trainer crops it with context); otherwise at the crop image, with no box (the whole image).
"Can't tell" is no value (the trainer's UNKNOWN), and so is a value the trainer's schema does not
know (an expert's newer value; counted in the report). A crop whose every attribute is "can't
tell" is left out.

**Split**: ``eval`` when ``sha256("<seed>:<item key>") mod 10 == 0``, the item key being the
task's producer key (``Task.source_key``): reproducible, independent of the order the tasks are
read in and of which other tasks are exported.
"""
from __future__ import annotations

import hashlib

from labeling.exports.common import images_by_name, json_bytes, media_name, params_known, seed_clean
from labeling.exports.format_matching import trainer_attributes
from labeling.exports.registry import ExportContext, ExportFormat, export_format_register
from labeling.exports.selectors import (export_queue_provenance, export_queues_clean, export_task_pages,
                                        export_tasks_count)
from labeling.models import TaskKind
from labeling.task_kinds import task_kind_spec
from labeling.task_kinds.attributes import CANT_TELL
from models_runtime import taxonomy

PARAMS = ("queues", "seed")
EVAL_SHARE_OF_TEN = 1  # 90:10


def attribute_split(*, seed: int, item_key: str) -> str:
    digest = hashlib.sha256(f"{seed}:{item_key}".encode()).digest()
    return "eval" if int.from_bytes(digest[:8], "big") % 10 < EVAL_SHARE_OF_TEN else "train"


def params_clean(params: dict) -> dict:
    params_known(params, PARAMS)
    return {"queues": export_queues_clean(params, task_kind=TaskKind.ATTRIBUTES), "seed": seed_clean(params)}


def provenance_build(params: dict) -> dict:
    return export_queue_provenance(params["queues"])


def items_count(params: dict, provenance: dict) -> int:
    return export_tasks_count(params["queues"])


def write(ctx: ExportContext) -> dict:
    spec = task_kind_spec(TaskKind.ATTRIBUTES)
    seed = ctx.params["seed"]
    counts = {"records_written": 0, "train": 0, "eval": 0, "tasks_without_labels": 0,
              "values_unknown_to_trainer": 0,
              "left_out": {"cant_tell": 0, "unknown_category": 0, "image_missing": 0}}
    for page in export_task_pages(queue_ids=ctx.params["queues"], last_label_id=ctx.provenance["last_label_id"]):
        names = {name for t in page for name in (media_name(t.payload.get("crop")), media_name(t.payload.get("scene")))
                 if name}
        images = images_by_name(names)
        lines = []
        for task in page:
            if not task.answers:
                counts["tasks_without_labels"] += 1
                continue
            answer = spec.consensus(payload=task.payload, answers=task.answers).answer
            category = task.payload.get("category")
            crop = images.get(media_name(task.payload.get("crop")) or "")
            reason = spec.export_left_out(answer=answer)
            if reason is None and category not in taxonomy.CATEGORY_INDEX:
                reason = "unknown_category"
            if reason is None and crop is None:
                reason = "image_missing"
            if reason is not None:
                counts["left_out"][reason] += 1
                continue
            judged = {name: value for name, value in answer["attributes"].items() if value != CANT_TELL}
            known = trainer_attributes(judged)
            counts["values_unknown_to_trainer"] += len(judged) - len(known)
            split = attribute_split(seed=seed, item_key=task.source_key)
            record = {"product_id": crop[0], "category": category, "split": split, "task_id": task.task_id,
                      "item_key": task.source_key, **known}
            scene_name = media_name(task.payload.get("scene"))
            if scene_name in images and isinstance(task.payload.get("box"), list):
                record.update(image=scene_name, box=task.payload["box"], source="scene")
            else:
                record.update(image=media_name(task.payload.get("crop")), source="crop")
            lines.append(json_bytes(record) + b"\n")
            counts[split] += 1
        ctx.out.write(b"".join(lines))
        counts["records_written"] += len(lines)
        ctx.advance(len(page), "writing attribute records")
    return counts


ATTRIBUTES = export_format_register(ExportFormat(
    name="attributes", label="Attribute dataset (JSON lines, 90:10 split)",
    description="Attribute queues' consensus values with a seeded train/eval split; the embedder trainer's manifest.",
    extension="jsonl", content_type="application/x-ndjson", celery_queue="default",
    params_clean=params_clean, provenance_build=provenance_build, items_count=items_count, write=write))
