"""Offline detection metrics (seed section 5.2.1, Table 2): COCO mAP and P/R at the F1-optimal threshold.

Pure functions on per-image structures, no model inside. An image's detections are a mapping (or
an object with attributes, such as ``models_runtime.detector.Detections``) with ``boxes`` [n, 4]
x0 y0 x1 y1 in pixels, ``categories`` (taxonomy slugs) and ``scores`` [n]; its ground truth has
``boxes`` and ``categories``. Lists of detections and ground truth are aligned by position.

mAP is computed by pycocotools' ``COCOeval`` so the figures are the ones the field reports; the
precision/recall operating point is the seed's: choose the score threshold maximising F1 on a
validation split, report precision and recall on the test split at that threshold. With
``rollup=True`` fine categories are replaced by their coarse category (``taxonomy.COARSE_OF``)
before anything is matched, which is how the seed compares models with different taxonomies.
"""
from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from models_runtime import taxonomy

MATCH_IOU = 0.5

LENGTH_MISMATCH_ERROR = "got detections for {n_detections} images but ground truth for {n_truth}"
BOXES_SHAPE_ERROR = "boxes must have shape [n, 4], got {shape}"
COUNT_MISMATCH_ERROR = "an image has {n_boxes} boxes but {n_categories} categories and {n_scores} scores"
UNKNOWN_CATEGORY_ERROR = "unknown category {category!r} (not in the taxonomy)"
NO_GROUND_TRUTH_ERROR = "the ground truth holds no boxes: mAP and recall are undefined"


@dataclass(frozen=True)
class ImageBoxes:
    """One image's boxes in the normalised form the metrics work on."""

    boxes: np.ndarray  # float64 [n, 4]
    categories: tuple[str, ...]
    scores: np.ndarray  # float64 [n]; ones for ground truth


@dataclass(frozen=True)
class OperatingPoint:
    threshold: float
    precision: float
    recall: float
    f1: float
    true_positives: int
    detections: int
    ground_truth: int


def _field(item: Any, name: str) -> Any:
    if isinstance(item, dict):
        return item.get(name)
    return getattr(item, name, None)


def _normalise(item: Any, *, with_scores: bool, rollup: bool) -> ImageBoxes:
    raw_boxes = _field(item, "boxes")
    boxes = np.asarray(raw_boxes if raw_boxes is not None else [], dtype=np.float64)
    if boxes.size == 0:
        boxes = boxes.reshape(0, 4)
    if boxes.ndim != 2 or boxes.shape[1] != 4:
        raise ValueError(BOXES_SHAPE_ERROR.format(shape=tuple(boxes.shape)))
    categories = list(_field(item, "categories") or [])
    for category in categories:
        if category not in taxonomy.COARSE_OF:
            raise ValueError(UNKNOWN_CATEGORY_ERROR.format(category=category))
    if rollup:
        categories = [taxonomy.COARSE_OF[category] for category in categories]
    raw_scores = _field(item, "scores") if with_scores else None
    scores = (np.asarray(raw_scores, dtype=np.float64).reshape(-1) if raw_scores is not None
              else np.ones(len(boxes), dtype=np.float64))
    if not len(boxes) == len(categories) == len(scores):
        raise ValueError(COUNT_MISMATCH_ERROR.format(
            n_boxes=len(boxes), n_categories=len(categories), n_scores=len(scores)))
    return ImageBoxes(boxes, tuple(categories), scores)


def _prepare(detections: Sequence[Any], ground_truth: Sequence[Any],
             rollup: bool) -> tuple[list[ImageBoxes], list[ImageBoxes]]:
    if len(detections) != len(ground_truth):
        raise ValueError(LENGTH_MISMATCH_ERROR.format(n_detections=len(detections),
                                                      n_truth=len(ground_truth)))
    dets = [_normalise(d, with_scores=True, rollup=rollup) for d in detections]
    truth = [_normalise(g, with_scores=False, rollup=rollup) for g in ground_truth]
    if sum(len(g.boxes) for g in truth) == 0:
        raise ValueError(NO_GROUND_TRUTH_ERROR)
    return dets, truth


def _category_names(rollup: bool) -> tuple[str, ...]:
    return taxonomy.COARSE_CATEGORIES if rollup else taxonomy.CATEGORIES


def _xywh(box: np.ndarray) -> list[float]:
    x0, y0, x1, y1 = (float(v) for v in box)
    return [x0, y0, x1 - x0, y1 - y0]


def coco_map(detections: Sequence[Any], ground_truth: Sequence[Any], *,
             rollup: bool = False) -> dict[str, float]:
    """``{"map": mAP@[.5:.95], "map50": mAP@0.5, "map75": mAP@0.75}`` from pycocotools' COCOeval.

    Averaged over the categories present in the ground truth (COCOeval leaves the others out).
    """
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    dets, truth = _prepare(detections, ground_truth, rollup)
    names = _category_names(rollup)
    category_id = {name: index + 1 for index, name in enumerate(names)}
    annotations = []
    for image_id, image in enumerate(truth, start=1):
        for box, category in zip(image.boxes, image.categories):
            xywh = _xywh(box)
            annotations.append({"id": len(annotations) + 1, "image_id": image_id,
                                "category_id": category_id[category], "bbox": xywh,
                                "area": xywh[2] * xywh[3], "iscrowd": 0})
    results = [
        {"image_id": image_id, "category_id": category_id[category], "bbox": _xywh(box),
         "score": float(score)}
        for image_id, image in enumerate(dets, start=1)
        for box, category, score in zip(image.boxes, image.categories, image.scores)
    ]
    if not results:
        return {"map": 0.0, "map50": 0.0, "map75": 0.0}
    # COCOeval prints its progress and summary table; the caller gets the numbers instead.
    with contextlib.redirect_stdout(io.StringIO()):
        coco_truth = COCO()
        coco_truth.dataset = {
            "images": [{"id": i} for i in range(1, len(truth) + 1)],
            "categories": [{"id": cid, "name": name} for name, cid in category_id.items()],
            "annotations": annotations,
        }
        coco_truth.createIndex()
        coco_dets = coco_truth.loadRes(results)
        evaluation = COCOeval(coco_truth, coco_dets, iouType="bbox")
        evaluation.evaluate()
        evaluation.accumulate()
        evaluation.summarize()
    stats = evaluation.stats
    # COCOeval reports -1 where no category had ground truth at that setting; the "all areas,
    # 100 detections" figures used here always have some, since ground truth is non-empty.
    return {"map": float(stats[0]), "map50": float(stats[1]), "map75": float(stats[2])}


def box_iou(boxes_a: np.ndarray, boxes_b: np.ndarray) -> np.ndarray:
    """Pairwise IoU of x0 y0 x1 y1 boxes, [len(a), len(b)]."""
    a = np.asarray(boxes_a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(boxes_b, dtype=np.float64).reshape(-1, 4)
    x0 = np.maximum(a[:, None, 0], b[None, :, 0])
    y0 = np.maximum(a[:, None, 1], b[None, :, 1])
    x1 = np.minimum(a[:, None, 2], b[None, :, 2])
    y1 = np.minimum(a[:, None, 3], b[None, :, 3])
    intersection = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - intersection
    return np.where(union > 0, intersection / np.where(union > 0, union, 1.0), 0.0)


def match_detections(detections: Sequence[Any], ground_truth: Sequence[Any], *,
                     rollup: bool = False, iou_threshold: float = MATCH_IOU
                     ) -> tuple[np.ndarray, np.ndarray, int]:
    """Greedy matching by descending score: ``(scores, is_true_positive, n_ground_truth)``.

    A detection is a true positive when it overlaps a not-yet-matched ground-truth box of the
    same category with IoU >= ``iou_threshold`` (the best-overlapping such box is taken). Because
    the matching is greedy by score, a detection's outcome depends only on higher-scored ones, so
    one matching serves every score threshold.
    """
    dets, truth = _prepare(detections, ground_truth, rollup)
    all_scores: list[np.ndarray] = []
    all_hits: list[np.ndarray] = []
    for image_dets, image_truth in zip(dets, truth):
        order = np.argsort(-image_dets.scores, kind="stable")
        overlaps = box_iou(image_dets.boxes, image_truth.boxes)
        truth_categories = np.asarray(image_truth.categories, dtype=object)
        taken = np.zeros(len(image_truth.boxes), dtype=bool)
        hits = np.zeros(len(order), dtype=bool)
        for rank, index in enumerate(order):
            candidates = (~taken) & (truth_categories == image_dets.categories[index])
            if not candidates.any():
                continue
            iou = np.where(candidates, overlaps[index], -1.0)
            best = int(np.argmax(iou))
            if iou[best] >= iou_threshold:
                taken[best] = True
                hits[rank] = True
        all_scores.append(image_dets.scores[order])
        all_hits.append(hits)
    n_truth = sum(len(image.boxes) for image in truth)
    scores = np.concatenate(all_scores) if all_scores else np.zeros(0)
    hits = np.concatenate(all_hits) if all_hits else np.zeros(0, dtype=bool)
    return scores, hits, n_truth


def _operating_points(scores: np.ndarray, hits: np.ndarray, n_truth: int):
    """Precision, recall and F1 when keeping detections with score >= each distinct score."""
    order = np.argsort(-scores, kind="stable")
    scores, hits = scores[order], hits[order]
    true_positives = np.cumsum(hits)
    kept = np.arange(1, len(scores) + 1)
    # Ties: a threshold keeps every detection with that score, so only the last of a run of equal
    # scores is a reachable operating point.
    last_of_run = np.append(scores[1:] != scores[:-1], True)
    thresholds = scores[last_of_run]
    tp = true_positives[last_of_run]
    kept = kept[last_of_run]
    precision = tp / kept
    recall = tp / n_truth
    f1 = np.where(precision + recall > 0, 2 * precision * recall / np.maximum(precision + recall, 1e-12), 0.0)
    return thresholds, tp, kept, precision, recall, f1


def precision_recall_at(detections: Sequence[Any], ground_truth: Sequence[Any], threshold: float,
                        *, rollup: bool = False) -> OperatingPoint:
    """Precision and recall keeping detections whose score is >= ``threshold``."""
    scores, hits, n_truth = match_detections(detections, ground_truth, rollup=rollup)
    keep = scores >= threshold
    tp = int(hits[keep].sum())
    kept = int(keep.sum())
    precision = tp / kept if kept else 0.0
    recall = tp / n_truth
    f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
    return OperatingPoint(float(threshold), precision, recall, f1, tp, kept, n_truth)


def f1_optimal_threshold(detections: Sequence[Any], ground_truth: Sequence[Any], *,
                         rollup: bool = False) -> OperatingPoint:
    """The score threshold maximising F1 (the highest such threshold on ties), with its P/R/F1."""
    scores, hits, n_truth = match_detections(detections, ground_truth, rollup=rollup)
    if len(scores) == 0:
        return OperatingPoint(1.0, 0.0, 0.0, 0.0, 0, 0, n_truth)
    thresholds, tp, kept, precision, recall, f1 = _operating_points(scores, hits, n_truth)
    best = int(np.argmax(f1))  # thresholds descend, so argmax's first maximum is the highest one
    return OperatingPoint(float(thresholds[best]), float(precision[best]), float(recall[best]),
                          float(f1[best]), int(tp[best]), int(kept[best]), n_truth)


def precision_recall_at_f1_optimal(val_detections: Sequence[Any], val_ground_truth: Sequence[Any],
                                   test_detections: Sequence[Any], test_ground_truth: Sequence[Any],
                                   *, rollup: bool = False) -> dict[str, Any]:
    """Seed Table 2's P and R: threshold chosen on validation, precision/recall measured on test."""
    chosen = f1_optimal_threshold(val_detections, val_ground_truth, rollup=rollup)
    test = precision_recall_at(test_detections, test_ground_truth, chosen.threshold, rollup=rollup)
    return {"threshold": chosen.threshold, "val": chosen, "test": test,
            "precision": test.precision, "recall": test.recall, "f1": test.f1}


def evaluate_detections(val_detections: Sequence[Any], val_ground_truth: Sequence[Any],
                        test_detections: Sequence[Any], test_ground_truth: Sequence[Any], *,
                        rollup: bool = False) -> dict[str, float]:
    """The seed's Table 2 row for one model: test mAP, mAP@0.5, and P/R at the val-F1-optimal threshold."""
    maps = coco_map(test_detections, test_ground_truth, rollup=rollup)
    operating = precision_recall_at_f1_optimal(val_detections, val_ground_truth, test_detections,
                                               test_ground_truth, rollup=rollup)
    return {**maps, "threshold": operating["threshold"], "precision": operating["precision"],
            "recall": operating["recall"], "f1": operating["f1"]}
