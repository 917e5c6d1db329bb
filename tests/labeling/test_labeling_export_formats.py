"""Each training-data export format round-trips into the platform's own trainers' loaders
(models_runtime.training), and the COCO file loads in pycocotools. The world is tiny and built
with the real services: queues, tasks, claims and submits by three labelers."""
from __future__ import annotations

import io
import itertools
import json

import pytest
from django.core.files.storage import default_storage
from PIL import Image as PILImage

from labeling.exports.jobs import export_job_create, export_job_path, export_job_run
from labeling.exports.registry import ExportParamsError
from labeling.exports.format_attributes import attribute_split
from labeling.exports.format_coco import ROLLUP_UNKNOWN
from labeling.exports.selectors import QUEUE_DAWID_SKENE, QUEUE_WRONG_KIND, QUEUES_MISSING
from labeling.models import AggregationMethod, CreatorPair, ImageKind, Product, Category, Role, Task
from labeling.services.images import image_store
from labeling.services.queue_engine import assignment_claim, label_submit
from labeling.services.queues import queue_create
from labeling.services.tasks import TaskSpec, tasks_create
from labeling.services.users import user_create
from models_runtime import taxonomy
from models_runtime.training.detector import load_coco_detection
from models_runtime.training.embedder import load_manifest, prepare_crops
from tests.frontend.conftest import engineer, judged_run_create, pool  # noqa: F401  (a judged run, no models)

pytestmark = pytest.mark.django_db

_serial = itertools.count()


def png(colour, size) -> bytes:
    buffer = io.BytesIO()
    PILImage.new("RGB", size, colour).save(buffer, format="PNG")
    return buffer.getvalue()


def url(image) -> dict:
    return {"url": default_storage.url(image.file.name), "width": image.width, "height": image.height}


@pytest.fixture
def export_media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.PRIVATE_ROOT = tmp_path / "private"
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    return settings.MEDIA_ROOT


@pytest.fixture
def staff(db):
    return user_create(username=f"engineer-{next(_serial)}", password="pw-123456", role=Role.ENGINEER)


@pytest.fixture
def three_labelers(make_user):
    return [make_user(Role.LABELER) for _ in range(3)]


def label_queue(queue, labelers, answer_of) -> None:
    """Each labeler answers every task of the queue they are given; ``answer_of(labeler index, task)``."""
    for index, labeler in enumerate(labelers):
        while (lease := assignment_claim(queue=queue, labeler=labeler)) is not None:
            label_submit(assignment_id=lease.pk, labeler=labeler, answer=answer_of(index, lease.task))


def box_world(labelers, *, scenes: int = 2):
    """A box queue of ``scenes`` scenes: on each, two labelers of three draw a shoe and all three a top."""
    queue = queue_create(name=f"boxes-{next(_serial)}", task_kind="bounding_boxes", replication=3)
    images = [image_store(data=png((10 * n, 90, 90), (120, 80)), kind=ImageKind.SCENE) for n in range(scenes)]
    tasks_create(queue=queue, specs=[TaskSpec(source_key=f"scene:{image.pk}",
                                              payload={"scene_id": image.pk, "image": url(image)}) for image in images])

    def answer(index, task):
        boxes = [{"box": [10 + index, 10, 50, 60], "category": "tops"}]
        if index < 2:
            boxes.append({"box": [60, 20, 100, 70], "category": "shoes"})
        return {"boxes": boxes}

    label_queue(queue, labelers, answer)
    return queue, images


def cleanup_world(labelers):
    """Four creator pairs: one kept as the same item, one similar, one spam, one not a match."""
    scene = image_store(data=png((90, 90, 90), (200, 100)), kind=ImageKind.SCENE)
    category = Category.objects.get(slug="tops")
    verdicts = ["same", "similar", "spam", "not_match"]
    pairs = []
    for number, verdict in enumerate(verdicts):
        product_image = image_store(data=png((40 * number, 20, 20), (32, 32)), kind=ImageKind.PRODUCT)
        product = Product.objects.create(external_id=f"p{number}-{next(_serial)}", image=product_image,
                                         category=category, gender="women", price=10, merchant="m",
                                         attributes={"color": "black", "pattern": "not-a-value"})
        pairs.append(CreatorPair.objects.create(scene_key="s1", product_key=f"p{number}", scene=scene,
                                                product_image=product_image, product=product,
                                                box_normalized=[0.1, 0.2, 0.5, 0.9], box=[20.0, 20.0, 100.0, 90.0],
                                                category="tops"))
    from evaluation.cleanup_queues import cleanup_queue_create

    queue = cleanup_queue_create(name=f"clean-{next(_serial)}", pairs=CreatorPair.objects.filter(
        pk__in=[p.pk for p in pairs]), created_by=None, replication=3)
    verdict_of = {pair.pk: verdict for pair, verdict in zip(pairs, verdicts)}

    def answer(index, task):
        verdict = verdict_of[task.payload["pair_id"]]
        return {"box": [22 + index, 20, 104, 90], "category": "tops",
                "match": "same" if verdict == "spam" else verdict, "is_spam": verdict == "spam"}

    label_queue(queue, labelers, answer)
    return queue, scene, pairs


def attribute_world(labelers, *, crops: int = 3):
    queue = queue_create(name=f"attributes-{next(_serial)}", task_kind="attributes", replication=3)
    scene = image_store(data=png((70, 70, 70), (160, 120)), kind=ImageKind.SCENE)
    specs = []
    for number in range(crops):
        crop = image_store(data=png((20 * number, 60, 30), (40, 50)), kind=ImageKind.CROP)
        specs.append(TaskSpec(source_key=f"crop:{number}", payload={
            "category": "tops", "crop": url(crop), "scene": url(scene), "box": [10, 10, 50, 60]}))
    tasks_create(queue=queue, specs=specs)
    names = [a.name for a in taxonomy.attributes_for("tops")]

    def answer(index, task):
        values = {name: "cant_tell" for name in names}
        if task.source_key != "crop:0":  # crop 0: nobody can tell anything
            values.update(color="black" if index < 2 else "white", pattern="striped")
        return {"attributes": values}

    label_queue(queue, labelers, answer)
    return queue


def run_export(*, staff, format: str, params: dict):
    job = export_job_create(format=format, name=f"{format} export", params=params, created_by=staff)
    return export_job_run(job_id=job.pk)


def test_coco_export_loads_in_the_detector_trainer_and_in_pycocotools(export_media, staff, three_labelers):
    from pycocotools.coco import COCO

    queue, images = box_world(three_labelers)
    job = run_export(staff=staff, format="coco_detection", params={"queues": [queue.pk]})
    path = export_job_path(job)
    examples = load_coco_detection(path, images_dir=export_media)
    assert [example.image_path.name for example in examples] == [image.file.name.rsplit("/", 1)[-1] for image in images]
    for example in examples:
        assert example.image_path.is_file()
        # the quorum (2 of 3) keeps both boxes; the median of 10, 11, 12 is 11
        assert example.boxes.tolist() == [[11.0, 10.0, 50.0, 60.0], [60.0, 20.0, 100.0, 70.0]]
        assert sorted(example.labels.tolist()) == sorted(taxonomy.detector_label(s) for s in ("tops", "shoes"))
    coco = COCO(str(path))
    assert len(coco.getImgIds()) == 2 and len(coco.getAnnIds()) == 4
    assert job.report["annotations"] == 4 and job.provenance["queues"][0]["id"] == queue.pk


def test_coarse_coco_is_for_outside_tools_and_the_trainer_refuses_it(export_media, staff, three_labelers):
    from pycocotools.coco import COCO

    queue, _ = box_world(three_labelers, scenes=1)
    path = export_job_path(run_export(staff=staff, format="coco_detection",
                                      params={"queues": [queue.pk], "rollup": "coarse"}))
    coco = COCO(str(path))
    names = {coco.cats[ann["category_id"]]["name"] for ann in coco.anns.values()}
    assert names == {taxonomy.COARSE_OF["tops"], taxonomy.COARSE_OF["shoes"]}
    with pytest.raises(ValueError):
        load_coco_detection(path, images_dir=export_media)


def test_matching_export_is_the_embedder_manifest_without_spam_or_non_matches(export_media, staff, three_labelers):
    queue, scene, pairs = cleanup_world(three_labelers)
    job = run_export(staff=staff, format="matching", params={"queues": [queue.pk]})
    records = load_manifest(export_job_path(job))
    scenes = [r for r in records if r["source"] == "scene"]
    assert [r["pair_id"] for r in scenes] == [pairs[0].pk, pairs[1].pk]
    assert [r["match"] for r in scenes] == ["same", "similar"]
    # Each product's own photo follows its first pair, once, whole: the gallery side the index embeds.
    assert [(r["source"], r["pair_id"]) for r in records] == [
        ("scene", pairs[0].pk), ("product", pairs[0].pk), ("scene", pairs[1].pk), ("product", pairs[1].pk)]
    photo = records[1]
    product_image = pairs[0].product_image
    assert (photo["image"], photo["box"]) == (product_image.file.name, [0.0, 0.0, product_image.width,
                                                                        product_image.height])
    assert (photo["product_id"], photo["category"], photo["color"]) == (pairs[0].product_image_id, "tops", "black")
    assert job.report["pairs_written"] == 2 and job.report["product_images_written"] == 2
    first = records[0]
    assert first["image"] == scene.file.name and first["box"] == [23.0, 20.0, 104.0, 90.0]
    assert first["product_id"] == pairs[0].product_image_id and first["instance_id"] == "p0"
    assert first["source"] == "scene" and first["scene_id"] == scene.pk and first["category"] == "tops"
    # the catalogue's attribute the trainer knows comes along; a value it does not know does not
    assert first["color"] == "black" and "pattern" not in first
    assert job.report["left_out"]["spam"] == 1 and job.report["left_out"]["not_match"] == 1
    crops = prepare_crops(records, images_dir=export_media, input_size=32)
    assert len(crops) == 4 and sorted(crops.product_ids) == sorted(p.product_image_id for p in pairs[:2])

    same_only = run_export(staff=staff, format="matching", params={"queues": [queue.pk], "keep_similar": False,
                                                                   "product_images": False})
    assert [(r["pair_id"], r["source"]) for r in load_manifest(export_job_path(same_only))] == [(pairs[0].pk, "scene")]


def test_attribute_export_has_a_seeded_reproducible_split_and_loads_as_crops(export_media, staff, three_labelers):
    queue = attribute_world(three_labelers, crops=3)
    job = run_export(staff=staff, format="attributes", params={"queues": [queue.pk], "seed": 7})
    records = load_manifest(export_job_path(job))
    assert [r["item_key"] for r in records] == ["crop:1", "crop:2"]  # crop 0 was all "can't tell"
    assert job.report["left_out"]["cant_tell"] == 1
    for record in records:
        assert record["color"] == "black" and record["pattern"] == "striped" and record["source"] == "scene"
        assert record["split"] == attribute_split(seed=7, item_key=record["item_key"])
    crops = prepare_crops(records, images_dir=export_media, input_size=32)
    assert crops.attributes["color"].tolist() == [taxonomy.ATTRIBUTES["color"].values.index("black")] * 2


def test_the_split_is_about_ninety_to_ten_and_changes_with_the_seed():
    keys = [f"crop:{n}" for n in range(2000)]
    splits = [attribute_split(seed=0, item_key=key) for key in keys]
    assert 150 <= splits.count("eval") <= 250
    assert splits != [attribute_split(seed=1, item_key=key) for key in keys]


def test_bad_params_name_the_field(export_media, staff, three_labelers):
    queue, _ = box_world(three_labelers, scenes=1)
    cases = [
        ("coco_detection", {}, "queues", QUEUES_MISSING),
        ("coco_detection", {"queues": [queue.pk], "rollup": "medium"}, "rollup", ROLLUP_UNKNOWN),
        ("matching", {"queues": [queue.pk]}, "queues",
         QUEUE_WRONG_KIND.format(id=queue.pk, name=queue.name, kind="bounding_boxes", wanted="matching_pair")),
    ]
    for format, params, field, message in cases:
        with pytest.raises(ExportParamsError) as refused:
            export_job_create(format=format, name="x", params=params, created_by=staff)
        assert (refused.value.field, str(refused.value)) == (field, message)
    queue.aggregation = AggregationMethod.DAWID_SKENE
    queue.save(update_fields=["aggregation"])
    with pytest.raises(ExportParamsError) as refused:
        export_job_create(format="coco_detection", name="x", params={"queues": [queue.pk]}, created_by=staff)
    assert str(refused.value) == QUEUE_DAWID_SKENE.format(id=queue.pk, name=queue.name)


def test_labels_given_after_the_job_was_created_stay_out_of_it(export_media, staff, three_labelers, make_user):
    queue, images = box_world(three_labelers, scenes=1)
    job = export_job_create(format="coco_detection", name="pinned", params={"queues": [queue.pk]}, created_by=staff)
    # a fourth label after the job was created is not read: the provenance pinned the last label id
    late = make_user(Role.LABELER)
    Task.objects.filter(queue=queue).update(labels_wanted=4)
    queue.replication = 4
    queue.save(update_fields=["replication"])
    lease = assignment_claim(queue=queue, labeler=late)
    label_submit(assignment_id=lease.pk, labeler=late, answer={"boxes": [{"box": [0, 0, 100, 70], "category": "pants"}]})
    coco = json.loads(export_job_path(export_job_run(job_id=job.pk)).read_text())
    assert {c["name"] for a in coco["annotations"] for c in coco["categories"] if c["id"] == a["category_id"]} == {
        "tops", "shoes"}


def test_qrels_export_is_the_runs_trec_qrels(export_media, judged_run_create, staff):
    from evaluation import trec
    from evaluation.selectors import eval_run_trec_qrels
    from labeling.exports.format_qrels import EVAL_RUN_UNKNOWN

    run = judged_run_create("qrels run", embedder_tag="V9")
    job = run_export(staff=staff, format="trec_qrels", params={"eval_run": run.pk})
    text = export_job_path(job).read_text()
    assert text.splitlines(keepends=True) == eval_run_trec_qrels(run=run)
    qrels = trec.qrels_dict(text.splitlines())
    assert len(qrels) == 4 and all(len(documents) == 5 for documents in qrels.values())
    assert job.report == {"qrels_lines": 20, "queries": 4} and job.provenance["eval_run"] == run.pk
    with pytest.raises(ExportParamsError) as refused:
        export_job_create(format="trec_qrels", name="x", params={"eval_run": 999999}, created_by=staff)
    assert (refused.value.field, str(refused.value)) == ("eval_run", EVAL_RUN_UNKNOWN.format(id=999999))
