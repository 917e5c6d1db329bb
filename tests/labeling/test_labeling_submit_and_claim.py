"""Submit and claim the next task in one call (``label_submit_and_claim``, the API's
``submit-and-claim``): the same invariants as a submit followed by a claim."""
from __future__ import annotations

import threading
from collections import Counter

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from labeling.models import Label, Task
from labeling.services.queue_engine import assignment_claim, label_submit, label_submit_and_claim
from tests.labeling.conftest import GOOD_RELEVANCE_ANSWER

CONCURRENT_LABELERS = 256
TASKS = 200
REPLICATION = 3


@pytest.mark.django_db
def test_a_submit_and_claim_stores_the_label_and_hands_the_next_task_of_the_queue(make_queue, labeler):
    queue = make_queue(tasks=3)
    lease = assignment_claim(queue=queue, labeler=labeler)
    label, created, following = label_submit_and_claim(assignment_id=lease.pk, labeler=labeler,
                                                        answer=GOOD_RELEVANCE_ANSWER, idempotency_key="k-1")
    assert created and label.task_id == lease.task_id
    assert following is not None and following.queue_id == queue.pk and following.task_id != lease.task_id
    # A replay returns the first label and the lease the first call handed out; nothing new is stored.
    replay, replay_created, again = label_submit_and_claim(assignment_id=lease.pk, labeler=labeler,
                                                           answer=GOOD_RELEVANCE_ANSWER, idempotency_key="k-1")
    assert (replay.pk, replay_created, again.pk) == (label.pk, False, following.pk)
    assert Label.objects.filter(labeler=labeler).count() == 1


@pytest.mark.django_db
def test_the_last_submit_and_claim_of_a_queue_answers_no_next_task(make_queue, labeler):
    queue = make_queue(tasks=1)
    lease = assignment_claim(queue=queue, labeler=labeler)
    _, created, following = label_submit_and_claim(assignment_id=lease.pk, labeler=labeler,
                                                   answer=GOOD_RELEVANCE_ANSWER)
    assert created and following is None


@pytest.mark.django_db
def test_a_queue_closed_between_the_two_halves_keeps_the_label_and_hands_no_task(make_queue, labeler):
    queue = make_queue(tasks=2)
    lease = assignment_claim(queue=queue, labeler=labeler)
    queue.is_active = False
    queue.save(update_fields=["is_active"])
    label, created, following = label_submit_and_claim(assignment_id=lease.pk, labeler=labeler,
                                                       answer=GOOD_RELEVANCE_ANSWER)
    assert created and following is None and Label.objects.filter(pk=label.pk).exists()


@pytest.mark.django_db
def test_the_api_answers_the_label_and_the_next_assignment(make_queue, labeler):
    queue = make_queue(tasks=2)
    client = APIClient()
    client.force_authenticate(labeler)
    first = client.post(f"/api/v1/queues/{queue.pk}/claim").json()["assignment"]
    response = client.post(f"/api/v1/assignments/{first['id']}/submit-and-claim", {"answer": GOOD_RELEVANCE_ANSWER},
                           format="json", headers={"Idempotency-Key": "web-1"})
    assert response.status_code == 201
    body = response.json()
    assert body["label"]["id"] and body["next"]["task"]["id"] != first["task"]["id"]
    assert "is_golden" not in body["next"]["task"]
    replay = client.post(f"/api/v1/assignments/{first['id']}/submit-and-claim", {"answer": GOOD_RELEVANCE_ANSWER},
                         format="json", headers={"Idempotency-Key": "web-1"})
    assert replay.status_code == 200 and replay.json() == body


@pytest.mark.django_db
def test_submit_and_claim_runs_as_many_queries_as_a_submit_and_a_claim_whatever_the_queue_size(make_queue,
                                                                                                make_user):
    def queries_of(call) -> int:
        with CaptureQueriesContext(connection) as queries:
            call()
        return len(queries.captured_queries)

    counts = []
    for tasks in (5, 400):
        queue = make_queue(tasks=tasks)
        person, other = make_user(), make_user()
        lease = assignment_claim(queue=queue, labeler=person)
        combined = queries_of(lambda: label_submit_and_claim(assignment_id=lease.pk, labeler=person,
                                                             answer=GOOD_RELEVANCE_ANSWER, idempotency_key=f"k-{tasks}"))
        own = assignment_claim(queue=queue, labeler=other)
        apart = (queries_of(lambda: label_submit(assignment_id=own.pk, labeler=other, answer=GOOD_RELEVANCE_ANSWER,
                                                 idempotency_key=f"o-{tasks}"))
                 + queries_of(lambda: assignment_claim(queue=queue, labeler=other)))
        counts.append((combined, apart))
    assert counts[0] == counts[1]
    # The queue the next claim needs is already loaded by the submit: no query more than the two calls.
    assert counts[0][0] <= counts[0][1]


@pytest.mark.django_db(transaction=True)
def test_256_labelers_submitting_and_claiming_at_once_fill_every_task_exactly_and_lose_no_submit(make_queue,
                                                                                                   make_user):
    queue = make_queue(tasks=TASKS, replication=REPLICATION, lease_seconds=600)
    labelers = [make_user() for _ in range(CONCURRENT_LABELERS)]
    accepted: dict[int, list[int]] = {labeler.pk: [] for labeler in labelers}
    failures: list[BaseException] = []
    start = threading.Barrier(CONCURRENT_LABELERS)

    def work(labeler) -> None:
        try:
            start.wait()
            lease = assignment_claim(queue=queue, labeler=labeler)
            while lease is not None:
                label, created, lease_next = label_submit_and_claim(
                    assignment_id=lease.pk, labeler=labeler, answer=GOOD_RELEVANCE_ANSWER,
                    idempotency_key=f"{labeler.pk}-{lease.pk}")
                assert created
                accepted[labeler.pk].append(label.pk)
                lease = lease_next
        except BaseException as error:  # surfaced below; a thread's exception is otherwise lost
            failures.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=work, args=(labeler,)) for labeler in labelers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert failures == []
    labels_per_task = Counter(Label.objects.filter(task__queue=queue).values_list("task_id", flat=True))
    assert len(labels_per_task) == TASKS and set(labels_per_task.values()) == {REPLICATION}
    pairs = list(Label.objects.filter(task__queue=queue).values_list("task_id", "labeler_id"))
    assert len(pairs) == len(set(pairs))
    stored = set(Label.objects.filter(task__queue=queue).values_list("pk", flat=True))
    assert stored == {pk for pks in accepted.values() for pk in pks}
    assert set(Task.objects.filter(queue=queue).values_list("label_count", flat=True)) == {REPLICATION}
