"""The golden answer key stays private, and /media/ serves each file only to who may see it.

Scene truth lives in private storage (PRIVATE_ROOT), never under a served folder; /media/ answers
anonymous users 401, labelers only with the images of tasks they hold or held, staff with every
image, and checkpoints only to engineers and admins (labeling/media.py).
"""
from __future__ import annotations

import hashlib
import importlib
import io
import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.test import Client
from PIL import Image as PILImage

from evaluation import runtime_cache, services
from labeling.media import (MEDIA_CHECKPOINT_FORBIDDEN, MEDIA_NOT_FOUND, MEDIA_NOT_YOURS, MEDIA_SIGN_IN_REQUIRED)
from labeling.models import (Assignment, GoldenItem, Image, ImageKind, Role, SceneSet, Task, TaskImage, TaskKind)
from labeling.services.images import image_png_bytes, image_store
from labeling.services.queue_engine import assignment_claim, assignment_skip, label_submit
from labeling.services.queues import queue_create
from labeling.services.tasks import TaskSpec, tasks_create
from labeling.services.users import user_create
from labeling.services.world_import import scene_truth_name, scene_truth_read, world_import
from labeling.storage import PRIVATE_ROOT_SERVED_CHECK_ID, private_root_check, private_storage
from models_runtime.checkpoints import save_checkpoint
from models_runtime.detector import Detections, Detector
from models_runtime.embedder import Embedder

migration = importlib.import_module("labeling.migrations.0003_private_truth_and_task_images")

# The tiny world and untrained models of tests/evaluation/conftest.py.
TINY_PRODUCTS = 40
TINY_SCENES = 6
TINY_DETECTOR_CONFIG = {"arch": "small", "box_detections_per_img": 3}
TINY_EMBEDDER_CONFIG = {"embedding_dim": 64, "small_widths": [8, 16, 32, 64]}
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
PASSWORD = "correct horse battery staple"
CHECKPOINT_NAME = "checkpoints/detector-default-v1.pt"
CHECKPOINT_BYTES = b"not really a checkpoint, only bytes to serve"
STAFF_ROLES = (Role.EXPERT, Role.ENGINEER, Role.ADMIN)
CHROMIUM_PATH = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]


# -- fixtures -----------------------------------------------------------------------------------

@pytest.fixture
def private_root(db, settings, tmp_path, media):
    """Private storage beside the test's media folder, so a ``../private/`` traversal has a target."""
    settings.PRIVATE_ROOT = tmp_path / "private"
    settings.VAR_DIR = tmp_path / "var"
    runtime_cache.runtime_cache_clear()
    yield settings.PRIVATE_ROOT
    runtime_cache.runtime_cache_clear()


@pytest.fixture(scope="session")
def untrained_checkpoints(tmp_path_factory):
    folder = tmp_path_factory.mktemp("checkpoints")
    torch.manual_seed(0)
    detector = Detector.from_config(TINY_DETECTOR_CONFIG, device="cpu")
    embedder = Embedder.from_config(TINY_EMBEDDER_CONFIG, device="cpu")
    return {
        "detector": save_checkpoint(folder / "detector.pt", kind="detector", config=detector.config,
                                    state_dict=detector.model.state_dict(), meta={"score_threshold": 0.0}),
        "embedder": save_checkpoint(folder / "embedder.pt", kind="embedder", config=embedder.config,
                                    state_dict=embedder.model.state_dict()),
    }


class GroundTruthDetector:
    """Finds exactly the world's objects (as in test_evaluation_generation.py), so every detection
    matches a true object and golden tasks are made without a trained model."""

    def detect(self, images, score_threshold=0.5, batch_size=8):
        found = []
        for picture in images:
            truth = scene_truth_read(sha256=hashlib.sha256(image_png_bytes(picture)).hexdigest())
            found.append(Detections(
                boxes=np.asarray([o["box"] for o in truth["objects"]], dtype=np.float32).reshape(-1, 4),
                categories=[o["category"] for o in truth["objects"]],
                scores=np.ones(len(truth["objects"]), dtype=np.float32)))
        return found


@pytest.fixture
def golden_run(db, private_root, users, untrained_checkpoints, monkeypatch):
    """A world import and a generated evaluation run whose every matched detection got a golden copy."""
    world = world_import(seed=0, n_products=TINY_PRODUCTS, n_scenes=TINY_SCENES, scene_split="all")
    detector = services.model_version_register(kind="detector", name="untrained", version_tag="V0",
                                               checkpoint_path=untrained_checkpoints["detector"])
    embedder = services.model_version_register(kind="embedder", name="untrained", version_tag="V0",
                                               checkpoint_path=untrained_checkpoints["embedder"])
    monkeypatch.setattr(runtime_cache, "detector_for", lambda version: GroundTruthDetector())
    run = services.eval_run_create(
        created_by=users[Role.ENGINEER], name="golden run", scene_set=SceneSet.objects.get(pk=world.scene_set_id),
        detector=detector, embedder=embedder, replication=2, golden_rate=1.0, start_generation=False)
    return services.eval_run_generate_all(run_id=run.pk)


def _png(colour: tuple[int, int, int], size: tuple[int, int] = (32, 32)) -> bytes:
    buffer = io.BytesIO()
    PILImage.new("RGB", size, colour).save(buffer, format="PNG")
    return buffer.getvalue()


def _relevance_payload(images: list[Image]) -> dict:
    crop, scene, *products = images
    return {
        "query_object": {"id": crop.pk, "crop_url": default_storage.url(crop.file.name),
                         "scene_url": default_storage.url(scene.file.name), "box": [1, 1, 20, 20],
                         "category": "dresses"},
        "candidates": [{"product_id": p.pk, "image_url": default_storage.url(p.file.name), "category": "dresses"}
                       for p in products],
    }


@pytest.fixture
def two_tasks(private_root, users):
    """A relevance queue with two tasks showing three images each, none shared; the first is
    claimed before the second. Returns (queue, first task, second task, images by task)."""
    queue = queue_create(name="Relevance: media access", task_kind=TaskKind.RELEVANCE, replication=1)
    images = {}
    specs = []
    for number, priority in ((0, 10), (1, 0)):
        shown = [image_store(data=_png((40 * number + slot, 90, 160)), kind=kind)
                 for slot, kind in enumerate((ImageKind.CROP, ImageKind.SCENE, ImageKind.PRODUCT))]
        images[number] = shown
        specs.append(TaskSpec(source_key=f"media-{number}", payload=_relevance_payload(shown), priority=priority))
    first, second = tasks_create(queue=queue, specs=specs)
    return queue, first, second, {first.pk: images[0], second.pk: images[1]}


@pytest.fixture
def checkpoint_file(media):
    name = default_storage.save(CHECKPOINT_NAME, ContentFile(CHECKPOINT_BYTES))
    assert name == CHECKPOINT_NAME
    return name


def _url(image: Image) -> str:
    return default_storage.url(image.file.name)


def _payload_media_urls(payload) -> list[str]:
    urls, pending = [], [payload]
    while pending:
        value = pending.pop()
        if isinstance(value, dict):
            pending.extend(value.values())
        elif isinstance(value, list):
            pending.extend(value)
        elif isinstance(value, str) and value.startswith(settings.MEDIA_URL):
            urls.append(value)
    return urls


def _body(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


def _truth_url_guesses(scene_url: str) -> list[str]:
    """Every URL a labeler could guess for a scene's truth from the scene's file name."""
    sha = scene_url.rsplit("/", 1)[-1].removesuffix(".png")
    name = scene_truth_name(sha)
    return [
        f"/media/{name}",
        f"/media/scene_truth/{sha}.json",
        f"/media/images/{sha[:2]}/{sha[2:4]}/{sha}.json",
        f"/media/../private/{name}",
        f"/media/%2e%2e/private/{name}",
        f"/media/images/../../private/{name}",
        f"/media/..%2fprivate%2f{name.replace('/', '%2f')}",
    ]


def _served_files() -> list[Path]:
    roots = [Path(settings.MEDIA_ROOT), Path(settings.STATIC_ROOT), *map(Path, settings.STATICFILES_DIRS)]
    return [path for root in roots if root.is_dir() for path in root.rglob("*") if path.is_file()]


# -- the answer key is private ------------------------------------------------------------------

def test_a_world_import_and_a_golden_run_leave_no_truth_or_golden_answer_under_a_served_folder(golden_run):
    goldens = list(GoldenItem.objects.filter(golden_set__queues=golden_run.queue))
    assert goldens, "the run must have golden tasks for this test to mean anything"
    scenes = list(SceneSet.objects.get(pk=golden_run.scene_set_id).scenes.all())
    assert all(private_storage.exists(scene_truth_name(scene.sha256)) for scene in scenes)

    golden_texts = [json.dumps(golden.answer).encode() for golden in goldens]
    for path in _served_files():
        data = path.read_bytes()
        assert "scene_truth" not in path.as_posix(), path
        assert b"world_seed" not in data, path
        assert not any(text in data for text in golden_texts), path
    media_files = [p.relative_to(settings.MEDIA_ROOT).as_posix() for p in Path(settings.MEDIA_ROOT).rglob("*")
                   if p.is_file()]
    # Media holds only images and the model checkpoints, nothing else.
    assert all(name.startswith("checkpoints/") or (Path(settings.MEDIA_ROOT) / name).read_bytes().startswith(PNG_MAGIC)
               for name in media_files)
    assert private_root_check() == []


def test_a_labeler_fetching_every_url_of_the_tasks_they_claimed_gets_images_and_never_the_truth(
        golden_run, users, client_as):
    labeler = users[Role.LABELER]
    client = client_as(labeler)
    payloads = []
    while (assignment := assignment_claim(queue=golden_run.queue, labeler=labeler)) is not None:
        payloads.append(assignment.task.payload)
        label_submit(assignment_id=assignment.pk, labeler=labeler,
                     answer={"grades": ["similar"] * len(assignment.task.payload["candidates"])})
    assert Assignment.objects.filter(labeler=labeler, task__is_golden=True).exists()

    for payload in payloads:
        urls = _payload_media_urls(payload)
        assert len(urls) == 2 + len(payload["candidates"])
        for url in urls:
            response = client.get(url)
            assert response.status_code == 200, url
            assert response["Content-Type"] == "image/png"
            body = _body(response)
            assert body.startswith(PNG_MAGIC) and b"world_seed" not in body
        for guess in _truth_url_guesses(payload["query_object"]["scene_url"]):
            response = client.get(guess)
            assert 400 <= response.status_code < 500, guess
            assert b"world_seed" not in _body(response), guess
    # Staff cannot reach the truth through /media/ either: it is not there.
    engineer = client_as(users[Role.ENGINEER])
    for guess in _truth_url_guesses(payloads[0]["query_object"]["scene_url"]):
        response = engineer.get(guess)
        assert response.status_code == 404, guess
        assert b"world_seed" not in _body(response)


def test_private_storage_refuses_a_private_root_inside_media_and_the_system_check_says_so(settings, private_root):
    settings.PRIVATE_ROOT = settings.MEDIA_ROOT / "private"
    [error] = private_root_check()
    assert error.id == PRIVATE_ROOT_SERVED_CHECK_ID
    assert "MEDIA_ROOT" in error.msg
    with pytest.raises(ImproperlyConfigured):
        private_storage.save("scene_truth/ab/x.json", ContentFile(b"{}"))
    assert not (settings.MEDIA_ROOT / "private").exists()

    settings.PRIVATE_ROOT = settings.STATIC_ROOT
    assert [e.id for e in private_root_check()] == [PRIVATE_ROOT_SERVED_CHECK_ID]


def test_private_storage_gives_no_url(private_root):
    with pytest.raises(ValueError):
        private_storage.url("scene_truth/ab/x.json")


# -- who sees which file ------------------------------------------------------------------------

def test_anonymous_users_get_no_media_at_all(two_tasks, checkpoint_file, client_as):
    _, first, _, images = two_tasks
    anonymous = client_as(None)
    for url in [_url(images[first.pk][0]), f"/media/{CHECKPOINT_NAME}", "/media/images/no/such/file.png",
                "/media/../private/x.json"]:
        response = anonymous.get(url)
        assert response.status_code == 401, url
        assert response.json()["error"]["message"] == MEDIA_SIGN_IN_REQUIRED
        assert "Content-Disposition" not in response and not response.get("X-Accel-Redirect")


def test_a_labeler_gets_the_images_of_tasks_they_claimed_labeled_or_skipped_and_403_for_others(
        two_tasks, users, client_as):
    queue, first, second, images = two_tasks
    labeler = users[Role.LABELER]
    client = client_as(labeler)
    for image in images[first.pk] + images[second.pk]:
        assert client.get(_url(image)).status_code == 403

    assignment = assignment_claim(queue=queue, labeler=labeler)
    assert assignment.task_id == first.pk
    for image in images[first.pk]:
        response = client.get(_url(image))
        assert response.status_code == 200
        assert _body(response) == image.file.open("rb").read()
    for image in images[second.pk]:
        response = client.get(_url(image))
        assert response.status_code == 403
        assert response.json()["error"]["message"] == MEDIA_NOT_YOURS

    label_submit(assignment_id=assignment.pk, labeler=labeler, answer={"grades": ["similar"]})
    assert all(client.get(_url(image)).status_code == 200 for image in images[first.pk])
    skipped = assignment_claim(queue=queue, labeler=labeler)
    assert skipped.task_id == second.pk
    assignment_skip(assignment_id=skipped.pk, labeler=labeler)
    assert all(client.get(_url(image)).status_code == 200 for image in images[second.pk])


def test_another_labeler_gets_403_for_images_of_a_task_they_never_held(two_tasks, users, pool, client_as):
    queue, first, _, images = two_tasks
    assignment_claim(queue=queue, labeler=users[Role.LABELER])
    other = user_create(username="other-labeler", password=PASSWORD, role=Role.LABELER, pool=pool)
    assert all(client_as(other).get(_url(image)).status_code == 403 for image in images[first.pk])


def test_a_labeler_cannot_tell_a_missing_file_from_a_forbidden_one(two_tasks, users, client_as):
    labeler = client_as(users[Role.LABELER])
    missing = labeler.get("/media/images/00/00/missing.png")
    forbidden = labeler.get(_url(two_tasks[3][two_tasks[2].pk][0]))
    assert missing.status_code == forbidden.status_code == 403
    assert missing.json() == forbidden.json()


def test_staff_get_every_image_and_404_for_a_missing_one(two_tasks, users, client_as):
    _, first, second, images = two_tasks
    loose = image_store(data=_png((1, 2, 3)), kind=ImageKind.PRODUCT)  # shown by no task
    superuser = user_create(username="root", password=PASSWORD, role=Role.LABELER, pool=users[Role.LABELER].pool)
    superuser.is_superuser = True
    superuser.save(update_fields=["is_superuser"])
    for user in [users[role] for role in STAFF_ROLES] + [superuser]:
        client = client_as(user)
        for image in images[first.pk] + images[second.pk] + [loose]:
            assert client.get(_url(image)).status_code == 200, (user.role, image)
        missing = client.get("/media/images/00/00/missing.png")
        assert missing.status_code == 404
        assert missing.json()["error"]["message"] == MEDIA_NOT_FOUND


def test_checkpoints_go_only_to_engineers_and_admins(checkpoint_file, users, pool, client_as):
    superuser = user_create(username="root", password=PASSWORD, role=Role.LABELER, pool=pool)
    superuser.is_superuser = True
    superuser.save(update_fields=["is_superuser"])
    for user in (users[Role.ENGINEER], users[Role.ADMIN], superuser):
        response = client_as(user).get(f"/media/{CHECKPOINT_NAME}")
        assert response.status_code == 200, user.role
        assert _body(response) == CHECKPOINT_BYTES
        assert response["Content-Disposition"].startswith("attachment")
    for role in (Role.EXPERT, Role.LABELER):
        response = client_as(users[role]).get(f"/media/{CHECKPOINT_NAME}")
        assert response.status_code == 403, role
        assert response.json()["error"]["message"] == MEDIA_CHECKPOINT_FORBIDDEN


def test_the_labeler_check_costs_the_same_queries_however_many_tasks_show_the_image(
        private_root, users, client_as, django_assert_num_queries):
    labeler = users[Role.LABELER]
    shown = [image_store(data=_png((9, 9, 9)), kind=ImageKind.CROP), image_store(data=_png((8, 8, 8)), kind=ImageKind.SCENE)]
    queues = []
    for tasks in (1, 12):
        queue = queue_create(name=f"queue of {tasks}", task_kind=TaskKind.RELEVANCE, replication=1)
        tasks_create(queue=queue, specs=[TaskSpec(source_key=f"t{n}", payload=_relevance_payload(shown + shown[:1]))
                                         for n in range(tasks)])
        queues.append(queue)
    client = client_as(labeler)
    while (assignment := assignment_claim(queue=queues[0], labeler=labeler)) is not None:
        label_submit(assignment_id=assignment.pk, labeler=labeler, answer={"grades": ["similar"]})
    client.get(_url(shown[0]))  # the session row is read once per request either way
    with django_assert_num_queries(3) as one_task:  # session, user, the one access query
        assert client.get(_url(shown[0])).status_code == 200
    while (assignment := assignment_claim(queue=queues[1], labeler=labeler)) is not None:
        label_submit(assignment_id=assignment.pk, labeler=labeler, answer={"grades": ["similar"]})
    assert Assignment.objects.filter(labeler=labeler).count() == 13
    with django_assert_num_queries(len(one_task.captured_queries)):
        assert client.get(_url(shown[0])).status_code == 200


# -- how the bytes go out -----------------------------------------------------------------------

def test_django_mode_streams_the_file_with_private_caching_and_nosniff(two_tasks, users, client_as):
    image = two_tasks[3][two_tasks[1].pk][0]
    response = client_as(users[Role.ENGINEER]).get(_url(image))
    assert response.status_code == 200
    assert response["Content-Type"] == "image/png"
    assert response["Cache-Control"].startswith("private")
    assert response["X-Content-Type-Options"] == "nosniff"
    assert _body(response) == image.file.open("rb").read()
    assert "X-Accel-Redirect" not in response and "X-Sendfile" not in response


def test_x_accel_redirect_mode_hands_nginx_the_internal_location_and_no_body(two_tasks, users, client_as, settings):
    settings.MEDIA_SERVE_MODE = "x-accel-redirect"
    image = two_tasks[3][two_tasks[1].pk][0]
    response = client_as(users[Role.EXPERT]).get(_url(image))
    assert response.status_code == 200
    assert response["X-Accel-Redirect"] == f"/protected-media/{image.file.name}"
    assert response["Content-Type"] == "image/png"
    assert response["Cache-Control"].startswith("private")
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response.content == b""

    refused = client_as(users[Role.LABELER]).get(_url(image))
    assert refused.status_code == 403 and "X-Accel-Redirect" not in refused


def test_x_sendfile_mode_gives_the_web_server_the_absolute_path(two_tasks, users, client_as, settings):
    settings.MEDIA_SERVE_MODE = "x-sendfile"
    image = two_tasks[3][two_tasks[1].pk][0]
    response = client_as(users[Role.ADMIN]).get(_url(image))
    assert response.status_code == 200
    path = Path(response["X-Sendfile"])
    assert path.is_absolute()
    assert path == (Path(settings.MEDIA_ROOT) / image.file.name).resolve()
    assert response["Content-Type"] == "image/png"
    assert response.content == b""

    assert "X-Sendfile" not in client_as(None).get(_url(image))


def test_path_traversal_gets_4xx_for_everyone_and_never_a_file_outside_media(private_root, users, client_as, tmp_path):
    (tmp_path / "secret.txt").write_text("outside media")
    (private_root / "scene_truth").mkdir(parents=True)
    (private_root / "scene_truth" / "x.json").write_text('{"world_seed": 0}')
    (Path(settings.MEDIA_ROOT) / "images").mkdir()
    os.symlink(tmp_path / "secret.txt", Path(settings.MEDIA_ROOT) / "images" / "link.png")
    attempts = ["/media/../secret.txt", "/media/%2e%2e/secret.txt", "/media/..%2fsecret.txt",
                "/media/images/../../secret.txt", "/media/../private/scene_truth/x.json",
                "/media//etc/passwd", "/media/..\\secret.txt", "/media/images/link.png", "/media/.",
                "/media/images/%00.png", "/media/images/"]
    for user in (users[Role.ENGINEER], users[Role.LABELER]):
        client = client_as(user)
        for attempt in attempts:
            response = client.get(attempt)
            assert 400 <= response.status_code < 500, (user.role, attempt)
            body = _body(response)
            assert b"outside media" not in body and b"world_seed" not in body


def test_only_get_and_head_are_answered(two_tasks, users, client_as):
    image = two_tasks[3][two_tasks[1].pk][0]
    client = client_as(users[Role.ENGINEER])
    assert client.head(_url(image)).status_code == 200
    assert client.post(_url(image)).status_code == 405
    assert client.delete(_url(image)).status_code == 405
    assert default_storage.exists(image.file.name)


# -- task images and the migration --------------------------------------------------------------

def test_tasks_create_links_every_image_its_payloads_show_in_a_constant_number_of_queries(
        private_root, django_assert_num_queries):
    images = [image_store(data=_png((n, 50, 50)), kind=ImageKind.PRODUCT) for n in range(7)]
    counts = []
    for tasks in (1, 6):
        queue = queue_create(name=f"links {tasks}", task_kind=TaskKind.RELEVANCE)
        specs = [TaskSpec(source_key=f"t{n}", payload=_relevance_payload(images[n % 2:n % 2 + 5])) for n in range(tasks)]
        with django_assert_num_queries(4) as captured:  # tasks insert, tasks select, images select, links insert
            created = tasks_create(queue=queue, specs=specs)
        counts.append(len(captured.captured_queries))
        for task in created:
            assert set(TaskImage.objects.filter(task=task).values_list("image__file", flat=True)) == {
                url.removeprefix(settings.MEDIA_URL) for url in _payload_media_urls(task.payload)}
        tasks_create(queue=queue, specs=specs)  # a replay stores no second link
        assert TaskImage.objects.filter(task__queue=queue).count() == 5 * tasks
    assert counts[0] == counts[1]


def test_the_migration_moves_old_scene_truth_out_of_media_and_can_run_again(private_root):
    old_truth = Path(settings.MEDIA_ROOT) / "scene_truth"
    for sha in ("ab" + "1" * 62, "cd" + "2" * 62):
        (old_truth / sha[:2]).mkdir(parents=True, exist_ok=True)
        (old_truth / sha[:2] / f"{sha}.json").write_text(json.dumps({"world_seed": 0, "scene_id": sha}))
    already = "ab" + "3" * 62
    (old_truth / "ab" / f"{already}.json").write_text('{"world_seed": "stale media copy"}')
    private_storage.save(scene_truth_name(already), ContentFile(b'{"world_seed": "current"}'))

    assert migration.scene_truth_move() == 3
    assert not old_truth.exists()
    assert scene_truth_read(sha256="ab" + "1" * 62) == {"world_seed": 0, "scene_id": "ab" + "1" * 62}
    assert scene_truth_read(sha256="cd" + "2" * 62)["scene_id"] == "cd" + "2" * 62
    assert scene_truth_read(sha256=already) == {"world_seed": "current"}
    assert migration.scene_truth_move() == 0


def test_the_migration_move_is_a_no_op_on_an_install_without_scene_truth(private_root):
    assert migration.scene_truth_move() == 0
    assert not Path(settings.PRIVATE_ROOT, "scene_truth").exists()


def test_the_migration_backfills_task_images_for_tasks_made_before_it(private_root):
    images = [image_store(data=_png((n, 10, 10)), kind=ImageKind.PRODUCT) for n in range(4)]
    queue = queue_create(name="old tasks", task_kind=TaskKind.RELEVANCE)
    old = [Task.objects.create(queue=queue, source_key=f"old-{n}", payload=_relevance_payload(images[n:n + 3]))
           for n in range(2)]
    unrelated = Task.objects.create(queue=queue, source_key="no-images", payload={"image": {"url": "/media/gone.png"}})
    assert not TaskImage.objects.exists()

    for _ in range(2):
        migration.task_images_backfill(task_model=Task, image_model=Image, task_image_model=TaskImage)
        assert {task.pk: set(TaskImage.objects.filter(task=task).values_list("image_id", flat=True)) for task in old} == {
            old[0].pk: {i.pk for i in images[0:3]}, old[1].pk: {i.pk for i in images[1:4]}}
        assert not TaskImage.objects.filter(task=unrelated).exists()


# -- the pages still show their images ----------------------------------------------------------

@pytest.fixture
def app_server(transactional_db):
    """A live server whose /media/ goes through the platform's own route. pytest-django's
    ``live_server`` cannot be used: Django's LiveServerThread always wraps the app in a handler that
    serves MEDIA_ROOT directly, so requests would never reach the media view."""
    from django.contrib.staticfiles.handlers import StaticFilesHandler
    from django.core.handlers.wsgi import WSGIHandler
    from django.test.testcases import LiveServerThread

    # LiveServerThread passes the app, wrapped in its media handler, to ``static_handler``; drop
    # that wrapper and serve the platform's own app (static files included).
    server = LiveServerThread("localhost", static_handler=lambda media_wrapped: StaticFilesHandler(WSGIHandler()))
    server.daemon = True
    server.start()
    server.is_ready.wait()
    if server.error:
        raise server.error
    yield f"http://localhost:{server.port}"
    server.terminate()


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_the_grading_page_shows_a_labeler_every_image_of_the_task_they_claimed(
        app_server, two_tasks, users, monkeypatch):
    from django.urls import get_resolver
    from playwright.sync_api import sync_playwright

    queue = two_tasks[0]
    get_resolver().url_patterns  # import the views before the server's first request
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    session = Client()
    session.force_login(users[Role.LABELER])
    cookie = session.cookies[settings.SESSION_COOKIE_NAME].value
    media_statuses = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM_PATH, args=CHROMIUM_ARGS)
        context = browser.new_context()
        context.add_cookies([{"name": settings.SESSION_COOKIE_NAME, "value": cookie, "url": app_server}])
        page = context.new_page()
        page.set_default_timeout(10_000)
        page.on("response", lambda r: media_statuses.append(r.status) if "/media/" in r.url else None)
        page.goto(f"{app_server}/queues/{queue.pk}/grade/")
        page.wait_for_function("""() => {
            const shown = [document.querySelector('#query-crop'), document.querySelector('#scene-image'),
                           ...document.querySelectorAll('#candidates .cand .img img')];
            return shown.length === 3 && shown.every(img => img && img.complete && img.naturalWidth > 0);
        }""")
        context.close()
        browser.close()
    assert media_statuses == [200, 200, 200]
