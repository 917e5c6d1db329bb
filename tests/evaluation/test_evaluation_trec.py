"""TREC exports: pytrec_eval reads a run's qrels and run file and gives our Similar and Extremely
Similar P@5 on the same judgements."""
from __future__ import annotations

import pandas as pd
import pytest
import pytrec_eval

from evaluation import metrics, selectors, trec
from labeling.task_kinds import relevance
from tests.evaluation.test_evaluation_api import client_for
from tests.evaluation.test_evaluation_reuse import label_everything, labelers, relevance_guide, run_generated  # noqa: F401


def trec_precision(qrels_text: str, run_text: str, *, level: int) -> tuple[float, int]:
    """Mean P@5 of pytrec_eval over the queries it evaluated, and how many it evaluated."""
    qrels = trec.qrels_dict(qrels_text.splitlines())
    run = trec.run_dict(run_text.splitlines())
    evaluator = pytrec_eval.RelevanceEvaluator(qrels, {"P"}, relevance_level=level)
    per_query = evaluator.evaluate(run)
    return sum(q["P_5"] for q in per_query.values()) / len(per_query), len(per_query)


def test_every_relevance_grade_has_a_trec_relevance():
    assert set(trec.GRADE_RELEVANCE) == set(relevance.GRADES)
    assert [trec.GRADE_RELEVANCE[g] for g in ("extremely_similar", "similar", "marginally_similar", "not_similar")] == [3, 2, 1, 0]


def test_pytrec_eval_reads_the_exports_and_gives_our_p_at_5(engineer, tiny_world, model_versions, labelers,
                                                             relevance_guide):
    run = run_generated(engineer=engineer, tiny_world=tiny_world, model_versions=model_versions, name="exported",
                        restrict_category=False)
    label_everything(run, labelers)
    client = client_for(engineer)
    qrels_response = client.get(f"/api/v1/eval-runs/{run.pk}/qrels")
    run_response = client.get(f"/api/v1/eval-runs/{run.pk}/trec-run")
    assert qrels_response.status_code == run_response.status_code == 200
    assert qrels_response["Content-Type"].startswith("text/plain")
    qrels_text, run_text = qrels_response.content.decode(), run_response.content.decode()
    block = selectors.eval_run_metrics(run=run)
    frame = selectors.eval_run_query_object_frame(run=run)
    judged_with_candidates = int((frame["n_candidates"] > 0).sum())
    assert judged_with_candidates > 0 and block["n_judged"] >= judged_with_candidates

    similar, evaluated = trec_precision(qrels_text, run_text, level=trec.SIMILAR_RELEVANCE_LEVEL)
    extremely, _ = trec_precision(qrels_text, run_text, level=trec.EXTREMELY_SIMILAR_RELEVANCE_LEVEL)
    assert evaluated == judged_with_candidates
    # A query object without candidates is in our mean (rel = 0) but cannot be in a run file.
    scale = evaluated / block["n_judged"]
    assert similar * scale == pytest.approx(block["similar_p_at_5"])
    assert extremely * scale == pytest.approx(block["extremely_similar_p_at_5"])
    assert block["similar_p_at_5"] > 0


def test_qrels_follow_the_aggregated_grade_of_each_slot():
    slot_grades = pd.DataFrame({"query_object_id": [7, 7, 8], "slot": [1, 2, 1],
                                "grade": ["similar", "did_not_load", "extremely_similar"]})
    candidates = pd.DataFrame({"query_object_id": [7, 7, 7, 8], "rank": [1, 2, 3, 1], "product_id": [11, 12, 13, 11]})
    assert list(trec.qrels_lines(slot_grades, candidates)) == ["q7 0 p11 2\n", "q7 0 p12 0\n", "q8 0 p11 3\n"]
    assert list(trec.run_lines(candidates, tag="run 1")) == [
        "q7 Q0 p11 1 3 run_1\n", "q7 Q0 p12 2 2 run_1\n", "q7 Q0 p13 3 1 run_1\n", "q8 Q0 p11 1 3 run_1\n"]


def test_a_hand_made_run_gives_the_same_p_at_5_in_pytrec_eval_and_in_our_metrics():
    # Two query objects with five candidates each, two labelers; majority with ties to the lower grade.
    labels = []
    grades_a = ["extremely_similar", "similar", "not_similar", "similar", "marginally_similar"]
    grades_b = ["similar", "similar", "not_similar", "not_similar", "did_not_load"]
    for labeler in (1, 2):
        for slot, grade in enumerate(grades_a, start=1):
            labels.append((10, labeler, slot, grade))
        for slot, grade in enumerate(grades_b, start=1):
            labels.append((20, labeler, slot, grade if labeler == 1 or slot != 1 else "extremely_similar"))
    slot_labels = pd.DataFrame(labels, columns=["query_object_id", "labeler_id", "slot", "grade"])
    objects = pd.DataFrame({"query_object_id": [10, 20], "scene_id": [1, 2], "category": ["dress", "shoes"],
                            "n_candidates": [5, 5]})
    candidates = pd.DataFrame({"query_object_id": [10] * 5 + [20] * 5, "rank": list(range(1, 6)) * 2,
                               "product_id": list(range(100, 105)) + list(range(200, 205))})
    ours = metrics.relevance_metrics(slot_labels, objects)
    qrels_text = "".join(trec.qrels_lines(metrics.aggregate_slot_grades(slot_labels), candidates))
    run_text = "".join(trec.run_lines(candidates, tag="hand"))
    assert trec_precision(qrels_text, run_text, level=2)[0] == pytest.approx(ours["similar_p_at_5"]) == 0.5
    assert trec_precision(qrels_text, run_text, level=3)[0] == pytest.approx(ours["extremely_similar_p_at_5"]) == 0.1


def test_trec_exports_of_an_unknown_run_are_404(engineer):
    client = client_for(engineer)
    assert client.get("/api/v1/eval-runs/999999/qrels").status_code == 404
    assert client.get("/api/v1/eval-runs/999999/trec-run").status_code == 404
