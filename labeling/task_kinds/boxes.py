"""Bounding boxes: boxes with a category each, drawn on a scene (docs/METRICS.md, section 2).

Payload: ``{"scene_id", "image": {"url", "width", "height"}, "proposals"?: [{"box", "category",
"score"}]}``; proposals are a detector's pre-annotations, dropped for labelers when the queue hides
them. Answer: ``{"boxes": [{"box": [x0, y0, x1, y1], "category": slug}]}`` in image pixels; an empty
list is the "nothing to box" answer.

**Consensus** (``boxes_cluster``, greedy and deterministic): labelers are taken in the order given
(the selectors pass them by labeler id). Each labeler's boxes are paired one-to-one with the
clusters that do not hold a box of theirs yet, greedily by IoU with the cluster's median box, best
pair first, pairs under ``iou_threshold`` (0.5) never; a box left unpaired starts a new cluster. So
one labeler who draws one object twice puts the second box in a cluster of its own, which the
quorum then drops. A cluster's consensus box is the median of its boxes' coordinates, its category
the majority of theirs (a tie goes to the slug first in alphabetical order), its confidence the
share of the item's labelers who drew it; it is kept when at least ``quorum`` labelers drew it (by
default a strict majority, n // 2 + 1). The item's agreement is the mean over all clusters of the
share of labelers whose box in the cluster has the consensus category (1.0 when nobody drew anything).

**Golden comparison** (``boxes_match``): one-to-one pairs at IoU >= ``iou_threshold`` with the same
category (or the same coarse category), greedily by IoU; precision = pairs / boxes drawn, recall =
pairs / golden boxes (each 1.0 when its denominator is 0), F1 their harmonic mean. The label is
correct when every drawn box and every golden box is paired.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from statistics import median

from labeling import taxonomy
from labeling.answer_schemas import (BOX_ENTRY_NOT_OBJECT, BOXES_NOT_LIST, AnswerSchemaError, _clean_box,
                                     _clean_category, _image_size, _is_number, require_answer_keys, require_object)
from labeling.task_kinds.base import (AccuracyRow, Consensus, GoldenComparison, PayloadSchemaError, QualityRow, TaskKindSpec,
                                      require_keys)
from models_runtime import taxonomy as fixture_taxonomy

DEFAULT_IOU_THRESHOLD = 0.5
ABSENT = "absent"  # the quality value of a labeler who drew nothing in a cluster

PAYLOAD_IMAGE_INVALID = "'image' must be an object with the scene's 'url', 'width' and 'height' in pixels."
PAYLOAD_PROPOSALS_INVALID = "'proposals' must be a list of objects with a 'box', a 'category' and a 'score'."

GUIDE_TITLE = "Bounding boxes: boxing the products in a scene"
GUIDE_BODY = """\
# Bounding boxes

Draw one box around **every product** a shopper could buy in the scene: clothing, shoes, bags,
jewellery, sunglasses. Give each box its category.

## How to box

- The box touches the product's outermost visible pixels on all four sides: not the shadow, not the
  background, not the person. A box 2 pixels too big is fine; a box that cuts the product is not.
- A partly hidden product gets a box around the part you can see.
- Two products that touch get two boxes, even when they overlap.
- Pairs (shoes, earrings) get one box per item you can see separately.
- Nothing to box? Choose **Nothing to box** (N): it is an answer, not a skip.

## Proposals

Some queues start from a detector's proposals (dashed boxes with a score). Treat them as a draft:
accept a proposal only when its box is tight and its category right; fix it or delete it otherwise.
Every proposal must be accepted or deleted before you submit.

## Categories

Pick the most specific category that fits. Number keys 1-9 give the most common ones; C opens the
search for all of them. When unsure between two categories, take the one a shopper would search for.
"""


def box_iou(box: list[float], other: list[float]) -> float:
    x0, y0 = max(box[0], other[0]), max(box[1], other[1])
    x1, y1 = min(box[2], other[2]), min(box[3], other[3])
    inter = max(0.0, x1 - x0) * max(0.0, y1 - y0)
    union = (box[2] - box[0]) * (box[3] - box[1]) + (other[2] - other[0]) * (other[3] - other[1]) - inter
    return inter / union if union > 0 else 0.0


def _greedy_pairs(scores: list[list[float]], threshold: float) -> list[tuple[int, int, float]]:
    """One-to-one (row, column) pairs, best score first; ties by row then column; below ``threshold`` never."""
    candidates = sorted(((score, i, j) for i, row in enumerate(scores) for j, score in enumerate(row)
                         if score >= threshold), key=lambda c: (-c[0], c[1], c[2]))
    used_rows, used_columns, pairs = set(), set(), []
    for score, i, j in candidates:
        if i in used_rows or j in used_columns:
            continue
        used_rows.add(i)
        used_columns.add(j)
        pairs.append((i, j, score))
    return pairs


def _median_box(boxes: list[list[float]]) -> list[float]:
    return [float(median(box[i] for box in boxes)) for i in range(4)]


def _vote(categories: list[str]) -> str:
    counts = Counter(categories)
    return min(counts, key=lambda category: (-counts[category], category))


@dataclass
class BoxCluster:
    members: dict[int, dict]  # labeler id -> that labeler's box entry {"box", "category"}
    box: list[float]          # the median of the members' boxes
    category: str             # the members' majority category

    def refresh(self) -> None:
        entries = list(self.members.values())
        self.box = _median_box([entry["box"] for entry in entries])
        self.category = _vote([entry["category"] for entry in entries])


def boxes_cluster(labels: list[tuple[int, list[dict]]], *,
                  iou_threshold: float = DEFAULT_IOU_THRESHOLD) -> list[BoxCluster]:
    """Cluster the boxes of ``labels`` ((labeler id, boxes) in a fixed order) as the module says."""
    clusters: list[BoxCluster] = []
    for labeler_id, boxes in labels:
        open_clusters = [cluster for cluster in clusters if labeler_id not in cluster.members]
        scores = [[box_iou(entry["box"], cluster.box) for cluster in open_clusters] for entry in boxes]
        paired = set()
        for i, j, _ in _greedy_pairs(scores, iou_threshold):
            open_clusters[j].members[labeler_id] = boxes[i]
            paired.add(i)
        for i, entry in enumerate(boxes):
            if i not in paired:
                clusters.append(BoxCluster({labeler_id: entry}, list(entry["box"]), entry["category"]))
        for cluster in clusters:
            cluster.refresh()
    return clusters


def default_quorum(n_labelers: int) -> int:
    return n_labelers // 2 + 1


def boxes_consensus(labels: list[tuple[int, list[dict]]], *, iou_threshold: float = DEFAULT_IOU_THRESHOLD,
                    quorum: int | None = None) -> Consensus:
    n = len(labels)
    if n == 0:
        return Consensus(None, None, 0)
    need = default_quorum(n) if quorum is None else quorum
    clusters = boxes_cluster(labels, iou_threshold=iou_threshold)
    kept = [cluster for cluster in clusters if len(cluster.members) >= need]
    if clusters:
        agreement = sum(sum(entry["category"] == cluster.category for entry in cluster.members.values()) / n
                        for cluster in clusters) / len(clusters)
    else:
        agreement = 1.0
    answer = {"boxes": [{"box": [round(v, 1) for v in cluster.box], "category": cluster.category} for cluster in kept]}
    details = {
        "confidence": [len(cluster.members) / n for cluster in kept],
        "quorum": need,
        "clusters_dropped": len(clusters) - len(kept),
    }
    return Consensus(answer, agreement, n, details)


def boxes_match(answer_boxes: list[dict], golden_boxes: list[dict], *, iou_threshold: float = DEFAULT_IOU_THRESHOLD,
                category_key: Callable[[str], str] = lambda slug: slug) -> GoldenComparison:
    """Score drawn boxes against golden ones, as the module says. ``category_key`` maps a category
    before comparing (the coarse category, for a coarse comparison)."""
    scores = [[box_iou(given["box"], expected["box"])
               if category_key(given["category"]) == category_key(expected["category"]) else -1.0
               for expected in golden_boxes] for given in answer_boxes]
    pairs = _greedy_pairs(scores, iou_threshold)
    matched = len(pairs)
    precision = matched / len(answer_boxes) if answer_boxes else 1.0
    recall = matched / len(golden_boxes) if golden_boxes else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    correct = matched == len(answer_boxes) == len(golden_boxes)
    return GoldenComparison(correct, f1, {
        "precision": precision, "recall": recall, "f1": f1, "matched": matched,
        "pairs": [[i, j, round(score, 4)] for i, j, score in pairs],
    })


def _clean_proposals(proposals) -> list[dict]:
    if not isinstance(proposals, list):
        raise PayloadSchemaError(PAYLOAD_PROPOSALS_INVALID)
    for proposal in proposals:
        if (not isinstance(proposal, dict) or set(proposal) != {"box", "category", "score"}
                or not _is_number(proposal["score"]) or not isinstance(proposal["category"], str)):
            raise PayloadSchemaError(PAYLOAD_PROPOSALS_INVALID)
        _clean_box(proposal["box"], where="A proposal's box", image_size=None)
    return proposals


def _coarse_key() -> Callable[[str], str]:
    return lambda slug: taxonomy.category_coarse(slug) or slug


class BoundingBoxesKind(TaskKindSpec):
    kind = "bounding_boxes"
    label = "Bounding boxes"
    editor_template = "frontend/editors/boxes.html"
    editor_scripts = ("frontend/editors/box_canvas.js",
                      "frontend/editors/category_picker.js",
                      "frontend/editors/boxes.js")
    editor_stylesheets = ("frontend/editors/boxes.css",)
    review_template = "frontend/review/boxes.html"
    accuracy_scales = ("exact", "coarse")
    golden_rule = "boxes pair one-to-one at IoU ≥ 0.5 with the same category; a label is correct when every box pairs, and the score is F1"
    default_guide_title = GUIDE_TITLE
    default_guide_body = GUIDE_BODY

    def payload_clean(self, payload) -> dict:
        payload = super().payload_clean(payload)
        require_keys(payload, ("image",))
        image = payload["image"]
        if not isinstance(image, dict) or not isinstance(image.get("url"), str) or _image_size(image) is None:
            raise PayloadSchemaError(PAYLOAD_IMAGE_INVALID)
        _clean_proposals(payload.get("proposals", []))
        return payload

    def answer_clean(self, *, payload: dict, answer) -> dict:
        answer = require_object(answer)
        require_answer_keys(answer, ("boxes",))
        if not isinstance(answer["boxes"], list):
            raise AnswerSchemaError(BOXES_NOT_LIST)
        image_size = _image_size(payload.get("image"))
        snapshot = taxonomy.taxonomy_snapshot() if answer["boxes"] else None  # one read for every box
        boxes = []
        for index, entry in enumerate(answer["boxes"]):
            if not isinstance(entry, dict) or set(entry) != {"box", "category"}:
                raise AnswerSchemaError(BOX_ENTRY_NOT_OBJECT.format(index=index))
            where = f"Box {index}"
            boxes.append({
                "box": _clean_box(entry["box"], where=where, image_size=image_size),
                "category": _clean_category(entry["category"], where=where, snapshot=snapshot),
            })
        return {"boxes": boxes}

    # The labelers' consensus boxes, or the detector's proposals (a pre-annotated box queue is a
    # detector run over a scene set).
    crop_sources = ("consensus", "proposals")

    def crop_boxes(self, *, payload: dict, answers: list[dict], source: str, min_score: float) -> list[dict]:
        if source == "proposals":
            return [{"box": p["box"], "category": p["category"]} for p in payload.get("proposals", [])
                    if p["score"] >= min_score]
        if not answers:
            return []
        return (self.consensus(payload=payload, answers=answers).answer or {}).get("boxes", [])

    def payload_for_labeler(self, *, payload: dict, show_preannotations: bool) -> dict:
        if show_preannotations or "proposals" not in payload:
            return payload
        return {key: value for key, value in payload.items() if key != "proposals"}

    def editor_context(self) -> dict:
        choices = taxonomy.category_choices()
        known = {choice["slug"] for choice in choices}
        # Number keys 1-9 give the categories with the most products in Shop The Look (the fixture's
        # counts), so the keys land on the boxes labelers draw most.
        by_frequency = [c.slug for c in sorted(fixture_taxonomy.categories(), key=lambda c: -c.stl_count)
                        if c.slug in known]
        return {"categories": choices, "common_categories": by_frequency[:9]}

    def consensus(self, *, payload: dict, answers: list[dict], iou_threshold: float = DEFAULT_IOU_THRESHOLD,
                  quorum: int | None = None) -> Consensus:
        return boxes_consensus([(index, answer["boxes"]) for index, answer in enumerate(answers)],
                               iou_threshold=iou_threshold, quorum=quorum)

    def golden_compare(self, *, payload: dict, answer: dict, golden: dict, iou_threshold: float = DEFAULT_IOU_THRESHOLD,
                       coarse: bool = False, **options) -> GoldenComparison:
        return boxes_match(answer["boxes"], golden["boxes"], iou_threshold=iou_threshold,
                           category_key=_coarse_key() if coarse else (lambda slug: slug))

    def simulated_answer(self, *, payload: dict, truth: dict, profile, rng, shared_key: str | None = None) -> dict:
        """A simulated labeler's answer (labeling/quality/simulation.py): the error model of this module's
        last section applied to the true answer (this kind has no pool-shared reading: ``shared_key``
        is not used)."""
        return {"boxes": boxes_simulated(truth_boxes=truth["boxes"], image_size=_image_size(payload.get("image")),
                                         categories=taxonomy.taxonomy_snapshot().leaves, profile=profile, rng=rng)}

    def quality_field(self, unit: str) -> str:
        # The clusters (consistency, alpha) and the whole answer (accuracy) are one field: the boxes.
        return "boxes"

    def accuracy_rows(self, *, payload: dict, answer: dict, golden: dict, scale: str = "exact",
                      iou_threshold: float = DEFAULT_IOU_THRESHOLD, **options) -> list[AccuracyRow]:
        """One row per label: correct when its boxes pair one-to-one with the golden boxes (IoU and
        category, or coarse category on the coarse scale). A scene has many categories, so the row
        has none of its own."""
        comparison = self.golden_compare(payload=payload, answer=answer, golden=golden, iou_threshold=iou_threshold,
                                         coarse=scale == "coarse")
        return [AccuracyRow("boxes", comparison.correct)]

    def quality_rows(self, *, payload: dict, labels: list[tuple[int, dict]]) -> list[QualityRow]:
        """A row per (labeler, box cluster): the category the labeler gave the object, or
        ``absent`` when they did not box it; every cluster counts, kept by the quorum or not."""
        clusters = boxes_cluster([(labeler_id, answer["boxes"]) for labeler_id, answer in labels])
        return [QualityRow(labeler_id, f"cluster:{index}",
                           cluster.members[labeler_id]["category"] if labeler_id in cluster.members else ABSENT)
                for index, cluster in enumerate(clusters) for labeler_id, _ in labels]

    def answer_summary(self, *, payload: dict, answer: dict) -> list[str]:
        boxes = answer.get("boxes") or []
        if not boxes:
            return ["Nothing to box"]
        counts: dict[str, int] = {}
        for entry in boxes:
            counts[entry["category"]] = counts.get(entry["category"], 0) + 1
        return [f"{len(boxes)} box{'es' if len(boxes) != 1 else ''}"] + [
            f"{category}: {count}" for category, count in sorted(counts.items())]

    def review_context(self, *, payload: dict, labels: list[tuple[str, dict]], consensus: Consensus,
                       golden: dict | None) -> dict:
        image = payload.get("image") or {}
        layers = [{"name": name, "boxes": [_rect(entry) for entry in answer["boxes"]],
                   "colour": REVIEW_COLOURS[index % len(REVIEW_COLOURS)]}
                  for index, (name, answer) in enumerate(labels)]
        consensus_boxes = []
        if consensus.answer:
            confidence = consensus.details.get("confidence", [])
            consensus_boxes = [_rect(entry, confidence=confidence[i] if i < len(confidence) else None)
                               for i, entry in enumerate(consensus.answer["boxes"])]
        return {"image": image, "layers": layers, "consensus_boxes": consensus_boxes,
                "golden_boxes": [_rect(entry) for entry in golden["boxes"]] if golden else None,
                # Sizes in image pixels that stay readable whatever the scene's size on screen.
                **_review_sizes(max(image.get("width") or 0, image.get("height") or 0))}


def _review_sizes(longest_side: float) -> dict:
    return {"stroke": round(max(1.0, longest_side / 200), 2), "font_size": round(max(6.0, longest_side / 45), 1),
            "text_stroke": round(max(0.5, longest_side / 400), 2)}


def _rect(entry: dict, **extra) -> dict:
    """A box as an SVG rect (x, y, width, height) for the review page, in image pixels."""
    x0, y0, x1, y1 = entry["box"]
    return {"x": x0, "y": y0, "width": x1 - x0, "height": y1 - y0, "label_y": max(0.0, y0 - 4),
            "category": entry["category"], "box": entry["box"], **extra}


# Distinct, colour-blind-friendly (Okabe-Ito); consensus is drawn white, golden black dashed.
REVIEW_COLOURS = ("#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7", "#999999")


# == Simulated labelers ============================================================================
# A simulation, never a person (labeling/quality/simulation.py; docs/METRICS.md, "Simulated
# labelers"). The geometry helpers are shared with the matching-pair kind's simulation.

# A spurious or random box spans this share range of the image's width and height.
SIMULATED_BOX_SIDE = (0.05, 0.3)
# A spammer draws between none and this many boxes.
SPAMMER_MAX_BOXES = 3


def box_clamped(box: list[float], *, image_size: tuple[float, float]) -> list[float] | None:
    """The box cut to the image, or None when nothing of at least a pixel is left."""
    width, height = image_size
    x0, y0 = max(0.0, box[0]), max(0.0, box[1])
    x1, y1 = min(width, box[2]), min(height, box[3])
    if x1 - x0 < 1 or y1 - y0 < 1:
        return None
    return [x0, y0, x1, y1]


def box_jittered(box: list[float], *, jitter: float, image_size: tuple[float, float], rng) -> list[float]:
    """Each coordinate moved by normal noise, its standard deviation ``jitter`` times the box's
    width (x) or height (y), to 0.1 pixel; the box itself when the noise is 0 or leaves nothing."""
    if jitter <= 0:
        return list(box)
    width, height = box[2] - box[0], box[3] - box[1]
    moved = [round(value + rng.gauss(0.0, jitter * (width if index % 2 == 0 else height)), 1)
             for index, value in enumerate(box)]
    return box_clamped(moved, image_size=image_size) or list(box)


def box_random(*, image_size: tuple[float, float], rng) -> list[float]:
    """A box anywhere in the image, its sides a random share of the image's (SIMULATED_BOX_SIDE)."""
    width, height = image_size
    box_width, box_height = (rng.uniform(*SIMULATED_BOX_SIDE) * width, rng.uniform(*SIMULATED_BOX_SIDE) * height)
    x0, y0 = rng.uniform(0.0, width - box_width), rng.uniform(0.0, height - box_height)
    return [round(x0, 1), round(y0, 1), round(min(width, x0 + box_width), 1), round(min(height, y0 + box_height), 1)]


def category_other(category: str, *, categories, rng) -> str:
    """Another category than ``category``, uniformly; ``category`` itself when there is no other."""
    others = [slug for slug in categories if slug != category]
    return rng.choice(others) if others else category


def boxes_simulated(*, truth_boxes: list[dict], image_size: tuple[float, float], categories, profile,
                    rng) -> list[dict]:
    """A simulated labeler's boxes for a scene whose true boxes are ``truth_boxes``: each true
    object, unless it is small (area under ``small_area`` of the image) and missed
    (``miss_small``), with its box jittered and, with probability ``wrong_category``, another of
    ``categories``; then, with probability ``extra_box``, one spurious box. A spammer draws up to
    three random boxes with random categories."""
    if profile.spammer:
        return [{"box": box_random(image_size=image_size, rng=rng), "category": rng.choice(categories)}
                for _ in range(rng.randint(0, SPAMMER_MAX_BOXES))]
    image_area = image_size[0] * image_size[1]
    drawn = []
    for entry in truth_boxes:
        box = entry["box"]
        area = (box[2] - box[0]) * (box[3] - box[1])
        if area < profile.small_area * image_area and rng.random() < profile.miss_small:
            continue
        category = entry["category"]
        if rng.random() < profile.wrong_category:
            category = category_other(category, categories=categories, rng=rng)
        drawn.append({"box": box_jittered(box, jitter=profile.jitter, image_size=image_size, rng=rng),
                      "category": category})
    if rng.random() < profile.extra_box:
        drawn.append({"box": box_random(image_size=image_size, rng=rng), "category": rng.choice(categories)})
    return drawn


