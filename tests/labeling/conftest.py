"""Fixtures for the labeling tests, built with the real services."""
from __future__ import annotations

import itertools

import pytest

from labeling.golden.services import GoldenItemInput, golden_items_put, golden_set_create, queue_golden_sets_add
from labeling.models import Pool, PoolKind, Role
from labeling.services.queues import queue_create
from labeling.services.tasks import TaskSpec, tasks_create
from labeling.services.users import user_create

_serial = itertools.count()


def relevance_payload(number: int, *, candidates: int = 5) -> dict:
    """The relevance payload the evaluation pipeline produces (see the API brief)."""
    return {
        "query_object": {
            "id": number,
            "crop_url": f"/media/crops/{number}.jpg",
            "scene_url": f"/media/scenes/{number}.jpg",
            "box": [10, 20, 110, 220],
            "category": "shoes",
        },
        "candidates": [
            {"product_id": f"p{number}-{k}", "image_url": f"/media/products/{number}-{k}.jpg", "category": "shoes"}
            for k in range(candidates)
        ],
    }


GOOD_RELEVANCE_ANSWER = {"grades": ["extremely_similar", "similar", "marginally_similar", "not_similar", "did_not_load"]}


def relevance_specs(count: int, *, prefix: str = "t") -> list[TaskSpec]:
    return [TaskSpec(source_key=f"{prefix}-{i}", payload=relevance_payload(i)) for i in range(count)]


def golden_relevance_items_add(queue, count: int) -> None:
    """``count`` golden items answered "similar" throughout, in a set the queue draws from."""
    if not count:
        return
    golden_set = golden_set_create(name=f"golden for {queue.name}", task_kind=queue.task_kind)
    queue_golden_sets_add(queue=queue, golden_sets=[golden_set])
    golden_items_put(golden_set=golden_set, items=[
        GoldenItemInput(key=f"g-{i}", payload=relevance_payload(i), answer={"grades": ["similar"] * 5})
        for i in range(count)])


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    # PBKDF2's deliberate slowness would dominate tests that create dozens of users.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def in_house_pool(db):
    return Pool.objects.create(name="in-house", kind=PoolKind.IN_HOUSE)


@pytest.fixture
def crowd_pool(db):
    return Pool.objects.create(name="crowd", kind=PoolKind.CROWD)


@pytest.fixture
def make_user(db, in_house_pool):
    def make(role: str = Role.LABELER, *, pool=None, username: str | None = None):
        if role == Role.LABELER and pool is None:
            pool = in_house_pool
        return user_create(username=username or f"{role}-{next(_serial)}", password="pw-123456", role=role, pool=pool)

    return make


@pytest.fixture
def labeler(make_user):
    return make_user(Role.LABELER)


@pytest.fixture
def make_queue(db):
    def make(*, tasks: int = 0, golden_tasks: int = 0, **options):
        options.setdefault("name", f"queue-{next(_serial)}")
        options.setdefault("task_kind", "relevance")
        queue = queue_create(**options)
        tasks_create(queue=queue, specs=relevance_specs(tasks))
        golden_relevance_items_add(queue, golden_tasks)
        return queue

    return make
