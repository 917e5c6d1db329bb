#!/usr/bin/env python
"""The quality dashboard on a database of 1,000,000 labels.

Makes a scratch PostgreSQL database (``--db-name`` on DATABASE_URL's server, dropped and recreated,
dropped again at the end) with 200 labelers in 3 pools, one relevance queue of 100,000 tasks and
10 labels per task (inserted in SQL, with random grades), stores the kind's quality snapshot (the
report of benchmarks/quality.py's million-label frames), then times the dashboard page and the
report API as an expert sees them: Django's test client, in-process, median of ``--repeat`` views,
with the number of queries. ``--refresh`` also times the snapshot refresh (the Celery task's work:
every label read back and the report recomputed) on those million labels.

    DATABASE_URL=postgres://postgres@127.0.0.1:55432/postgres .venv/bin/python benchmarks/quality_dashboard.py
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

from scratch_db import database_url, recreate_database  # beside this script (run as a script)

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SERVER_URL = "postgres://postgres@127.0.0.1:55432/postgres"


def fill(*, tasks: int, per_task: int, labelers: int) -> int:
    """Users, a queue, tasks, assignments and labels; returns the newest label id."""
    from django.db import connection

    from labeling.models import Pool, PoolKind, Queue, Role, User

    pools = [Pool.objects.create(name=name, kind=kind, cost_per_label=cost) for name, kind, cost in (
        ("In-house", PoolKind.IN_HOUSE, "0.30"), ("Fixed outside", PoolKind.FIXED_OUTSIDE, "0.12"),
        ("Crowd", PoolKind.CROWD, "0.03"))]
    people = User.objects.bulk_create([
        User(username=f"labeler-{i:03d}", role=Role.LABELER, pool=pools[i % 3], password="!", is_simulated=True)
        for i in range(labelers)])
    queue = Queue.objects.create(name="bench", task_kind="relevance", replication=per_task)
    first_user = min(person.pk for person in people)
    grades = "ARRAY['extremely_similar','similar','marginally_similar','not_similar','did_not_load']"
    grade = f"({grades})[1 + floor(random() * 5)::int]"
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO labeling_task (queue_id, payload, source_key, priority, is_golden, label_count, created_at) "
            "SELECT %s, jsonb_build_object('query_object', jsonb_build_object('id', n, 'category', "
            "(ARRAY['dresses','shoes','bags','tops'])[1 + n %% 4]), 'candidates', "
            "jsonb_build_array('{}'::jsonb, '{}'::jsonb, '{}'::jsonb, '{}'::jsonb, '{}'::jsonb)), "
            "'t-' || n, 0, false, %s, now() FROM generate_series(1, %s) AS n",
            [queue.pk, per_task, tasks])
        cursor.execute(
            "INSERT INTO labeling_assignment (task_id, queue_id, labeler_id, state, created_at, expires_at, finished_at, "
            "counts_toward_replication) "
            "SELECT t.id, t.queue_id, %s + ((t.id + j * %s) %% %s), 'submitted', now(), now(), now(), true "
            "FROM labeling_task t CROSS JOIN generate_series(0, %s - 1) AS j WHERE t.queue_id = %s",
            [first_user, labelers // per_task, labelers, per_task, queue.pk])
        cursor.execute(
            "INSERT INTO labeling_label (task_id, assignment_id, labeler_id, answer, time_spent_ms, request_sha256, "
            "is_staff_label, counts_toward_replication, is_simulated, created_at) "
            f"SELECT a.task_id, a.id, a.labeler_id, jsonb_build_object('grades', jsonb_build_array({grade}, {grade}, "
            f"{grade}, {grade}, {grade})), (1000 + random() * 8000)::int, '', false, true, true, "
            "now() - (random() * interval '14 days') FROM labeling_assignment a WHERE a.queue_id = %s",
            [queue.pk])
        cursor.execute("ANALYZE")
        cursor.execute("SELECT max(id), count(*) FROM labeling_label")
        last_label_id, n_labels = cursor.fetchone()
    print(f"filled: {n_labels:,} labels on {tasks:,} tasks by {labelers} labelers")
    return last_label_id


def timed_views(client, path: str, repeat: int) -> tuple[float, float, int, int]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    times = []
    for _ in range(repeat):
        with CaptureQueriesContext(connection) as queries:
            started = time.perf_counter()
            response = client.get(path)
            body = response.content
            times.append(time.perf_counter() - started)
        assert response.status_code == 200, (path, response.status_code)
    return statistics.median(times), min(times), len(queries.captured_queries), len(body)


def run(args) -> None:
    import django

    django.setup()
    from django.core.management import call_command
    from django.test import Client
    from django.utils import timezone

    from labeling.models import QualitySnapshot, Role
    from labeling.quality.report import quality_report_from_frames
    from labeling.services.users import user_create

    sys.path.insert(0, str(REPO_ROOT / "benchmarks"))
    from quality import synthetic_frames

    call_command("migrate", verbosity=0)
    started = time.perf_counter()
    last_label_id = fill(tasks=args.tasks, per_task=args.labels_per_task, labelers=args.labelers)
    print(f"  fill took {time.perf_counter() - started:.0f} s")
    frames = synthetic_frames(items=args.tasks, per_item=args.labels_per_task, labelers=args.labelers,
                              golden_share=0.1, seed=0)
    report = quality_report_from_frames(frames)
    QualitySnapshot.objects.create(task_kind="relevance", report=report, n_labels=len(frames.labels),
                                   last_label_id=last_label_id, computed_at=timezone.now())
    expert = user_create(username="bench-expert", password="bench-password-1", role=Role.EXPERT)
    client = Client()
    client.force_login(expert)
    print("| view | median | best | queries | bytes |")
    print("|---|---:|---:|---:|---:|")
    for path in ("/overview/quality/?kind=relevance", "/api/v1/quality/report?kind=relevance"):
        median, best, n_queries, size = timed_views(client, path, args.repeat)
        print(f"| `{path}` | {median * 1000:.0f} ms | {best * 1000:.0f} ms | {n_queries} | {size:,} |")
    if args.refresh:
        from labeling.quality.services import quality_snapshot_refresh

        started = time.perf_counter()
        snapshot = quality_snapshot_refresh(task_kind="relevance")
        elapsed = time.perf_counter() - started
        print(f"snapshot refresh over {snapshot.n_labels:,} labels: {elapsed:.1f} s "
              f"({elapsed / snapshot.n_labels * 1e6:.0f} us per label: read, frames, report, store)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=int, default=100_000)
    parser.add_argument("--labels-per-task", type=int, default=10)
    parser.add_argument("--labelers", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--refresh", action="store_true", help="also time the snapshot refresh on every label")
    parser.add_argument("--db-name", default="shoplabel_quality_bench")
    parser.add_argument("--database-server", default=os.environ.get("DATABASE_URL", DEFAULT_SERVER_URL))
    args = parser.parse_args()
    os.environ.update(DATABASE_URL=database_url(args.database_server, args.db_name),
                      SECRET_KEY=os.environ.get("SECRET_KEY", "quality-dashboard-benchmark"), DEBUG="0",
                      LOG_LEVEL="WARNING", DJANGO_SETTINGS_MODULE="config.settings", DB_CONN_MAX_AGE="0",
                      ALLOWED_HOSTS="testserver,localhost")
    sys.path.insert(0, str(REPO_ROOT))
    recreate_database(args.database_server, args.db_name)
    try:
        run(args)
    finally:
        from django.db import connections

        connections.close_all()
        recreate_database(args.database_server, args.db_name, create=False)


if __name__ == "__main__":
    main()
