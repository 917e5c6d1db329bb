"""A labeler never obtains golden answers, golden flags, golden reasons or other labelers' answers:
not from any endpoint a labeler reaches, not from any page. (The staff endpoints' refusals are in the
permission matrix; here the labeler's own endpoints and pages are read for leaks.)"""
from __future__ import annotations

import json

import pytest

from labeling.golden.services import GoldenItemInput, golden_items_put, golden_set_create, queue_golden_sets_add
from labeling.models import Role, Task
from labeling.services.queue_engine import assignment_claim, label_submit
from labeling.services.queues import queue_create
from labeling.services.tasks import TaskSpec, tasks_create
from labeling.services.users import user_create

SECRET_REASON = "SECRET-REASON-only-experts-see-this"
GOLDEN_BOXES = {"boxes": [{"box": [1.5, 2.5, 33.5, 44.5], "category": "handbags"}]}
OTHER_LABELERS_BOXES = {"boxes": [{"box": [7.25, 8.25, 99.25, 77.25], "category": "coats"}]}
MY_BOXES = {"boxes": [{"box": [3.0, 4.0, 50.0, 60.0], "category": "tops"}]}
# Words a labeler's responses must never carry (the payload's own keys are none of these).
FORBIDDEN = ("golden", "is_golden", "twin_of", "reason", "source_task", SECRET_REASON)


def box_payload(number: int) -> dict:
    return {"scene_id": number, "image": {"url": f"/media/images/scene-{number}.png", "width": 640, "height": 480},
            "proposals": [{"box": [10, 10, 60, 60], "category": "tops", "score": 0.8}]}


@pytest.fixture
def box_world(users, pool):
    queue = queue_create(name="boxes", task_kind="bounding_boxes", replication=3, golden_rate=0.5,
                         show_preannotations=False)
    tasks_create(queue=queue, specs=[TaskSpec(source_key=f"scene:{i}", payload=box_payload(i)) for i in range(3)])
    golden_set = golden_set_create(name="box golden", task_kind="bounding_boxes")
    queue_golden_sets_add(queue=queue, golden_sets=[golden_set])
    golden_items_put(golden_set=golden_set, items=[
        GoldenItemInput(key=f"g{i}", payload=box_payload(100 + i), answer=GOLDEN_BOXES, reason=SECRET_REASON)
        for i in range(2)])
    other = user_create(username="other-labeler", password="pw-123456", role=Role.LABELER, pool=pool)
    while (lease := assignment_claim(queue=queue, labeler=other)) is not None:
        label_submit(assignment_id=lease.pk, labeler=other, answer=OTHER_LABELERS_BOXES)
    return queue


def assert_no_leak(text: str, where: str) -> None:
    lowered = text.lower()
    for word in FORBIDDEN:
        assert word.lower() not in lowered, f"{where} shows {word!r}"
    for secret in (GOLDEN_BOXES, OTHER_LABELERS_BOXES):
        assert json.dumps(secret["boxes"][0]["box"])[1:-1] not in text, f"{where} shows another answer's box"
    assert "99.25" not in text and "33.5" not in text, f"{where} shows another answer's coordinates"


def test_a_labeler_working_through_a_queue_with_golden_items_learns_nothing_golden(box_world, users, client_as):
    labeler = users[Role.LABELER]
    client = client_as(labeler)
    served_golden = []
    while True:
        response = client.post(f"/api/v1/queues/{box_world.pk}/claim")
        if response.status_code == 204:
            break
        assert response.status_code == 200
        assert_no_leak(response.content.decode(), "claim")
        task = response.json()["assignment"]["task"]
        # Golden copies and normal tasks look alike: the same keys, and the hidden proposals are gone.
        assert set(task) == {"id", "kind", "payload"} and set(task["payload"]) == {"scene_id", "image"}
        served_golden.append(Task.objects.get(pk=task["id"]).is_golden)
        submitted = client.post(f"/api/v1/assignments/{response.json()['assignment']['id']}/submit",
                                {"answer": MY_BOXES}, format="json")
        assert submitted.status_code == 201
        assert_no_leak(submitted.content.decode(), "submit")
    assert sorted(set(served_golden)) == [False, True], "the labeler must have been served both kinds of task"

    for path in ("/api/v1/me", "/api/v1/me/labels", "/api/v1/queues", "/api/v1/me/labels?page=1"):
        response = client.get(path)
        assert response.status_code == 200, path
        assert_no_leak(response.content.decode(), path)

    client.force_login(labeler)
    for path in ("/queues/", f"/queues/{box_world.pk}/work/", "/"):
        response = client.get(path, follow=True)
        assert response.status_code == 200, path
        assert_no_leak(response.content.decode(), path)


@pytest.mark.parametrize("path", [
    "/api/v1/golden-sets", "/api/v1/golden-sets/{set}/items", "/api/v1/golden-sets/{set}/export",
    "/api/v1/golden-items/{item}", "/api/v1/tasks/{task}/golden-answer", "/api/v1/queues/{queue}/tasks",
    "/overview/tasks/{task}/", "/overview/tasks/{task}/golden/", "/overview/golden-sets/",
    "/overview/queues/{queue}/",
])
def test_every_golden_endpoint_and_staff_page_refuses_a_labeler(box_world, users, client_as, path):
    golden_task = Task.objects.filter(queue=box_world, is_golden=True).select_related("golden_item").first()
    url = path.format(set=golden_task.golden_item.golden_set_id, item=golden_task.golden_item_id,
                      task=golden_task.pk, queue=box_world.pk)
    response = client_as(users[Role.LABELER]).get(url)
    assert response.status_code == 403
    assert SECRET_REASON not in response.content.decode()
