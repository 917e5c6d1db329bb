"""The attribute schema page (experts add values and attributes that take effect at once) and the
page that creates an attribute queue from a box queue."""
from __future__ import annotations

import io

import pytest
from django.urls import reverse
from PIL import Image as PILImage

from evaluation.box_queues import box_queue_create
from labeling.models import Attribute, Category, ImageKind, Queue, SceneSet, Task, TaskKind
from labeling.services.attribute_schema import ATTRIBUTE_VALUE_EXISTS
from labeling.services.images import image_store
from labeling.services.queue_engine import assignment_claim, label_submit
from labeling.task_kinds import task_kind_spec

pytestmark = pytest.mark.django_db
PAYLOAD = {"category": "tops", "crop": {"url": "/media/c.png", "width": 10, "height": 10}}


@pytest.fixture
def signed_in(client):
    def sign_in(user):
        client.force_login(user)
        return client

    return sign_in


def test_an_expert_adds_a_colour_and_the_next_answer_may_use_it(signed_in, expert):
    client = signed_in(expert)
    color = Attribute.objects.get(name="color")
    response = client.post(reverse("frontend:attribute-schema"), {"value-attribute": color.pk, "value-value": "teal"})
    assert response.status_code == 302
    color.refresh_from_db()
    assert color.values[-1] == "teal"
    answer = {"attributes": {"color": "teal", "pattern": "solid", "fabric": "knit", "gender": "women"}}
    assert task_kind_spec("attributes").answer_clean(payload=PAYLOAD, answer=answer) == answer
    again = client.post(reverse("frontend:attribute-schema"), {"value-attribute": color.pk, "value-value": "teal"})
    assert ATTRIBUTE_VALUE_EXISTS.format(value="teal", name="color").replace("'", "&#x27;") in again.content.decode()


def test_an_expert_adds_an_attribute_for_some_categories(signed_in, expert):
    tops = Category.objects.get(slug="tops")
    response = signed_in(expert).post(reverse("frontend:attribute-schema"), {
        "attribute-name": "neckline", "attribute-label": "Neckline", "attribute-values": "crew, v_neck, collar",
        "attribute-categories": [tops.pk]})
    assert response.status_code == 302
    neckline = Attribute.objects.get(name="neckline")
    assert neckline.values == ["crew", "v_neck", "collar"] and list(neckline.categories.all()) == [tops]
    page = signed_in(expert).get(reverse("frontend:attribute-schema")).content.decode()
    assert 'data-testid="attribute-neckline"' in page


def test_an_engineer_reads_the_schema_but_cannot_change_it(signed_in, engineer):
    client = signed_in(engineer)
    assert client.get(reverse("frontend:attribute-schema")).status_code == 200
    color = Attribute.objects.get(name="color")
    assert client.post(reverse("frontend:attribute-schema"), {"value-attribute": color.pk,
                                                               "value-value": "teal"}).status_code == 403
    color.refresh_from_db()
    assert "teal" not in color.values


def test_staff_create_an_attribute_queue_from_a_box_queues_consensus(signed_in, expert, labeler, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    buffer = io.BytesIO()
    PILImage.new("RGB", (120, 100), (200, 40, 40)).save(buffer, format="PNG")
    scene_set = SceneSet.objects.create(name="one scene")
    scene_set.scenes.add(image_store(data=buffer.getvalue(), kind=ImageKind.SCENE))
    job = box_queue_create(name="boxes", scene_set=scene_set, created_by=expert, replication=1)
    lease = assignment_claim(queue=job.queue, labeler=labeler)
    label_submit(assignment_id=lease.pk, labeler=labeler, answer={"boxes": [{"box": [5, 5, 50, 60], "category": "tops"}]})
    client = signed_in(expert)
    refused = client.post(reverse("frontend:attribute-queue-new"), {"name": "no source", "replication": 3,
                                                                    "golden_rate": 0})
    assert refused.status_code == 200 and "Choose either a box queue or a pair import" in refused.content.decode()
    response = client.post(reverse("frontend:attribute-queue-new"), {
        "name": "Tops attributes", "box_queue": job.queue_id, "box_source": "consensus", "replication": 2,
        "golden_rate": 0})
    queue = Queue.objects.get(name="Tops attributes")
    assert response.status_code == 302 and queue.task_kind == TaskKind.ATTRIBUTES
    assert Task.objects.get(queue=queue).payload["category"] == "tops"


def test_staff_create_a_cleanup_queue_from_a_finished_pair_import(signed_in, expert, settings, tmp_path):
    from labeling.models import CreatorPair, PairImport, PairImportStatus

    settings.MEDIA_ROOT = tmp_path / "media"
    images = []
    for colour in ((200, 40, 40), (40, 40, 200)):
        buffer = io.BytesIO()
        PILImage.new("RGB", (120, 100), colour).save(buffer, format="PNG")
        images.append(image_store(data=buffer.getvalue(), kind=ImageKind.SCENE))
    pair_import = PairImport.objects.create(name="creators", image_source="world", status=PairImportStatus.DONE)
    CreatorPair.objects.create(pair_import=pair_import, scene_key="s", product_key="p", scene=images[0],
                               product_image=images[1], box_normalized=[0.1, 0.1, 0.5, 0.5],
                               box=[12.0, 10.0, 60.0, 50.0], category="tops")
    response = signed_in(expert).post(reverse("frontend:cleanup-queue-new"), {
        "name": "Clean the creators' pairs", "pair_import": pair_import.pk, "replication": 3, "golden_rate": 0})
    queue = Queue.objects.get(name="Clean the creators' pairs")
    assert response.status_code == 302 and queue.task_kind == TaskKind.MATCHING_PAIR
    assert Task.objects.get(queue=queue).payload["box"] == [12.0, 10.0, 60.0, 50.0]


def test_staff_review_a_cleanup_task_and_an_attribute_task_with_consensus_and_agreement(
        signed_in, expert, pool, settings, tmp_path):
    from evaluation.attribute_queues import CropSpec, attribute_queue_create
    from evaluation.cleanup_queues import cleanup_queue_create
    from labeling.models import CreatorPair, Role
    from labeling.services.users import user_create

    settings.MEDIA_ROOT = tmp_path / "media"
    images = []
    for colour in ((200, 40, 40), (40, 40, 200)):
        buffer = io.BytesIO()
        PILImage.new("RGB", (120, 100), colour).save(buffer, format="PNG")
        images.append(image_store(data=buffer.getvalue(), kind=ImageKind.SCENE))
    pair = CreatorPair.objects.create(scene_key="s", product_key="p", scene=images[0], product_image=images[1],
                                      box_normalized=[0.1, 0.1, 0.5, 0.5], box=[12.0, 10.0, 60.0, 50.0],
                                      category="tops")
    cleanup = cleanup_queue_create(name="clean", pairs=[pair], created_by=expert, replication=2)
    attributes = attribute_queue_create(name="attrs", crops=[CropSpec("c", images[0], [10, 10, 60, 60], "tops")],
                                        created_by=expert, replication=2)
    answers = [({"box": [12, 10, 60, 50], "category": "tops", "match": "same", "is_spam": False},
                {"attributes": {"color": "red", "pattern": "solid", "fabric": "knit", "gender": "women"}}),
               ({"box": [14, 10, 62, 50], "category": "tops", "match": "similar", "is_spam": False},
                {"attributes": {"color": "red", "pattern": "striped", "fabric": "knit", "gender": "women"}})]
    for number, (pair_answer, attribute_answer) in enumerate(answers):
        labeler = user_create(username=f"l{number}", password="pw-123456", role=Role.LABELER, pool=pool)
        for queue, answer in ((cleanup, pair_answer), (attributes, attribute_answer)):
            lease = assignment_claim(queue=queue, labeler=labeler)
            label_submit(assignment_id=lease.pk, labeler=labeler, answer=answer)
    client = signed_in(expert)
    page = client.get(reverse("frontend:task-review", args=[cleanup.tasks.get().pk])).content.decode()
    assert 'data-testid="matching-review"' in page and 'data-testid="box-review"' in page
    # A verdict tie goes to the worse verdict; two of two agree on the category.
    assert 'data-testid="matching-consensus"' in page and "<b>similar</b>" in page
    page = client.get(reverse("frontend:task-review", args=[attributes.tasks.get().pk])).content.decode()
    assert 'data-testid="attribute-row-pattern"' in page and "50%" in page
