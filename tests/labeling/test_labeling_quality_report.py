"""The quality report against hand-computed cases (consistency and accuracy as the seed's Table 9
defines them) for every task kind, and the export format's reader."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import krippendorff
import numpy as np
import pytest

from labeling.quality.frames import quality_frames
from labeling.quality.metrics import mean_figure
from labeling.quality.records import (LINE_MISSING_KEY, LINE_NOT_JSON, LINE_WRONG_KIND, RecordFormatError,
                                      golden_answers_read, label_records_read, record_to_json_line)
from labeling.quality.aggregation import aggregated_answers
from labeling.quality.report import quality_report
from labeling.task_kinds.relevance import GRADES

START = datetime(2026, 12, 1, 9, 0, tzinfo=timezone.utc)
POOLS = {"L1": "pool A", "L2": "pool A", "L3": "pool B"}


def record(item: str, labeler: str, answer: dict, *, kind: str, payload: dict | None = None, minute: int = 0) -> dict:
    return {"item": item, "kind": kind, "queue": 1, "task": int(item.split("-")[1]), "labeler": labeler,
            "pool": POOLS[labeler], "pool_kind": "in_house" if POOLS[labeler] == "pool A" else "crowd",
            "pool_cost_per_label": 0.5 if POOLS[labeler] == "pool A" else None, "simulated": False,
            "is_golden": item.startswith("golden"), "answer": answer, "payload": payload or {},
            "guide_version": "guide v1", "category": None, "created_at": START + timedelta(minutes=minute),
            "time_spent_ms": 4000}


def relevance(item, labeler, grades):
    return record(item, labeler, {"grades": grades}, kind="relevance",
                  payload={"query_object": {"category": "dresses"}, "candidates": [{}, {}]})


RELEVANCE_RECORDS = [
    relevance("task-1", "L1", ["extremely_similar", "similar"]),
    relevance("task-1", "L2", ["extremely_similar", "not_similar"]),
    relevance("task-1", "L3", ["similar", "not_similar"]),
    relevance("task-2", "L1", ["not_similar", "not_similar"]),
    relevance("task-2", "L2", ["not_similar", "not_similar"]),
    relevance("task-3", "L1", ["similar", "similar"]),  # one label: no consistency to speak of
    relevance("golden-9", "L1", ["similar", "marginally_similar"]),
    relevance("golden-9", "L2", ["extremely_similar", "marginally_similar"]),
    relevance("golden-9", "L3", ["similar", "not_similar"]),
]
RELEVANCE_GOLDEN = {"golden-9": {"grades": ["similar", "marginally_similar"]}}


def pool_row(report: dict, pool: str) -> dict:
    return next(row for row in report["per_pool"] if row["pool"] == pool)


def test_relevance_consistency_is_the_mean_over_slots_with_two_labels_of_the_share_giving_the_top_grade():
    report = quality_report(kind="relevance", records=RELEVANCE_RECORDS, golden=RELEVANCE_GOLDEN)
    # Slots: task-1 (2/3, 2/3), task-2 (1, 1), golden-9 (2/3, 2/3); task-3 has one label.
    assert report["overall"]["consistency"]["value"] == pytest.approx(7 / 9)
    assert report["overall"]["consistency"]["n"] == 6
    # Pool A alone (L1, L2): task-1 (1, 1/2), task-2 (1, 1), golden-9 (1/2, 1).
    assert pool_row(report, "pool A")["consistency"]["value"] == pytest.approx(5 / 6)
    assert pool_row(report, "pool B")["consistency"] == {"value": None, "low": None, "high": None, "n": 0}


def test_relevance_accuracy_is_exact_per_slot_and_coarse_on_the_three_level_scale():
    report = quality_report(kind="relevance", records=RELEVANCE_RECORDS, golden=RELEVANCE_GOLDEN)
    # L1 2 of 2, L2 1 of 2 (extremely similar for similar), L3 1 of 2 (not similar for marginally similar).
    assert report["overall"]["accuracy"]["value"] == pytest.approx(4 / 6)
    assert report["overall"]["accuracy"]["n"] == 6
    # Coarse: marginally and not similar are both "bad", so L3 is right twice; L2 still is not.
    assert report["overall"]["accuracy_coarse"]["value"] == pytest.approx(5 / 6)
    assert pool_row(report, "pool A")["accuracy"]["value"] == pytest.approx(3 / 4)
    labelers = {row["labeler"]: row for row in report["per_labeler"]}
    assert labelers["L2"]["accuracy"]["value"] == pytest.approx(1 / 2)
    # Pool A costs 0.5 a label at 3/4 accuracy: 2/3 per correct label.
    assert pool_row(report, "pool A")["cost_per_correct_label"] == pytest.approx(0.5 / 0.75)
    assert pool_row(report, "pool B")["cost_per_label"] is None


def test_relevance_alpha_is_ordinal_with_did_not_load_as_missing_and_equals_the_krippendorff_package():
    records = RELEVANCE_RECORDS + [relevance("task-2", "L3", ["did_not_load", "not_similar"])]
    report = quality_report(kind="relevance", records=records, golden=RELEVANCE_GOLDEN)
    order = [grade for grade in GRADES if grade != "did_not_load"]
    units = sorted({(r["item"], slot) for r in records for slot in range(2)})
    labelers = ["L1", "L2", "L3"]
    data = np.full((3, len(units)), np.nan)
    for r in records:
        for slot, grade in enumerate(r["answer"]["grades"]):
            if grade != "did_not_load":
                data[labelers.index(r["labeler"]), units.index((r["item"], slot))] = order.index(grade)
    expected = krippendorff.alpha(reliability_data=data, level_of_measurement="ordinal", value_domain=range(4))
    assert report["overall"]["alpha"]["level"] == "ordinal"
    assert report["overall"]["alpha"]["value"] == pytest.approx(expected, abs=1e-9)
    assert report["overall"]["alpha"]["low"] <= report["overall"]["alpha"]["value"] <= report["overall"]["alpha"]["high"]


def test_relevance_confusion_matrix_counts_labeler_grades_against_golden_grades():
    report = quality_report(kind="relevance", records=RELEVANCE_RECORDS, golden=RELEVANCE_GOLDEN)
    confusion = report["confusion"][0]
    values, matrix = confusion["values"], confusion["matrix"]
    at = lambda golden, given: matrix[values.index(golden)][values.index(given)]  # noqa: E731
    assert at("similar", "similar") == 2 and at("similar", "extremely_similar") == 1
    assert at("marginally_similar", "marginally_similar") == 2 and at("marginally_similar", "not_similar") == 1
    assert confusion["n"] == 6


def attributes(item, labeler, values):
    return record(item, labeler, {"attributes": values}, kind="attributes", payload={"category": "dresses"})


def test_attribute_consistency_and_accuracy_are_per_attribute():
    records = [
        attributes("task-1", "L1", {"color": "red", "pattern": "solid"}),
        attributes("task-1", "L2", {"color": "red", "pattern": "striped"}),
        attributes("task-1", "L3", {"color": "blue", "pattern": "striped"}),
        attributes("golden-5", "L1", {"color": "red", "pattern": "solid"}),
        attributes("golden-5", "L2", {"color": "red", "pattern": "dotted"}),
    ]
    report = quality_report(kind="attributes", records=records,
                            golden={"golden-5": {"attributes": {"color": "red", "pattern": "solid"}}})
    # (task-1, color) 2/3, (task-1, pattern) 2/3, (golden-5, color) 1, (golden-5, pattern) 1/2.
    assert report["overall"]["consistency"]["value"] == pytest.approx(17 / 24)
    assert report["overall"]["accuracy"]["value"] == pytest.approx(3 / 4)
    fields = {row["field"]: row for row in report["per_field"]}
    assert set(fields) == {"attribute:color", "attribute:pattern"}
    assert fields["attribute:color"]["consistency"]["value"] == pytest.approx(5 / 6)
    assert fields["attribute:pattern"]["accuracy"]["value"] == pytest.approx(1 / 2)
    assert report["per_category"][0]["category"] == "dresses"


def cleanup(item, labeler, category, match, *, box=(0, 0, 10, 10), is_spam=False):
    return record(item, labeler, {"box": list(box), "category": category, "match": match, "is_spam": is_spam},
                  kind="matching_pair", payload={"box": [0, 0, 10, 10], "category": "dresses"})


def test_cleanup_scores_each_field_separately():
    records = [cleanup("task-1", "L1", "dresses", "same"), cleanup("task-1", "L2", "skirts", "same"),
               cleanup("golden-3", "L1", "dresses", "same")]
    golden = {"golden-3": {"box": [0, 0, 10, 10], "category": "dresses", "match": "similar", "is_spam": False}}
    report = quality_report(kind="matching_pair", records=records, golden=golden)
    fields = {row["field"]: row for row in report["per_field"]}
    assert fields["category"]["consistency"]["value"] == pytest.approx(1 / 2)
    assert fields["match"]["consistency"]["value"] == pytest.approx(1.0)
    # Box, category and spam right; the verdict wrong.
    assert report["overall"]["accuracy"]["value"] == pytest.approx(3 / 4)
    assert fields["match"]["accuracy"]["value"] == 0.0
    assert fields["box"]["accuracy"]["value"] == 1.0
    assert report["overall"]["consistency"]["value"] == pytest.approx((1 + 1 / 2 + 1 + 1) / 4)


def boxes(item, labeler, entries):
    return record(item, labeler, {"boxes": [{"box": list(b), "category": c} for b, c in entries]}, kind="bounding_boxes",
                  payload={"image": {"width": 100, "height": 100}})


@pytest.mark.django_db  # the coarse scale reads the taxonomy's coarse categories
def test_box_consistency_is_per_cluster_and_accuracy_needs_a_one_to_one_pairing():
    records = [
        boxes("task-1", "L1", [((0, 0, 10, 10), "dresses")]),
        boxes("task-1", "L2", [((0, 0, 10, 10), "dresses"), ((50, 50, 60, 60), "hats")]),
        boxes("task-1", "L3", [((1, 1, 10, 10), "skirts")]),
        boxes("golden-2", "L1", [((0, 0, 10, 10), "dresses")]),
        boxes("golden-2", "L2", [((0, 0, 10, 10), "dresses"), ((50, 50, 60, 60), "hats")]),
    ]
    report = quality_report(kind="bounding_boxes", records=records,
                            golden={"golden-2": {"boxes": [{"box": [0, 0, 10, 10], "category": "dresses"}]}})
    # task-1: the dress cluster (dresses, dresses, skirts) 2/3; the hat cluster (hats, absent, absent) 2/3;
    # golden-2: the dress cluster 1, the hat cluster (absent, hats) 1/2.
    assert report["overall"]["consistency"]["value"] == pytest.approx((2 / 3 + 2 / 3 + 1 + 1 / 2) / 4)
    # L1's boxes pair one-to-one with the golden boxes; L2 drew an extra box.
    assert report["overall"]["accuracy"]["value"] == pytest.approx(1 / 2)


def test_dawid_skene_and_majority_vote_both_give_one_answer_per_judged_unit():
    frames = quality_frames(kind="relevance", records=RELEVANCE_RECORDS, golden=RELEVANCE_GOLDEN)
    for method in ("majority", "dawid_skene"):
        answers = aggregated_answers(frames, method=method)
        assert len(answers) == 8  # four items of two slots
        assert set(answers["value"]) <= set(GRADES)
    majority = aggregated_answers(frames, method="majority").set_index(["item", "unit"])["value"]
    assert majority[("task-1", "slot:1")] == "extremely_similar"
    # golden-9 slot 2: marginally_similar twice, not_similar once.
    assert majority[("golden-9", "slot:2")] == "marginally_similar"


def test_the_bootstrap_interval_equals_resampling_the_values_themselves():
    values = np.array([1.0] * 30 + [0.0] * 10 + [0.5] * 20)
    figure = mean_figure(values, rng=np.random.default_rng(1), n_bootstrap=4000)
    rng = np.random.default_rng(2)
    naive = values[rng.integers(0, values.size, size=(4000, values.size))].mean(axis=1)
    low, high = np.percentile(naive, [2.5, 97.5])
    assert figure["value"] == pytest.approx(values.mean())
    assert figure["low"] == pytest.approx(low, abs=0.02) and figure["high"] == pytest.approx(high, abs=0.02)
    assert figure["n"] == 60


def test_a_report_from_exported_lines_equals_the_report_from_the_records():
    lines = [record_to_json_line(r) for r in RELEVANCE_RECORDS]
    again = label_records_read(lines, kind="relevance")
    golden = golden_answers_read([json.dumps({"item": k, "answer": v}) for k, v in RELEVANCE_GOLDEN.items()])
    first = quality_report(kind="relevance", records=RELEVANCE_RECORDS, golden=RELEVANCE_GOLDEN)
    second = quality_report(kind="relevance", records=again, golden=golden)
    assert json.loads(json.dumps(first, default=str)) == json.loads(json.dumps(second, default=str))


@pytest.mark.parametrize(("lines", "message"), [
    (["{not json"], LINE_NOT_JSON.split("(")[0].format(line=1)),
    ([json.dumps({"item": "task-1", "answer": {}})], LINE_MISSING_KEY.format(line=1, key="labeler")),
    ([json.dumps({"item": "task-1", "labeler": "a", "answer": {}, "kind": "boxes"})],
     LINE_WRONG_KIND.format(line=1, got="boxes", expected="relevance")),
])
def test_a_bad_line_of_a_label_file_is_refused_with_its_line_number(lines, message):
    with pytest.raises(RecordFormatError) as refused:
        label_records_read(lines, kind="relevance")
    assert str(refused.value).startswith(message)


def test_a_labelers_own_figures_hold_back_their_newest_labels_so_a_golden_one_goes_unnoticed():
    from labeling.quality.labeler import labeler_figures

    older = [relevance(f"task-{n}", "L1", ["similar", "similar"]) for n in range(20, 32)]
    newest_golden = relevance("golden-9", "L1", ["similar", "marginally_similar"])
    before = labeler_figures(kind="relevance", records=older, golden=RELEVANCE_GOLDEN, lag=10)
    after = labeler_figures(kind="relevance", records=older + [newest_golden], golden=RELEVANCE_GOLDEN, lag=10)
    assert after["n_labels"] == before["n_labels"] + 1
    assert after["n_golden_labels"] == before["n_golden_labels"] == 0
    assert after["accuracy"] == before["accuracy"]
    # Ten labels later it counts.
    later = older + [newest_golden] + [relevance(f"task-{n}", "L1", ["similar", "similar"]) for n in range(40, 50)]
    counted = labeler_figures(kind="relevance", records=later, golden=RELEVANCE_GOLDEN, lag=10)
    assert counted["n_golden_labels"] == 1 and counted["accuracy"]["value"] == 1.0
