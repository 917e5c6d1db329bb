"""The API does what its OpenAPI schema says: pages are whole numbers from 1 up, JSON bodies carry
the types the schema declares, every error an operation can give is listed in the one error format.
These pin the fixes for what schemathesis found (test_security_api_fuzz.py runs it)."""
from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from labeling.api_schema import WRONG_JSON_TYPE
from labeling.models import Queue, Role
from labeling.pagination import PAGE_NOT_A_NUMBER, PAGE_PAST_THE_END, PAGE_REPEATED
from labeling.services.queues import queue_create

HTTP_METHODS = ("get", "post", "put", "patch", "delete")


def api_client(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.fixture
def schema():
    from drf_spectacular.generators import SchemaGenerator

    return SchemaGenerator().get_schema(request=None, public=True)


@pytest.mark.parametrize("page", ["null", "0", "-1", "1.5", "", "first", "٣"])
def test_a_page_that_is_not_a_whole_number_from_one_up_is_a_400_naming_the_page(users, page):
    response = api_client(users[Role.LABELER]).get("/api/v1/queues", {"page": page})
    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {"page": [PAGE_NOT_A_NUMBER.format(value=page)]}


def test_a_repeated_page_is_a_400(users):
    response = api_client(users[Role.LABELER]).get("/api/v1/queues?page=1&page=1")
    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {"page": [PAGE_REPEATED.format(count=2)]}


@pytest.mark.parametrize("page", ["2", "10" * 30])
def test_a_page_past_the_end_is_a_404_that_says_how_many_pages_there_are(users, page):
    queue_create(name="the only queue", task_kind="relevance")
    response = api_client(users[Role.LABELER]).get("/api/v1/queues", {"page": page})
    assert response.status_code == 404
    assert response.json()["error"]["message"] == PAGE_PAST_THE_END.format(page=page, are="is", pages=1, s="")


def test_a_page_with_leading_zeros_is_that_page(users):
    queue_create(name="the only queue", task_kind="relevance")
    response = api_client(users[Role.LABELER]).get("/api/v1/queues", {"page": "001"})
    assert response.status_code == 200
    assert [queue["name"] for queue in response.json()["results"]] == ["the only queue"]


def test_every_list_declares_page_as_an_integer_from_one_with_its_400_and_404(schema):
    lists = [(path, operation) for path, item in schema["paths"].items() for method, operation in item.items()
             if any(parameter["name"] == "page" for parameter in operation.get("parameters", []))]
    assert sorted(path for path, _ in lists) == [
        "/api/v1/data-imports", "/api/v1/eval-runs", "/api/v1/exports", "/api/v1/golden-sets",
        "/api/v1/golden-sets/{set_id}/items", "/api/v1/me/labels", "/api/v1/model-versions",
        "/api/v1/pair-imports", "/api/v1/queues", "/api/v1/queues/{queue_id}/tasks", "/api/v1/scene-sets",
        "/api/v1/training-jobs"]
    for path, operation in lists:
        page = next(parameter for parameter in operation["parameters"] if parameter["name"] == "page")
        assert page["schema"] == {"type": "integer", "minimum": 1}, path
        assert {"400", "404"} <= set(operation["responses"]), path


def test_every_error_response_in_the_schema_is_the_one_error_format(schema):
    error_responses = [(path, method, status, response) for path, item in schema["paths"].items()
                       for method, operation in item.items() if method in HTTP_METHODS
                       for status, response in operation["responses"].items() if status.startswith("4")]
    assert len(error_responses) > 50
    for path, method, status, response in error_responses:
        assert response["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}, (
            path, method, status)
        assert response["description"], (path, method, status)


def test_every_operation_that_needs_sign_in_documents_401(schema):
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            if method in HTTP_METHODS and {} not in operation.get("security", [{}]):
                assert "401" in operation["responses"], (method, path)


def test_rules_the_schema_cannot_express_are_documented_as_examples_of_their_refusal(schema):
    def codes_and_fields(path, method):
        examples = schema["paths"][path][method]["responses"]["400"]["content"]["application/json"]["examples"]
        errors = [example["value"]["error"] for example in examples.values()]
        return {error["code"] for error in errors}, {name for error in errors for name in error.get("fields", {})}

    assert codes_and_fields("/api/v1/tasks/{task_id}/golden-answer", "post") == ({"answer_invalid"}, set())
    assert codes_and_fields("/api/v1/assignments/{assignment_id}/submit", "post") == ({"answer_invalid"}, set())
    assert codes_and_fields("/api/v1/eval-runs", "post") == (
        {"invalid"}, {"scene_set", "detector", "embedder", "baseline"})
    assert codes_and_fields("/api/v1/model-versions", "post") == ({"invalid"}, {"checkpoint", "version_tag"})
    assert codes_and_fields("/api/v1/auth/token", "post") == ({"bad_credentials"}, set())


@pytest.fixture
def run_body(db):
    from evaluation.models import ModelKind, ModelVersion
    from labeling.models import Image, ImageKind, SceneSet

    scene_set = SceneSet.objects.create(name="one scene")
    scene_set.scenes.add(Image.objects.create(kind=ImageKind.SCENE, sha256="0" * 64, file="scenes/0.png",
                                              width=64, height=64))
    detector = ModelVersion.objects.create(kind=ModelKind.DETECTOR, name="d", version_tag="V1", checkpoint="d.pt")
    embedder = ModelVersion.objects.create(kind=ModelKind.EMBEDDER, name="e", version_tag="V1", checkpoint="e.pt")
    return {"name": "V1", "scene_set": scene_set.pk, "detector": detector.pk, "embedder": embedder.pk}


@pytest.fixture
def no_generation(monkeypatch):
    from evaluation import tasks

    monkeypatch.setattr(tasks.eval_run_generate, "delay", lambda run_id: None)


@pytest.mark.parametrize(("field", "value", "expected"), [
    ("golden_rate", False, "number"), ("golden_rate", "0.5", "number"), ("replication", "3", "integer"),
    ("replication", True, "integer"), ("restrict_category", 1, "boolean"), ("restrict_gender", "yes", "boolean"),
    ("scene_set", "1", "integer"), ("name", 0, "string"),
])
def test_a_json_body_must_carry_the_type_the_schema_declares(users, run_body, field, value, expected):
    from evaluation.models import EvalRun

    response = api_client(users[Role.ENGINEER]).post("/api/v1/eval-runs", {**run_body, field: value}, format="json")
    assert response.status_code == 400
    got = {bool: "a boolean", int: "a number", str: "a string"}[type(value)]
    assert response.json()["error"]["fields"] == {field: [WRONG_JSON_TYPE.format(expected=expected, got=got)]}
    assert not EvalRun.objects.exists()


def test_a_form_body_still_carries_numbers_and_booleans_as_text(users, run_body, no_generation):
    form = {**{key: str(value) for key, value in run_body.items()}, "golden_rate": "0.25", "restrict_gender": "true"}
    response = api_client(users[Role.ENGINEER]).post("/api/v1/eval-runs", form, format="multipart")
    assert response.status_code == 201, response.json()
    assert (response.json()["golden_rate"], response.json()["restrict_gender"]) == (0.25, True)


def test_a_run_name_of_the_full_200_characters_is_accepted(users, run_body, no_generation):
    # Its queue is named "Relevance: <name>", which once overflowed the queue's 200 characters (a 500).
    response = api_client(users[Role.ENGINEER]).post("/api/v1/eval-runs", {**run_body, "name": "n" * 200},
                                                     format="json")
    assert response.status_code == 201, response.json()
    assert response.json()["name"] == "n" * 200
    assert len(Queue.objects.get(pk=response.json()["queue_id"]).name) == 200


def test_a_time_spent_that_is_not_an_integer_is_refused_before_anything_is_stored(users):
    from labeling.models import Label

    response = api_client(users[Role.LABELER]).post("/api/v1/assignments/1/submit",
                                                    {"answer": {"grades": []}, "time_spent_ms": "9"}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {
        "time_spent_ms": [WRONG_JSON_TYPE.format(expected="integer", got="a string")]}
    assert not Label.objects.exists()
