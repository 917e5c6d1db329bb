"""Fixtures of the page and browser tests: people of every role, a relevance queue whose tasks point
at real PNGs in media storage, and a Playwright page on the system Chromium."""
from __future__ import annotations

import io
import uuid

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from PIL import Image as PILImage

from labeling.models import Guide, GuideVersion, Pool, PoolKind, Role, TaskKind
from labeling.services.queues import queue_create
from labeling.services.tasks import TaskSpec, tasks_create
from labeling.services.users import user_create

PASSWORD = "correct horse battery staple"
GUIDE_BODY = """# Grading relevance

Compare each product with the **query object** on the left.

- `extremely_similar`: almost the same item.
- `similar`: minor differences such as colour or shape.
- <script>alert("guides are escaped")</script>
"""
CHROMIUM_PATH = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
CANDIDATE_COLOURS = [(200, 40, 40), (40, 160, 60), (40, 80, 200), (220, 170, 30), (130, 60, 160)]


@pytest.fixture
def pool(db):
    return Pool.objects.create(name="In-house team", kind=PoolKind.IN_HOUSE)


@pytest.fixture
def labeler(pool):
    return user_create(username="lena", password=PASSWORD, role=Role.LABELER, pool=pool)


@pytest.fixture
def engineer(db):
    return user_create(username="erik", password=PASSWORD, role=Role.ENGINEER)


@pytest.fixture
def expert(db):
    return user_create(username="esther", password=PASSWORD, role=Role.EXPERT)


@pytest.fixture
def admin_user(db):
    return user_create(username="ada", password=PASSWORD, role=Role.ADMIN)


@pytest.fixture
def relevance_guide_version(db):
    guide = Guide.objects.create(task_kind=TaskKind.RELEVANCE, title="Relevance at 5")
    return GuideVersion.objects.create(guide=guide, version=2, body=GUIDE_BODY)


def _png(colour: tuple[int, int, int], size: tuple[int, int] = (96, 96)) -> bytes:
    buffer = io.BytesIO()
    picture = PILImage.new("RGB", size, (245, 245, 245))
    inner = PILImage.new("RGB", (size[0] // 2, size[1] // 2), colour)
    picture.paste(inner, (size[0] // 4, size[1] // 4))
    picture.save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture
def media_images():
    """Small PNGs in the real media storage (the live server serves MEDIA_ROOT), removed afterwards."""
    prefix = f"frontend-tests/{uuid.uuid4().hex}"
    saved: list[str] = []

    def save(label: str, colour: tuple[int, int, int], size: tuple[int, int] = (96, 96)) -> str:
        name = default_storage.save(f"{prefix}/{label}.png", ContentFile(_png(colour, size)))
        saved.append(name)
        return default_storage.url(name)

    yield save
    for name in saved:
        default_storage.delete(name)


def relevance_payload(media_images, ordinal: int) -> dict:
    return {
        "query_object": {
            "id": ordinal,
            "crop_url": media_images(f"crop-{ordinal}", (30, 30, 30), (120, 160)),
            "scene_url": media_images(f"scene-{ordinal}", (120, 140, 160), (256, 256)),
            "box": [60.0, 40.0, 180.0, 200.0],
            "category": "dresses",
        },
        "candidates": [
            {"product_id": 1000 + ordinal * 10 + slot, "category": "dresses",
             "image_url": media_images(f"product-{ordinal}-{slot}", CANDIDATE_COLOURS[slot])}
            for slot in range(5)
        ],
    }


@pytest.fixture
def relevance_queue(db, pool, relevance_guide_version, media_images):
    queue = queue_create(name="Relevance: embedder V1.1", task_kind=TaskKind.RELEVANCE, replication=2,
                         allowed_pools=[pool], guide_version=relevance_guide_version)
    tasks_create(queue=queue, specs=[
        TaskSpec(source_key=f"query-object-{ordinal}", payload=relevance_payload(media_images, ordinal))
        for ordinal in range(2)
    ])
    return queue


@pytest.fixture
def browser_page(monkeypatch):
    """A fresh headless Chromium page per test. Playwright's sync API keeps an event loop in this
    thread, which trips Django's async-safety check on the test's own ORM calls; the test body is
    plain synchronous code, so switching the check off here is safe."""
    from django.urls import get_resolver
    from playwright.sync_api import sync_playwright

    # Import every view module now (the evaluation services pull in torch): the live server runs in
    # this process, and a first request that pays for those imports would blow the page timeouts.
    get_resolver().url_patterns
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM_PATH, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1440, "height": 900})
        page = context.new_page()
        page.set_default_timeout(10_000)
        yield page
        context.close()
        browser.close()
