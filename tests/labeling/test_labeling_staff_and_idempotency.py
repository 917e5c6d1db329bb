"""Staff claims are explicit (a queue setting, off by default), and an Idempotency-Key replayed
with another body is refused."""
from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from labeling.models import Assignment, Label, Role, Task
from labeling.services.queue_engine import (
    IDEMPOTENCY_BODY_CHANGED,
    IdempotencyBodyChanged,
    assignment_claim,
    label_submit,
)
from tests.labeling.conftest import GOOD_RELEVANCE_ANSWER

pytestmark = pytest.mark.django_db

OTHER_ANSWER = {"grades": ["not_similar"] * 5}


def _fill(queue, labelers):
    for person in labelers:
        lease = assignment_claim(queue=queue, labeler=person)
        label_submit(assignment_id=lease.pk, labeler=person, answer=GOOD_RELEVANCE_ANSWER)


@pytest.mark.parametrize("role", [Role.EXPERT, Role.ADMIN])
def test_a_staff_label_takes_no_replication_slot_by_default(make_queue, make_user, role):
    queue = make_queue(tasks=1, replication=2)
    task = Task.objects.get(queue=queue)
    staff = make_user(role)

    lease = assignment_claim(queue=queue, labeler=staff)
    label, _ = label_submit(assignment_id=lease.pk, labeler=staff, answer=GOOD_RELEVANCE_ANSWER)
    task.refresh_from_db()

    assert lease.task_id == task.pk and not lease.counts_toward_replication
    assert label.is_staff_label and not label.counts_toward_replication
    assert task.label_count == 0
    # Both crowd slots are still free after the expert's label.
    _fill(queue, [make_user(Role.LABELER), make_user(Role.LABELER)])
    task.refresh_from_db()
    assert task.label_count == 2


def test_a_staff_lease_holds_no_slot_while_it_is_live(make_queue, make_user):
    queue = make_queue(tasks=1, replication=1)
    assignment_claim(queue=queue, labeler=make_user(Role.EXPERT))

    crowd_lease = assignment_claim(queue=queue, labeler=make_user(Role.LABELER))

    assert crowd_lease is not None


def test_staff_can_still_label_a_task_the_crowd_has_filled(make_queue, make_user):
    queue = make_queue(tasks=1, replication=1)
    _fill(queue, [make_user(Role.LABELER)])

    lease = assignment_claim(queue=queue, labeler=make_user(Role.EXPERT))

    assert lease is not None and not lease.counts_toward_replication


def test_staff_labels_count_when_the_queue_says_so(make_queue, make_user):
    queue = make_queue(tasks=1, replication=1, staff_labels_count=True)
    task = Task.objects.get(queue=queue)
    expert = make_user(Role.EXPERT)

    lease = assignment_claim(queue=queue, labeler=expert)
    label, _ = label_submit(assignment_id=lease.pk, labeler=expert, answer=GOOD_RELEVANCE_ANSWER)
    task.refresh_from_db()

    assert lease.counts_toward_replication
    assert label.is_staff_label and label.counts_toward_replication
    assert task.label_count == 1
    assert assignment_claim(queue=queue, labeler=make_user(Role.LABELER)) is None


def test_a_labelers_label_is_not_a_staff_label(make_queue, labeler):
    queue = make_queue(tasks=1)
    lease = assignment_claim(queue=queue, labeler=labeler)
    label, _ = label_submit(assignment_id=lease.pk, labeler=labeler, answer=GOOD_RELEVANCE_ANSWER)
    assert not label.is_staff_label and label.counts_toward_replication


def test_a_replay_with_the_same_key_and_body_returns_the_first_label(make_queue, labeler):
    queue = make_queue(tasks=1)
    lease = assignment_claim(queue=queue, labeler=labeler)
    first, created = label_submit(assignment_id=lease.pk, labeler=labeler, answer=GOOD_RELEVANCE_ANSWER,
                                  idempotency_key="k-1", time_spent_ms=1200)
    again, created_again = label_submit(assignment_id=lease.pk, labeler=labeler, answer=dict(GOOD_RELEVANCE_ANSWER),
                                        idempotency_key="k-1", time_spent_ms=1200)
    assert created and not created_again and again.pk == first.pk


@pytest.mark.parametrize("changed", [{"answer": OTHER_ANSWER, "time_spent_ms": 1200},
                                     {"answer": GOOD_RELEVANCE_ANSWER, "time_spent_ms": 999}])
def test_a_replay_with_the_same_key_and_another_body_is_refused(make_queue, labeler, changed):
    queue = make_queue(tasks=1)
    lease = assignment_claim(queue=queue, labeler=labeler)
    label_submit(assignment_id=lease.pk, labeler=labeler, answer=GOOD_RELEVANCE_ANSWER, idempotency_key="k-1",
                 time_spent_ms=1200)

    with pytest.raises(IdempotencyBodyChanged, match=IDEMPOTENCY_BODY_CHANGED):
        label_submit(assignment_id=lease.pk, labeler=labeler, idempotency_key="k-1", **changed)
    assert list(Label.objects.values_list("answer", flat=True)) == [GOOD_RELEVANCE_ANSWER]


def test_the_api_refuses_a_changed_body_under_a_used_key_with_422(make_queue, labeler):
    queue = make_queue(tasks=2)
    client = APIClient()
    client.force_authenticate(labeler)
    assignment_id = client.post(f"/api/v1/queues/{queue.pk}/claim").json()["assignment"]["id"]
    url = f"/api/v1/assignments/{assignment_id}/submit"
    headers = {"HTTP_IDEMPOTENCY_KEY": "same-key"}

    first = client.post(url, {"answer": GOOD_RELEVANCE_ANSWER}, format="json", **headers)
    replay = client.post(url, {"answer": GOOD_RELEVANCE_ANSWER}, format="json", **headers)
    changed = client.post(url, {"answer": OTHER_ANSWER}, format="json", **headers)

    assert (first.status_code, replay.status_code) == (201, 200)
    assert changed.status_code == 422
    assert changed.json()["error"] == {"code": "idempotency_body_changed", "message": IDEMPOTENCY_BODY_CHANGED}
    assert Label.objects.count() == 1
    assert Assignment.objects.filter(labeler=labeler).count() == 1
