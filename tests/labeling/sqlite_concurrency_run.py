"""Run by test_labeling_sqlite_concurrency.py in a process of its own: the embedded default (a
SQLite file, WAL, IMMEDIATE transactions) under LABELERS threads claiming and submitting through the
queue engine. Prints one JSON line with what it saw. Not a test module itself."""
from __future__ import annotations

import json
import os
import sys
import threading
from collections import Counter
from pathlib import Path

LABELERS = 16
TASKS = 60
REPLICATION = 3


def main(database_file: str) -> None:
    os.environ.update(DATABASE_URL=f"sqlite:///{database_file}", SECRET_KEY="sqlite-concurrency",
                      DJANGO_SETTINGS_MODULE="config.settings", DEBUG="0", LOG_LEVEL="WARNING")
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from labeling.models import Label, Pool, PoolKind, Role, Task, User
    from labeling.services.queue_engine import assignment_claim, label_submit_and_claim
    from labeling.services.queues import queue_create
    from labeling.services.tasks import TaskSpec, tasks_create

    call_command("migrate", verbosity=0)
    pool = Pool.objects.create(name="sqlite pool", kind=PoolKind.IN_HOUSE)
    queue = queue_create(name="sqlite", task_kind="relevance", replication=REPLICATION)
    payload = {"query_object": {"id": 1, "category": "shoes"}, "candidates": [{"product_id": f"p{k}"} for k in range(5)]}
    tasks_create(queue=queue, specs=[TaskSpec(source_key=f"t-{n}", payload=payload) for n in range(TASKS)])
    labelers = User.objects.bulk_create([User(username=f"sqlite-{i}", role=Role.LABELER, pool=pool, password="!")
                                         for i in range(LABELERS)])
    answer = {"grades": ["similar"] * 5}
    accepted, errors = [], []
    start = threading.Barrier(LABELERS)

    def work(labeler) -> None:
        try:
            start.wait()
            lease = assignment_claim(queue=queue, labeler=labeler)
            while lease is not None:
                label, created, lease = label_submit_and_claim(
                    assignment_id=lease.pk, labeler=labeler, answer=answer, idempotency_key=f"{labeler.pk}-{lease.pk}")
                accepted.append(label.pk)
        except BaseException as error:  # reported in the JSON line
            errors.append(f"{type(error).__name__}: {error}")
        finally:
            connection.close()

    threads = [threading.Thread(target=work, args=(labeler,)) for labeler in labelers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    per_task = Counter(Label.objects.filter(task__queue=queue).values_list("task_id", flat=True))
    pairs = list(Label.objects.filter(task__queue=queue).values_list("task_id", "labeler_id"))
    stored = set(Label.objects.filter(task__queue=queue).values_list("pk", flat=True))
    print(json.dumps({"errors": errors, "tasks": len(per_task), "labels_per_task": sorted(set(per_task.values())),
                      "duplicate_pairs": len(pairs) - len(set(pairs)), "lost": len(set(accepted) - stored),
                      "unaccounted": len(stored - set(accepted)),
                      "label_counts": sorted(set(Task.objects.filter(queue=queue).values_list("label_count", flat=True)))}))


if __name__ == "__main__":
    main(sys.argv[1])
