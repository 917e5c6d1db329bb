"""GET /api/v1/eval-runs/compare: values, chained and baseline gains of three judged runs, and every
refusal (evaluation/comparison_api.py)."""
from __future__ import annotations

import io

import pytest
from PIL import Image as PILImage
from rest_framework.test import APIClient

from evaluation import comparison
from evaluation.models import Candidate, EvalRun, EvalRunStatus, ModelKind, ModelVersion, QueryObject
from evaluation.services import eval_run_create
from labeling.models import Category, Gender, ImageKind, Pool, PoolKind, Product, Role, SceneSet
from labeling.permissions import ROLE_REQUIRED_MESSAGE
from labeling.services.images import image_store
from labeling.services.queue_engine import assignment_claim, label_submit
from labeling.services.tasks import TaskSpec, tasks_create
from labeling.services.users import user_create
from labeling.services.world_import import taxonomy_import

URL = "/api/v1/eval-runs/compare"
PASSWORD = "compare horse battery"
N = "not_similar"
# Each run: the grades both labelers give every one of its 4 query objects (2 scenes x 2 objects).
# Similar / Extremely Similar P@5 and Bad rate: A 0.2 / 0.2 / 0.8, B 0.4 / 0.2 / 0.6, C 0.6 / 0.4 / 0.4.
RUN_GRADES = {
    "A": ["extremely_similar", N, N, N, N],
    "B": ["extremely_similar", "similar", N, N, N],
    "C": ["extremely_similar", "extremely_similar", "similar", N, N],
}
CATEGORIES = ("dresses", "shoes")  # object 0 of each scene is a dress, object 1 a pair of shoes


def png(colour: tuple[int, int, int], size: tuple[int, int]) -> bytes:
    buffer = io.BytesIO()
    PILImage.new("RGB", size, colour).save(buffer, format="PNG")
    return buffer.getvalue()


def client_for(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.fixture
def judged_runs(db, media, engineer):
    """Runs A, B and C (created in that order) on the same two scenes, each graded by two labelers
    through the real claim and submit services; query objects and candidates are written directly
    (generation needs trained models), with every candidate asked in its own task."""
    taxonomy_import()
    pool = Pool.objects.create(name="comparison pool", kind=PoolKind.IN_HOUSE)
    graders = [user_create(username=f"grader-{i}", password=PASSWORD, role=Role.LABELER, pool=pool) for i in range(2)]
    detector = ModelVersion.objects.create(kind=ModelKind.DETECTOR, name="frcnn", version_tag="V1",
                                           checkpoint="checkpoints/detector.pt")
    scenes = [image_store(data=png((40 * i, 90, 160), (128, 128)), kind=ImageKind.SCENE) for i in range(2)]
    scene_set = SceneSet.objects.create(name="comparison scenes")
    scene_set.scenes.add(*scenes)
    products = iter(range(10_000))
    runs = {}
    for tag, grades in RUN_GRADES.items():
        embedder = ModelVersion.objects.create(kind=ModelKind.EMBEDDER, name="multitask", version_tag=tag,
                                               checkpoint=f"checkpoints/embedder-{tag}.pt")
        run = eval_run_create(created_by=engineer, name=f"run {tag}", scene_set=scene_set, detector=detector,
                              embedder=embedder, replication=2, start_generation=False)
        specs, query_objects = [], []
        for index in range(4):
            scene, ordinal = scenes[index // 2], index % 2
            category = CATEGORIES[ordinal]
            crop = image_store(data=png((200, 40 * index, ord(tag)), (40, 60)), kind=ImageKind.CROP)
            query_object = QueryObject.objects.create(run=run, scene=scene, ordinal=ordinal, box=[0, 0, 40, 60],
                                                      category=category, score=0.9, crop=crop)
            candidates = []
            for rank in range(1, 6):
                n = next(products)
                product = Product.objects.create(
                    external_id=f"compare-{n}", category=Category.objects.get(slug=category), gender=Gender.WOMEN,
                    price=10, merchant="Test merchant",
                    image=image_store(data=png((n % 250, rank * 40, 90), (32, 32)), kind=ImageKind.PRODUCT))
                candidates.append(Candidate(query_object=query_object, rank=rank, product=product, distance=rank,
                                            task_slot=rank))
            Candidate.objects.bulk_create(candidates)
            query_objects.append(query_object)
            specs.append(TaskSpec(source_key=f"object:{query_object.pk}", payload={
                "query_object": {"id": query_object.pk, "crop_url": crop.file.url, "scene_url": scene.file.url,
                                 "box": query_object.box, "category": category},
                "candidates": [{"product_id": c.product_id, "image_url": c.product.image.file.url, "category": category}
                               for c in candidates]}))
        for query_object, task in zip(query_objects, tasks_create(queue=run.queue, specs=specs)):
            query_object.task = task
            query_object.save(update_fields=["task"])
        for grader in graders:
            while (assignment := assignment_claim(queue=run.queue, labeler=grader)) is not None:
                label_submit(assignment_id=assignment.pk, labeler=grader, answer={"grades": grades})
        EvalRun.objects.filter(pk=run.pk).update(status=EvalRunStatus.LABELING, scenes_done=2)
        runs[tag] = run
    return runs


def rows_of(body: dict, metric: str) -> list[dict]:
    return next(block["rows"] for block in body["metrics"] if block["metric"] == metric)


def gains(body: dict, metric: str) -> list:
    return [None if row["gain"] is None else (row["gain"]["reference_id"], pytest.approx(row["gain"]["gain"]))
            for row in rows_of(body, metric)]


def test_three_runs_against_the_oldest_as_baseline(engineer, judged_runs):
    a, b, c = judged_runs["A"], judged_runs["B"], judged_runs["C"]
    # Listed newest first: rows still come oldest first, and the baseline is the oldest.
    response = client_for(engineer).get(URL, {"runs": f"{c.pk},{a.pk},{b.pk}"})
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["mode"] == "baseline"
    assert body["baseline_id"] == a.pk
    assert [run["id"] for run in body["runs"]] == [a.pk, b.pk, c.pk]
    assert [run["n_judged"] for run in body["runs"]] == [4, 4, 4]
    assert [row["value"] for row in rows_of(body, "similar_p_at_5")] == [
        pytest.approx(0.2), pytest.approx(0.4), pytest.approx(0.6)]
    assert all(row["ci"] is not None for row in rows_of(body, "similar_p_at_5"))
    assert gains(body, "similar_p_at_5") == [None, (a.pk, 1.0), (a.pk, 2.0)]
    assert gains(body, "extremely_similar_p_at_5") == [None, (a.pk, 0.0), (a.pk, 1.0)]
    assert gains(body, "bad_rate") == [None, (a.pk, -0.25), (a.pk, -0.5)]
    gain = rows_of(body, "similar_p_at_5")[2]["gain"]
    # Two shared scenes: the randomization test counts all 2^2 swap patterns.
    assert (gain["n_shared_scenes"], gain["exact"], gain["n_permutations"]) == (2, True, 4)
    assert 0 < gain["p_value"] <= 1
    # Both scenes gain the same, so every resample does: the interval closes on the gain.
    assert gain["ci"] == [pytest.approx(2.0), pytest.approx(2.0)]


def test_chained_gains_measure_each_run_against_the_one_before(engineer, judged_runs):
    a, b, c = judged_runs["A"], judged_runs["B"], judged_runs["C"]
    body = client_for(engineer).get(URL, {"runs": f"{a.pk},{b.pk},{c.pk}", "mode": "chain"}).json()
    assert body["mode"] == "chain"
    assert body["baseline_id"] is None
    assert gains(body, "similar_p_at_5") == [None, (a.pk, 1.0), (b.pk, 0.5)]
    assert gains(body, "extremely_similar_p_at_5") == [None, (a.pk, 0.0), (b.pk, 1.0)]
    assert gains(body, "bad_rate") == [None, (a.pk, -0.25), (b.pk, (0.4 - 0.6) / 0.6)]


def test_per_category_gains_on_the_shared_scenes(engineer, judged_runs):
    a, b, c = judged_runs["A"], judged_runs["B"], judged_runs["C"]
    body = client_for(engineer).get(URL, {"runs": f"{a.pk},{b.pk},{c.pk}", "baseline": b.pk}).json()
    assert body["baseline_id"] == b.pk
    per_category = body["per_category"]
    assert per_category["n_shared_scenes"] == 2
    assert [entry["category"] for entry in per_category["categories"]] == ["dresses", "shoes"]
    for entry in per_category["categories"]:
        similar = next(block["rows"] for block in entry["metrics"] if block["metric"] == "similar_p_at_5")
        assert [row["value"] for row in similar] == [pytest.approx(0.2), pytest.approx(0.4), pytest.approx(0.6)]
        assert [row["n_judged"] for row in similar] == [2, 2, 2]
        assert [None if row["gain"] is None else pytest.approx(row["gain"]["gain"]) for row in similar] == [
            -0.5, None, 0.5]


def test_repeated_runs_parameters_add_up_as_a_form_of_checkboxes_sends_them(engineer, judged_runs):
    a, b = judged_runs["A"], judged_runs["B"]
    response = client_for(engineer).get(f"{URL}?runs={b.pk}&runs={a.pk}")
    assert response.status_code == 200
    assert [run["id"] for run in response.json()["runs"]] == [a.pk, b.pk]


def field_error(response) -> dict:
    return response.json()["error"]["fields"]


@pytest.mark.parametrize("query,field,message", [
    ({}, "runs", comparison.COMPARE_TOO_FEW_RUNS.format(n=0)),
    ({"runs": "{a}"}, "runs", comparison.COMPARE_TOO_FEW_RUNS.format(n=1)),
    ({"runs": "{a},{b},{a}"}, "runs", comparison.COMPARE_RUN_REPEATED.format(id="{a}")),
    ({"runs": "{a},first"}, "runs", comparison.COMPARE_RUN_ID_INVALID.format(value="first")),
    ({"runs": "{a},-2"}, "runs", comparison.COMPARE_RUN_ID_INVALID.format(value="-2")),
    ({"runs": ",".join(str(i) for i in range(1, 10))}, "runs", comparison.COMPARE_TOO_MANY_RUNS.format(n=9)),
    ({"runs": "{a},{b}", "baseline": "{c}"}, "baseline",
     comparison.COMPARE_BASELINE_NOT_AMONG_RUNS.format(id="{c}", ids="{a}, {b}")),
    ({"runs": "{a},{b}", "mode": "sideways"}, "mode", '"sideways" is not a valid choice.'),
    ({"runs": "{a},{b}", "baseline": "0"}, "baseline", "Ensure this value is greater than or equal to 1."),
])
def test_bad_requests_are_400_naming_the_parameter(engineer, judged_runs, query, field, message):
    ids = {"a": judged_runs["A"].pk, "b": judged_runs["B"].pk, "c": judged_runs["C"].pk}
    response = client_for(engineer).get(URL, {key: value.format(**ids) for key, value in query.items()})
    assert response.status_code == 400
    assert field_error(response) == {field: [message.format(**ids)]}


def test_an_unknown_run_is_a_404_naming_it(engineer, judged_runs):
    a = judged_runs["A"]
    response = client_for(engineer).get(URL, {"runs": f"{a.pk},999999,999998"})
    assert response.status_code == 404
    assert response.json()["error"]["message"] == comparison.COMPARE_RUNS_MISSING.format(ids="999998, 999999")


def test_labelers_get_403_and_anonymous_callers_401(labeler, judged_runs):
    query = {"runs": f"{judged_runs['A'].pk},{judged_runs['B'].pk}"}
    response = client_for(labeler).get(URL, query)
    assert response.status_code == 403
    assert response.json()["error"]["message"] == ROLE_REQUIRED_MESSAGE.format(roles="expert or engineer",
                                                                               role="labeler")
    assert APIClient().get(URL, query).status_code == 401
    expert = user_create(username="exp", password=PASSWORD, role=Role.EXPERT)
    assert client_for(expert).get(URL, query).status_code == 200


def test_each_more_run_costs_at_most_its_label_version_and_label_frame_queries(engineer, judged_runs):
    from django.core.cache import cache
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    a, b, c = judged_runs["A"], judged_runs["B"], judged_runs["C"]
    client = client_for(engineer)

    def queries(run_ids: str) -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get(URL, {"runs": run_ids}).status_code == 200
        return len(captured)

    cache.clear()
    two, three = queries(f"{a.pk},{b.pk}"), queries(f"{a.pk},{b.pk},{c.pk}")
    cached_two, cached_three = queries(f"{a.pk},{b.pk}"), queries(f"{a.pk},{b.pk},{c.pk}")
    # A run adds its label version (two queries with judgement reuse) and its label frame (one);
    # the runs and the query objects of all runs are one query each, whatever their number.
    assert three - two <= 3
    # Cached, only the label versions are read again.
    assert cached_three - cached_two <= 2
    assert cached_three < three


def test_runs_with_nothing_judged_compare_with_undefined_figures(engineer, judged_runs):
    a = judged_runs["A"]
    pending = eval_run_create(created_by=engineer, name="pending", scene_set=a.scene_set, detector=a.detector,
                              embedder=a.embedder, start_generation=False)
    body = client_for(engineer).get(URL, {"runs": f"{a.pk},{pending.pk}"}).json()
    similar = rows_of(body, "similar_p_at_5")
    assert similar[1]["value"] is None and similar[1]["ci"] is None
    assert similar[1]["gain"]["gain"] is None
    assert similar[1]["gain"]["n_shared_scenes"] == 0
    assert body["per_category"] == {"n_shared_scenes": 0, "categories": []}
