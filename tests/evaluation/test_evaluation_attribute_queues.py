"""The attribute queue producer: crops from a box queue's consensus or proposals, with their scene;
golden attribute items from the world's products."""
from __future__ import annotations

import pytest

from evaluation.attribute_queues import (ATTRIBUTE_SOURCE_NOT_BOXES, AttributeQueueError, attribute_golden_set_from_world,
                                         attribute_queue_create, crops_from_box_queue)
from evaluation.box_queues import box_queue_create, box_queue_preannotate_all
from labeling.models import GoldenSource, ImageKind, SceneSet, Task, TaskKind
from labeling.services.queue_engine import assignment_claim, label_submit
from labeling.services.queues import queue_create
from labeling.services.world_import import scene_truth_read
from labeling.task_kinds.attributes import CANT_TELL


@pytest.fixture
def scene_set(tiny_world):
    return SceneSet.objects.get(pk=tiny_world.scene_set_id)


def test_crops_come_from_the_consensus_boxes_of_a_box_queue(engineer, scene_set, labeler):
    job = box_queue_create(name="boxes", scene_set=scene_set, created_by=engineer, replication=1)
    lease = assignment_claim(queue=job.queue, labeler=labeler)
    label_submit(assignment_id=lease.pk, labeler=labeler,
                 answer={"boxes": [{"box": [10, 12, 60, 80], "category": "tops"}]})
    crops = crops_from_box_queue(queue=job.queue)
    assert [(crop.category, crop.box) for crop in crops] == [("tops", [10.0, 12.0, 60.0, 80.0])]
    queue = attribute_queue_create(name="attributes of the boxes", crops=crops, created_by=engineer)
    task = Task.objects.get(queue=queue)
    assert queue.task_kind == TaskKind.ATTRIBUTES
    assert task.payload["category"] == "tops" and task.payload["box"] == [10.0, 12.0, 60.0, 80.0]
    assert task.payload["scene"]["url"].endswith(lease.task.payload["image"]["url"].rsplit("/", 1)[1])
    # The crop is a stored image a little larger than the box (a 5% margin: x 7..63, y 8..84), and a
    # labeler may see it.
    assert (task.payload["crop"]["width"], task.payload["crop"]["height"]) == (56, 76)
    assert task.task_images.filter(image__kind=ImageKind.CROP).exists()
    assert crops[0].scene.pk == lease.task.payload["scene_id"]


def test_crops_from_a_detector_run_are_the_proposals_above_a_score(engineer, scene_set, model_versions):
    detector, _ = model_versions
    job = box_queue_create(name="detected", scene_set=scene_set, created_by=engineer, detector=detector,
                           start_preannotation=False)
    box_queue_preannotate_all(job_id=job.pk)
    every = crops_from_box_queue(queue=job.queue, source="proposals", min_score=0.0)
    assert len(every) == 6 * 3
    assert len(crops_from_box_queue(queue=job.queue, source="proposals", min_score=1.01)) == 0


def test_a_relevance_queue_is_no_crop_source(engineer):
    queue = queue_create(name="relevance", task_kind="relevance")
    with pytest.raises(AttributeQueueError) as refused:
        crops_from_box_queue(queue=queue)
    assert str(refused.value) == ATTRIBUTE_SOURCE_NOT_BOXES.format(name="relevance", kind="relevance")


def test_world_golden_attribute_items_carry_the_true_products_attributes(engineer, scene_set):
    scenes = list(scene_set.scenes.order_by("pk")[:2])
    golden_set, created = attribute_golden_set_from_world(name="world attributes", scenes=scenes)
    truth = scene_truth_read(sha256=scenes[0].sha256)
    assert created == sum(len(scene_truth_read(sha256=s.sha256)["objects"]) for s in scenes)
    item = golden_set.items.get(key=f"world:{scenes[0].sha256}:0")
    assert item.source == GoldenSource.WORLD_ORACLE and item.payload["category"] == truth["objects"][0]["category"]
    assert CANT_TELL not in item.answer["attributes"].values()
    assert "color" in item.answer["attributes"]
    assert attribute_golden_set_from_world(name="world attributes", scenes=scenes)[1] == 0
