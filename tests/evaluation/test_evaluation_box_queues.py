"""The box queue producer: a task per scene, pre-annotated by a detector version, idempotent per
scene, with progress on the job; golden box items from the world's truth."""
from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from evaluation import box_queues
from evaluation.box_queues import (BOX_QUEUE_NOT_DETECTOR, BoxQueueError, box_golden_set_from_world, box_queue_create,
                                   box_queue_preannotate_all, box_queue_preannotate_scenes)
from evaluation.models import BoxQueueJobStatus, BoxQueueScene
from labeling.models import GoldenSource, SceneSet, Task, TaskKind
from labeling.services.queue_engine import assignment_claim
from labeling.services.world_import import scene_truth_read


@pytest.fixture
def scene_set(tiny_world):
    return SceneSet.objects.get(pk=tiny_world.scene_set_id)


def test_a_box_queue_without_a_detector_has_every_scene_as_a_task_at_once(engineer, scene_set):
    job = box_queue_create(name="plain boxes", scene_set=scene_set, created_by=engineer)
    assert job.status == BoxQueueJobStatus.READY and job.scenes_done == job.scenes_total == 6
    assert job.queue.task_kind == TaskKind.BOUNDING_BOXES
    tasks = Task.objects.filter(queue=job.queue).order_by("pk")
    assert [task.payload["proposals"] for task in tasks] == [[]] * 6
    scene = scene_set.scenes.order_by("pk").first()
    assert tasks[0].payload["image"] == {"url": f"/media/{scene.file.name}", "width": scene.width,
                                         "height": scene.height}


def test_pre_annotation_puts_the_detectors_boxes_in_each_task_once(engineer, scene_set, model_versions,
                                                                   django_capture_on_commit_callbacks):
    detector, _ = model_versions
    with django_capture_on_commit_callbacks() as enqueued:
        job = box_queue_create(name="pre-annotated", scene_set=scene_set, created_by=engineer, detector=detector,
                               start_preannotation=True)
    assert len(enqueued) == 1 and job.status == BoxQueueJobStatus.PENDING
    job = box_queue_preannotate_all(job_id=job.pk)
    assert job.status == BoxQueueJobStatus.READY and job.scenes_done == 6
    tasks = list(Task.objects.filter(queue=job.queue))
    assert len(tasks) == 6
    for task in tasks:
        proposals = task.payload["proposals"]
        assert len(proposals) == 3
        for proposal in proposals:
            assert 0.0 <= proposal["score"] <= 1.0 and proposal["category"]
    # A retried chunk (the same scenes again) writes nothing.
    scene_ids = list(scene_set.scenes.values_list("pk", flat=True))
    assert box_queue_preannotate_scenes(job_id=job.pk, scene_ids=scene_ids) == 0
    assert Task.objects.filter(queue=job.queue).count() == 6
    assert BoxQueueScene.objects.filter(job=job).count() == 6


def test_hidden_pre_annotations_never_reach_the_labeler(engineer, scene_set, model_versions, labeler):
    detector, _ = model_versions
    job = box_queue_create(name="hidden", scene_set=scene_set, created_by=engineer, detector=detector,
                           show_preannotations=False, start_preannotation=False)
    box_queue_preannotate_all(job_id=job.pk)
    assert all(task.payload["proposals"] for task in Task.objects.filter(queue=job.queue))
    client = APIClient()
    client.force_authenticate(labeler)
    task = client.post(f"/api/v1/queues/{job.queue_id}/claim").json()["assignment"]["task"]
    assert "proposals" not in task["payload"]


def test_an_embedder_is_refused_as_the_pre_annotating_detector(engineer, scene_set, model_versions):
    _, embedder = model_versions
    with pytest.raises(BoxQueueError) as refused:
        box_queue_create(name="wrong", scene_set=scene_set, created_by=engineer, detector=embedder)
    assert str(refused.value) == BOX_QUEUE_NOT_DETECTOR.format(id=embedder.pk, kind="embedder")
    assert refused.value.field == "detector"


def test_the_job_progress_is_readable_by_staff_and_not_by_labelers(engineer, scene_set, labeler):
    job = box_queue_create(name="progress", scene_set=scene_set, created_by=engineer)
    client = APIClient()
    client.force_authenticate(engineer)
    body = client.get(f"/api/v1/box-queues/{job.queue_id}").json()
    assert (body["status"], body["scenes_done"], body["scenes_total"]) == ("ready", 6, 6)
    client.force_authenticate(labeler)
    assert client.get(f"/api/v1/box-queues/{job.queue_id}").status_code == 403


def test_the_worlds_golden_box_set_answers_each_scene_with_its_true_boxes(engineer, scene_set, labeler):
    scenes = list(scene_set.scenes.order_by("pk")[:3])
    golden_set, created = box_golden_set_from_world(name="world boxes", scenes=scenes, created_by=engineer)
    assert created == 3 and golden_set.task_kind == TaskKind.BOUNDING_BOXES
    item = golden_set.items.get(key=box_queues.WORLD_GOLDEN_KEY.format(sha256=scenes[0].sha256))
    truth = scene_truth_read(sha256=scenes[0].sha256)
    assert item.answer == {"boxes": [{"box": [float(v) for v in o["box"]], "category": o["category"]}
                                     for o in truth["objects"]]}
    assert item.source == GoldenSource.WORLD_ORACLE and item.payload["proposals"] == []
    assert box_golden_set_from_world(name="world boxes", scenes=scenes)[1] == 0  # safe to run again

    job = box_queue_create(name="with golden", scene_set=scene_set, created_by=engineer, golden_rate=1.0,
                           golden_sets=[golden_set])
    lease = assignment_claim(queue=job.queue, labeler=labeler)
    assert lease.task.is_golden and lease.task.golden_item.golden_set == golden_set


def test_a_golden_set_of_another_kind_is_refused_on_its_field_and_no_queue_is_left(engineer, scene_set):
    from labeling.golden.services import GOLDEN_SET_KIND_MISMATCH, golden_set_create
    from labeling.models import Queue

    relevance_set = golden_set_create(name="relevance answers", task_kind="relevance")
    with pytest.raises(BoxQueueError) as refused:
        box_queue_create(name="mixed", scene_set=scene_set, created_by=engineer, golden_sets=[relevance_set])
    assert refused.value.field == "golden_sets"
    assert str(refused.value) == GOLDEN_SET_KIND_MISMATCH.format(name="relevance answers", set_kind="relevance",
                                                                 queue="mixed", queue_kind="bounding_boxes")
    assert not Queue.objects.filter(name="mixed").exists()


def test_a_new_queue_works_under_the_kinds_newest_guide(engineer, scene_set):
    from labeling.models import Guide, GuideVersion

    guide = Guide.objects.create(task_kind="bounding_boxes", title="Boxes")
    GuideVersion.objects.create(guide=guide, version=1, body="v1")
    newest = GuideVersion.objects.create(guide=guide, version=2, body="v2")
    job = box_queue_create(name="guided", scene_set=scene_set, created_by=engineer)
    assert job.queue.guide_version == newest
