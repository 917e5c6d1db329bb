import re

import numpy as np
import pytest

from models_runtime import taxonomy
from models_runtime.detector import Detections
from models_runtime.metrics.detection import (
    LENGTH_MISMATCH_ERROR,
    NO_GROUND_TRUTH_ERROR,
    UNKNOWN_CATEGORY_ERROR,
    box_iou,
    coco_map,
    evaluate_detections,
    f1_optimal_threshold,
    precision_recall_at,
    precision_recall_at_f1_optimal,
)

TOP_BOX = [10.0, 10.0, 60.0, 80.0]
SHOE_BOX = [100.0, 150.0, 140.0, 190.0]
BAG_BOX = [150.0, 20.0, 230.0, 100.0]


def _fine_pair_in_one_coarse_category() -> tuple[str, str]:
    """Two fine categories sharing a coarse one (tops and pants are both Clothing)."""
    by_coarse: dict[str, list[str]] = {}
    for slug, coarse in taxonomy.COARSE_OF.items():
        by_coarse.setdefault(coarse, []).append(slug)
    return next(tuple(slugs[:2]) for slugs in by_coarse.values() if len(slugs) >= 2)


def _truth():
    return [
        {"boxes": [TOP_BOX, SHOE_BOX], "categories": ["tops", "shoes"]},
        {"boxes": [BAG_BOX], "categories": ["handbags"]},
    ]


def test_box_iou_of_known_overlaps():
    iou = box_iou(np.array([[0, 0, 10, 10]]), np.array([[0, 0, 10, 10], [5, 0, 15, 10], [20, 20, 30, 30]]))
    np.testing.assert_allclose(iou, [[1.0, 50 / 150, 0.0]])


def test_perfect_detections_score_one_everywhere():
    detections = [
        {"boxes": [TOP_BOX, SHOE_BOX], "categories": ["tops", "shoes"], "scores": [0.9, 0.8]},
        Detections(boxes=np.array([BAG_BOX], dtype=np.float32), categories=["handbags"],
                   scores=np.array([0.7], dtype=np.float32)),
    ]
    maps = coco_map(detections, _truth())
    assert maps["map"] == pytest.approx(1.0)
    assert maps["map50"] == pytest.approx(1.0)
    result = evaluate_detections(detections, _truth(), detections, _truth())
    assert (result["precision"], result["recall"], result["f1"]) == (1.0, 1.0, 1.0)
    assert result["threshold"] == pytest.approx(0.7)


def test_map_of_a_false_positive_between_two_hits_is_the_coco_interpolated_value():
    truth = [{"boxes": [TOP_BOX, BAG_BOX], "categories": ["tops", "tops"]}]
    detections = [{"boxes": [TOP_BOX, SHOE_BOX, BAG_BOX], "categories": ["tops"] * 3,
                   "scores": [0.9, 0.8, 0.7]}]
    # Precision is 1 up to recall 0.5, then 2/3 at recall 1; COCO samples 101 recall points,
    # 51 of them (0.00..0.50) at precision 1 and 50 at 2/3.
    expected = (51 * 1.0 + 50 * (2 / 3)) / 101
    maps = coco_map(detections, truth)
    assert maps["map50"] == pytest.approx(expected)
    assert maps["map"] == pytest.approx(expected)


def test_map_at_050_counts_a_loose_box_that_stricter_thresholds_reject():
    loose = [TOP_BOX[0], TOP_BOX[1], TOP_BOX[2] + 25.0, TOP_BOX[3]]  # IoU 50/75 = 0.667 with TOP_BOX
    truth = [{"boxes": [TOP_BOX], "categories": ["tops"]}]
    maps = coco_map([{"boxes": [loose], "categories": ["tops"], "scores": [0.9]}], truth)
    assert maps["map50"] == pytest.approx(1.0)
    # IoU thresholds 0.50, 0.55, 0.60 and 0.65 of the ten accept it.
    assert maps["map"] == pytest.approx(0.4)


def test_one_false_positive_with_known_scores_gives_the_computed_precision():
    detections = [
        {"boxes": [TOP_BOX, SHOE_BOX, BAG_BOX], "categories": ["tops", "shoes", "shoes"],
         "scores": [0.9, 0.8, 0.6]},
        {"boxes": [BAG_BOX], "categories": ["handbags"], "scores": [0.7]},
    ]
    at_low = precision_recall_at(detections, _truth(), 0.5)
    assert (at_low.true_positives, at_low.detections, at_low.ground_truth) == (3, 4, 3)
    assert at_low.precision == pytest.approx(0.75)
    assert at_low.recall == pytest.approx(1.0)
    best = f1_optimal_threshold(detections, _truth())
    # Keeping scores >= 0.7 drops only the false positive: P = R = 1.
    assert best.threshold == pytest.approx(0.7)
    assert (best.precision, best.recall, best.f1) == (1.0, 1.0, 1.0)


def test_threshold_is_chosen_on_validation_and_applied_to_test():
    val_detections = [
        {"boxes": [TOP_BOX, SHOE_BOX], "categories": ["tops", "shoes"], "scores": [0.9, 0.4]},
        {"boxes": [BAG_BOX, TOP_BOX], "categories": ["handbags", "tops"], "scores": [0.8, 0.6]},
    ]
    # F1 on val: t=0.9 -> P 1, R 1/3; t=0.8 -> P 1, R 2/3 (F1 0.8); t=0.6 -> P 2/3, R 2/3;
    # t=0.4 -> P 3/4, R 1 (F1 6/7 = 0.857), the best.
    test_detections = [
        {"boxes": [TOP_BOX, SHOE_BOX], "categories": ["tops", "shoes"], "scores": [0.95, 0.3]},
        {"boxes": [BAG_BOX, SHOE_BOX], "categories": ["handbags", "shoes"], "scores": [0.5, 0.45]},
    ]
    result = precision_recall_at_f1_optimal(val_detections, _truth(), test_detections, _truth())
    assert result["threshold"] == pytest.approx(0.4)
    assert result["val"].f1 == pytest.approx(6 / 7)
    # On test at 0.4: the top and the bag are hits, the stray shoe in image 2 is not, the real
    # shoe (0.3) is under the threshold: P = 2/3, R = 2/3.
    assert result["precision"] == pytest.approx(2 / 3)
    assert result["recall"] == pytest.approx(2 / 3)


def test_a_second_detection_of_an_already_matched_object_is_a_false_positive():
    truth = [{"boxes": [TOP_BOX], "categories": ["tops"]}]
    detections = [{"boxes": [TOP_BOX, TOP_BOX], "categories": ["tops", "tops"], "scores": [0.9, 0.8]}]
    point = precision_recall_at(detections, truth, 0.0)
    assert (point.true_positives, point.detections) == (1, 2)


def test_category_rollup_turns_a_fine_category_mistake_into_a_hit():
    predicted, actual = _fine_pair_in_one_coarse_category()
    truth = [{"boxes": [TOP_BOX], "categories": [actual]}]
    detections = [{"boxes": [TOP_BOX], "categories": [predicted], "scores": [0.9]}]
    fine = precision_recall_at(detections, truth, 0.5)
    coarse = precision_recall_at(detections, truth, 0.5, rollup=True)
    assert (fine.precision, fine.recall) == (0.0, 0.0)
    assert (coarse.precision, coarse.recall) == (1.0, 1.0)
    assert coco_map(detections, truth)["map50"] == pytest.approx(0.0)
    assert coco_map(detections, truth, rollup=True)["map50"] == pytest.approx(1.0)


def test_rollup_still_misses_a_different_coarse_category():
    truth = [{"boxes": [TOP_BOX], "categories": ["tops"]}]
    detections = [{"boxes": [TOP_BOX], "categories": ["shoes"], "scores": [0.9]}]
    assert taxonomy.COARSE_OF["tops"] != taxonomy.COARSE_OF["shoes"]
    assert precision_recall_at(detections, truth, 0.5, rollup=True).recall == 0.0


def test_no_detections_give_zero_map_and_zero_recall():
    empty = [{"boxes": np.zeros((0, 4)), "categories": [], "scores": np.zeros(0)}] * 2
    assert coco_map(empty, _truth())["map"] == 0.0
    best = f1_optimal_threshold(empty, _truth())
    assert (best.precision, best.recall, best.ground_truth) == (0.0, 0.0, 3)


def test_malformed_inputs_are_refused_with_named_errors():
    with pytest.raises(ValueError, match=re.escape(LENGTH_MISMATCH_ERROR.format(n_detections=1, n_truth=2))):
        coco_map([{"boxes": [], "categories": [], "scores": []}], _truth())
    with pytest.raises(ValueError, match=re.escape(NO_GROUND_TRUTH_ERROR)):
        f1_optimal_threshold([{"boxes": [], "categories": [], "scores": []}],
                             [{"boxes": [], "categories": []}])
    with pytest.raises(ValueError, match=re.escape(UNKNOWN_CATEGORY_ERROR.format(category="hats"))):
        precision_recall_at([{"boxes": [TOP_BOX], "categories": ["hats"], "scores": [1.0]}],
                            [{"boxes": [TOP_BOX], "categories": ["tops"]}], 0.5)
