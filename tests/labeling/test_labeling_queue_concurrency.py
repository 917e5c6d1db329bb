"""Many labelers at once on real PostgreSQL: real threads, one database connection each."""
from __future__ import annotations

import random
import threading
from collections import Counter

import pytest
from django.db import connection

from labeling.models import Label, Task
from labeling.services.queue_engine import assignment_claim, label_submit
from tests.labeling.conftest import GOOD_RELEVANCE_ANSWER

LABELERS = 32
TASKS = 300
REPLICATION = 3


@pytest.mark.django_db(transaction=True)
def test_concurrent_labelers_fill_every_task_exactly_to_replication_and_lose_no_submit(make_queue, make_user):
    queue = make_queue(tasks=TASKS, replication=REPLICATION, lease_seconds=600)
    labelers = [make_user() for _ in range(LABELERS)]
    accepted: dict[int, list[int]] = {labeler.pk: [] for labeler in labelers}
    replays_disagreeing: list[int] = []
    failures: list[BaseException] = []
    start = threading.Barrier(LABELERS)

    def work(labeler, seed: int) -> None:
        rng = random.Random(seed)
        try:
            start.wait()
            while (lease := assignment_claim(queue=queue, labeler=labeler)) is not None:
                key = f"{labeler.pk}-{lease.pk}"
                label, created = label_submit(assignment_id=lease.pk, labeler=labeler,
                                              answer=GOOD_RELEVANCE_ANSWER, idempotency_key=key)
                assert created
                accepted[labeler.pk].append(label.pk)
                if rng.random() < 0.1:
                    # A client retry of the same submit must hand back the first label.
                    replay, replay_created = label_submit(assignment_id=lease.pk, labeler=labeler,
                                                          answer=GOOD_RELEVANCE_ANSWER, idempotency_key=key)
                    if replay_created or replay.pk != label.pk:
                        replays_disagreeing.append(lease.pk)
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
    assert replays_disagreeing == []
    labels_per_task = Counter(Label.objects.filter(task__queue=queue).values_list("task_id", flat=True))
    assert set(labels_per_task.values()) == {REPLICATION}
    assert len(labels_per_task) == TASKS
    pairs = list(Label.objects.filter(task__queue=queue).values_list("task_id", "labeler_id"))
    assert len(pairs) == len(set(pairs))
    stored = set(Label.objects.filter(task__queue=queue).values_list("pk", flat=True))
    assert stored == {pk for pks in accepted.values() for pk in pks}
    assert set(Task.objects.filter(queue=queue).values_list("label_count", flat=True)) == {REPLICATION}
