"""Claim and submit of box tasks cost the same number of queries whatever the queue size: the
box kind adds only the taxonomy's version check (one small query) to a submit."""
from __future__ import annotations

import pytest

from labeling.models import Role
from labeling.services.queue_engine import assignment_claim, label_submit
from labeling.services.queues import queue_create
from labeling.services.tasks import TaskSpec, tasks_create
from labeling.taxonomy import taxonomy_snapshot
from tests.labeling.test_labeling_queue_query_counts import CLAIM_HTTP_QUERIES, CLAIM_QUERIES, SUBMIT_QUERIES

pytestmark = pytest.mark.django_db

# The relevance submit's queries plus the taxonomy version read by the category check.
BOX_SUBMIT_QUERIES = SUBMIT_QUERIES + 1
BOX_SUBMIT_HTTP_QUERIES = BOX_SUBMIT_QUERIES + 1  # plus the Idempotency-Key lookup
ANSWER = {"boxes": [{"box": [10, 10, 120, 200], "category": "tops"}, {"box": [200, 50, 300, 90], "category": "shoes"}]}


def box_payload(number: int) -> dict:
    return {"scene_id": number, "image": {"url": f"/media/images/{number}.png", "width": 640, "height": 480},
            "proposals": [{"box": [12, 8, 118, 204], "category": "tops", "score": 0.91}]}


@pytest.fixture(params=[10, 1_000], ids=["10-tasks", "1000-tasks"])
def box_queue(request, make_user):
    queue = queue_create(name=f"boxes {request.param}", task_kind="bounding_boxes", replication=3)
    tasks_create(queue=queue, specs=[TaskSpec(source_key=f"scene:{i}", payload=box_payload(i))
                                     for i in range(request.param)])
    for _ in range(2):
        other = make_user()
        label_submit(assignment_id=assignment_claim(queue=queue, labeler=other).pk, labeler=other, answer=ANSWER)
        assignment_claim(queue=queue, labeler=other)
    taxonomy_snapshot()  # loaded once per process; the count below is the steady state
    return queue


def test_claiming_a_box_task_runs_a_constant_number_of_queries(box_queue, make_user, django_assert_num_queries):
    labeler = make_user(Role.LABELER)
    with django_assert_num_queries(CLAIM_QUERIES):
        assert assignment_claim(queue=box_queue, labeler=labeler) is not None


def test_submitting_boxes_runs_a_constant_number_of_queries(box_queue, make_user, django_assert_num_queries):
    labeler = make_user(Role.LABELER)
    lease = assignment_claim(queue=box_queue, labeler=labeler)
    with django_assert_num_queries(BOX_SUBMIT_QUERIES):
        _, created = label_submit(assignment_id=lease.pk, labeler=labeler, answer=ANSWER)
    assert created


def test_box_claim_and_submit_over_http_run_a_constant_number_of_queries(box_queue, make_user,
                                                                          django_assert_num_queries):
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_authenticate(make_user(Role.LABELER))
    with django_assert_num_queries(CLAIM_HTTP_QUERIES):
        response = client.post(f"/api/v1/queues/{box_queue.pk}/claim")
    assert response.json()["assignment"]["task"]["payload"]["proposals"]
    assignment_id = response.json()["assignment"]["id"]
    with django_assert_num_queries(BOX_SUBMIT_HTTP_QUERIES):
        response = client.post(f"/api/v1/assignments/{assignment_id}/submit", {"answer": ANSWER}, format="json",
                               HTTP_IDEMPOTENCY_KEY="box-1")
    assert response.status_code == 201
