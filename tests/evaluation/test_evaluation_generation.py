"""Generation of an evaluation run: rows per scene, idempotency under crashes, golden tasks."""
import hashlib

import numpy as np
import pytest

from evaluation import runtime_cache, services
from evaluation.models import Candidate, EvalRun, EvalRunScene, EvalRunStatus, QueryObject
from labeling.models import GoldenItem, GoldenSource, SceneSet, Task, TaskKind
from labeling.services.images import image_png_bytes
from labeling.services.world_import import parse_synthetic_external_id, scene_truth_read
from models_runtime.detector import Detections
from models_runtime.world import generate_product, grade

SCENES = 6
OBJECTS_PER_SCENE = 3


class SimulatedWorkerCrash(RuntimeError):
    pass


def make_run(*, engineer, tiny_world, model_versions, golden_rate=0.0):
    detector, embedder = model_versions
    return services.eval_run_create(
        created_by=engineer, name="untrained baseline", scene_set=SceneSet.objects.get(pk=tiny_world.scene_set_id),
        detector=detector, embedder=embedder, replication=2, golden_rate=golden_rate, start_generation=False)


def row_counts(run):
    return {
        "scenes": EvalRunScene.objects.filter(run=run).count(),
        "query_objects": QueryObject.objects.filter(run=run).count(),
        "candidates": Candidate.objects.filter(query_object__run=run).count(),
        "tasks": Task.objects.filter(queue=run.queue).count(),
    }


def test_run_create_makes_a_pending_run_with_its_relevance_queue(engineer, tiny_world, model_versions):
    run = make_run(engineer=engineer, tiny_world=tiny_world, model_versions=model_versions, golden_rate=0.2)
    assert run.status == EvalRunStatus.PENDING
    assert run.scenes_total == SCENES
    assert run.queue.task_kind == TaskKind.RELEVANCE
    assert (run.queue.replication, run.queue.golden_rate) == (2, 0.2)


def test_run_create_refuses_a_detector_in_the_embedder_slot(engineer, tiny_world, model_versions):
    detector, _ = model_versions
    with pytest.raises(services.EvalRunError) as error:
        services.eval_run_create(created_by=engineer, name="wrong", scene_set=SceneSet.objects.get(pk=tiny_world.scene_set_id),
                                 detector=detector, embedder=detector, start_generation=False)
    assert str(error.value) == services.RUN_EMBEDDER_WRONG_KIND.format(id=detector.pk, kind="detector")
    assert error.value.field == "embedder"


def test_generation_writes_query_objects_candidates_and_one_task_each(engineer, tiny_world, model_versions):
    run = make_run(engineer=engineer, tiny_world=tiny_world, model_versions=model_versions)
    run = services.eval_run_generate_all(run_id=run.pk)
    assert run.status == EvalRunStatus.LABELING
    assert (run.scenes_done, run.scenes_total) == (SCENES, SCENES)
    assert run.generated_at is not None
    counts = row_counts(run)
    assert counts["query_objects"] == SCENES * OBJECTS_PER_SCENE
    with_candidates = QueryObject.objects.filter(run=run, candidates__isnull=False).distinct()
    assert counts["tasks"] == with_candidates.count() > 0
    assert not QueryObject.objects.filter(run=run, candidates__isnull=True, task__isnull=False).exists()
    query_object = with_candidates.select_related("task", "crop").first()
    payload = query_object.task.payload
    assert set(payload) == {"query_object", "candidates"}
    assert payload["query_object"]["id"] == query_object.pk
    assert payload["query_object"]["crop_url"].endswith(f"{query_object.crop.sha256}.png")
    assert set(payload["query_object"]) == {"id", "crop_url", "scene_url", "box", "category"}
    candidates = list(query_object.candidates.order_by("rank"))
    assert len(candidates) in range(1, 6)
    assert [c["product_id"] for c in payload["candidates"]] == [c.product_id for c in candidates]
    assert all(set(c) == {"product_id", "image_url", "category"} for c in payload["candidates"])
    # Restricted to the detected category: every candidate shares it.
    assert {c["category"] for c in payload["candidates"]} == {query_object.category}


def test_generation_again_on_a_generated_run_writes_nothing(engineer, tiny_world, model_versions):
    run = make_run(engineer=engineer, tiny_world=tiny_world, model_versions=model_versions)
    services.eval_run_generate_all(run_id=run.pk)
    before = row_counts(run)
    scene_ids = list(EvalRunScene.objects.filter(run=run).values_list("scene_id", flat=True))
    assert services.eval_run_generate_scenes(run_id=run.pk, scene_ids=scene_ids) == 0
    assert services.eval_run_generation_start(run_id=run.pk) == []
    assert row_counts(run) == before


def test_worker_crash_after_some_scenes_then_retry_leaves_no_duplicates(engineer, tiny_world, model_versions,
                                                                       monkeypatch):
    run = make_run(engineer=engineer, tiny_world=tiny_world, model_versions=model_versions)
    scene_ids = services.eval_run_generation_start(run_id=run.pk)
    real_scene_write = services._scene_write
    written = []

    def crash_on_third_scene(**kwargs):
        if len(written) == 2:
            raise SimulatedWorkerCrash("worker lost after two scenes")
        written.append(kwargs["scene"].pk)
        return real_scene_write(**kwargs)

    monkeypatch.setattr(services, "_scene_write", crash_on_third_scene)
    with pytest.raises(SimulatedWorkerCrash):
        services.eval_run_generate_scenes(run_id=run.pk, scene_ids=scene_ids)
    run.refresh_from_db()
    assert run.scenes_done == 2
    assert run.status == EvalRunStatus.GENERATING
    assert row_counts(run)["scenes"] == 2
    assert row_counts(run)["query_objects"] == 2 * OBJECTS_PER_SCENE

    monkeypatch.setattr(services, "_scene_write", real_scene_write)
    # The retry is the same message again: all scene ids, the done ones skipped.
    assert services.eval_run_generate_scenes(run_id=run.pk, scene_ids=scene_ids) == SCENES - 2
    run.refresh_from_db()
    assert run.status == EvalRunStatus.LABELING
    assert run.scenes_done == SCENES
    counts = row_counts(run)
    with_candidates = QueryObject.objects.filter(run=run, candidates__isnull=False).distinct()
    assert counts == {"scenes": SCENES, "query_objects": SCENES * OBJECTS_PER_SCENE,
                      "candidates": Candidate.objects.filter(query_object__run=run).count(),
                      "tasks": with_candidates.count()}
    assert with_candidates.filter(task__isnull=True).count() == 0
    assert Task.objects.filter(queue=run.queue).values("source_key").distinct().count() == counts["tasks"]


def test_crash_in_the_middle_of_a_scene_rolls_that_scene_back(engineer, tiny_world, model_versions, monkeypatch):
    run = make_run(engineer=engineer, tiny_world=tiny_world, model_versions=model_versions)
    scene_ids = services.eval_run_generation_start(run_id=run.pk)

    def tasks_create_crashes(**kwargs):
        raise SimulatedWorkerCrash("worker lost while creating tasks")

    monkeypatch.setattr(services, "tasks_create", tasks_create_crashes)
    with pytest.raises(SimulatedWorkerCrash):
        services.eval_run_generate_scenes(run_id=run.pk, scene_ids=scene_ids[:1])
    run.refresh_from_db()
    assert run.scenes_done == 0
    assert row_counts(run) == {"scenes": 0, "query_objects": 0, "candidates": 0, "tasks": 0}


def test_failure_in_generate_all_marks_the_run_failed_with_the_error(engineer, tiny_world, model_versions,
                                                                    monkeypatch):
    run = make_run(engineer=engineer, tiny_world=tiny_world, model_versions=model_versions)

    def pipeline_breaks(run):
        raise SimulatedWorkerCrash("CUDA out of memory")

    monkeypatch.setattr(services, "_pipeline_for", pipeline_breaks)
    with pytest.raises(SimulatedWorkerCrash):
        services.eval_run_generate_all(run_id=run.pk)
    run.refresh_from_db()
    assert run.status == EvalRunStatus.FAILED
    assert run.error == "SimulatedWorkerCrash: CUDA out of memory"


class GroundTruthDetector:
    """Finds exactly the world's objects: a stand-in for a perfect detector, so golden generation
    (which needs detections matching the ground truth) can be tested without a trained model."""

    def detect(self, images, score_threshold=0.5, batch_size=8):
        found = []
        for picture in images:
            truth = scene_truth_read(sha256=hashlib.sha256(image_png_bytes(picture)).hexdigest())
            found.append(Detections(
                boxes=np.asarray([o["box"] for o in truth["objects"]], dtype=np.float32).reshape(-1, 4),
                categories=[o["category"] for o in truth["objects"]],
                scores=np.ones(len(truth["objects"]), dtype=np.float32)))
        return found


def test_golden_copies_carry_the_oracle_grades_of_their_candidates(engineer, tiny_world, model_versions,
                                                                    monkeypatch):
    monkeypatch.setattr(runtime_cache, "detector_for", lambda version: GroundTruthDetector())
    run = make_run(engineer=engineer, tiny_world=tiny_world, model_versions=model_versions, golden_rate=1.0)
    services.eval_run_generate_all(run_id=run.pk)
    query_objects = list(QueryObject.objects.filter(run=run, candidates__isnull=False).distinct()
                         .select_related("task", "scene"))
    assert query_objects
    goldens = {item.key: item for item in GoldenItem.objects.filter(golden_set__queues=run.queue)}
    assert len(goldens) == len(query_objects)
    for query_object in query_objects:
        golden = goldens[f"scene:{query_object.scene_id}:object:{query_object.ordinal}"]
        assert golden.source == GoldenSource.WORLD_ORACLE and golden.source_task == query_object.task
        copy = Task.objects.get(queue=run.queue, golden_item=golden)
        assert copy.is_golden and copy.twin_of == query_object.task
        assert copy.payload == query_object.task.payload
        truth = scene_truth_read(sha256=query_object.scene.sha256)
        true_object = next(o for o in truth["objects"] if [float(v) for v in o["box"]] == query_object.box)
        true_product = generate_product(0, true_object["product_id"])
        expected = [grade(true_product, generate_product(*parse_synthetic_external_id(c.product.external_id)))
                    for c in query_object.candidates.order_by("rank").select_related("product")]
        assert golden.answer == {"grades": expected}
    assert Task.objects.filter(queue=run.queue, is_golden=False).count() == len(query_objects)


def test_no_golden_tasks_when_the_golden_rate_is_zero(engineer, tiny_world, model_versions, monkeypatch):
    monkeypatch.setattr(runtime_cache, "detector_for", lambda version: GroundTruthDetector())
    run = make_run(engineer=engineer, tiny_world=tiny_world, model_versions=model_versions, golden_rate=0.0)
    services.eval_run_generate_all(run_id=run.pk)
    assert QueryObject.objects.filter(run=run).exists()
    assert not Task.objects.filter(queue=run.queue, is_golden=True).exists()


def test_run_is_created_in_the_database_before_generation_is_enqueued(engineer, tiny_world, model_versions,
                                                                      django_capture_on_commit_callbacks, monkeypatch):
    enqueued = []
    from evaluation import tasks

    monkeypatch.setattr(tasks.eval_run_generate, "delay", lambda run_id: enqueued.append(run_id))
    detector, embedder = model_versions
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        run = services.eval_run_create(created_by=engineer, name="queued", detector=detector, embedder=embedder,
                                       scene_set=SceneSet.objects.get(pk=tiny_world.scene_set_id))
        assert enqueued == []
    assert len(callbacks) == 1
    assert enqueued == [run.pk]
    assert EvalRun.objects.get(pk=run.pk).status == EvalRunStatus.PENDING
