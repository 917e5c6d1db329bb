"""Claim and submit cost the same number of queries whatever the queue size.

Inside a test transaction each ``transaction.atomic()`` of a service becomes a SAVEPOINT and a
RELEASE SAVEPOINT, which the counts include.
"""
from __future__ import annotations

import pytest

from labeling.models import Role
from labeling.services.queue_engine import assignment_claim, label_submit
from tests.labeling.conftest import GOOD_RELEVANCE_ANSWER

pytestmark = pytest.mark.django_db

# Pool check, own live lease, SAVEPOINT, candidate FOR UPDATE SKIP LOCKED, slot re-count, INSERT, RELEASE.
CLAIM_QUERIES = 7
# Own live lease found: pool check and the lease itself.
CLAIM_OWN_LEASE_QUERIES = 2
# SAVEPOINT, assignment+task FOR UPDATE, INSERT label, RELEASE: on PostgreSQL the assignment's and
# the task's UPDATEs ride in the INSERT's statement (rows.instance_insert's ``along``).
SUBMIT_QUERIES = 4
# Plus the Idempotency-Key lookup.
SUBMIT_WITH_KEY_QUERIES = 5


@pytest.fixture(params=[10, 1_000], ids=["10-tasks", "1000-tasks"])
def busy_queue(request, make_queue, make_user, in_house_pool, crowd_pool):
    """A queue of the given size with other labelers' labels and live leases already in it."""
    queue = make_queue(tasks=request.param, golden_tasks=3, replication=3, allowed_pools=[in_house_pool, crowd_pool])
    for _ in range(2):
        other = make_user()
        label_submit(assignment_id=assignment_claim(queue=queue, labeler=other).pk, labeler=other,
                     answer=GOOD_RELEVANCE_ANSWER)
        assignment_claim(queue=queue, labeler=other)
    return queue


def test_claim_runs_a_constant_number_of_queries(busy_queue, make_user, django_assert_num_queries):
    labeler = make_user(Role.LABELER)
    with django_assert_num_queries(CLAIM_QUERIES):
        lease = assignment_claim(queue=busy_queue, labeler=labeler)
    assert lease is not None


def test_claim_of_an_existing_lease_runs_a_constant_number_of_queries(busy_queue, make_user, django_assert_num_queries):
    labeler = make_user(Role.LABELER)
    assignment_claim(queue=busy_queue, labeler=labeler)
    with django_assert_num_queries(CLAIM_OWN_LEASE_QUERIES):
        assignment_claim(queue=busy_queue, labeler=labeler)


def test_submit_runs_a_constant_number_of_queries(busy_queue, make_user, django_assert_num_queries):
    labeler = make_user(Role.LABELER)
    lease = assignment_claim(queue=busy_queue, labeler=labeler)
    with django_assert_num_queries(SUBMIT_QUERIES):
        _, created = label_submit(assignment_id=lease.pk, labeler=labeler, answer=GOOD_RELEVANCE_ANSWER)
    assert created


def test_submit_with_idempotency_key_runs_a_constant_number_of_queries(busy_queue, make_user, django_assert_num_queries):
    labeler = make_user(Role.LABELER)
    lease = assignment_claim(queue=busy_queue, labeler=labeler)
    with django_assert_num_queries(SUBMIT_WITH_KEY_QUERIES):
        label_submit(assignment_id=lease.pk, labeler=labeler, answer=GOOD_RELEVANCE_ANSWER, idempotency_key="k")


# Over HTTP, loading the queue by id comes first, with its allowed pools, so the pool check is no
# query of its own; serializing the lease costs nothing more.
CLAIM_HTTP_QUERIES = CLAIM_QUERIES
SUBMIT_HTTP_QUERIES = SUBMIT_WITH_KEY_QUERIES


def test_claim_and_submit_over_http_run_a_constant_number_of_queries(busy_queue, make_user, django_assert_num_queries):
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_authenticate(make_user(Role.LABELER))
    with django_assert_num_queries(CLAIM_HTTP_QUERIES):
        response = client.post(f"/api/v1/queues/{busy_queue.pk}/claim")
    assignment_id = response.json()["assignment"]["id"]
    with django_assert_num_queries(SUBMIT_HTTP_QUERIES):
        response = client.post(f"/api/v1/assignments/{assignment_id}/submit", {"answer": GOOD_RELEVANCE_ANSWER},
                               format="json", headers={"Idempotency-Key": "k"})
    assert response.status_code == 201
