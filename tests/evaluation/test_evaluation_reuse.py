"""Judgement reuse: a later run asks only the (query crop, product) pairs no earlier run asked under the
same guide version, and its metrics read the union of old and new judgements."""
from __future__ import annotations

import hashlib

import pandas as pd
import pytest

from evaluation import metrics, selectors, services
from evaluation.models import Candidate, EvalRun
from labeling.models import Guide, GuideVersion, Label, Pool, PoolKind, Role, SceneSet, Task, TaskKind
from labeling.services.queue_engine import assignment_claim, label_submit
from labeling.services.users import user_create
from tests.evaluation.conftest import PASSWORD

GRADES = ("extremely_similar", "similar", "marginally_similar", "not_similar")


def pair_grade(crop_id: int, product_id: int, labeler_id: int) -> str:
    """A grade fixed per (pair, labeler), so two runs' labels of one pair agree with each other."""
    digest = hashlib.sha256(f"{crop_id}:{product_id}:{labeler_id}".encode()).digest()
    return GRADES[digest[0] % len(GRADES)]


@pytest.fixture
def labelers(db):
    pool = Pool.objects.create(name="crowd", kind=PoolKind.CROWD)
    return [user_create(username=f"judge{i}", password=PASSWORD, role=Role.LABELER, pool=pool) for i in range(2)]


@pytest.fixture
def relevance_guide(db):
    guide = Guide.objects.create(task_kind=TaskKind.RELEVANCE, title="Relevance")
    return GuideVersion.objects.create(guide=guide, version=1, body="# Grades")


def run_generated(*, engineer, tiny_world, model_versions, name, **options) -> EvalRun:
    detector, embedder = model_versions
    run = services.eval_run_create(created_by=engineer, name=name, detector=detector, embedder=embedder,
                                   scene_set=SceneSet.objects.get(pk=tiny_world.scene_set_id), replication=2,
                                   start_generation=False, **options)
    return services.eval_run_generate_all(run_id=run.pk)


def label_everything(run: EvalRun, labelers) -> None:
    """Every labeler answers every task of the run's queue with the pair's fixed grade."""
    for labeler in labelers:
        while (assignment := assignment_claim(queue=run.queue, labeler=labeler)) is not None:
            query_object = assignment.task.query_object
            asked = Candidate.objects.filter(query_object=query_object, task_slot__isnull=False).order_by("task_slot")
            label_submit(assignment_id=assignment.pk, labeler=labeler,
                         answer={"grades": [pair_grade(query_object.crop_id, candidate.product_id, labeler.pk)
                                            for candidate in asked]})


def pairs_of(run: EvalRun, *, asked: bool | None = None) -> set[tuple[int, int]]:
    candidates = Candidate.objects.filter(query_object__run=run)
    if asked is not None:
        candidates = candidates.filter(task_slot__isnull=not asked)
    return set(candidates.values_list("query_object__crop_id", "product_id"))


def union_slot_frame(run: EvalRun, source_runs: list[EvalRun]) -> pd.DataFrame:
    """The run's slot labels built by hand from the Label rows of every run that asked each pair."""
    grades_of: dict[tuple[int, int], list[tuple[int, str]]] = {}
    for source in source_runs:
        for label in Label.objects.filter(task__queue=source.queue, task__is_golden=False):
            query_object = label.task.query_object
            asked = Candidate.objects.filter(query_object=query_object, task_slot__isnull=False)
            for candidate in asked:
                grade = label.answer["grades"][candidate.task_slot - 1]
                grades_of.setdefault((query_object.crop_id, candidate.product_id), []).append((label.labeler_id, grade))
    rows = []
    for candidate in Candidate.objects.filter(query_object__run=run).select_related("query_object"):
        for labeler_id, grade in grades_of.get((candidate.query_object.crop_id, candidate.product_id), []):
            rows.append({"query_object_id": candidate.query_object_id, "labeler_id": labeler_id,
                         "slot": candidate.rank, "grade": grade})
    return pd.DataFrame(rows, columns=["query_object_id", "labeler_id", "slot", "grade"])


def test_a_second_identical_run_asks_nothing_and_reads_the_first_runs_judgements(
        engineer, tiny_world, model_versions, labelers, relevance_guide):
    first = run_generated(engineer=engineer, tiny_world=tiny_world, model_versions=model_versions, name="first")
    label_everything(first, labelers)
    second = run_generated(engineer=engineer, tiny_world=tiny_world, model_versions=model_versions, name="second")

    assert Task.objects.filter(queue=second.queue, is_golden=False).count() == 0
    reuse = selectors.eval_run_reuse(run=second)
    assert reuse["slots"] == Candidate.objects.filter(query_object__run=second).count() > 0
    assert (reuse["asked"], reuse["reused"]) == (0, reuse["slots"])
    assert reuse["judged_coverage"] == 1.0
    first_block = selectors.eval_run_metrics(run=first)
    second_block = selectors.eval_run_metrics(run=second)
    for name in metrics.METRIC_NAMES:
        assert second_block[name] == first_block[name]
    assert second_block["n_judged"] == first_block["n_judged"]


def test_a_run_with_other_candidates_asks_only_the_new_pairs_and_uses_the_union(
        engineer, tiny_world, model_versions, labelers, relevance_guide):
    # The untrained embedder ranks every crop alike, so a deeper retrieval (top 5 after top 3) is
    # the change that keeps some candidates and adds others.
    first = run_generated(engineer=engineer, tiny_world=tiny_world, model_versions=model_versions, name="top 3",
                          top_k=3, restrict_category=False)
    label_everything(first, labelers)
    second = run_generated(engineer=engineer, tiny_world=tiny_world, model_versions=model_versions, name="top 5",
                           restrict_category=False)

    old_pairs = pairs_of(first)
    new_pairs = pairs_of(second) - old_pairs
    assert new_pairs and pairs_of(second) & old_pairs, "the deeper retrieval should keep some candidates and add others"
    assert pairs_of(second, asked=True) == new_pairs
    assert pairs_of(second, asked=False) == pairs_of(second) & old_pairs
    asked_in_tasks = sum(len(task.payload["candidates"]) for task in Task.objects.filter(queue=second.queue,
                                                                                         is_golden=False))
    assert asked_in_tasks == Candidate.objects.filter(query_object__run=second, task_slot__isnull=False).count()

    label_everything(second, labelers)
    expected = metrics.relevance_metrics(union_slot_frame(second, [first, second]),
                                         selectors.eval_run_query_object_frame(run=second), k=second.top_k)
    block = selectors.eval_run_metrics(run=second)
    for name in metrics.METRIC_NAMES:
        assert block[name] == pytest.approx(expected[name])
        assert block["ci"][name] == pytest.approx(expected["ci"][name])
    assert block["n_judged"] == expected["n_judged"]
    assert selectors.eval_run_reuse(run=second)["judged_coverage"] == 1.0


def test_the_label_frame_puts_a_reused_grade_on_the_later_runs_rank(
        engineer, tiny_world, model_versions, labelers, relevance_guide):
    first = run_generated(engineer=engineer, tiny_world=tiny_world, model_versions=model_versions, name="top 3",
                          top_k=3, restrict_category=False)
    label_everything(first, labelers)
    second = run_generated(engineer=engineer, tiny_world=tiny_world, model_versions=model_versions, name="top 5",
                           restrict_category=False)
    frame = selectors.eval_run_label_frame(run=second)
    reused = Candidate.objects.filter(query_object__run=second, task_slot__isnull=True).select_related("query_object")
    checked = 0
    for candidate in reused:
        rows = frame[(frame["query_object_id"] == candidate.query_object_id) & (frame["slot"] == candidate.rank)]
        # The same crop can come out of two detections (content-addressed), and each asking counts.
        askings = Candidate.objects.filter(query_object__run=first, query_object__crop_id=candidate.query_object.crop_id,
                                           product_id=candidate.product_id, task_slot__isnull=False).count()
        assert askings >= 1
        assert sorted(rows["grade"]) == sorted(pair_grade(candidate.query_object.crop_id, candidate.product_id, labeler.pk)
                                               for labeler in labelers for _ in range(askings))
        checked += 1
    assert checked > 0


def test_judgements_do_not_cross_guide_versions_unless_allowed(
        engineer, tiny_world, model_versions, labelers, relevance_guide):
    first = run_generated(engineer=engineer, tiny_world=tiny_world, model_versions=model_versions, name="guide v1")
    label_everything(first, labelers)
    GuideVersion.objects.create(guide=relevance_guide.guide, version=2, body="# Grades, revised")

    same_config = run_generated(engineer=engineer, tiny_world=tiny_world, model_versions=model_versions, name="guide v2")
    assert same_config.queue.guide_version.version == 2
    assert pairs_of(same_config, asked=True) == pairs_of(same_config)
    assert selectors.eval_run_reuse(run=same_config)["judged"] == 0
    assert selectors.eval_run_metrics(run=same_config)["n_judged"] == 0

    crossing = run_generated(engineer=engineer, tiny_world=tiny_world, model_versions=model_versions,
                             name="guide v2, reuse v1", reuse_across_guides=True)
    # Both earlier runs asked every pair; this one asks none and reads both runs' judgements.
    assert pairs_of(crossing, asked=True) == set()
    assert selectors.eval_run_reuse(run=crossing)["judged_coverage"] == 1.0
    assert selectors.eval_run_metrics(run=crossing)["n_judged"] == selectors.eval_run_metrics(run=first)["n_judged"]


def test_an_engineer_can_force_fresh_judgements(engineer, tiny_world, model_versions, labelers, relevance_guide):
    first = run_generated(engineer=engineer, tiny_world=tiny_world, model_versions=model_versions, name="first")
    label_everything(first, labelers)
    fresh = run_generated(engineer=engineer, tiny_world=tiny_world, model_versions=model_versions, name="fresh",
                          reuse_judgements=False)
    assert pairs_of(fresh, asked=True) == pairs_of(fresh) == pairs_of(first)
    assert selectors.eval_run_metrics(run=fresh)["n_judged"] == 0
    # A later reusing run reads both the first and the fresh run's judgements of each pair.
    label_everything(fresh, labelers)
    later = run_generated(engineer=engineer, tiny_world=tiny_world, model_versions=model_versions, name="later")
    own = len(selectors.eval_run_label_frame(run=fresh))
    assert own > 0
    # The first run reuses too, so it now reads the fresh run's judgements beside its own.
    assert len(selectors.eval_run_label_frame(run=later)) == len(selectors.eval_run_label_frame(run=first)) == 2 * own


def test_a_failed_runs_pairs_are_asked_again(engineer, tiny_world, model_versions, relevance_guide):
    first = run_generated(engineer=engineer, tiny_world=tiny_world, model_versions=model_versions, name="first")
    services.eval_run_fail(run_id=first.pk, error="test")
    EvalRun.objects.filter(pk=first.pk).update(status="failed")
    second = run_generated(engineer=engineer, tiny_world=tiny_world, model_versions=model_versions, name="second")
    assert pairs_of(second, asked=True) == pairs_of(second)


def test_reuse_is_in_the_run_api(engineer, tiny_world, model_versions, labelers, relevance_guide):
    from tests.evaluation.test_evaluation_api import client_for

    first = run_generated(engineer=engineer, tiny_world=tiny_world, model_versions=model_versions, name="first")
    label_everything(first, labelers)
    second = run_generated(engineer=engineer, tiny_world=tiny_world, model_versions=model_versions, name="second")
    body = client_for(engineer).get(f"/api/v1/eval-runs/{second.pk}").json()
    assert body["reuse_judgements"] is True and body["reuse_across_guides"] is False
    assert body["reuse"]["asked"] == 0
    assert body["reuse"]["reused"] == body["reuse"]["slots"] == Candidate.objects.filter(query_object__run=second).count()


def test_a_run_created_through_the_api_can_force_fresh_judgements(engineer, tiny_world, model_versions):
    from tests.evaluation.test_evaluation_api import client_for, run_body

    response = client_for(engineer).post("/api/v1/eval-runs", run_body(tiny_world, model_versions, reuse_judgements=False),
                                         format="json")
    assert response.status_code == 201, response.json()
    assert EvalRun.objects.get(pk=response.json()["id"]).reuse_judgements is False
    response = client_for(engineer).post("/api/v1/eval-runs", run_body(tiny_world, model_versions, reuse_judgements="no"),
                                         format="json")
    assert response.status_code == 400
    assert "reuse_judgements" in str(response.json())
