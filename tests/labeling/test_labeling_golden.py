"""Golden items as records: making a task golden never flips it, copies are served at the golden
rate without twins, answers keep their history, sets import and export as JSON lines."""
from __future__ import annotations

import json

import pytest

from labeling.golden import jsonl
from labeling.golden.selectors import golden_item_for_task, queue_golden_scores
from labeling.golden.services import (GOLDEN_SET_KIND_MISMATCH, GoldenError, GoldenItemInput, golden_item_from_task,
                                      golden_item_revise, golden_items_put, golden_set_create, queue_golden_sets_add)
from labeling.models import GoldenItemRevision, GoldenSource, Role, Task
from labeling.services.queue_engine import assignment_claim, label_submit
from labeling.services.queues import queue_create
from tests.labeling.conftest import GOOD_RELEVANCE_ANSWER, relevance_payload

SIMILAR = {"grades": ["similar"] * 5}


class AlwaysGoldenFirst:
    def random(self):
        return 0.0


def test_making_a_labeled_task_golden_leaves_it_and_its_labels_alone(make_queue, make_user):
    queue = make_queue(tasks=1, replication=2)
    task = Task.objects.get(queue=queue)
    labeler = make_user(Role.LABELER)
    lease = assignment_claim(queue=queue, labeler=labeler)
    label_submit(assignment_id=lease.pk, labeler=labeler, answer=SIMILAR)
    item = golden_item_from_task(task=task, expert=make_user(Role.EXPERT), answer=GOOD_RELEVANCE_ANSWER, reason="r")
    task.refresh_from_db()
    assert not task.is_golden and task.golden_item_id is None and task.label_count == 1
    assert item.source == GoldenSource.EXPERT and item.source_task == task and item.payload == task.payload
    copy = Task.objects.get(queue=queue, is_golden=True)
    assert copy.golden_item == item and copy.twin_of == task
    assert golden_item_for_task(task=task) == item and golden_item_for_task(task=copy) == item


def test_answering_the_same_task_again_revises_the_item_and_keeps_the_history(make_queue, make_user):
    queue = make_queue(tasks=1)
    task = Task.objects.get(queue=queue)
    expert = make_user(Role.EXPERT)
    first = golden_item_from_task(task=task, expert=expert, answer=SIMILAR)
    second = golden_item_from_task(task=task, expert=expert, answer=GOOD_RELEVANCE_ANSWER, reason="fixed")
    assert second.pk == first.pk and second.revision == 2
    assert Task.objects.filter(queue=queue, is_golden=True).count() == 1
    history = list(GoldenItemRevision.objects.filter(item=first).order_by("revision").values_list("revision", "answer"))
    assert history == [(1, SIMILAR), (2, GOOD_RELEVANCE_ANSWER)]


def test_a_labeler_is_never_served_both_a_golden_copy_and_its_twin(make_queue, make_user):
    queue = make_queue(tasks=2, replication=3, golden_rate=0.5)
    first = Task.objects.filter(queue=queue).order_by("pk").first()
    golden_item_from_task(task=first, expert=make_user(Role.EXPERT), answer=SIMILAR)
    copy = Task.objects.get(queue=queue, is_golden=True)
    labeler, other = make_user(Role.LABELER), make_user(Role.LABELER)

    served = []
    while (lease := assignment_claim(queue=queue, labeler=labeler, rng=AlwaysGoldenFirst())) is not None:
        served.append(lease.task_id)
        label_submit(assignment_id=lease.pk, labeler=labeler, answer=SIMILAR)
    assert served[0] == copy.pk
    assert first.pk not in served and len(served) == 2

    # The other way round: having labeled the normal task, the copy is not served.
    lease = assignment_claim(queue=queue, labeler=other, rng=type("NormalFirst", (), {"random": lambda self: 0.99})())
    assert lease.task_id == first.pk
    label_submit(assignment_id=lease.pk, labeler=other, answer=SIMILAR)
    served_other = []
    while (lease := assignment_claim(queue=queue, labeler=other, rng=AlwaysGoldenFirst())) is not None:
        served_other.append(lease.task_id)
        label_submit(assignment_id=lease.pk, labeler=other, answer=SIMILAR)
    assert copy.pk not in served_other


def test_several_queues_draw_copies_from_one_set_and_later_items_reach_every_queue(make_user):
    golden_set = golden_set_create(name="shared", task_kind="relevance")
    queues = [queue_create(name=f"q{i}", task_kind="relevance", golden_rate=0.2) for i in range(2)]
    golden_items_put(golden_set=golden_set, items=[GoldenItemInput(key="a", payload=relevance_payload(1), answer=SIMILAR)])
    for queue in queues:
        assert queue_golden_sets_add(queue=queue, golden_sets=[golden_set]) == 1
    golden_items_put(golden_set=golden_set, items=[GoldenItemInput(key="b", payload=relevance_payload(2), answer=SIMILAR)])
    assert [Task.objects.filter(queue=queue, is_golden=True).count() for queue in queues] == [2, 2]


def test_a_golden_set_of_another_kind_is_refused_with_a_clear_message(db):
    golden_set = golden_set_create(name="boxes", task_kind="bounding_boxes")
    queue = queue_create(name="relevance", task_kind="relevance")
    with pytest.raises(GoldenError) as refused:
        queue_golden_sets_add(queue=queue, golden_sets=[golden_set])
    assert str(refused.value) == GOLDEN_SET_KIND_MISMATCH.format(name="boxes", set_kind="bounding_boxes",
                                                                 queue="relevance", queue_kind="relevance")


def test_fixing_a_golden_answer_rescores_the_labels_given_against_the_old_one(make_queue, make_user):
    queue = make_queue(golden_tasks=1, golden_rate=1.0)
    labeler, expert = make_user(Role.LABELER), make_user(Role.EXPERT)
    lease = assignment_claim(queue=queue, labeler=labeler)
    label_submit(assignment_id=lease.pk, labeler=labeler, answer=GOOD_RELEVANCE_ANSWER)
    [before] = queue_golden_scores(queue=queue)
    assert before.n_golden_labels == 1 and before.n_correct == 0
    golden_item_revise(item=lease.task.golden_item, answer=GOOD_RELEVANCE_ANSWER, expert=expert)
    [after] = queue_golden_scores(queue=queue)
    assert after.n_correct == 1 and after.accuracy == 1.0


def test_a_golden_set_round_trips_through_json_lines(make_user):
    expert = make_user(Role.EXPERT)
    source = golden_set_create(name="source", task_kind="relevance")
    golden_items_put(golden_set=source, items=[
        GoldenItemInput(key=f"k{i}", payload=relevance_payload(i), answer=SIMILAR, reason=f"why {i}") for i in range(3)])
    exported = "".join(jsonl.golden_set_export_lines(golden_set=source))
    assert [json.loads(line)["key"] for line in exported.splitlines()] == ["k0", "k1", "k2"]
    target = golden_set_create(name="target", task_kind="relevance")
    assert jsonl.golden_set_import(golden_set=target, data=exported.encode(), imported_by=expert) == (3, 0, 0)
    assert jsonl.golden_set_import(golden_set=target, data=exported.encode(), imported_by=expert) == (0, 0, 3)
    item = target.items.get(key="k1")
    assert item.payload == relevance_payload(1) and item.reason == "why 1" and item.source == GoldenSource.IMPORT


def test_an_import_with_a_bad_line_stores_nothing_and_names_every_bad_line(make_user):
    target = golden_set_create(name="target", task_kind="relevance")
    lines = [json.dumps({"key": "ok", "payload": relevance_payload(1), "answer": SIMILAR}),
             "{not json",
             json.dumps({"key": "short", "payload": relevance_payload(2), "answer": {"grades": ["similar"]}}),
             json.dumps({"key": "ok", "payload": relevance_payload(3), "answer": SIMILAR})]
    with pytest.raises(jsonl.GoldenImportError) as refused:
        jsonl.golden_set_import(golden_set=target, data="\n".join(lines).encode(), imported_by=make_user(Role.EXPERT))
    assert set(refused.value.errors) == {"line 2", "line 3", "line 4"}
    assert refused.value.errors["line 4"] == jsonl.IMPORT_KEY_REPEATED.format(line=4, key="ok", first=1)
    assert not target.items.exists()


def test_experts_import_and_export_golden_sets_over_http_and_labelers_cannot(make_user):
    from rest_framework.test import APIClient

    from labeling.golden.api import IMPORT_INVALID_CODE

    golden_set = golden_set_create(name="over http", task_kind="relevance")
    body = "\n".join(json.dumps({"key": f"k{i}", "payload": relevance_payload(i), "answer": SIMILAR}) for i in range(2))
    client = APIClient()
    client.force_authenticate(make_user(Role.EXPERT))
    response = client.generic("POST", f"/api/v1/golden-sets/{golden_set.pk}/import", body,
                              content_type="application/x-ndjson")
    assert response.status_code == 200 and response.json() == {"created": 2, "revised": 0, "unchanged": 0}
    exported = client.get(f"/api/v1/golden-sets/{golden_set.pk}/export")
    assert exported["Content-Type"].startswith("application/x-ndjson")
    assert [json.loads(line)["key"] for line in b"".join(exported.streaming_content).decode().splitlines()] == ["k0", "k1"]

    refused = client.generic("POST", f"/api/v1/golden-sets/{golden_set.pk}/import", body + "\n{}",
                             content_type="application/x-ndjson")
    assert refused.status_code == 400
    error = refused.json()["error"]
    assert error["code"] == IMPORT_INVALID_CODE
    assert error["fields"] == {"lines": [jsonl.IMPORT_LINE_MISSING.format(line=3, key="payload")]}
    assert golden_set.items.count() == 2

    client.force_authenticate(make_user(Role.LABELER))
    assert client.generic("POST", f"/api/v1/golden-sets/{golden_set.pk}/import", body,
                          content_type="application/x-ndjson").status_code == 403


def test_a_golden_set_linked_in_the_admin_serves_its_items_at_once_and_another_kind_is_refused(make_user, client):
    admin = make_user(Role.ADMIN)
    admin.is_staff = admin.is_superuser = True
    admin.save()
    client.force_login(admin)
    queue = queue_create(name="admin queue", task_kind="relevance", golden_rate=0.1)
    golden_set = golden_set_create(name="linked in admin", task_kind="relevance")
    golden_items_put(golden_set=golden_set, items=[GoldenItemInput(key="a", payload=relevance_payload(1), answer=SIMILAR)])
    boxes = golden_set_create(name="boxes set", task_kind="bounding_boxes")
    form = {"name": queue.name, "task_kind": "relevance", "replication": 3, "golden_rate": 0.1, "priority": 0,
            "lease_seconds": 600, "is_active": "on", "show_preannotations": "on",
            "aggregation": "majority", "qualification_pass_mark": 0.8, "qualification_items": 10}
    refused = client.post(f"/admin/labeling/queue/{queue.pk}/change/", {**form, "golden_sets": [boxes.pk]})
    assert refused.status_code == 200 and "holds bounding_boxes items" in refused.content.decode()
    response = client.post(f"/admin/labeling/queue/{queue.pk}/change/", {**form, "golden_sets": [golden_set.pk]})
    assert response.status_code == 302
    assert Task.objects.filter(queue=queue, is_golden=True, golden_item__golden_set=golden_set).count() == 1


def test_the_count_left_for_a_labeler_leaves_out_the_twin_of_what_they_were_served(make_queue, make_user):
    from labeling.selectors import queues_open_to

    queue = make_queue(tasks=2, replication=3, golden_rate=0.5)
    first = Task.objects.filter(queue=queue).order_by("pk").first()
    golden_item_from_task(task=first, expert=make_user(Role.EXPERT), answer=SIMILAR)
    labeler = make_user(Role.LABELER)
    assert queues_open_to(user=labeler).get(pk=queue.pk).available_for_me == 3  # two tasks and one copy
    lease = assignment_claim(queue=queue, labeler=labeler, rng=AlwaysGoldenFirst())
    assert lease.task.is_golden
    label_submit(assignment_id=lease.pk, labeler=labeler, answer=SIMILAR)
    # The copy is done and its twin is not theirs: one task is left, as claim would hand out.
    assert queues_open_to(user=labeler).get(pk=queue.pk).available_for_me == 1
    served = []
    while (lease := assignment_claim(queue=queue, labeler=labeler)) is not None:
        served.append(lease.task_id)
        label_submit(assignment_id=lease.pk, labeler=labeler, answer=SIMILAR)
    assert len(served) == 1 and queues_open_to(user=labeler).get(pk=queue.pk).available_for_me == 0

    other = make_user(Role.LABELER)
    lease = assignment_claim(queue=queue, labeler=other, rng=type("NormalFirst", (), {"random": lambda self: 0.99})())
    assert lease.task_id == first.pk
    label_submit(assignment_id=lease.pk, labeler=other, answer=SIMILAR)
    # Having labeled the normal task, its golden copy is not counted for them either.
    assert queues_open_to(user=other).get(pk=queue.pk).available_for_me == 1
