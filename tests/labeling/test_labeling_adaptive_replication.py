"""Adaptive replication: a task gets min_labels labels, then one more at a time while they disagree,
up to the queue's replication (labeling/QUEUE.md, "Adaptive replication")."""
from __future__ import annotations

import random
import threading
import time
from collections import defaultdict
from datetime import timedelta

import pytest
from django.db import connection
from django.db.models.functions import Coalesce
from django.utils import timezone

from labeling.models import Label, Role, Task
from labeling.services.queue_engine import (
    LEASE_EXPIRED,
    LeaseExpired,
    assignment_claim,
    label_submit,
    task_labels_wanted,
)
from labeling.services.queues import (
    AGREEMENT_TARGET_NOT_SHARE,
    MIN_LABELS_MISSING,
    MIN_LABELS_OUT_OF_RANGE,
    MIN_LABELS_WITHOUT_TARGET,
    REPLICATION_NOT_POSITIVE,
    QueueReplicationError,
    queue_replication_set,
)
from labeling.task_kinds import task_kind_spec
from tests.labeling.conftest import GOOD_RELEVANCE_ANSWER

OTHER_ANSWER = {"grades": ["not_similar"] * 5}
# Differs from GOOD_RELEVANCE_ANSWER in the first slot only: with it, agreement stays high.
NEAR_ANSWER = {"grades": ["similar"] + GOOD_RELEVANCE_ANSWER["grades"][1:]}


def adaptive_queue(make_queue, *, tasks: int, min_labels: int = 2, replication: int = 5,
                   agreement_target: float = 0.99, **options):
    queue = make_queue(tasks=tasks, replication=replication, **options)
    return queue_replication_set(queue=queue, replication=replication, min_labels=min_labels,
                                 agreement_target=agreement_target)


def label_once(queue, labeler, answer, **submit_options):
    lease = assignment_claim(queue=queue, labeler=labeler)
    assert lease is not None
    label, _ = label_submit(assignment_id=lease.pk, labeler=labeler, answer=answer, **submit_options)
    return label


def only_task(queue) -> Task:
    return Task.objects.get(queue=queue)


@pytest.mark.django_db
class TestAdaptiveReplicationRule:
    def test_task_whose_min_labels_agree_gets_no_more_labels(self, make_queue, make_user):
        queue = adaptive_queue(make_queue, tasks=1)
        for _ in range(2):
            label_once(queue, make_user(), GOOD_RELEVANCE_ANSWER)

        task = only_task(queue)
        assert assignment_claim(queue=queue, labeler=make_user()) is None
        assert (task.label_count, task.agreement, task.labels_wanted) == (2, 1.0, None)

    def test_task_gets_its_min_labels_before_agreement_can_stop_it(self, make_queue, make_user):
        queue = adaptive_queue(make_queue, tasks=1, min_labels=3)
        for _ in range(2):
            label_once(queue, make_user(), GOOD_RELEVANCE_ANSWER)

        assert assignment_claim(queue=queue, labeler=make_user()) is not None

    def test_task_whose_labels_disagree_is_offered_to_one_more_labeler_at_a_time(self, make_queue, make_user):
        queue = adaptive_queue(make_queue, tasks=1)
        label_once(queue, make_user(), GOOD_RELEVANCE_ANSWER)
        label_once(queue, make_user(), OTHER_ANSWER)
        assert only_task(queue).labels_wanted == 3

        third = assignment_claim(queue=queue, labeler=make_user())
        assert third is not None
        assert assignment_claim(queue=queue, labeler=make_user()) is None

    def test_each_disagreeing_label_asks_for_exactly_one_more(self, make_queue, make_user):
        queue = adaptive_queue(make_queue, tasks=1)
        wanted = []
        for answer in (GOOD_RELEVANCE_ANSWER, OTHER_ANSWER, GOOD_RELEVANCE_ANSWER):
            label_once(queue, make_user(), answer)
            wanted.append(only_task(queue).labels_wanted)
        assert wanted == [None, 3, 4]

    def test_task_never_gets_more_labels_than_replication(self, make_queue, make_user):
        queue = adaptive_queue(make_queue, tasks=1, replication=4)
        answers = [GOOD_RELEVANCE_ANSWER, OTHER_ANSWER] * 4
        given = 0
        for answer in answers:
            labeler = make_user()
            lease = assignment_claim(queue=queue, labeler=labeler)
            if lease is None:
                break
            label_submit(assignment_id=lease.pk, labeler=labeler, answer=answer)
            given += 1

        task = only_task(queue)
        assert given == 4
        assert (task.label_count, task.labels_wanted) == (4, 4)
        # Two against two on four slots; both answers say not_similar on the fourth.
        assert task.agreement == pytest.approx(0.6)

    def test_task_stops_once_a_later_label_reaches_the_target(self, make_queue, make_user):
        # Two labels differing in one slot agree 0.9; a third siding with either makes it 14/15.
        queue = adaptive_queue(make_queue, tasks=1, agreement_target=0.92)
        for answer in (GOOD_RELEVANCE_ANSWER, NEAR_ANSWER, GOOD_RELEVANCE_ANSWER):
            label_once(queue, make_user(), answer)

        task = only_task(queue)
        assert assignment_claim(queue=queue, labeler=make_user()) is None
        assert (task.label_count, task.labels_wanted) == (3, 3)
        assert task.agreement == pytest.approx(14 / 15)

    def test_agreement_is_the_kinds_consensus_agreement_of_the_counted_labels(self, make_queue, make_user):
        queue = adaptive_queue(make_queue, tasks=1)
        answers = [GOOD_RELEVANCE_ANSWER, NEAR_ANSWER, OTHER_ANSWER]
        for answer in answers:
            label_once(queue, make_user(), answer)

        task = only_task(queue)
        expected = task_kind_spec("relevance").consensus(payload=task.payload, answers=answers).agreement
        assert task.agreement == pytest.approx(expected)

    def test_uncounted_staff_label_changes_neither_agreement_nor_labels_wanted(self, make_queue, make_user):
        queue = adaptive_queue(make_queue, tasks=1)
        for _ in range(2):
            label_once(queue, make_user(), GOOD_RELEVANCE_ANSWER)
        label_once(queue, make_user(Role.EXPERT), OTHER_ANSWER)

        task = only_task(queue)
        assert (task.label_count, task.agreement, task.labels_wanted) == (2, 1.0, None)

    def test_golden_task_on_an_adaptive_queue_gets_no_agreement(self, make_queue, make_user):
        queue = adaptive_queue(make_queue, tasks=0, golden_tasks=1, golden_rate=1.0)
        label_once(queue, make_user(), OTHER_ANSWER)

        golden = Task.objects.get(queue=queue, is_golden=True)
        assert (golden.agreement, golden.labels_wanted) == (None, None)

    def test_late_submit_is_refused_once_the_labels_wanted_are_in(self, make_queue, make_user):
        queue = adaptive_queue(make_queue, tasks=1, lease_seconds=60)
        now = timezone.now()
        late = make_user()
        lease = assignment_claim(queue=queue, labeler=late, now=now)
        later = now + timedelta(seconds=120)
        for _ in range(2):
            labeler = make_user()
            other = assignment_claim(queue=queue, labeler=labeler, now=later)
            label_submit(assignment_id=other.pk, labeler=labeler, answer=GOOD_RELEVANCE_ANSWER, now=later)

        with pytest.raises(LeaseExpired, match=LEASE_EXPIRED):
            label_submit(assignment_id=lease.pk, labeler=late, answer=GOOD_RELEVANCE_ANSWER, now=later)

    def test_late_submit_is_accepted_when_disagreement_left_a_slot_open(self, make_queue, make_user):
        queue = adaptive_queue(make_queue, tasks=1, lease_seconds=60)
        now = timezone.now()
        late = make_user()
        lease = assignment_claim(queue=queue, labeler=late, now=now)
        later = now + timedelta(seconds=120)
        for answer in (GOOD_RELEVANCE_ANSWER, OTHER_ANSWER):
            labeler = make_user()
            other = assignment_claim(queue=queue, labeler=labeler, now=later)
            label_submit(assignment_id=other.pk, labeler=labeler, answer=answer, now=later)

        _, created = label_submit(assignment_id=lease.pk, labeler=late, answer=GOOD_RELEVANCE_ANSWER, now=later)
        assert created
        assert only_task(queue).label_count == 3

    def test_fixed_queue_ignores_labels_wanted_left_from_an_adaptive_past(self, make_queue, make_user):
        queue = adaptive_queue(make_queue, tasks=1, replication=3)
        for _ in range(2):
            label_once(queue, make_user(), GOOD_RELEVANCE_ANSWER)
        Task.objects.filter(queue=queue).update(labels_wanted=2)
        queue_replication_set(queue=queue, replication=3, min_labels=None, agreement_target=None)

        label_once(queue, make_user(), OTHER_ANSWER)
        task = only_task(queue)
        assert task.label_count == 3
        # A fixed queue computes no agreement: the value from its adaptive past is left as it was.
        assert task.agreement == 1.0
        assert assignment_claim(queue=queue, labeler=make_user()) is None

    def test_lowering_replication_caps_a_task_that_wanted_more(self, make_queue, make_user):
        queue = adaptive_queue(make_queue, tasks=1, replication=5)
        for answer in (GOOD_RELEVANCE_ANSWER, OTHER_ANSWER, NEAR_ANSWER):
            label_once(queue, make_user(), answer)
        assert only_task(queue).labels_wanted == 4
        queue_replication_set(queue=queue, replication=3, min_labels=2, agreement_target=0.99)

        assert assignment_claim(queue=queue, labeler=make_user()) is None


# Pool check, own live lease, SAVEPOINT, candidate FOR UPDATE SKIP LOCKED, slot re-count, INSERT, RELEASE:
# the same as on a fixed queue.
ADAPTIVE_CLAIM_QUERIES = 7
# SAVEPOINT, assignment+task FOR UPDATE, INSERT label (with the assignment's UPDATE in its statement),
# SELECT the task's answers, UPDATE task (label_count, agreement, labels_wanted), RELEASE: two more
# than on a fixed queue, whose INSERT also carries the task's count.
ADAPTIVE_SUBMIT_QUERIES = 6
ADAPTIVE_SUBMIT_WITH_KEY_QUERIES = 7


@pytest.fixture(params=[10, 1_000], ids=["10-tasks", "1000-tasks"])
def busy_adaptive_queue(request, make_queue, make_user):
    """An adaptive queue of the given size whose first tasks already have labels, agreeing and not,
    and other labelers' live leases."""
    queue = adaptive_queue(make_queue, tasks=request.param, golden_tasks=3)
    for answer in (GOOD_RELEVANCE_ANSWER, GOOD_RELEVANCE_ANSWER, OTHER_ANSWER):
        other = make_user()
        label_once(queue, other, answer)
        assignment_claim(queue=queue, labeler=other)
    return queue


@pytest.mark.django_db
def test_claim_on_an_adaptive_queue_runs_a_constant_number_of_queries(busy_adaptive_queue, make_user,
                                                                      django_assert_num_queries):
    labeler = make_user()
    with django_assert_num_queries(ADAPTIVE_CLAIM_QUERIES):
        lease = assignment_claim(queue=busy_adaptive_queue, labeler=labeler)
    assert lease is not None


@pytest.mark.django_db
def test_submit_that_asks_for_one_more_label_runs_a_constant_number_of_queries(busy_adaptive_queue, make_user,
                                                                               django_assert_num_queries):
    labeler = make_user()
    lease = assignment_claim(queue=busy_adaptive_queue, labeler=labeler)
    (earlier,) = Label.objects.filter(task_id=lease.task_id).values_list("answer", flat=True)
    disagreeing = OTHER_ANSWER if earlier == GOOD_RELEVANCE_ANSWER else GOOD_RELEVANCE_ANSWER
    with django_assert_num_queries(ADAPTIVE_SUBMIT_QUERIES):
        label_submit(assignment_id=lease.pk, labeler=labeler, answer=disagreeing)
    assert Task.objects.get(pk=lease.task_id).labels_wanted == 3


@pytest.mark.django_db
def test_submit_with_idempotency_key_on_an_adaptive_queue_runs_a_constant_number_of_queries(
        busy_adaptive_queue, make_user, django_assert_num_queries):
    labeler = make_user()
    lease = assignment_claim(queue=busy_adaptive_queue, labeler=labeler)
    with django_assert_num_queries(ADAPTIVE_SUBMIT_WITH_KEY_QUERIES):
        _, created = label_submit(assignment_id=lease.pk, labeler=labeler, answer=GOOD_RELEVANCE_ANSWER,
                                  idempotency_key="k")
    assert created


LABELERS = 24
TASKS = 80
MIN_LABELS = 2
REPLICATION = 4
TARGET = 0.99


@pytest.mark.django_db(transaction=True)
def test_concurrent_labelers_never_fill_a_task_past_the_labels_it_wants(make_queue, make_user):
    queue = adaptive_queue(make_queue, tasks=TASKS, min_labels=MIN_LABELS, replication=REPLICATION,
                           agreement_target=TARGET, lease_seconds=600)
    labelers = [make_user() for _ in range(LABELERS)]
    accepted: list[int] = []
    failures: list[BaseException] = []
    start = threading.Barrier(LABELERS)

    def open_untouched_task_left(labeler) -> bool:
        # A task can reopen after a claim found nothing (a disagreeing submit asks for one more
        # label), so a labeler stops only when no task they may take still wants labels.
        return (Task.objects.filter(queue=queue, label_count__lt=Coalesce("labels_wanted", MIN_LABELS))
                .exclude(assignments__labeler=labeler).exists())

    def work(labeler, seed: int) -> None:
        rng = random.Random(seed)
        try:
            start.wait()
            while True:
                lease = assignment_claim(queue=queue, labeler=labeler)
                if lease is None:
                    if not open_untouched_task_left(labeler):
                        break
                    time.sleep(0.005)  # others' leases fill what is left; their submits may reopen it
                    continue
                answer = GOOD_RELEVANCE_ANSWER if rng.random() < 0.7 else OTHER_ANSWER
                label, created = label_submit(assignment_id=lease.pk, labeler=labeler, answer=answer)
                assert created
                accepted.append(label.pk)
        except BaseException as error:  # surfaced below; a thread's exception is otherwise lost
            failures.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=work, args=(labeler, i)) for i, labeler in enumerate(labelers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert failures == []
    labels = Label.objects.filter(task__queue=queue).order_by("pk")
    assert sorted(accepted) == list(labels.values_list("pk", flat=True))
    answers_by_task: dict[int, list[dict]] = defaultdict(list)
    for task_id, answer in labels.values_list("task_id", "answer"):
        answers_by_task[task_id].append(answer)
    spec = task_kind_spec("relevance")
    tasks = list(Task.objects.filter(queue=queue))
    assert len(tasks) == TASKS
    label_counts = set()
    for task in tasks:
        answers = answers_by_task[task.pk]
        wanted = task_labels_wanted(queue=queue, labels_wanted=task.labels_wanted)
        # Every lease was submitted, so an overfilled task would have more labels than it wants.
        assert len(answers) == task.label_count == wanted
        # Labels are inserted under the task lock, so id order is the order they came in: every
        # label past min_labels was asked for by the disagreement of the labels before it.
        for count in range(MIN_LABELS, len(answers)):
            assert spec.consensus(payload=task.payload, answers=answers[:count]).agreement < TARGET
        final = spec.consensus(payload=task.payload, answers=answers).agreement
        assert task.agreement == pytest.approx(final)
        assert final >= TARGET or len(answers) == REPLICATION
        label_counts.add(len(answers))
    # The answers were drawn so that both outcomes occur: some tasks stopped early, some went on.
    assert MIN_LABELS in label_counts and len(label_counts) > 1
    pairs = list(labels.values_list("task_id", "labeler_id"))
    assert len(pairs) == len(set(pairs))


@pytest.mark.django_db
class TestQueueReplicationSet:
    @pytest.mark.parametrize(("replication", "min_labels", "agreement_target", "message", "field"), [
        (0, None, None, REPLICATION_NOT_POSITIVE, "replication"),
        (3, 2, None, MIN_LABELS_WITHOUT_TARGET, "min_labels"),
        (3, None, 0.9, MIN_LABELS_MISSING, "min_labels"),
        (3, 0, 0.9, MIN_LABELS_OUT_OF_RANGE.format(replication=3), "min_labels"),
        (3, 1, 0.9, MIN_LABELS_OUT_OF_RANGE.format(replication=3), "min_labels"),
        (3, 4, 0.9, MIN_LABELS_OUT_OF_RANGE.format(replication=3), "min_labels"),
        (3, 2, 0.0, AGREEMENT_TARGET_NOT_SHARE, "agreement_target"),
        (3, 2, 1.5, AGREEMENT_TARGET_NOT_SHARE, "agreement_target"),
        (3, 2, float("nan"), AGREEMENT_TARGET_NOT_SHARE, "agreement_target"),
    ], ids=["replication-zero", "min-without-target", "target-without-min", "min-zero", "min-one", "min-above-replication",
            "target-zero", "target-above-one", "target-nan"])
    def test_refuses_an_invalid_setting_naming_the_field(self, make_queue, replication, min_labels,
                                                         agreement_target, message, field):
        queue = make_queue(replication=3)
        with pytest.raises(QueueReplicationError) as refused:
            queue_replication_set(queue=queue, replication=replication, min_labels=min_labels,
                                  agreement_target=agreement_target)
        assert (str(refused.value), refused.value.field) == (message, field)
        queue.refresh_from_db()
        assert (queue.replication, queue.min_labels, queue.agreement_target) == (3, None, None)

    def test_stores_an_adaptive_setting(self, make_queue):
        queue = make_queue(replication=3)
        queue_replication_set(queue=queue, replication=5, min_labels=2, agreement_target=1)
        queue.refresh_from_db()
        assert (queue.replication, queue.min_labels, queue.agreement_target) == (5, 2, 1.0)

    def test_fixed_setting_turns_adaptive_replication_off(self, make_queue):
        queue = adaptive_queue(make_queue, tasks=0)
        queue_replication_set(queue=queue, replication=4, min_labels=None, agreement_target=None)
        queue.refresh_from_db()
        assert (queue.replication, queue.min_labels, queue.agreement_target) == (4, None, None)
