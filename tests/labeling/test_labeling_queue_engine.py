"""Claim, submit and skip through the services, with the clock under the test's control."""
from __future__ import annotations

import random
from collections import Counter
from datetime import timedelta

import pytest
from django.utils import timezone

from labeling.answer_schemas import GRADES_WRONG_COUNT, AnswerSchemaError
from labeling.models import Assignment, AssignmentState, Label, Role, Task
from labeling.services.queue_engine import (
    ASSIGNMENT_ALREADY_SKIPPED,
    ASSIGNMENT_ALREADY_SUBMITTED,
    ASSIGNMENT_NOT_YOURS,
    IDEMPOTENCY_KEY_REUSED,
    LEASE_EXPIRED,
    QUEUE_CLOSED,
    QUEUE_NOT_OPEN_TO_POOL,
    AssignmentFinished,
    AssignmentNotYours,
    IdempotencyKeyReused,
    LeaseExpired,
    QueueClosed,
    QueueNotOpenToPool,
    assignment_claim,
    assignment_skip,
    label_submit,
)
from tests.labeling.conftest import GOOD_RELEVANCE_ANSWER

pytestmark = pytest.mark.django_db


def test_claim_hands_out_the_highest_priority_then_oldest_task(make_queue, labeler):
    queue = make_queue(tasks=3)
    tasks = list(Task.objects.filter(queue=queue).order_by("id"))
    Task.objects.filter(pk=tasks[2].pk).update(priority=5)

    first = assignment_claim(queue=queue, labeler=labeler)
    label_submit(assignment_id=first.pk, labeler=labeler, answer=GOOD_RELEVANCE_ANSWER)
    second = assignment_claim(queue=queue, labeler=labeler)

    assert first.task_id == tasks[2].pk
    assert second.task_id == tasks[0].pk


def test_claim_returns_the_labelers_own_live_lease_again(make_queue, labeler):
    queue = make_queue(tasks=5)
    first = assignment_claim(queue=queue, labeler=labeler)
    again = assignment_claim(queue=queue, labeler=labeler)
    assert again.pk == first.pk
    assert Assignment.objects.filter(labeler=labeler).count() == 1


def test_claim_lease_lasts_the_queues_lease_seconds(make_queue, labeler):
    queue = make_queue(tasks=1, lease_seconds=90)
    now = timezone.now()
    lease = assignment_claim(queue=queue, labeler=labeler, now=now)
    assert lease.expires_at == now + timedelta(seconds=90)


def test_claim_stops_at_replication_and_returns_none_when_nothing_is_left(make_queue, make_user):
    queue = make_queue(tasks=1, replication=2)
    first, second, third = make_user(), make_user(), make_user()
    assert assignment_claim(queue=queue, labeler=first) is not None
    assert assignment_claim(queue=queue, labeler=second) is not None
    assert assignment_claim(queue=queue, labeler=third) is None


def test_claim_never_gives_one_labeler_the_same_task_twice(make_queue, labeler):
    queue = make_queue(tasks=3, replication=3)
    seen = []
    while (lease := assignment_claim(queue=queue, labeler=labeler)) is not None:
        seen.append(lease.task_id)
        label_submit(assignment_id=lease.pk, labeler=labeler, answer=GOOD_RELEVANCE_ANSWER)
    assert sorted(seen) == sorted(Task.objects.filter(queue=queue).values_list("pk", flat=True))


def test_claim_refuses_a_labeler_outside_the_queues_pools(make_queue, make_user, crowd_pool, in_house_pool):
    queue = make_queue(tasks=2, allowed_pools=[in_house_pool])
    crowd_labeler = make_user(Role.LABELER, pool=crowd_pool)
    with pytest.raises(QueueNotOpenToPool, match=QUEUE_NOT_OPEN_TO_POOL):
        assignment_claim(queue=queue, labeler=crowd_labeler)
    assert assignment_claim(queue=queue, labeler=make_user(Role.LABELER, pool=in_house_pool)) is not None


def test_claim_from_a_queue_without_pools_is_open_to_every_pool(make_queue, make_user, crowd_pool):
    queue = make_queue(tasks=1)
    assert assignment_claim(queue=queue, labeler=make_user(Role.LABELER, pool=crowd_pool)) is not None


def test_claim_refuses_a_closed_queue(make_queue, labeler):
    queue = make_queue(tasks=1, )
    queue.is_active = False
    queue.save(update_fields=["is_active"])
    with pytest.raises(QueueClosed, match=QUEUE_CLOSED):
        assignment_claim(queue=queue, labeler=labeler)


def test_expired_lease_frees_its_slot_at_the_next_claim_and_its_late_submit_is_refused(make_queue, make_user):
    queue = make_queue(tasks=1, replication=1, lease_seconds=60)
    slow, fast = make_user(), make_user()
    start = timezone.now()
    slow_lease = assignment_claim(queue=queue, labeler=slow, now=start)
    assert assignment_claim(queue=queue, labeler=fast, now=start + timedelta(seconds=30)) is None

    fast_lease = assignment_claim(queue=queue, labeler=fast, now=start + timedelta(seconds=61))
    assert fast_lease.task_id == slow_lease.task_id

    with pytest.raises(LeaseExpired, match=LEASE_EXPIRED):
        label_submit(assignment_id=slow_lease.pk, labeler=slow, answer=GOOD_RELEVANCE_ANSWER,
                     now=start + timedelta(seconds=62))
    label_submit(assignment_id=fast_lease.pk, labeler=fast, answer=GOOD_RELEVANCE_ANSWER,
                 now=start + timedelta(seconds=63))
    assert list(Label.objects.values_list("labeler", flat=True)) == [fast.pk]


def test_late_submit_is_accepted_while_nobody_took_the_expired_slot(make_queue, labeler):
    queue = make_queue(tasks=1, replication=1, lease_seconds=60)
    start = timezone.now()
    lease = assignment_claim(queue=queue, labeler=labeler, now=start)
    label, created = label_submit(assignment_id=lease.pk, labeler=labeler, answer=GOOD_RELEVANCE_ANSWER,
                                  now=start + timedelta(minutes=10))
    assert created
    assert Task.objects.get(pk=lease.task_id).label_count == 1


def test_a_labeler_whose_lease_expired_is_not_handed_that_task_again(make_queue, labeler):
    queue = make_queue(tasks=2, replication=3, lease_seconds=60)
    start = timezone.now()
    expired = assignment_claim(queue=queue, labeler=labeler, now=start)
    later = assignment_claim(queue=queue, labeler=labeler, now=start + timedelta(seconds=61))
    assert later.task_id != expired.task_id


def test_submit_stores_the_label_with_guide_version_and_time_spent(make_queue, labeler):
    queue = make_queue(tasks=1)
    lease = assignment_claim(queue=queue, labeler=labeler)
    label, created = label_submit(assignment_id=lease.pk, labeler=labeler, answer=GOOD_RELEVANCE_ANSWER,
                                  time_spent_ms=4200)
    lease.refresh_from_db()
    assert created
    assert (label.answer, label.time_spent_ms, label.guide_version_id) == (GOOD_RELEVANCE_ANSWER, 4200, queue.guide_version_id)
    assert lease.state == AssignmentState.SUBMITTED
    assert Task.objects.get(pk=lease.task_id).label_count == 1


def test_submit_without_client_time_records_server_time_since_claim(make_queue, labeler):
    queue = make_queue(tasks=1)
    lease = assignment_claim(queue=queue, labeler=labeler)
    label, _ = label_submit(assignment_id=lease.pk, labeler=labeler, answer=GOOD_RELEVANCE_ANSWER,
                            now=lease.created_at + timedelta(seconds=7))
    assert label.time_spent_ms == 7000


def test_submit_records_the_queues_guide_version(make_queue, labeler):
    from labeling.models import Guide, GuideVersion

    guide = Guide.objects.create(task_kind="relevance", title="Relevance at 5")
    version = GuideVersion.objects.create(guide=guide, version=3, body="# Grades")
    queue = make_queue(tasks=1, guide_version=version)
    lease = assignment_claim(queue=queue, labeler=labeler)
    label, _ = label_submit(assignment_id=lease.pk, labeler=labeler, answer=GOOD_RELEVANCE_ANSWER)
    assert Label.objects.get(pk=label.pk).guide_version_id == version.pk


def test_submit_rejects_an_answer_that_breaks_the_schema_and_keeps_the_lease(make_queue, labeler):
    queue = make_queue(tasks=1)
    lease = assignment_claim(queue=queue, labeler=labeler)
    with pytest.raises(AnswerSchemaError) as refused:
        label_submit(assignment_id=lease.pk, labeler=labeler, answer={"grades": ["similar"]})
    assert str(refused.value) == GRADES_WRONG_COUNT.format(expected=5, got=1)
    assert Label.objects.count() == 0
    assert Assignment.objects.get(pk=lease.pk).state == AssignmentState.ACTIVE


def test_submit_refuses_another_labelers_assignment(make_queue, make_user):
    queue = make_queue(tasks=1)
    owner, intruder = make_user(), make_user()
    lease = assignment_claim(queue=queue, labeler=owner)
    with pytest.raises(AssignmentNotYours, match=ASSIGNMENT_NOT_YOURS):
        label_submit(assignment_id=lease.pk, labeler=intruder, answer=GOOD_RELEVANCE_ANSWER)


def test_submit_refuses_a_second_submit_without_idempotency_key(make_queue, labeler):
    queue = make_queue(tasks=1)
    lease = assignment_claim(queue=queue, labeler=labeler)
    label_submit(assignment_id=lease.pk, labeler=labeler, answer=GOOD_RELEVANCE_ANSWER)
    with pytest.raises(AssignmentFinished, match=ASSIGNMENT_ALREADY_SUBMITTED):
        label_submit(assignment_id=lease.pk, labeler=labeler, answer=GOOD_RELEVANCE_ANSWER)
    assert Label.objects.count() == 1


def test_idempotent_replay_returns_the_first_label_and_stores_nothing_new(make_queue, labeler):
    queue = make_queue(tasks=2)
    lease = assignment_claim(queue=queue, labeler=labeler)
    first, first_created = label_submit(assignment_id=lease.pk, labeler=labeler, answer=GOOD_RELEVANCE_ANSWER,
                                        idempotency_key="key-1")
    replay, replay_created = label_submit(assignment_id=lease.pk, labeler=labeler,
                                          answer=dict(GOOD_RELEVANCE_ANSWER), idempotency_key="key-1")
    assert (first_created, replay_created) == (True, False)
    assert replay.pk == first.pk and replay.answer == GOOD_RELEVANCE_ANSWER
    assert Label.objects.count() == 1
    assert Task.objects.get(pk=lease.task_id).label_count == 1


def test_idempotency_key_reused_for_another_assignment_is_refused(make_queue, labeler):
    queue = make_queue(tasks=2)
    lease = assignment_claim(queue=queue, labeler=labeler)
    label_submit(assignment_id=lease.pk, labeler=labeler, answer=GOOD_RELEVANCE_ANSWER, idempotency_key="key-1")
    next_lease = assignment_claim(queue=queue, labeler=labeler)
    with pytest.raises(IdempotencyKeyReused, match=IDEMPOTENCY_KEY_REUSED):
        label_submit(assignment_id=next_lease.pk, labeler=labeler, answer=GOOD_RELEVANCE_ANSWER,
                     idempotency_key="key-1")
    assert Label.objects.count() == 1


def test_skip_means_the_labeler_never_gets_that_task_again(make_queue, labeler):
    queue = make_queue(tasks=2, replication=3)
    skipped = assignment_claim(queue=queue, labeler=labeler)
    assignment_skip(assignment_id=skipped.pk, labeler=labeler)
    handed_out = []
    while (lease := assignment_claim(queue=queue, labeler=labeler)) is not None:
        handed_out.append(lease.task_id)
        label_submit(assignment_id=lease.pk, labeler=labeler, answer=GOOD_RELEVANCE_ANSWER)
    assert skipped.task_id not in handed_out
    assert len(handed_out) == 1


def test_skip_frees_the_slot_for_other_labelers(make_queue, make_user):
    queue = make_queue(tasks=1, replication=1)
    first, second = make_user(), make_user()
    lease = assignment_claim(queue=queue, labeler=first)
    assignment_skip(assignment_id=lease.pk, labeler=first)
    assert assignment_claim(queue=queue, labeler=second).task_id == lease.task_id


def test_a_skipped_assignment_cannot_be_submitted(make_queue, labeler):
    queue = make_queue(tasks=1)
    lease = assignment_claim(queue=queue, labeler=labeler)
    assignment_skip(assignment_id=lease.pk, labeler=labeler)
    with pytest.raises(AssignmentFinished, match=ASSIGNMENT_ALREADY_SKIPPED):
        label_submit(assignment_id=lease.pk, labeler=labeler, answer=GOOD_RELEVANCE_ANSWER)


def test_golden_tasks_are_served_at_roughly_the_golden_rate(make_queue, make_user):
    queue = make_queue(tasks=320, golden_tasks=320, golden_rate=0.25, replication=1)
    rng = random.Random(7)
    served = Counter()
    for _ in range(8):
        labeler = make_user()
        for _ in range(40):
            lease = assignment_claim(queue=queue, labeler=labeler, rng=rng)
            served[lease.task.is_golden] += 1
            label_submit(assignment_id=lease.pk, labeler=labeler, answer=GOOD_RELEVANCE_ANSWER)
    share = served[True] / (served[True] + served[False])
    # 320 draws at p=0.25: the standard deviation of the share is about 0.024.
    assert 0.16 < share < 0.34


def test_golden_tasks_are_not_capped_by_replication(make_queue, make_user):
    queue = make_queue(golden_tasks=1, golden_rate=1.0, replication=1)
    leases = [assignment_claim(queue=queue, labeler=make_user()) for _ in range(4)]
    assert len({lease.task_id for lease in leases}) == 1
    assert all(lease.task.is_golden for lease in leases)


def test_claim_falls_back_to_normal_tasks_when_golden_ones_run_out(make_queue, labeler):
    queue = make_queue(tasks=1, golden_rate=1.0)
    lease = assignment_claim(queue=queue, labeler=labeler)
    assert lease is not None and not lease.task.is_golden


def test_a_queue_with_golden_rate_zero_never_serves_golden_tasks(make_queue, labeler):
    queue = make_queue(golden_tasks=3, golden_rate=0.0)
    assert assignment_claim(queue=queue, labeler=labeler) is None
