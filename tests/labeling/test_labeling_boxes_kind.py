"""Box consensus and golden matching against hand-computed cases (labeling/task_kinds/boxes.py)."""
from __future__ import annotations

import pytest

from labeling.task_kinds import task_kind_spec
from labeling.task_kinds.boxes import ABSENT, box_iou, boxes_cluster, boxes_consensus, boxes_match


def entry(x0, y0, x1, y1, category="tops"):
    return {"box": [float(x0), float(y0), float(x1), float(y1)], "category": category}


def test_iou_of_two_boxes_overlapping_by_half_their_width_is_one_third():
    # 100x100 boxes shifted by 50: intersection 5000, union 15000.
    assert box_iou([0, 0, 100, 100], [50, 0, 150, 100]) == pytest.approx(1 / 3)
    assert box_iou([0, 0, 10, 10], [20, 20, 30, 30]) == 0.0


def test_three_labelers_boxing_one_object_give_the_median_box_and_full_confidence():
    labels = [(1, [entry(10, 10, 110, 110)]), (2, [entry(12, 8, 108, 112)]), (3, [entry(14, 12, 116, 106)])]
    consensus = boxes_consensus(labels)
    assert consensus.answer == {"boxes": [entry(12, 10, 110, 110)]}
    assert consensus.details["confidence"] == [1.0]
    assert consensus.agreement == 1.0


def test_a_box_only_one_of_three_labelers_drew_is_dropped_by_the_quorum():
    shared = [entry(0, 0, 100, 100), entry(200, 200, 300, 300, "shoes")]
    labels = [(1, shared), (2, shared + [entry(400, 0, 450, 50, "handbags")]), (3, shared)]
    consensus = boxes_consensus(labels)
    assert [b["category"] for b in consensus.answer["boxes"]] == ["tops", "shoes"]
    assert consensus.details["clusters_dropped"] == 1
    # Three clusters: two drawn by all three labelers, one by one of them.
    assert consensus.agreement == pytest.approx((1 + 1 + 1 / 3) / 3)


def test_one_labeler_drawing_one_object_twice_adds_a_cluster_that_the_quorum_drops():
    labels = [(1, [entry(0, 0, 100, 100), entry(2, 2, 101, 99)]), (2, [entry(1, 1, 99, 100)]),
              (3, [entry(0, 2, 100, 101)])]
    clusters = boxes_cluster(labels)
    assert sorted(len(cluster.members) for cluster in clusters) == [1, 3]
    consensus = boxes_consensus(labels)
    assert len(consensus.answer["boxes"]) == 1
    assert consensus.details["confidence"] == [1.0]


def test_a_category_tie_goes_to_the_alphabetically_first_slug_and_lowers_agreement():
    labels = [(1, [entry(0, 0, 100, 100, "tops")]), (2, [entry(0, 0, 100, 100, "coats")])]
    consensus = boxes_consensus(labels)
    # Two labelers: the quorum is 2, both drew the box; the tie tops/coats goes to coats.
    assert consensus.answer["boxes"][0]["category"] == "coats"
    assert consensus.agreement == 0.5


def test_boxes_under_the_iou_threshold_never_join_one_cluster():
    labels = [(1, [entry(0, 0, 100, 100)]), (2, [entry(50, 0, 150, 100)])]  # IoU 1/3
    assert len(boxes_cluster(labels)) == 2
    assert boxes_consensus(labels).answer == {"boxes": []}
    assert len(boxes_cluster(labels, iou_threshold=0.3)) == 1


def test_nothing_to_box_from_everyone_is_full_agreement_on_no_boxes():
    consensus = boxes_consensus([(1, []), (2, [])])
    assert consensus.answer == {"boxes": []} and consensus.agreement == 1.0
    assert boxes_consensus([]).answer is None


def test_golden_matching_reports_precision_recall_and_f1_with_unmatched_boxes():
    golden = [entry(0, 0, 100, 100), entry(200, 200, 300, 300, "shoes"), entry(400, 400, 500, 500, "coats")]
    drawn = [entry(5, 5, 100, 100), entry(200, 200, 300, 300, "pants"), entry(600, 600, 700, 700)]
    comparison = boxes_match(drawn, golden)
    # Only the first box pairs: the second has the wrong category, the third covers nothing golden.
    assert comparison.details["matched"] == 1
    assert comparison.details["precision"] == pytest.approx(1 / 3)
    assert comparison.details["recall"] == pytest.approx(1 / 3)
    assert comparison.score == pytest.approx(1 / 3)
    assert not comparison.correct


def test_golden_matching_is_one_to_one_so_a_duplicate_box_costs_precision():
    golden = [entry(0, 0, 100, 100)]
    comparison = boxes_match([entry(0, 0, 100, 100), entry(1, 1, 100, 100)], golden)
    assert comparison.details["matched"] == 1
    assert comparison.details["precision"] == 0.5 and comparison.details["recall"] == 1.0
    assert comparison.score == pytest.approx(2 / 3)
    assert not comparison.correct


def test_golden_matching_pairs_the_best_iou_first_when_two_boxes_compete():
    golden = [entry(0, 0, 100, 100), entry(60, 0, 160, 100)]
    drawn = [entry(58, 0, 160, 100), entry(0, 0, 98, 100)]
    comparison = boxes_match(drawn, golden)
    assert comparison.correct and comparison.score == 1.0
    assert sorted((i, j) for i, j, _ in comparison.details["pairs"]) == [(0, 1), (1, 0)]


def test_coarse_golden_matching_accepts_another_category_of_the_same_coarse_group(db):
    spec = task_kind_spec("bounding_boxes")
    golden = {"boxes": [entry(0, 0, 100, 100, "tops")]}
    answer = {"boxes": [entry(0, 0, 100, 100, "pants")]}  # both Clothing
    assert not spec.golden_compare(payload={}, answer=answer, golden=golden).correct
    assert spec.golden_compare(payload={}, answer=answer, golden=golden, coarse=True).correct


def test_empty_answer_against_empty_golden_is_correct_and_against_boxes_scores_zero():
    assert boxes_match([], []).correct and boxes_match([], []).score == 1.0
    missed = boxes_match([], [entry(0, 0, 10, 10)])
    assert not missed.correct and missed.score == 0.0


def test_quality_rows_give_each_labeler_a_value_per_box_cluster_absent_where_they_drew_none():
    spec = task_kind_spec("bounding_boxes")
    labels = [(1, {"boxes": [entry(0, 0, 100, 100), entry(200, 200, 300, 300, "shoes")]}),
              (2, {"boxes": [entry(0, 0, 100, 100, "coats")]})]
    rows = {(row.labeler_id, row.unit): row.value for row in spec.quality_rows(payload={}, labels=labels)}
    assert rows == {(1, "cluster:0"): "tops", (2, "cluster:0"): "coats",
                    (1, "cluster:1"): "shoes", (2, "cluster:1"): ABSENT}


def test_hidden_preannotations_are_dropped_from_what_a_labeler_gets():
    spec = task_kind_spec("bounding_boxes")
    payload = {"image": {"url": "/media/x.png", "width": 10, "height": 10},
               "proposals": [{"box": [0, 0, 5, 5], "category": "tops", "score": 0.9}]}
    assert "proposals" not in spec.payload_for_labeler(payload=payload, show_preannotations=False)
    assert spec.payload_for_labeler(payload=payload, show_preannotations=True) == payload
