"""The cleaned matching dataset: one JSON line per creator pair the cleanup consensus kept.

A line is what ``models_runtime.training.embedder.load_manifest`` and ``prepare_crops`` read::

    {"image": scene storage name, "box": [x0, y0, x1, y1] (the consensus box, scene pixels),
     "product_id": int, "category": slug, <attribute>: value ..., "source": "scene",
     "scene_id": scene image id, "instance_id": the creator pair's product key, "pair_id", "match"}

After a product's first scene line comes, once per export, the product's own photo as the
gallery side of the pair (``product_images``, default true), as the embedder is served: the
whole image is the crop the catalogue index embeds::

    {"image": product image storage name, "box": [0, 0, width, height], "product_id": int,
     "category": slug, <attribute>: value ..., "source": "product", "instance_id", "pair_id", "match"}

Without these lines a fine-tune sees only the scene side of each instance and moves the scene
crops away from the product photos they are retrieved against.

``product_id`` is the instance the embedder learns to retrieve: the id of the product's image
(a stored image is content-addressed, so one product photo is one instance whether or not the
product is in the catalogue). The product's catalogue attributes are added when the pair names a
catalogue product and the value is one the trainer's schema knows. Spam and not-a-match pairs are
left out (``MatchingPairKind.export_left_out``) and counted in the report, as are pairs whose
consensus category the trainer's taxonomy does not know. ``keep_similar`` (default true) keeps
"similar item" verdicts; set it false for same-item pairs only.
"""
from __future__ import annotations

from labeling.exports.common import boolean_clean, json_bytes, params_known
from labeling.exports.registry import ExportContext, ExportFormat, export_format_register
from labeling.exports.selectors import (export_queue_provenance, export_queues_clean, export_task_pages,
                                        export_tasks_count)
from labeling.models import CreatorPair, TaskKind
from labeling.task_kinds import task_kind_spec
from models_runtime import taxonomy

PARAMS = ("queues", "keep_similar", "product_images")


def params_clean(params: dict) -> dict:
    params_known(params, PARAMS)
    return {"queues": export_queues_clean(params, task_kind=TaskKind.MATCHING_PAIR),
            "keep_similar": boolean_clean(params, "keep_similar", True),
            "product_images": boolean_clean(params, "product_images", True)}


def provenance_build(params: dict) -> dict:
    return export_queue_provenance(params["queues"])


def items_count(params: dict, provenance: dict) -> int:
    return export_tasks_count(params["queues"])


def trainer_attributes(values: dict | None) -> dict:
    """The attribute values the trainer's schema knows (it refuses any other value)."""
    known = {}
    for name, value in sorted((values or {}).items()):
        attribute = taxonomy.ATTRIBUTES.get(name)
        if attribute is not None and value in attribute.values:
            known[name] = value
    return known


def write(ctx: ExportContext) -> dict:
    spec = task_kind_spec(TaskKind.MATCHING_PAIR)
    counts = {"pairs_written": 0, "product_images_written": 0, "tasks_without_labels": 0,
              "left_out": {"spam": 0, "not_match": 0,
              "similar": 0, "unknown_category": 0, "pair_missing": 0}}
    products_written: set[int] = set()
    for page in export_task_pages(queue_ids=ctx.params["queues"], last_label_id=ctx.provenance["last_label_id"]):
        pairs = {row[0]: row for row in CreatorPair.objects.filter(
            pk__in={t.payload.get("pair_id") for t in page}).values_list(
            "pk", "scene_id", "scene__file", "product_image_id", "product_key", "product__attributes",
            "product_image__file", "product_image__width", "product_image__height")}
        lines = []
        for task in page:
            if not task.answers:
                counts["tasks_without_labels"] += 1
                continue
            answer = spec.consensus(payload=task.payload, answers=task.answers).answer
            reason = spec.export_left_out(answer=answer)
            if reason is None and answer["match"] == "similar" and not ctx.params["keep_similar"]:
                reason = "similar"
            if reason is None and answer["category"] not in taxonomy.CATEGORY_INDEX:
                reason = "unknown_category"
            pair = pairs.get(task.payload.get("pair_id"))
            if reason is None and pair is None:
                reason = "pair_missing"
            if reason is not None:
                counts["left_out"][reason] += 1
                continue
            (pair_id, scene_id, scene_name, product_image_id, product_key, product_attributes,
             product_file, product_width, product_height) = pair
            attributes = trainer_attributes(product_attributes)
            record = {"image": scene_name, "box": answer["box"], "product_id": product_image_id,
                      "category": answer["category"], "source": "scene", "scene_id": scene_id,
                      "instance_id": product_key, "pair_id": pair_id, "match": answer["match"], **attributes}
            lines.append(json_bytes(record) + b"\n")
            counts["pairs_written"] += 1
            if ctx.params["product_images"] and product_image_id not in products_written:
                products_written.add(product_image_id)  # one int per product: flat enough
                photo = {"image": product_file, "box": [0.0, 0.0, float(product_width), float(product_height)],
                         "product_id": product_image_id, "category": answer["category"], "source": "product",
                         "instance_id": product_key, "pair_id": pair_id, "match": answer["match"], **attributes}
                lines.append(json_bytes(photo) + b"\n")
                counts["product_images_written"] += 1
        ctx.out.write(b"".join(lines))
        ctx.advance(len(page), "writing cleaned pairs")
    return counts


MATCHING = export_format_register(ExportFormat(
    name="matching", label="Cleaned matching pairs (JSON lines)",
    description="Cleanup queues' consensus pairs, spam and non-matches left out; the embedder trainer's manifest.",
    extension="jsonl", content_type="application/x-ndjson", celery_queue="default",
    params_clean=params_clean, provenance_build=provenance_build, items_count=items_count, write=write))
