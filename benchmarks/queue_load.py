#!/usr/bin/env python
"""Load benchmark of the labeling work queue over HTTP.

N concurrent labelers (one thread and one HTTP keep-alive session each) claim and submit relevance
tasks against the platform served by gunicorn on loopback, backed by PostgreSQL, with Q tasks
queued. The script builds its own database (``--db-name``, dropped and recreated), users, tokens
and queue, starts gunicorn itself, runs the load, then checks the queue's invariants in the
database: no task with more labels than replication, no labeler twice on a task, no lost submit
(every 201 the clients saw is a stored label, and nothing else was stored).

    .venv/bin/python benchmarks/queue_load.py --labelers 64 --tasks 100000 --duration 60

``--think-ms`` is the mean time a labeler looks at a task between claim and submit (exponential);
0 makes every labeler hammer the server back to back, which measures saturation, not labelers.
"""
from __future__ import annotations

import argparse
import os
import random
import signal
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import requests

REPO_ROOT = Path(__file__).resolve().parent.parent
GRADES = ("extremely_similar", "similar", "marginally_similar", "not_similar", "did_not_load")
DEFAULT_BASE_URL = "postgres://postgres@127.0.0.1:55432/postgres"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--labelers", type=int, default=64)
    parser.add_argument("--tasks", type=int, default=100_000)
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of measured load")
    parser.add_argument("--warmup", type=float, default=5.0, help="seconds of load before measuring")
    parser.add_argument("--think-ms", type=float, default=1000.0, help="mean labeling time per task")
    parser.add_argument("--replication", type=int, default=3)
    parser.add_argument("--golden-share", type=float, default=0.01, help="share of queued tasks that are golden")
    parser.add_argument("--golden-rate", type=float, default=0.05)
    parser.add_argument("--skip-share", type=float, default=0.02, help="share of claims the labeler skips")
    parser.add_argument("--replay-share", type=float, default=0.02, help="share of submits retried with the same key")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn worker processes")
    parser.add_argument("--threads", type=int, default=4, help="threads per gunicorn worker (gthread)")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--servers", type=int, default=1,
                        help="separate gunicorn servers on one database (ports --port, --port+1, ...); each labeler "
                             "sends its requests to them in turn, so a claim and its submit meet different servers")
    parser.add_argument("--db-name", default="shoplabel_queue_bench")
    parser.add_argument("--database-server", default=os.environ.get("BENCH_DATABASE_SERVER", DEFAULT_BASE_URL),
                        help="any URL on the PostgreSQL server; its database name is replaced by --db-name")
    parser.add_argument("--sqlite", action="store_true",
                        help="the embedded default instead: a fresh SQLite file var/queue_load.sqlite3 (WAL, "
                             "IMMEDIATE transactions), gunicorn as ./scripts/run starts it")
    return parser.parse_args()


def database_url(server_url: str, name: str) -> str:
    parts = urlsplit(server_url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, parts.fragment))


def recreate_database(server_url: str, name: str) -> None:
    import psycopg

    with psycopg.connect(database_url(server_url, "postgres"), autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')


def relevance_payload(number: int) -> dict:
    return {
        "query_object": {"id": number, "crop_url": f"/media/crops/{number}.jpg",
                         "scene_url": f"/media/scenes/{number // 3}.jpg", "box": [12, 40, 180, 300],
                         "category": "shoes"},
        "candidates": [{"product_id": f"p{number}-{k}", "image_url": f"/media/products/{number}-{k}.jpg",
                        "category": "shoes"} for k in range(5)],
    }


def seed(args: argparse.Namespace) -> tuple[int, list[str]]:
    """Users, tokens, the queue and its tasks. Bulk inserts: the platform's services hash passwords
    (deliberately slow) and re-read every created task, which is not what is measured here."""
    import django

    django.setup()
    from django.db import connection

    from labeling.models import GoldenItem, GoldenSet, Pool, PoolKind, Role, Task, User
    from labeling.services.queues import queue_create
    from labeling.services.tokens import api_tokens_issue_bulk

    pool = Pool.objects.create(name="bench in-house", kind=PoolKind.IN_HOUSE)
    queue = queue_create(name="bench relevance", task_kind="relevance", replication=args.replication,
                         golden_rate=args.golden_rate, allowed_pools=[pool], lease_seconds=600)
    labelers = User.objects.bulk_create(
        [User(username=f"bench-labeler-{i}", role=Role.LABELER, pool=pool, password="!") for i in range(args.labelers)]
    )
    tokens = api_tokens_issue_bulk(users=labelers)
    golden_every = round(1 / args.golden_share) if args.golden_share > 0 else 0
    # Golden tasks are copies of golden items; one item serves every golden copy here (the claim
    # path never reads the item, only the flag).
    golden_item = None
    if golden_every:
        golden_set = GoldenSet.objects.create(name="bench golden", task_kind="relevance")
        queue.golden_sets.add(golden_set)
        golden_item = GoldenItem.objects.create(golden_set=golden_set, key="bench", payload=relevance_payload(0),
                                                answer={"grades": ["similar"] * 5}, source="expert")
    batch = []
    for number in range(args.tasks):
        is_golden = bool(golden_every) and number % golden_every == golden_every - 1
        batch.append(Task(queue=queue, source_key=f"bench-{number}", payload=relevance_payload(number),
                          priority=0, is_golden=is_golden, golden_item=golden_item if is_golden else None))
        if len(batch) == 10_000:
            Task.objects.bulk_create(batch)
            batch = []
    Task.objects.bulk_create(batch)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    connection.close()
    return queue.pk, tokens


def start_gunicorn(args: argparse.Namespace, env: dict, *, port: int | None = None) -> subprocess.Popen:
    """gunicorn on ``port`` (by default ``args.port``); the team's side-by-side benchmark calls this too."""
    port = args.port if port is None else port
    log = open(REPO_ROOT / "var" / f"queue_load_gunicorn_{port}.log", "w")
    command = [
        sys.executable, "-m", "gunicorn", "benchmarks.queue_load:preloaded_wsgi_application()",
        "--bind", f"127.0.0.1:{port}", "--workers", str(args.workers),
        "--worker-class", "gthread", "--threads", str(args.threads),
        "--backlog", "2048", "--timeout", "60", "--log-level", "warning",
        # Labelers think for seconds between requests; gthread's default 2 s keep-alive would close
        # their connections under them and turn every request into a new TCP connection.
        "--keep-alive", "75",
        # Import the app once in the master and fork: the workers boot in seconds, not each on its own.
        "--preload",
    ]
    return subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def preloaded_wsgi_application():
    """gunicorn's app factory: the WSGI app with every URLconf already imported, so that with
    --preload the master pays the (heavy) app imports once and the workers fork ready to serve."""
    from django.core.wsgi import get_wsgi_application
    from django.urls import get_resolver

    application = get_wsgi_application()
    get_resolver().url_patterns  # noqa: B018 - imports config.urls and every app's API module
    return application


def wait_until_serving(base: str, token: str, server: subprocess.Popen, timeout_s: float = 180.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError("gunicorn exited; see var/queue_load_gunicorn_<port>.log")
        try:
            if requests.get(f"{base}/api/v1/me", headers={"Authorization": f"Token {token}"}, timeout=10).status_code == 200:
                return
        except (requests.ConnectionError, requests.Timeout):
            pass
        time.sleep(0.3)
    raise RuntimeError("gunicorn did not answer in time")


@dataclass
class LabelerStats:
    claim_ms: list[float] = field(default_factory=list)
    submit_ms: list[float] = field(default_factory=list)
    skip_ms: list[float] = field(default_factory=list)
    accepted_label_ids: list[int] = field(default_factory=list)
    replays_ok: int = 0
    replays_bad: int = 0
    nothing_left: int = 0
    connection_retries: int = 0
    statuses: Counter = field(default_factory=Counter)
    crashed: str = ""


def post_with_retry(session: requests.Session, url: str, stats: LabelerStats, **kwargs) -> requests.Response:
    """POST, retrying a dropped keep-alive connection. Safe to repeat: a claim hands back the
    labeler's live lease, a submit carries its Idempotency-Key, a skip of a skip changes nothing."""
    for attempt in range(3):
        try:
            return session.post(url, timeout=30, **kwargs)
        except requests.ConnectionError:
            if attempt == 2:
                raise
            stats.connection_retries += 1
    raise AssertionError("unreachable")


def labeler_loop(**kwargs) -> None:
    try:
        labeler_work(**kwargs)
    except Exception as error:  # reported in the summary, which then fails
        kwargs["stats"].crashed = repr(error)


def labeler_work(*, bases: list[str], token: str, queue_id: int, args: argparse.Namespace, measure_from: float,
                 stop_at: float, seed_value: int, stats: LabelerStats) -> None:
    rng = random.Random(seed_value)
    session = requests.Session()
    session.headers["Authorization"] = f"Token {token}"
    turn = seed_value
    while time.monotonic() < stop_at:
        # With several servers, a task's claim and its submit go to different ones (round robin).
        base = bases[turn % len(bases)]
        turn += 1
        claim_url = f"{base}/api/v1/queues/{queue_id}/claim"
        started = time.monotonic()
        response = post_with_retry(session, claim_url, stats)
        elapsed_ms = (time.monotonic() - started) * 1000
        if measure_from <= started < stop_at:
            stats.claim_ms.append(elapsed_ms)
            stats.statuses[f"claim {response.status_code}"] += 1
        if response.status_code == 204:
            stats.nothing_left += 1
            time.sleep(0.2)
            continue
        if response.status_code != 200:
            continue
        assignment = response.json()["assignment"]
        if args.think_ms > 0:
            time.sleep(min(rng.expovariate(1000.0 / args.think_ms), 30.0))
        if rng.random() < args.skip_share:
            started = time.monotonic()
            response = post_with_retry(session, f"{base}/api/v1/assignments/{assignment['id']}/skip", stats)
            if measure_from <= started < stop_at:
                stats.skip_ms.append((time.monotonic() - started) * 1000)
                stats.statuses[f"skip {response.status_code}"] += 1
            continue
        candidates = len(assignment["task"]["payload"]["candidates"])
        body = {"answer": {"grades": [rng.choice(GRADES) for _ in range(candidates)]},
                "time_spent_ms": int(rng.uniform(2000, 9000))}
        headers = {"Idempotency-Key": uuid.uuid4().hex}
        base = bases[turn % len(bases)]
        submit_url = f"{base}/api/v1/assignments/{assignment['id']}/submit"
        started = time.monotonic()
        response = post_with_retry(session, submit_url, stats, json=body, headers=headers)
        elapsed_ms = (time.monotonic() - started) * 1000
        if measure_from <= started < stop_at:
            stats.submit_ms.append(elapsed_ms)
            stats.statuses[f"submit {response.status_code}"] += 1
        if response.status_code in (200, 201):
            # 200 = a retried submit whose first try was stored. Counted whenever it happened:
            # the lost-submit check covers warm-up submits too.
            label_id = response.json()["label"]["id"]
            stats.accepted_label_ids.append(label_id)
            if rng.random() < args.replay_share:
                replay = post_with_retry(session, submit_url, stats, json=body, headers=headers)
                if replay.status_code == 200 and replay.json()["label"]["id"] == label_id:
                    stats.replays_ok += 1
                else:
                    stats.replays_bad += 1


def percentile(values: list[float], share: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(share * (len(ordered) - 1))))]


def check_invariants(queue_id: int, accepted_label_ids: list[int]) -> dict[str, int]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            """SELECT count(*) FROM (SELECT l.task_id FROM labeling_label l JOIN labeling_task t ON t.id = l.task_id
               JOIN labeling_queue q ON q.id = t.queue_id WHERE t.queue_id = %s AND NOT t.is_golden
               GROUP BY l.task_id, q.replication HAVING count(*) > q.replication) over_replicated""", [queue_id])
        over_replicated = cursor.fetchone()[0]
        cursor.execute(
            """SELECT count(*) FROM (SELECT l.task_id FROM labeling_label l JOIN labeling_task t ON t.id = l.task_id
               WHERE t.queue_id = %s GROUP BY l.task_id, l.labeler_id HAVING count(*) > 1) duplicated""", [queue_id])
        duplicate_labeler = cursor.fetchone()[0]
        cursor.execute(
            """SELECT count(*) FROM labeling_task t WHERE t.queue_id = %s
               AND t.label_count <> (SELECT count(*) FROM labeling_label l WHERE l.task_id = t.id)""", [queue_id])
        label_count_drift = cursor.fetchone()[0]
        cursor.execute("SELECT l.id FROM labeling_label l JOIN labeling_task t ON t.id = l.task_id WHERE t.queue_id = %s",
                       [queue_id])
        stored = {row[0] for row in cursor.fetchall()}
    accepted = set(accepted_label_ids)
    return {
        "tasks with labels > replication": over_replicated,
        "labeler twice on a task": duplicate_labeler,
        "lost submits (201/200 seen, label missing)": len(accepted - stored),
        "labels stored without a 201/200": len(stored - accepted),
        "label ids seen twice": len(accepted_label_ids) - len(accepted),
        "tasks whose label_count drifted": label_count_drift,
        "labels stored": len(stored),
    }


def main() -> int:
    args = parse_args()
    sqlite_file = REPO_ROOT / "var" / "queue_load.sqlite3"
    url = f"sqlite:///{sqlite_file}" if args.sqlite else database_url(args.database_server, args.db_name)
    env = dict(os.environ, DATABASE_URL=url, SECRET_KEY=os.environ.get("SECRET_KEY", "queue-load-benchmark"),
               DEBUG="0", DB_CONN_MAX_AGE="600", LOG_LEVEL="WARNING", DJANGO_SETTINGS_MODULE="config.settings")
    os.environ.update({k: env[k] for k in ("DATABASE_URL", "SECRET_KEY", "DEBUG", "DB_CONN_MAX_AGE", "LOG_LEVEL",
                                           "DJANGO_SETTINGS_MODULE")})
    sys.path.insert(0, str(REPO_ROOT))

    load_before = " ".join(f"{x:.2f}" for x in os.getloadavg())
    setup_started = time.monotonic()
    if args.sqlite:
        for leftover in sqlite_file.parent.glob(sqlite_file.name + "*"):
            leftover.unlink()
    else:
        recreate_database(args.database_server, args.db_name)
    subprocess.run([sys.executable, "manage.py", "migrate", "-v", "0"], cwd=REPO_ROOT, env=env, check=True)
    queue_id, tokens = seed(args)
    print(f"set-up: database {sqlite_file if args.sqlite else args.db_name}, {args.tasks} tasks, {args.labelers} labelers in "
          f"{time.monotonic() - setup_started:.1f} s", flush=True)

    ports = [args.port + offset for offset in range(args.servers)]
    servers = [start_gunicorn(args, env, port=port) for port in ports]
    bases = [f"http://127.0.0.1:{port}" for port in ports]
    try:
        for base, server in zip(bases, servers):
            wait_until_serving(base, tokens[0], server)
        stats = [LabelerStats() for _ in tokens]
        load_started = time.monotonic()
        measure_from = load_started + args.warmup
        stop_at = measure_from + args.duration
        threads = [
            threading.Thread(target=labeler_loop, kwargs=dict(
                bases=bases, token=token, queue_id=queue_id, args=args, measure_from=measure_from,
                stop_at=stop_at, seed_value=i, stats=stats[i]))
            for i, token in enumerate(tokens)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        # Requests are counted when they start inside the window; labelers still thinking at its end
        # finish their task (so the invariant check sees every submit) but are not counted.
        measured_s = args.duration
        load_after = " ".join(f"{x:.2f}" for x in os.getloadavg())
    finally:
        for server in servers:
            os.killpg(server.pid, signal.SIGTERM)
        for server in servers:
            try:
                server.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait()

    claims = [ms for s in stats for ms in s.claim_ms]
    submits = [ms for s in stats for ms in s.submit_ms]
    skips = [ms for s in stats for ms in s.skip_ms]
    statuses = sum((s.statuses for s in stats), Counter())
    submitted = statuses["submit 201"]
    violations = check_invariants(queue_id, [i for s in stats for i in s.accepted_label_ids])

    print(f"\nload: {args.labelers} labelers, {args.tasks} tasks, think {args.think_ms:.0f} ms, "
          f"{args.servers} x gunicorn {args.workers} workers x {args.threads} threads, {measured_s:.0f} s measured "
          f"after {args.warmup:.0f} s warm-up; machine load average {load_before} before, {load_after} after "
          f"({os.cpu_count()} CPUs)")
    print("| request | n | p50 ms | p95 ms | p99 ms | max ms |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, values in (("claim", claims), ("submit", submits), ("skip", skips)):
        if values:
            print(f"| {name} | {len(values)} | {statistics.median(values):.1f} | {percentile(values, 0.95):.1f} | "
                  f"{percentile(values, 0.99):.1f} | {max(values):.1f} |")
    print(f"\nthroughput: {submitted / measured_s:.1f} labels/s, "
          f"{(len(claims) + len(submits) + len(skips)) / measured_s:.1f} requests/s")
    print("statuses: " + ", ".join(f"{k}: {v}" for k, v in sorted(statuses.items())))
    print(f"idempotent replays: {sum(s.replays_ok for s in stats)} returned the first label, "
          f"{sum(s.replays_bad for s in stats)} did not; 204s: {sum(s.nothing_left for s in stats)}")
    print(f"dropped connections retried: {sum(s.connection_retries for s in stats)}")
    crashed = [s.crashed for s in stats if s.crashed]
    if crashed:
        print(f"labeler threads crashed: {len(crashed)}; first: {crashed[0]}")
    print("invariants: " + ", ".join(f"{k}: {v}" for k, v in violations.items()))
    failed = len(crashed) + (sum(v for k, v in violations.items() if k != "labels stored") + sum(s.replays_bad for s in stats)
              + sum(v for k, v in statuses.items() if not k.endswith((" 200", " 201", " 204"))))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
