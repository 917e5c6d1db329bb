"""The cleanup queue producer: a task per creator pair, golden items from a synthetic pair's truth."""
from __future__ import annotations

import io

import pytest
from PIL import Image as PILImage

from evaluation.cleanup_queues import (CLEANUP_QUEUE_NO_PAIRS, CleanupQueueError, cleanup_golden_set_from_truth,
                                       cleanup_queue_create)
from labeling.models import CreatorPair, GoldenSource, ImageKind, Task, TaskKind
from labeling.services.images import image_store
from labeling.services.queue_engine import assignment_claim, label_submit

pytestmark = pytest.mark.django_db


def png(colour, size) -> bytes:
    buffer = io.BytesIO()
    PILImage.new("RGB", size, colour).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture
def pairs(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    scene = image_store(data=png((90, 90, 90), (200, 100)), kind=ImageKind.SCENE)
    made = []
    for number in range(3):
        product = image_store(data=png((40 * number, 20, 20), (32, 32)), kind=ImageKind.PRODUCT)
        made.append(CreatorPair.objects.create(
            scene_key="s1", product_key=f"p{number}", scene=scene, product_image=product,
            box_normalized=[0.1, 0.2, 0.5, 0.9], box=[20.0, 20.0, 100.0, 90.0], category="tops",
            truth={"noise": ["shifted_box"], "true_box": [0.15, 0.2, 0.55, 0.9], "true_category": "tops",
                   "match": "similar", "is_spam": False} if number == 2 else None))
    return made


def test_each_pair_becomes_a_task_showing_the_scene_the_creators_box_and_the_product(engineer, pairs, labeler):
    queue = cleanup_queue_create(name="clean", pairs=CreatorPair.objects.all(), created_by=engineer, replication=2)
    assert queue.task_kind == TaskKind.MATCHING_PAIR
    tasks = list(Task.objects.filter(queue=queue).order_by("pk"))
    assert len(tasks) == 3
    payload = tasks[0].payload
    assert payload["box"] == [20.0, 20.0, 100.0, 90.0] and payload["category"] == "tops"
    assert payload["scene"]["width"] == 200 and payload["product"]["image_url"].startswith("/media/")
    # A labeler's answer is checked against the scene: the fixed box inside it, a three-way verdict.
    lease = assignment_claim(queue=queue, labeler=labeler)
    label, created = label_submit(assignment_id=lease.pk, labeler=labeler, answer={
        "box": [22, 20, 104, 90], "category": "tops", "match": "similar", "is_spam": False})
    assert created and label.answer["match"] == "similar"
    # The same pairs again make nothing new.
    assert cleanup_queue_create(name="clean again", pairs=CreatorPair.objects.all(), created_by=engineer).tasks.count() == 3


def test_no_pairs_is_a_clear_refusal(engineer, db):
    with pytest.raises(CleanupQueueError) as refused:
        cleanup_queue_create(name="empty", pairs=CreatorPair.objects.none(), created_by=engineer)
    assert str(refused.value) == CLEANUP_QUEUE_NO_PAIRS


def test_synthetic_pairs_become_golden_items_answered_with_their_truth(engineer, pairs):
    golden_set, created = cleanup_golden_set_from_truth(name="truth", pairs=CreatorPair.objects.all())
    assert created == 1  # only the pair with a recorded truth
    item = golden_set.items.get()
    assert item.source == GoldenSource.WORLD_ORACLE
    assert item.answer == {"box": [30.0, 20.0, 110.0, 90.0], "category": "tops", "match": "similar", "is_spam": False}
