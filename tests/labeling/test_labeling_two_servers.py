"""Two separate web servers on one PostgreSQL database keep every queue invariant: 64 labelers send
their claims and submits to the two in turn, over HTTP, with API tokens."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from pathlib import Path

import pytest
import requests
from django.conf import settings

from labeling.models import Label, Task
from labeling.services.tokens import api_tokens_issue_bulk
from tests.labeling.conftest import GOOD_RELEVANCE_ANSWER

LABELERS = 64
TASKS = 150
REPLICATION = 3
ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def database_url() -> str:
    db = settings.DATABASES["default"]
    return f"postgres://{db['USER']}:{db['PASSWORD'] or ''}@{db['HOST']}:{db['PORT']}/{db['NAME']}"


def start_server(port: int) -> subprocess.Popen:
    env = dict(os.environ, DATABASE_URL=database_url(), SECRET_KEY=settings.SECRET_KEY, DEBUG="0",
               ALLOWED_HOSTS="127.0.0.1,localhost", LOG_LEVEL="WARNING", DJANGO_SETTINGS_MODULE="config.settings")
    return subprocess.Popen([sys.executable, "-m", "gunicorn", "config.wsgi:application", "--bind", f"127.0.0.1:{port}",
                             "--workers", "2", "--worker-class", "gthread", "--threads", "4", "--log-level", "warning"],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)


def wait_serving(base: str, token: str, server: subprocess.Popen) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert server.poll() is None, "a web server exited"
        try:
            if requests.get(f"{base}/api/v1/me", headers={"Authorization": f"Token {token}"}, timeout=5).ok:
                return
        except requests.ConnectionError:
            time.sleep(0.3)
    raise AssertionError("a web server did not answer in time")


@pytest.mark.django_db(transaction=True)
def test_two_web_servers_on_one_database_fill_every_task_exactly_and_lose_no_submit(make_queue, make_user):
    queue = make_queue(tasks=TASKS, replication=REPLICATION, lease_seconds=600)
    labelers = [make_user() for _ in range(LABELERS)]
    tokens = api_tokens_issue_bulk(users=labelers)
    ports = [free_port(), free_port()]
    servers = [start_server(port) for port in ports]
    bases = [f"http://127.0.0.1:{port}" for port in ports]
    accepted, failures = [], []
    try:
        for base, server in zip(bases, servers):
            wait_serving(base, tokens[0], server)

        def work(index: int, token: str) -> None:
            session = requests.Session()
            session.headers["Authorization"] = f"Token {token}"
            turn = index
            try:
                while True:
                    claim = session.post(f"{bases[turn % 2]}/api/v1/queues/{queue.pk}/claim", timeout=60)
                    turn += 1
                    if claim.status_code == 204:
                        return
                    assert claim.status_code == 200, claim.text
                    assignment = claim.json()["assignment"]["id"]
                    submit = session.post(f"{bases[turn % 2]}/api/v1/assignments/{assignment}/submit",
                                          json={"answer": GOOD_RELEVANCE_ANSWER}, timeout=60,
                                          headers={"Idempotency-Key": uuid.uuid4().hex})
                    assert submit.status_code == 201, submit.text
                    accepted.append(submit.json()["label"]["id"])
            except BaseException as error:  # surfaced below
                failures.append(error)

        threads = [threading.Thread(target=work, args=(i, token)) for i, token in enumerate(tokens)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        for server in servers:
            os.killpg(server.pid, signal.SIGTERM)
        for server in servers:
            server.wait(timeout=60)

    assert failures == []
    labels_per_task = Counter(Label.objects.filter(task__queue=queue).values_list("task_id", flat=True))
    assert len(labels_per_task) == TASKS and set(labels_per_task.values()) == {REPLICATION}
    pairs = list(Label.objects.filter(task__queue=queue).values_list("task_id", "labeler_id"))
    assert len(pairs) == len(set(pairs))
    assert set(Label.objects.filter(task__queue=queue).values_list("pk", flat=True)) == set(accepted)
    assert set(Task.objects.filter(queue=queue).values_list("label_count", flat=True)) == {REPLICATION}
