"""The evaluation API: role checks, validation errors, metrics computed from stored labels."""
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from evaluation import selectors, services
from evaluation.models import EvalRun, EvalRunStatus, ModelVersion, QueryObject
from labeling.models import Pool, PoolKind, Role, SceneSet
from labeling.permissions import ROLE_REQUIRED_MESSAGE
from labeling.services.queue_engine import assignment_claim, label_submit
from labeling.services.users import user_create

PASSWORD = "another correct horse"


def client_for(user):
    client = APIClient()
    client.force_authenticate(user)
    return client


def run_body(tiny_world, model_versions, **overrides):
    detector, embedder = model_versions
    body = {"name": "untrained V0", "scene_set": tiny_world.scene_set_id, "detector": detector.pk,
            "embedder": embedder.pk, "replication": 2, "golden_rate": 0.1}
    body.update(overrides)
    return body


@pytest.fixture
def generated_run(engineer, tiny_world, model_versions):
    detector, embedder = model_versions
    run = services.eval_run_create(created_by=engineer, name="generated", detector=detector, embedder=embedder,
                                   scene_set=SceneSet.objects.get(pk=tiny_world.scene_set_id), replication=2,
                                   start_generation=False)
    return services.eval_run_generate_all(run_id=run.pk)


@pytest.mark.parametrize("url", ["/api/v1/eval-runs", "/api/v1/model-versions", "/api/v1/scene-sets"])
def test_labeler_cannot_read_engineer_lists(labeler, url):
    response = client_for(labeler).get(url)
    assert response.status_code == 403
    assert response.json()["error"]["message"] == ROLE_REQUIRED_MESSAGE.format(roles="expert or engineer",
                                                                               role="labeler")


def test_labeler_cannot_read_a_run_or_create_one(labeler, generated_run, tiny_world, model_versions):
    client = client_for(labeler)
    assert client.get(f"/api/v1/eval-runs/{generated_run.pk}").status_code == 403
    response = client.post("/api/v1/eval-runs", run_body(tiny_world, model_versions), format="json")
    assert response.status_code == 403
    assert response.json()["error"]["message"] == ROLE_REQUIRED_MESSAGE.format(roles="engineer", role="labeler")
    assert EvalRun.objects.count() == 1


def test_expert_can_read_runs_but_not_create_them(db, tiny_world, model_versions):
    expert = user_create(username="expert", password=PASSWORD, role=Role.EXPERT)
    client = client_for(expert)
    assert client.get("/api/v1/eval-runs").status_code == 200
    assert client.post("/api/v1/eval-runs", run_body(tiny_world, model_versions), format="json").status_code == 403


def test_anonymous_requests_are_refused(db):
    assert APIClient().get("/api/v1/eval-runs").status_code in (401, 403)


def test_engineer_creates_a_run_and_generation_is_enqueued_on_commit(engineer, tiny_world, model_versions,
                                                                     django_capture_on_commit_callbacks, monkeypatch):
    from evaluation import tasks

    enqueued = []
    monkeypatch.setattr(tasks.eval_run_generate, "delay", lambda run_id: enqueued.append(run_id))
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(engineer).post("/api/v1/eval-runs", run_body(tiny_world, model_versions), format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["status"] == EvalRunStatus.PENDING
    assert body["progress"] == {"scenes_done": 0, "scenes_total": 6}
    assert body["queue_id"] == EvalRun.objects.get(pk=body["id"]).queue_id
    assert (body["replication"], body["golden_rate"]) == (2, 0.1)
    assert enqueued == [body["id"]]


def test_invalid_run_values_are_400_with_field_messages(engineer, tiny_world, model_versions):
    client = client_for(engineer)
    detector, _ = model_versions
    response = client.post("/api/v1/eval-runs", run_body(tiny_world, model_versions, golden_rate=1.5,
                                                          replication=0, detector=999999), format="json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert set(error["fields"]) == {"golden_rate", "replication", "detector"}
    assert "999999" in error["fields"]["detector"][0]

    response = client.post("/api/v1/eval-runs", run_body(tiny_world, model_versions, embedder=detector.pk),
                           format="json")
    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {
        "embedder": [services.RUN_EMBEDDER_WRONG_KIND.format(id=detector.pk, kind="detector")]}
    assert EvalRun.objects.count() == 0


def test_run_list_is_paginated_and_shows_progress(engineer, generated_run):
    body = client_for(engineer).get("/api/v1/eval-runs").json()
    assert body["count"] == 1
    assert body["results"][0]["progress"] == {"scenes_done": 6, "scenes_total": 6}
    assert body["results"][0]["status"] == EvalRunStatus.LABELING


def test_run_list_query_count_does_not_grow_with_the_runs(engineer, generated_run, tiny_world, model_versions):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client = client_for(engineer)
    with CaptureQueriesContext(connection) as one_run:
        assert client.get("/api/v1/eval-runs").status_code == 200
    detector, embedder = model_versions
    for name in ("second", "third"):
        services.eval_run_create(created_by=engineer, name=name, detector=detector, embedder=embedder,
                                 scene_set=SceneSet.objects.get(pk=tiny_world.scene_set_id), start_generation=False)
    with CaptureQueriesContext(connection) as three_runs:
        assert client.get("/api/v1/eval-runs").json()["count"] == 3
    assert len(three_runs.captured_queries) == len(one_run.captured_queries)


def submit_all(run, labeler, grade_of_slot):
    while (assignment := assignment_claim(queue=run.queue, labeler=labeler)) is not None:
        n = len(assignment.task.payload["candidates"])
        label_submit(assignment_id=assignment.pk, labeler=labeler,
                     answer={"grades": [grade_of_slot(slot) for slot in range(1, n + 1)]})


def test_run_detail_metrics_follow_the_labels_as_they_arrive(engineer, generated_run):
    client = client_for(engineer)
    url = f"/api/v1/eval-runs/{generated_run.pk}"
    empty = client.get(url).json()["metrics"]
    assert empty["n_judged"] == 0
    assert empty["n_query_objects"] == QueryObject.objects.filter(run=generated_run).count() == 18

    pool = Pool.objects.create(name="crowd", kind=PoolKind.CROWD)
    first = user_create(username="l1", password=PASSWORD, role=Role.LABELER, pool=pool)
    second = user_create(username="l2", password=PASSWORD, role=Role.LABELER, pool=pool)
    # Slot 1 extremely similar by both; slot 2 split similar / not_similar (tie -> not_similar).
    submit_all(generated_run, first, lambda slot: {1: "extremely_similar", 2: "similar"}.get(slot, "not_similar"))
    submit_all(generated_run, second, lambda slot: {1: "extremely_similar"}.get(slot, "not_similar"))

    body = client.get(url).json()
    block = body["metrics"]
    n_candidates = [qo.candidates.count() for qo in QueryObject.objects.filter(run=generated_run)]
    with_candidates = sum(1 for n in n_candidates if n)
    # Every query object is judged (those without candidates trivially); each with candidates has
    # exactly one extremely similar slot and one relevant slot (slot 2 tied, so not similar).
    assert block["n_judged"] == 18
    assert block["extremely_similar_p_at_5"] == pytest.approx(with_candidates / (18 * 5))
    assert block["similar_p_at_5"] == pytest.approx(with_candidates / (18 * 5))
    assert block["bad_rate"] == pytest.approx((sum(n_candidates) - with_candidates) / sum(n_candidates))
    low, high = block["ci"]["bad_rate"]
    assert low <= block["bad_rate"] <= high
    assert set(block["per_category"]) == set(QueryObject.objects.filter(run=generated_run)
                                             .values_list("category", flat=True))
    assert body["comparison"] is None


def test_label_frame_is_one_query(engineer, generated_run, django_assert_num_queries):
    with django_assert_num_queries(1):
        selectors.eval_run_label_frame(run=generated_run)


def test_engineer_uploads_a_model_version_and_lists_it(engineer, media, untrained_checkpoints):
    client = client_for(engineer)
    with open(untrained_checkpoints["embedder"], "rb") as handle:
        upload = SimpleUploadedFile("embedder.pt", handle.read())
    response = client.post("/api/v1/model-versions", {"kind": "embedder", "name": "resnet", "version_tag": "V1.1",
                                                      "checkpoint": upload, "notes": "uploaded"}, format="multipart")
    assert response.status_code == 201, response.json()
    version = ModelVersion.objects.get(pk=response.json()["id"])
    assert version.config["embedding_dim"] == 64
    assert version.created_by == engineer
    listed = client.get("/api/v1/model-versions").json()
    assert [v["version_tag"] for v in listed["results"]] == ["V1.1"]


def test_uploading_a_detector_checkpoint_as_an_embedder_is_a_400(engineer, media, untrained_checkpoints):
    with open(untrained_checkpoints["detector"], "rb") as handle:
        upload = SimpleUploadedFile("detector.pt", handle.read())
    response = client_for(engineer).post(
        "/api/v1/model-versions", {"kind": "embedder", "name": "x", "version_tag": "V1", "checkpoint": upload},
        format="multipart")
    assert response.status_code == 400
    message = response.json()["error"]["fields"]["checkpoint"][0]
    assert message.startswith(services.MODEL_CHECKPOINT_INVALID.format(kind="embedder", reason=""))
    assert ModelVersion.objects.count() == 0


def test_scene_sets_list_counts_scenes(engineer, tiny_world):
    body = client_for(engineer).get("/api/v1/scene-sets").json()
    assert [(s["id"], s["n_scenes"]) for s in body["results"]] == [(tiny_world.scene_set_id, 6)]
