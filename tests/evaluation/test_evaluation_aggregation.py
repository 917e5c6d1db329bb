"""Run metrics under either aggregation: the queue's choice, and both side by side."""
from __future__ import annotations

import random

import pandas as pd
import pytest

from evaluation import metrics
from labeling.task_kinds.relevance import GRADES


def slot_frame(seed: int = 0, *, n_objects: int = 300) -> tuple[pd.DataFrame, dict]:
    """Five labelers per slot: two careful ones, three spammers who answer at random."""
    rng = random.Random(seed)
    rows, truth = [], {}
    for query_object in range(n_objects):
        for slot in range(1, 6):
            true = rng.choice(GRADES[:4])
            truth[(query_object, slot)] = true
            for labeler in range(5):
                careful = labeler < 2
                grade = true if careful and rng.random() < 0.95 else rng.choice(GRADES[:4])
                rows.append((query_object, labeler, slot, grade))
    return pd.DataFrame(rows, columns=["query_object_id", "labeler_id", "slot", "grade"]), truth


def accuracy(aggregated: pd.DataFrame, truth: dict) -> float:
    return sum(truth[(row.query_object_id, row.slot)] == row.grade
               for row in aggregated.itertuples()) / len(aggregated)


def test_dawid_skene_beats_majority_vote_when_most_labelers_of_a_slot_are_spammers():
    frame, truth = slot_frame()
    majority = metrics.aggregate_slot_grades(frame, method="majority")
    dawid_skene = metrics.aggregate_slot_grades(frame, method="dawid_skene")
    assert len(majority) == len(dawid_skene) == len(truth)
    assert set(dawid_skene.columns) == {"query_object_id", "slot", "grade", "n_labels"}
    # Seed 0: majority 0.791, Dawid-Skene 0.971 (it learns that three labelers answer at random).
    assert accuracy(dawid_skene, truth) > accuracy(majority, truth) + 0.1


def test_an_unknown_aggregation_is_refused_with_the_methods_named():
    frame, _ = slot_frame(n_objects=2)
    with pytest.raises(ValueError, match="unknown aggregation method 'mode'"):
        metrics.aggregate_slot_grades(frame, method="mode")


def test_the_run_block_uses_the_queue_choice_and_carries_both_methods():
    frame, _ = slot_frame(n_objects=20)
    objects = pd.DataFrame({"query_object_id": range(20), "scene_id": [i // 2 for i in range(20)],
                            "category": "dresses", "n_candidates": 5})
    block = metrics.relevance_metrics_both(frame, objects, aggregation="dawid_skene")
    assert block["aggregation"] == "dawid_skene"
    assert set(block["by_aggregation"]) == {"majority", "dawid_skene"}
    assert block["by_aggregation"]["dawid_skene"]["similar_p_at_5"] == block["similar_p_at_5"]
    majority_only = metrics.relevance_metrics(frame, objects, aggregation="majority")
    assert block["by_aggregation"]["majority"]["similar_p_at_5"] == majority_only["similar_p_at_5"]
