"""Fixtures of the page and browser tests: people of every role, a relevance queue whose tasks point
at real PNGs in media storage, and a Playwright page on the system Chromium."""
from __future__ import annotations

import io
import uuid

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from PIL import Image as PILImage

from evaluation.models import Candidate, EvalRun, EvalRunStatus, ModelKind, ModelVersion, QueryObject
from evaluation.services import eval_run_create
from labeling.models import (Category, Gender, Guide, GuideVersion, Image, ImageKind, Pool, PoolKind, Product, Role,
                             SceneSet, TaskKind)
from labeling.services.images import image_store
from labeling.services.queue_engine import assignment_claim, label_submit
from labeling.services.queues import queue_create
from labeling.services.tasks import TaskSpec, tasks_create
from labeling.services.users import user_create
from labeling.services.world_import import taxonomy_import

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


@pytest.fixture
def eval_run(db, engineer):
    """A run still generating (0 of 1 scenes), with hand-made model versions: pages only read them."""
    scene = Image.objects.create(sha256="a" * 64, file="images/scene.png", width=256, height=256, kind=ImageKind.SCENE)
    scene_set = SceneSet.objects.create(name="test scenes")
    scene_set.scenes.add(scene)
    detector = ModelVersion.objects.create(kind=ModelKind.DETECTOR, name="frcnn-small", version_tag="V1",
                                           checkpoint="checkpoints/detector.pt", config={"arch": "small"})
    embedder = ModelVersion.objects.create(kind=ModelKind.EMBEDDER, name="multitask", version_tag="V1.1",
                                           checkpoint="checkpoints/embedder.pt", config={"arch": "resnet18"})
    return EvalRun.objects.create(name="embedder V1.1", scene_set=scene_set, detector=detector, embedder=embedder,
                                  status=EvalRunStatus.GENERATING, scenes_total=1, created_by=engineer)


# Grades both labelers give each query object of a judged run: (category, five grades).
JUDGED_RUN_GRADES = [
    ("dresses", ["extremely_similar", "similar", "similar", "not_similar", "not_similar"]),
    ("dresses", ["extremely_similar", "extremely_similar", "similar", "marginally_similar", "did_not_load"]),
    ("shoes", ["similar", "not_similar", "not_similar", "not_similar", "not_similar"]),
    ("shoes", ["extremely_similar", "similar", "not_similar", "not_similar", "not_similar"]),
]
# By hand from JUDGED_RUN_GRADES: similar 3+3+1+2 of 20 slots, extremely similar 1+2+0+1, bad 2+2+4+3.
JUDGED_RUN_SIMILAR_P_AT_5 = "45.0%"
JUDGED_RUN_EXTREMELY_SIMILAR_P_AT_5 = "20.0%"
JUDGED_RUN_BAD_RATE = "55.0%"


@pytest.fixture
def judged_run_create(db, engineer, pool):
    """Build an evaluation run whose relevance tasks two labelers have graded, through the real
    run, queue, claim and submit services; the query objects and candidates that GPU workers
    would write are inserted directly (generation needs trained checkpoints)."""
    taxonomy_import()
    graders = [user_create(username=f"grader{i}", password=PASSWORD, role=Role.LABELER, pool=pool) for i in range(2)]
    detector, _ = ModelVersion.objects.get_or_create(
        kind=ModelKind.DETECTOR, name="frcnn-small", version_tag="V1",
        defaults={"checkpoint": "checkpoints/detector.pt", "config": {"arch": "small"}})
    scenes = [image_store(data=_png((40 * i, 90, 160), (256, 256)), kind=ImageKind.SCENE) for i in range(2)]
    scene_set, _ = SceneSet.objects.get_or_create(name="test scenes")
    scene_set.scenes.add(*scenes)
    counter = iter(range(10_000))

    def create(name: str, *, embedder_tag: str, grades=JUDGED_RUN_GRADES, baseline=None) -> EvalRun:
        embedder, _ = ModelVersion.objects.get_or_create(
            kind=ModelKind.EMBEDDER, name="multitask", version_tag=embedder_tag,
            defaults={"checkpoint": f"checkpoints/embedder-{embedder_tag}.pt", "config": {"arch": "resnet18"}})
        run = eval_run_create(created_by=engineer, name=name, scene_set=scene_set, detector=detector,
                              embedder=embedder, replication=2, baseline=baseline, start_generation=False)
        specs, query_objects = [], []
        for ordinal, (category_slug, _) in enumerate(grades):
            scene = scenes[ordinal % 2]
            crop = image_store(data=_png((200, 30 * ordinal, 60), (80, 120)), kind=ImageKind.CROP)
            products = []
            for slot in range(5):
                n = next(counter)
                products.append(Product.objects.create(
                    external_id=f"frontend-{n}", category=Category.objects.get(slug=category_slug),
                    image=image_store(data=_png(CANDIDATE_COLOURS[slot], (64 + n % 32, 64)), kind=ImageKind.PRODUCT),
                    gender=Gender.WOMEN, price=10, merchant="Test merchant"))
            query_object = QueryObject.objects.create(run=run, scene=scene, ordinal=ordinal // 2,
                                                      box=[20.0, 20.0, 120.0, 200.0], category=category_slug,
                                                      score=0.9, crop=crop)
            Candidate.objects.bulk_create([Candidate(query_object=query_object, rank=rank, product=product, distance=rank,
                                                     task_slot=rank)
                                           for rank, product in enumerate(products, 1)])
            query_objects.append(query_object)
            specs.append(TaskSpec(source_key=f"object:{query_object.pk}", payload={
                "query_object": {"id": query_object.pk, "crop_url": crop.file.url, "scene_url": scene.file.url,
                                 "box": query_object.box, "category": category_slug},
                "candidates": [{"product_id": p.pk, "image_url": p.image.file.url, "category": category_slug}
                               for p in products]}))
        for query_object, task in zip(query_objects, tasks_create(queue=run.queue, specs=specs)):
            query_object.task = task
            query_object.save(update_fields=["task"])
        grades_of_task = {query_object.task_id: answer for query_object, (_, answer) in zip(query_objects, grades)}
        for grader in graders:
            while (assignment := assignment_claim(queue=run.queue, labeler=grader)) is not None:
                label_submit(assignment_id=assignment.pk, labeler=grader,
                             answer={"grades": grades_of_task[assignment.task_id]})
        EvalRun.objects.filter(pk=run.pk).update(status=EvalRunStatus.LABELING, scenes_done=len(scenes))
        run.refresh_from_db()
        return run

    return create
