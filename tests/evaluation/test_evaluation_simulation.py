"""Simulated labelers at work: each kind's truth from the world, their accounts, and the runner labeling
through the HTTP API of a live server."""
from __future__ import annotations

import hashlib
from dataclasses import replace
from decimal import Decimal
from io import StringIO

import numpy as np
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.test.utils import CaptureQueriesContext

from evaluation import runtime_cache, services
from evaluation.attribute_queues import CropSpec, attribute_golden_set_from_world, attribute_queue_create
from evaluation.box_queues import box_golden_set_from_world, box_queue_create
from evaluation.cleanup_queues import cleanup_golden_set_from_truth, cleanup_queue_create, truth_answer
from evaluation.management.commands.simulate_labelers import SERVER_SILENT
from evaluation.simulation import (SIMULATED_USERNAME, simulated_labelers_ensure, simulated_password,
                                   simulation_run, task_truths)
from labeling.imports.stl_pairs import synthetic_pairs_import
from labeling.models import Assignment, AssignmentState, GoldenItem, Label, Pool, PoolKind, Role, SceneSet, Task, User
from labeling.quality.simulation import DEMO_POOL_PROFILES, PERFECT_LABELER, labeler_profiles_draw
from labeling.services.images import image_png_bytes
from labeling.services.queues import queue_create
from labeling.services.tasks import TaskSpec, tasks_create
from labeling.services.world_import import parse_synthetic_external_id, scene_truth_read
from labeling.task_kinds import task_kind_spec
from models_runtime.detector import Detections
from models_runtime.world import generate_product, grade

from tests.evaluation.conftest import TINY_PRODUCTS


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    # Every simulated labeler signs in with a password; PBKDF2's slowness would dominate the tests.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


class GroundTruthDetector:
    """Finds exactly the world's objects, so every query object has a true product to grade against."""

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
def scene_set(tiny_world):
    return SceneSet.objects.get(pk=tiny_world.scene_set_id)


def relevance_run(*, engineer, scene_set, model_versions, monkeypatch, golden_rate: float, replication: int = 2):
    monkeypatch.setattr(runtime_cache, "detector_for", lambda version: GroundTruthDetector())
    detector, embedder = model_versions
    run = services.eval_run_create(created_by=engineer, name="truth run", scene_set=scene_set, detector=detector,
                                   embedder=embedder, replication=replication, golden_rate=golden_rate,
                                   start_generation=False)
    return services.eval_run_generate_all(run_id=run.pk)


def queries_for(tasks) -> int:
    with CaptureQueriesContext(connection) as captured:
        task_truths(tasks=tasks)
    return len(captured)


def assert_constant_queries(tasks) -> None:
    """Two tasks (a normal one and a golden one where there is one) cost what all of them cost."""
    task_truths(tasks=tasks)  # the taxonomy snapshot is read once
    few = [next(task for task in tasks if not task.is_golden), *[task for task in tasks if task.is_golden][:1]]
    assert len(tasks) > len(few)
    assert queries_for(few) == queries_for(tasks)


def test_relevance_truths_are_the_oracle_grades_of_each_candidate(engineer, scene_set, model_versions, monkeypatch):
    run = relevance_run(engineer=engineer, scene_set=scene_set, model_versions=model_versions,
                        monkeypatch=monkeypatch, golden_rate=0.5)
    tasks = list(Task.objects.filter(queue=run.queue).select_related("golden_item").order_by("pk"))
    truths = task_truths(tasks=tasks)
    normal = [task for task in tasks if not task.is_golden]
    assert normal and any(task.is_golden for task in tasks)
    for task in normal:
        query_object = task.query_object
        truth = scene_truth_read(sha256=query_object.scene.sha256)
        true_object = next(o for o in truth["objects"] if [float(v) for v in o["box"]] == query_object.box)
        true_product = generate_product(0, true_object["product_id"])
        expected = [grade(true_product, generate_product(*parse_synthetic_external_id(c.product.external_id)))
                    for c in query_object.candidates.order_by("rank").select_related("product")]
        assert truths[task.pk] == {"grades": expected}
    for task in tasks:
        if task.is_golden:
            assert truths[task.pk] == task.golden_item.answer == truths[task.twin_of_id]
    assert_constant_queries(tasks)


def test_a_relevance_payload_that_shows_no_runs_query_object_has_no_truth(engineer, scene_set, model_versions,
                                                                          monkeypatch):
    run = relevance_run(engineer=engineer, scene_set=scene_set, model_versions=model_versions,
                        monkeypatch=monkeypatch, golden_rate=0.0)
    made = Task.objects.filter(queue=run.queue).first()
    elsewhere = dict(made.payload, query_object=dict(made.payload["query_object"], box=[0.0, 0.0, 5.0, 5.0]))
    queue = queue_create(name="hand-made relevance", task_kind="relevance")
    [task] = tasks_create(queue=queue, specs=[TaskSpec(source_key="hand", payload=elsewhere)])
    truths = task_truths(tasks=[made, task])
    assert truths[made.pk] is not None and truths[task.pk] is None


def test_box_truths_are_the_worlds_boxes_and_golden_copies_their_items_answers(engineer, scene_set):
    scenes = list(scene_set.scenes.order_by("pk"))
    golden_set, _ = box_golden_set_from_world(name="world boxes", scenes=scenes[4:])
    job = box_queue_create(name="boxes", scene_set=scene_set, created_by=engineer, golden_rate=0.5,
                           golden_sets=[golden_set])
    tasks = list(Task.objects.filter(queue=job.queue).select_related("golden_item").order_by("pk"))
    truths = task_truths(tasks=tasks)
    sha_of = {scene.pk: scene.sha256 for scene in scenes}
    for task in tasks:
        if task.is_golden:
            assert truths[task.pk] == task.golden_item.answer
        else:
            objects = scene_truth_read(sha256=sha_of[task.payload["scene_id"]])["objects"]
            assert truths[task.pk] == {"boxes": [{"box": [float(v) for v in o["box"]], "category": o["category"]}
                                                 for o in objects]}
    assert any(task.is_golden for task in tasks)
    assert_constant_queries(tasks)


def test_attribute_truths_are_the_attributes_of_the_product_under_the_box(engineer, scene_set):
    scenes = list(scene_set.scenes.order_by("pk")[:2])
    golden_set, _ = attribute_golden_set_from_world(name="world attributes", scenes=scenes)
    crops = [CropSpec(f"item:{item.pk}", scenes[0] if item.key.split(":")[1] == scenes[0].sha256 else scenes[1],
                      item.payload["box"], item.payload["category"])
             for item in GoldenItem.objects.filter(golden_set=golden_set).order_by("pk")]
    # A box on the background covers no true object.
    crops.append(CropSpec("background", scenes[0], [0.0, 0.0, 4.0, 4.0], "tops"))
    queue = attribute_queue_create(name="attributes", crops=crops, created_by=engineer)
    tasks = list(Task.objects.filter(queue=queue).order_by("pk"))
    truths = task_truths(tasks=tasks)
    answers = {item.pk: item.answer for item in GoldenItem.objects.filter(golden_set=golden_set)}
    for task in tasks:
        if task.source_key == "background":
            assert truths[task.pk] is None
        else:
            assert truths[task.pk] == answers[int(task.source_key.split(":")[1])]
    assert len(tasks) == len(answers) + 1
    assert_constant_queries(tasks)


def test_cleanup_truths_are_the_noise_the_world_recorded(engineer, media):
    pair_import = synthetic_pairs_import(name="pairs", seed=0, n_pairs=8, created_by=engineer, n_products=TINY_PRODUCTS,
                                         rates={"shifted_box": 0.3, "wrong_category": 0.3, "spam": 0.2})
    pairs = list(pair_import.pairs.select_related("scene").order_by("pk"))
    golden_set, _ = cleanup_golden_set_from_truth(name="pair truth", pairs=pairs[-2:])
    queue = cleanup_queue_create(name="clean", pairs=pairs[:-2], created_by=engineer, golden_rate=0.5,
                                 golden_sets=[golden_set])
    tasks = list(Task.objects.filter(queue=queue).select_related("golden_item").order_by("pk"))
    truths = task_truths(tasks=tasks)
    by_pair = {pair.pk: pair for pair in pairs}
    for task in tasks:
        expected = task.golden_item.answer if task.is_golden else truth_answer(pair=by_pair[task.payload["pair_id"]])
        assert truths[task.pk] == expected is not None
    assert_constant_queries(tasks)


def test_simulated_labelers_are_marked_and_made_once_in_the_demo_pools(db):
    crowd = Pool.objects.create(name="Crowd", kind=PoolKind.CROWD)  # as the demo's human accounts make it
    first = simulated_labelers_ensure(per_pool=2, seed=4)
    again = simulated_labelers_ensure(per_pool=2, seed=4)
    assert [(user.pk, profile) for user, profile in again] == [(user.pk, profile) for user, profile in first]
    assert User.objects.count() == 6
    crowd.refresh_from_db()
    assert crowd.cost_per_label == Decimal("0.03") and Pool.objects.count() == 3
    for pool in DEMO_POOL_PROFILES:
        users = [user for user, _ in first if user.pool.name == pool.pool_name]
        assert [user.username for user in users] == [SIMULATED_USERNAME.format(slug=pool.slug, number=n) for n in (1, 2)]
        assert [profile for user, profile in first if user in users] == labeler_profiles_draw(pool=pool, count=2, seed=4)
    for user in User.objects.all():
        assert user.is_simulated and user.role == Role.LABELER and user.check_password(simulated_password(user.username))


@pytest.mark.django_db(transaction=True)
def test_simulated_labelers_label_a_relevance_and_a_box_queue_through_the_api(live_server, engineer, scene_set,
                                                                               model_versions, monkeypatch):
    run = relevance_run(engineer=engineer, scene_set=scene_set, model_versions=model_versions,
                        monkeypatch=monkeypatch, golden_rate=0.3)
    job = box_queue_create(name="boxes", scene_set=scene_set, created_by=engineer, replication=2)
    labelers = simulated_labelers_ensure(per_pool=1, seed=0)
    results = simulation_run(base_url=live_server.url, queue_ids=[run.queue_id, job.queue_id], labelers=labelers,
                             max_labels_per_labeler=4, seed=0, threads=3)
    assert set(results) == {user.username for user, _ in labelers}
    for counts in results.values():
        assert counts.error == "" and counts.refused == 0 and counts.no_truth == 0
        assert 0 < counts.labels <= 4
    labels = list(Label.objects.select_related("task__queue", "labeler"))
    assert len(labels) == sum(counts.labels for counts in results.values())
    assert {label.task.queue_id for label in labels} == {run.queue_id, job.queue_id}
    for label in labels:
        assert label.is_simulated and label.labeler.is_simulated
        assert label.idempotency_key and label.time_spent_ms > 0
        assert results[label.labeler.username].labels >= 1
        spec = task_kind_spec(label.task.queue.task_kind)
        assert spec.answer_clean(payload=label.task.payload, answer=label.answer) == label.answer


@pytest.mark.django_db(transaction=True)
def test_a_labeler_who_always_skips_skips_every_task_and_labels_none(live_server, engineer, scene_set):
    job = box_queue_create(name="boxes", scene_set=scene_set, created_by=engineer, replication=2)
    [(user, profile)] = simulated_labelers_ensure(pools=DEMO_POOL_PROFILES[:1], per_pool=1, seed=0)
    results = simulation_run(base_url=live_server.url, queue_ids=[job.queue_id],
                             labelers=[(user, replace(PERFECT_LABELER, skip_rate=1.0))], max_labels_per_labeler=10)
    skipped = Assignment.objects.filter(labeler=user, state=AssignmentState.SKIPPED).count()
    assert results[user.username].skipped == skipped == job.queue.tasks.count() == 6
    assert results[user.username].labels == 0 and not Label.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_the_command_labels_every_open_queue_and_prints_a_summary(live_server, engineer, scene_set):
    job = box_queue_create(name="boxes", scene_set=scene_set, created_by=engineer, replication=3)
    out = StringIO()
    call_command("simulate_labelers", "--base-url", live_server.url, "--per-pool", "1", "--labels-per-labeler", "2",
                 "--wait-for-server", "5", stdout=out)
    printed = out.getvalue()
    labels = Label.objects.filter(task__queue=job.queue)
    assert labels.count() == 6 and all(label.is_simulated for label in labels)
    assert "sim-crowd-01" in printed and "6 simulated labels from 3 simulated labelers." in printed


def test_the_command_gives_up_on_a_server_that_does_not_answer(db):
    with pytest.raises(CommandError) as refused:
        call_command("simulate_labelers", "--base-url", "http://127.0.0.1:9", "--wait-for-server", "1",
                     stdout=StringIO())
    assert str(refused.value) == SERVER_SILENT.format(url="http://127.0.0.1:9", seconds=1.0)
