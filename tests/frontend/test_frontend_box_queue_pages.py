"""The staff pages of box queues: the form that creates one, the queue page with its pre-annotation
progress, and the golden sets page."""
from __future__ import annotations

import io

import pytest
from django.urls import reverse
from PIL import Image as PILImage

from evaluation.models import BoxQueueJob, BoxQueueJobStatus, ModelKind, ModelVersion
from labeling.golden.services import golden_set_create
from labeling.models import ImageKind, Queue, SceneSet, TaskKind
from labeling.services.images import image_store

pytestmark = pytest.mark.django_db


@pytest.fixture
def signed_in(client):
    def sign_in(user):
        client.force_login(user)
        return client

    return sign_in


@pytest.fixture
def scene_set(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    scene_set = SceneSet.objects.create(name="street scenes")
    for shade in (40, 80, 120):
        buffer = io.BytesIO()
        PILImage.new("RGB", (64, 48), (shade, 90, 140)).save(buffer, format="PNG")
        scene_set.scenes.add(image_store(data=buffer.getvalue(), kind=ImageKind.SCENE))
    return scene_set


@pytest.mark.parametrize("role", ["expert", "engineer"])
def test_staff_create_a_box_queue_from_the_form_and_land_on_its_page(request, signed_in, scene_set, role):
    client = signed_in(request.getfixturevalue(role))
    golden_set = golden_set_create(name="box golden", task_kind=TaskKind.BOUNDING_BOXES)
    golden_set_create(name="relevance golden", task_kind=TaskKind.RELEVANCE)
    form = client.get(reverse("frontend:box-queue-new")).content.decode()
    assert "box golden" in form and "relevance golden" not in form  # only sets of the kind
    response = client.post(reverse("frontend:box-queue-new"), {
        "name": "Spring scenes", "scene_set": scene_set.pk, "replication": 2, "golden_rate": 0.1,
        "golden_sets": [golden_set.pk], "show_preannotations": "on"})
    queue = Queue.objects.get(name="Spring scenes")
    assert response.status_code == 302 and response["Location"] == reverse("frontend:queue-detail", args=[queue.pk])
    assert queue.task_kind == TaskKind.BOUNDING_BOXES and list(queue.golden_sets.all()) == [golden_set]
    page = client.get(response["Location"]).content.decode()
    assert 'data-testid="box-job"' in page and 'data-status="ready"' in page
    assert "3</span> / 3 scenes" in page


def test_a_box_queue_with_a_detector_shows_its_pending_pre_annotation(signed_in, engineer, scene_set,
                                                                      django_capture_on_commit_callbacks):
    detector = ModelVersion.objects.create(kind=ModelKind.DETECTOR, name="d", version_tag="V1", checkpoint="x.pt")
    with django_capture_on_commit_callbacks() as enqueued:
        signed_in(engineer).post(reverse("frontend:box-queue-new"), {
            "name": "Pre-annotated", "scene_set": scene_set.pk, "detector": detector.pk, "replication": 3,
            "golden_rate": 0, "show_preannotations": "on"})
    job = BoxQueueJob.objects.get(queue__name="Pre-annotated")
    assert job.status == BoxQueueJobStatus.PENDING and len(enqueued) == 1
    page = signed_in(engineer).get(reverse("frontend:queue-detail", args=[job.queue_id])).content.decode()
    assert "pre-annotated by d V1" in page and "frontend/box_job.js" in page
    assert "detector boxes shown to labelers" in page


def test_an_invalid_box_queue_form_says_what_is_wrong(signed_in, expert, scene_set):
    response = signed_in(expert).post(reverse("frontend:box-queue-new"), {
        "name": "", "scene_set": scene_set.pk, "replication": 0, "golden_rate": 2})
    assert response.status_code == 200
    body = response.content.decode()
    assert "This field is required." in body
    assert not Queue.objects.exists()


def test_the_golden_sets_page_lists_sets_with_their_export_links(signed_in, expert):
    golden_set = golden_set_create(name="box golden", task_kind=TaskKind.BOUNDING_BOXES)
    body = signed_in(expert).get(reverse("frontend:golden-set-list")).content.decode()
    assert "box golden" in body and f"/api/v1/golden-sets/{golden_set.pk}/export" in body
