"""Simulated labelers at work: their accounts, the true answer of each task, and the runner that
labels through the real HTTP API.

A simulated labeler is a program with an error model (``labeling/quality/simulation.py``), never a
person: its account is ``User.is_simulated`` and ``label_submit`` copies the flag onto its labels.
The runner lives inside Django only to read each task's truth from the synthetic world (the
database and the world's files); the labeling itself goes through HTTP like any client: a token
from ``POST /api/v1/auth/token``, then claim, submit (with an Idempotency-Key) and skip.
docs/METRICS.md ("Simulated labelers") describes the error models.
"""
from __future__ import annotations

import contextlib
import hashlib
import hmac
import random
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from decimal import Decimal

import requests
from django.conf import settings
from django.db import connections

from evaluation.attribute_queues import attribute_truth_answers
from evaluation.box_queues import box_truth_answers
from evaluation.cleanup_queues import cleanup_truth_answers
from evaluation.models import QueryObject
from labeling.models import Pool, Product, Role, Task, TaskKind, User
from labeling.quality.simulation import (DEMO_POOL_PROFILES, LabelerProfile, PoolProfile, labeler_profiles_draw,
                                         simulated_skip, simulated_time_spent_ms)
from labeling.services.users import user_create
from labeling.task_kinds import task_kind_spec

SIMULATED_USERNAME = "sim-{slug}-{number:02d}"
PER_POOL_NEGATIVE = "per_pool is {per_pool}; a pool cannot have fewer than 0 simulated labelers."
LABELS_PER_LABELER_NEGATIVE = "max_labels_per_labeler is {value}; it must not be negative."
SIGN_IN_FAILED = "sign-in refused ({status}): {detail}"
REQUEST_FAILED = "{method} {path} failed after {tries} tries: {error}"
SUBMIT_REFUSED = "submit refused ({status}): {detail}"
QUEUE_LIST_FAILED = "the queue list answered {status}"

API_PREFIX = "/api/v1"
REQUEST_TIMEOUT_SECONDS = 30
REQUEST_TRIES = 3
# Claims a labeler may make per label it is allowed: skips and tasks without truth take claims too,
# and the loop must end even for a labeler that skips everything.
CLAIMS_PER_LABEL = 3
# The units a task's time is counted in, per kind (labeling/quality/simulation.simulated_time_spent_ms).
_UNITS: dict[str, Callable[[dict, dict], int]] = {
    TaskKind.RELEVANCE: lambda payload, truth: len(payload.get("candidates") or []),
    TaskKind.BOUNDING_BOXES: lambda payload, truth: len(truth.get("boxes") or []) + 1,
    TaskKind.ATTRIBUTES: lambda payload, truth: len(truth.get("attributes") or {}),
    TaskKind.MATCHING_PAIR: lambda payload, truth: 4,
}


# -- accounts -----------------------------------------------------------------------------------

def simulated_password(username: str) -> str:
    """Derived from the installation's SECRET_KEY (as the demo's passwords are): the runner signs
    in with it without anything being stored, and it differs per installation."""
    digest = hmac.new(settings.SECRET_KEY.encode(), f"simulated-labeler:{username}".encode(), hashlib.sha256)
    return digest.hexdigest()[:20]


def _pool_ensure(profile: PoolProfile) -> Pool:
    pool, _ = Pool.objects.get_or_create(name=profile.pool_name,
                                         defaults={"kind": profile.pool_kind,
                                                   "cost_per_label": Decimal(profile.cost_per_label)})
    if pool.cost_per_label is None:
        # A pool made before costs existed (the demo's accounts make the pools first) gets the
        # preset's; a cost staff set is theirs to keep.
        Pool.objects.filter(pk=pool.pk).update(cost_per_label=Decimal(profile.cost_per_label))
        pool.cost_per_label = Decimal(profile.cost_per_label)
    return pool


def simulated_labelers_ensure(*, pools: Sequence[PoolProfile] = DEMO_POOL_PROFILES, per_pool: int,
                              seed: int = 0) -> list[tuple[User, LabelerProfile]]:
    """``per_pool`` simulated labelers in each pool (``sim-<slug>-01`` ...), marked simulated, with
    their profiles drawn from the pool's preset (the same for the same seed). Pools and users that
    exist are kept; running it again changes nothing."""
    if per_pool < 0:
        raise ValueError(PER_POOL_NEGATIVE.format(per_pool=per_pool))
    labelers = []
    for pool_profile in pools:
        pool = _pool_ensure(pool_profile)
        profiles = labeler_profiles_draw(pool=pool_profile, count=per_pool, seed=seed)
        for number, profile in enumerate(profiles, start=1):
            username = SIMULATED_USERNAME.format(slug=pool_profile.slug, number=number)
            user = User.objects.filter(username=username).first()
            if user is None:
                user = user_create(username=username, password=simulated_password(username), role=Role.LABELER,
                                   pool=pool, is_simulated=True)
            if not user.is_simulated:
                User.objects.filter(pk=user.pk).update(is_simulated=True)
                user.is_simulated = True
            labelers.append((user, profile))
    return labelers


# -- truth --------------------------------------------------------------------------------------

def relevance_truth_answers(*, payloads: dict[int, dict]) -> dict[int, dict | None]:
    """The true answer of each relevance task (task id -> payload): the oracle's grade of each
    candidate against the true product of the object the query object found (IoU >= 0.5), as the
    run's golden items are answered; None when the payload's query object is not an evaluation
    run's, finds no true object, or a candidate is not from the world. Two queries."""
    from evaluation.services import SceneTruth, oracle_grades
    from labeling.services.world_import import scene_truth_read

    def object_id(payload: dict):
        return (payload.get("query_object") or {}).get("id")

    query_objects = {pk: (box, sha) for pk, box, sha in QueryObject.objects.filter(
        pk__in=[pk for pk in map(object_id, payloads.values()) if isinstance(pk, int)])
        .values_list("pk", "box", "scene__sha256")}
    product_ids = {candidate.get("product_id") for payload in payloads.values()
                   for candidate in payload.get("candidates") or []}
    products = Product.objects.only("external_id").in_bulk([pk for pk in product_ids if isinstance(pk, int)])
    truths: dict[str, dict | None] = {}
    answers = {}
    for task_id, payload in payloads.items():
        found = query_objects.get(object_id(payload))
        # The box too: a payload made elsewhere may carry an id that happens to be a query object's.
        if found is None or found[0] != (payload.get("query_object") or {}).get("box"):
            answers[task_id] = None
            continue
        box, sha = found
        if sha not in truths:
            truths[sha] = scene_truth_read(sha256=sha)
        candidates = [products.get(candidate.get("product_id")) for candidate in payload.get("candidates") or []]
        if truths[sha] is None or None in candidates:
            answers[task_id] = None
            continue
        truth = SceneTruth(int(truths[sha]["world_seed"]), truths[sha]["objects"])
        grades = oracle_grades(truth=truth, box=box, candidates=candidates)
        answers[task_id] = None if grades is None else {"grades": grades}
    return answers


# One function per kind: task id -> payload in, task id -> true answer (or None) out, in a constant
# number of queries.
TRUTH_ANSWERS: dict[str, Callable[..., dict[int, dict | None]]] = {
    TaskKind.RELEVANCE: relevance_truth_answers,
    TaskKind.BOUNDING_BOXES: box_truth_answers,
    TaskKind.ATTRIBUTES: attribute_truth_answers,
    TaskKind.MATCHING_PAIR: cleanup_truth_answers,
}


def _truths_read(ids: list[int]) -> dict[int, tuple[dict | None, bool]]:
    """(truth, is golden) of each task id; what ``task_truths`` says, plus the golden flag the
    runner counts (a labeler never sees it)."""
    rows = Task.objects.filter(pk__in=ids).values_list("pk", "queue__task_kind", "is_golden", "golden_item__answer",
                                                      "payload")
    read: dict[int, tuple[dict | None, bool]] = {pk: (None, False) for pk in ids}
    by_kind: dict[str, dict[int, dict]] = {}
    for pk, kind, is_golden, golden_answer, payload in rows:
        if is_golden:
            read[pk] = (golden_answer, True)
        else:
            by_kind.setdefault(kind, {})[pk] = payload
    for kind, payloads in by_kind.items():
        answers = TRUTH_ANSWERS.get(kind)
        if answers is not None:
            read.update((pk, (answer, False)) for pk, answer in answers(payloads=payloads).items())
    return read


def task_truths(*, tasks: Iterable[Task | int]) -> dict[int, dict | None]:
    """The true answer of each task (rows or ids), None where the world does not know it: a golden
    task's is its golden item's answer, a normal task's comes from its kind's truth function. One
    query for the tasks plus a constant number per kind, whatever the count."""
    ids = [task.pk if isinstance(task, Task) else int(task) for task in tasks]
    return {pk: truth for pk, (truth, _) in _truths_read(ids).items()}


# -- the runner ---------------------------------------------------------------------------------

@dataclass
class SimulationCounts:
    """What one simulated labeler did: labels submitted (``golden`` of them on golden tasks),
    tasks it skipped by its profile, tasks it skipped because the world knows no truth for them,
    submits the server refused, and the time it reported."""

    username: str
    pool: str
    labels: int = 0
    golden: int = 0
    skipped: int = 0
    no_truth: int = 0
    refused: int = 0
    time_spent_ms: int = 0
    error: str = ""


class _Api:
    """One labeler's HTTP client: retries a request that got no answer (same body, same key)."""

    def __init__(self, base_url: str, *, timeout: float = REQUEST_TIMEOUT_SECONDS):
        self.base_url = base_url.rstrip("/") + API_PREFIX
        self.session = requests.Session()
        self.timeout = timeout

    def call(self, method: str, path: str, **options) -> requests.Response:
        error = None
        for attempt in range(REQUEST_TRIES):
            try:
                return self.session.request(method, self.base_url + path, timeout=self.timeout, **options)
            except (requests.ConnectionError, requests.Timeout) as failure:
                error = failure
                time.sleep(0.5 * (attempt + 1))
        raise RuntimeError(REQUEST_FAILED.format(method=method, path=path, tries=REQUEST_TRIES, error=error))

    def close(self) -> None:
        self.session.close()


def _detail(response: requests.Response) -> str:
    """The API's error message (``{"error": {"code", "message"}}``), or the start of the body."""
    try:
        error = response.json().get("error") or {}
    except (ValueError, AttributeError):
        return response.text[:200]
    return f"{error.get('code', '')}: {error.get('message', '')}"[:200]


def _queues_listed(api: _Api) -> list[int]:
    """Every queue the API lists for the labeler (its pool's and those open to all), page by page."""
    ids, page = [], 1
    while True:
        response = api.call("GET", "/queues", params={"page": page})
        if response.status_code == 404 and page > 1:
            return ids
        if response.status_code != 200:
            raise RuntimeError(QUEUE_LIST_FAILED.format(status=response.status_code))
        body = response.json()
        results = body.get("results", []) if isinstance(body, dict) else body
        ids.extend(queue["id"] for queue in results)
        if not isinstance(body, dict) or not body.get("next"):
            return ids
        page += 1


class _Truths:
    """Truths shared by the labelers' threads, each task's read once."""

    def __init__(self):
        self._known: dict[int, tuple[dict | None, bool]] = {}
        self._lock = threading.Lock()

    def get(self, task_id: int) -> tuple[dict | None, bool]:
        with self._lock:
            if task_id in self._known:
                return self._known[task_id]
        read = _truths_read([task_id])[task_id]
        with self._lock:
            self._known[task_id] = read
        return read


def _labeler_run(*, api: _Api, user: User, profile: LabelerProfile, queue_ids: list[int] | None, budget: int,
                 rng: random.Random, pool_key: str, truths: _Truths, think_seconds: float,
                 progress: Callable[[SimulationCounts], None] | None) -> SimulationCounts:
    counts = SimulationCounts(username=user.username, pool=user.pool.name if user.pool_id else "")
    try:
        response = api.call("POST", "/auth/token", json={"username": user.username,
                                                          "password": simulated_password(user.username)})
    except RuntimeError as error:
        counts.error = str(error)
        return counts
    if response.status_code != 200:
        counts.error = SIGN_IN_FAILED.format(status=response.status_code, detail=_detail(response))
        return counts
    api.session.headers["Authorization"] = f"Token {response.json()['token']}"
    try:
        queues = list(queue_ids) if queue_ids is not None else _queues_listed(api)
        rng.shuffle(queues)  # labelers start in different queues, so every queue gets some of each pool
        claims_left = CLAIMS_PER_LABEL * budget + len(queues)
        turn = 0
        while queues and counts.labels < budget and claims_left > 0:
            queue_id = queues[turn % len(queues)]
            claims_left -= 1
            response = api.call("POST", f"/queues/{queue_id}/claim")
            if response.status_code != 200:
                # 204: nothing left for this labeler; 403/404/409: not its queue, gone, or closed.
                queues.remove(queue_id)
                continue
            turn += 1
            _task_work(api=api, assignment=response.json()["assignment"], profile=profile, rng=rng,
                       pool_key=pool_key, truths=truths, counts=counts)
            if progress is not None:
                progress(counts)
            if think_seconds > 0:
                time.sleep(think_seconds * rng.uniform(0.5, 1.5))
    except RuntimeError as error:  # the server stopped answering: report it, let the others go on
        counts.error = str(error)
        return counts
    with contextlib.suppress(RuntimeError):  # a token left behind expires by itself
        api.call("DELETE", "/auth/token")  # sign out: the token is not needed again
    return counts


def _task_work(*, api: _Api, assignment: dict, profile: LabelerProfile, rng: random.Random, pool_key: str,
               truths: _Truths, counts: SimulationCounts) -> None:
    task = assignment["task"]
    truth, is_golden = truths.get(task["id"])
    if truth is None or simulated_skip(profile=profile, rng=rng):
        api.call("POST", f"/assignments/{assignment['id']}/skip")
        if truth is None:
            counts.no_truth += 1
        else:
            counts.skipped += 1
        return
    try:
        # A pool shares its reading of a task (where the kind models one): keyed per (seed, pool, task).
        answer = task_kind_spec(task["kind"]).simulated_answer(payload=task["payload"], truth=truth, profile=profile,
                                                               rng=rng, shared_key=f"{pool_key}:{task['id']}")
    except ValueError:  # the truth does not fit the payload (a task edited since): as good as none
        api.call("POST", f"/assignments/{assignment['id']}/skip")
        counts.no_truth += 1
        return
    units = _UNITS.get(task["kind"], lambda payload, truth: 1)(task["payload"], truth)
    time_spent_ms = simulated_time_spent_ms(profile=profile, units=units, rng=rng)
    # One key per assignment: a retry of this submit replays it instead of labeling twice.
    key = f"sim-{assignment['id']}-{rng.getrandbits(64):016x}"
    response = api.call("POST", f"/assignments/{assignment['id']}/submit",
                        json={"answer": answer, "time_spent_ms": time_spent_ms}, headers={"Idempotency-Key": key})
    if response.status_code in (200, 201):
        counts.labels += 1
        counts.golden += int(is_golden)
        counts.time_spent_ms += time_spent_ms
    else:
        counts.refused += 1
        counts.error = SUBMIT_REFUSED.format(status=response.status_code, detail=_detail(response))


def simulation_run(*, base_url: str, queue_ids: Iterable[int] | None = None,
                   labelers: Sequence[tuple[User, LabelerProfile]], max_labels_per_labeler: int, seed: int = 0,
                   think_seconds: float = 0.0, threads: int = 4,
                   progress: Callable[[SimulationCounts], None] | None = None) -> dict[str, SimulationCounts]:
    """Let each simulated labeler label up to ``max_labels_per_labeler`` tasks through the HTTP API
    at ``base_url``, taking turns over ``queue_ids`` (None: every queue the API lists for it) until
    the budget is spent or nothing is left; ``threads`` labelers work at once. Each labeler's
    choices are drawn from its own generator, seeded by ``seed`` and its username. ``progress`` is
    called with a labeler's counts after each task. The labelers of one pool share its reading of
    each task (seeded by ``seed``, the pool and the task). Returns the counts by username."""
    if max_labels_per_labeler < 0:
        raise ValueError(LABELS_PER_LABELER_NEGATIVE.format(value=max_labels_per_labeler))
    chosen = list(queue_ids) if queue_ids is not None else None
    truths = _Truths()

    def work(labeler: tuple[User, LabelerProfile]) -> SimulationCounts:
        user, profile = labeler
        api = _Api(base_url)
        try:
            return _labeler_run(api=api, user=user, profile=profile, queue_ids=chosen, budget=max_labels_per_labeler,
                                rng=random.Random(f"{seed}:{user.username}"), pool_key=f"{seed}:{user.pool_id}",
                                truths=truths, think_seconds=think_seconds, progress=progress)
        finally:
            api.close()
            # This thread's database connections (truth reads) end with it.
            connections.close_all()

    if not labelers:
        return {}
    with ThreadPoolExecutor(max_workers=max(1, min(threads, len(labelers)))) as pool:
        results = list(pool.map(work, labelers))
    return {counts.username: counts for counts in results}
