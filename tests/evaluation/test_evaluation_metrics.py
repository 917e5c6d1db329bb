"""Relevance metrics against values computed by hand."""
import pandas as pd
import pytest

from evaluation import metrics


def slot_labels(rows):
    return pd.DataFrame(rows, columns=["query_object_id", "slot", "grade"])


def query_objects(rows):
    return pd.DataFrame(rows, columns=["query_object_id", "scene_id", "category", "n_candidates"])


def test_majority_vote_takes_the_most_common_grade():
    labels = slot_labels([(1, 1, "similar"), (1, 1, "similar"), (1, 1, "extremely_similar")])
    aggregated = metrics.aggregate_slot_grades(labels)
    assert aggregated.to_dict("records") == [{"query_object_id": 1, "slot": 1, "grade": "similar", "n_labels": 3}]


def test_majority_vote_tie_goes_to_the_lower_grade():
    labels = slot_labels([
        (1, 1, "extremely_similar"), (1, 1, "similar"),
        (1, 2, "not_similar"), (1, 2, "did_not_load"), (1, 2, "similar"),
        (1, 3, "marginally_similar"), (1, 3, "extremely_similar"),
    ])
    aggregated = metrics.aggregate_slot_grades(labels).set_index("slot")["grade"].to_dict()
    assert aggregated == {1: "similar", 2: "did_not_load", 3: "marginally_similar"}


def test_unknown_grade_is_refused_with_its_name():
    with pytest.raises(ValueError) as error:
        metrics.aggregate_slot_grades(slot_labels([(1, 1, "great")]))
    assert str(error.value) == metrics.UNKNOWN_GRADE_ERROR.format(grades="great")


def hand_example():
    # q1 (tops, scene 10): slots es, s, ms, ns, es -> similar 3, extremely 2, bad 2 of 5 judged.
    # q2 (tops, scene 11): only 3 candidates: es, dnl, s -> similar 2, extremely 1, bad 1 of 3 judged.
    # q3 (shoes, scene 11): 5 candidates, votes tie on slot 1 (es vs s -> s), others not_similar.
    labels = slot_labels([
        (1, 1, "extremely_similar"), (1, 2, "similar"), (1, 3, "marginally_similar"),
        (1, 4, "not_similar"), (1, 5, "extremely_similar"),
        (2, 1, "extremely_similar"), (2, 2, "did_not_load"), (2, 3, "similar"),
        (3, 1, "extremely_similar"), (3, 1, "similar"),
        (3, 2, "not_similar"), (3, 3, "not_similar"), (3, 4, "not_similar"), (3, 5, "not_similar"),
    ])
    objects = query_objects([(1, 10, "tops", 5), (2, 11, "tops", 3), (3, 11, "shoes", 5), (4, 12, "tops", 5)])
    return labels, objects


def test_precision_at_5_and_bad_rate_match_hand_computed_values_with_missing_slots():
    labels, objects = hand_example()
    block = metrics.relevance_metrics(labels, objects, n_bootstrap=200)
    # Similar: (3 + 2 + 1) / 15; Extremely: (2 + 1 + 0) / 15; Bad: (2 + 1 + 4) / (5 + 3 + 5).
    assert block["similar_p_at_5"] == pytest.approx(6 / 15)
    assert block["extremely_similar_p_at_5"] == pytest.approx(3 / 15)
    assert block["bad_rate"] == pytest.approx(7 / 13)
    assert block["n_judged"] == 3
    assert block["n_query_objects"] == 4


def test_per_category_metrics_are_computed_within_each_category():
    labels, objects = hand_example()
    per_category = metrics.relevance_metrics(labels, objects, n_bootstrap=200)["per_category"]
    assert set(per_category) == {"tops", "shoes"}
    assert per_category["tops"]["similar_p_at_5"] == pytest.approx(5 / 10)
    assert per_category["tops"]["extremely_similar_p_at_5"] == pytest.approx(3 / 10)
    assert per_category["tops"]["bad_rate"] == pytest.approx(3 / 8)
    assert per_category["shoes"]["similar_p_at_5"] == pytest.approx(1 / 5)
    assert per_category["shoes"]["bad_rate"] == pytest.approx(4 / 5)


def test_bootstrap_interval_brackets_the_estimate_and_is_reproducible():
    labels, objects = hand_example()
    first = metrics.relevance_metrics(labels, objects, n_bootstrap=500, seed=3)
    second = metrics.relevance_metrics(labels, objects, n_bootstrap=500, seed=3)
    low, high = first["ci"]["similar_p_at_5"]
    assert low <= first["similar_p_at_5"] <= high
    assert low < high
    assert first["ci"] == second["ci"]


def test_no_labels_gives_empty_metrics():
    _, objects = hand_example()
    block = metrics.relevance_metrics(slot_labels([]), objects)
    assert block["similar_p_at_5"] is None
    assert block["n_judged"] == 0
    assert block["per_category"] == {}


def test_relative_gain_over_baseline_is_computed_on_shared_scenes():
    # Baseline: scene 1 has similar 1 of 5, scene 2 has 2 of 5, scene 3 only in the baseline (5 of 5).
    baseline_labels = slot_labels(
        [(1, 1, "similar")] + [(1, s, "not_similar") for s in range(2, 6)]
        + [(2, 1, "similar"), (2, 2, "extremely_similar")] + [(2, s, "not_similar") for s in range(3, 6)]
        + [(3, s, "similar") for s in range(1, 6)]
    )
    baseline_objects = query_objects([(1, 1, "tops", 5), (2, 2, "tops", 5), (3, 3, "tops", 5)])
    # Candidate: scene 1 has 3 of 5, scene 2 has 3 of 5.
    candidate_labels = slot_labels(
        [(11, s, "similar") for s in range(1, 4)] + [(11, s, "not_similar") for s in (4, 5)]
        + [(12, s, "extremely_similar") for s in range(1, 4)] + [(12, s, "not_similar") for s in (4, 5)]
    )
    candidate_objects = query_objects([(11, 1, "tops", 5), (12, 2, "tops", 5)])
    gains = metrics.relative_gains(baseline_labels, baseline_objects, candidate_labels, candidate_objects,
                                   n_bootstrap=400)
    similar = gains["similar_p_at_5"]
    assert similar["n_shared_scenes"] == 2
    assert similar["baseline"] == pytest.approx(3 / 10)
    assert similar["candidate"] == pytest.approx(6 / 10)
    assert similar["gain"] == pytest.approx(1.0)
    low, high = similar["ci"]
    assert low <= 1.0 <= high
    assert 0.0 <= similar["p_value"] <= 1.0
    extremely = gains["extremely_similar_p_at_5"]
    assert extremely["gain"] == pytest.approx((3 / 10 - 1 / 10) / (1 / 10))
    bad = gains["bad_rate"]
    assert bad["gain"] == pytest.approx((4 / 10 - 7 / 10) / (7 / 10))


def test_relative_gain_with_a_clear_improvement_has_a_small_p_value():
    scenes = range(40)
    baseline_labels = slot_labels([(s, slot, "similar" if slot == 1 else "not_similar")
                                   for s in scenes for slot in range(1, 6)])
    candidate_labels = slot_labels([(100 + s, slot, "similar" if slot <= 4 else "not_similar")
                                    for s in scenes for slot in range(1, 6)])
    baseline_objects = query_objects([(s, s, "tops", 5) for s in scenes])
    candidate_objects = query_objects([(100 + s, s, "tops", 5) for s in scenes])
    gain = metrics.relative_gains(baseline_labels, baseline_objects, candidate_labels, candidate_objects,
                                  n_bootstrap=400)["similar_p_at_5"]
    assert gain["gain"] == pytest.approx(3.0)
    assert gain["p_value"] < 0.01


def test_relative_gain_without_shared_scenes_is_undefined():
    base = metrics.per_query_object_counts(
        metrics.aggregate_slot_grades(slot_labels([(1, 1, "similar")])), query_objects([(1, 1, "tops", 5)]))
    cand = metrics.per_query_object_counts(
        metrics.aggregate_slot_grades(slot_labels([(2, 1, "similar")])), query_objects([(2, 2, "tops", 5)]))
    gain = metrics.relative_gain(base, cand, metric="similar_p_at_5")
    assert gain.gain is None
    assert gain.n_shared_scenes == 0


def test_query_object_without_candidates_counts_as_judged_with_nothing_relevant():
    labels = slot_labels([(1, 1, "similar"), (1, 2, "not_similar")])
    objects = query_objects([(1, 10, "tops", 2), (2, 10, "tops", 0), (3, 10, "tops", 5)])
    block = metrics.relevance_metrics(labels, objects, n_bootstrap=50)
    assert block["n_judged"] == 2
    assert block["similar_p_at_5"] == pytest.approx(1 / 10)
    assert block["bad_rate"] == pytest.approx(1 / 2)
