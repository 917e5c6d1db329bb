"""The single_product export (labeling/exports/format_single_product.py): Algorithm 1 over the
stored catalogue with a detector version, written as COCO the detector trainer and pycocotools read,
with the count each rule removed; bad parameters are refused naming the field."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from django.conf import settings

from evaluation.services import model_version_register
from labeling.exports import format_single_product
from labeling.exports.jobs import export_job_create, export_job_path, export_job_run
from labeling.exports.registry import ExportParamsError
from labeling.models import JobStatus, Product
from labeling.services.world_import import world_import
from models_runtime import single_product
from models_runtime.checkpoints import save_checkpoint
from models_runtime.detector import Detector
from models_runtime.training.detector import load_coco_detection
from tests.labeling.test_labeling_export_formats import export_media, staff  # noqa: F401

pytestmark = pytest.mark.django_db


@pytest.fixture
def detector_version(export_media, tmp_path):
    torch.manual_seed(0)
    detector = Detector.from_config({"arch": "small", "box_detections_per_img": 2}, device="cpu")
    return model_version_register(
        kind="detector", name="tiny", version_tag="V0",
        checkpoint_path=save_checkpoint(tmp_path / "detector.pt", kind="detector", config=detector.config,
                                        state_dict=detector.model.state_dict(), meta={"score_threshold": 0.0}))


@pytest.fixture
def fake_detections(monkeypatch):
    """Every third product gets a box covering the whole image, the others a small one; what the
    real detector finds is not what these tests are about (tests/runtime/test_single_product.py
    checks the rules one by one)."""
    seen = []

    def detector_boxes(detector, *, score_threshold, batch_size=8):
        def detect(images):
            out = []
            for image in images:
                seen.append(image.size)
                whole = len(seen) % 3 != 0
                w, h = image.size
                out.append(np.asarray([[0, 0, w, h]] if whole else [[0, 0, w / 4, h / 4]], dtype=np.float32))
            return out
        return detect

    monkeypatch.setattr(single_product, "detector_boxes", detector_boxes)
    return seen


def test_the_export_runs_algorithm_1_over_the_catalogue_and_the_trainer_reads_it(
        staff, detector_version, fake_detections):
    world_import(seed=0, n_products=40, n_scenes=4, scene_split="all")
    merchant = Product.objects.filter(merchant_provided_category=True).count()
    assert 0 < merchant < 40
    job = export_job_create(format="single_product", name="singles", created_by=staff,
                            params={"detector": detector_version.pk, "world_products": 40, "world_scenes": 40})
    assert job.provenance["scene_distribution"] and job.provenance["last_product_id"]
    job = export_job_run(job_id=job.pk)
    assert job.status == JobStatus.DONE, job.error
    report = job.report
    removed = report["removed"]
    assert removed["no_merchant_category"] == 40 - merchant
    assert removed["not_on_white"] == 0  # the world's catalogue photos are all on white
    detected = merchant - removed["not_on_white"]
    assert len(fake_detections) == detected
    assert removed["box_too_small"] == detected // 3
    assert report["kept"] == detected - removed["box_too_small"] - removed["category_not_in_scenes"] \
        - removed["category_cap_reached"]
    assert report["products_seen"] == 40 and job.items_done == 40
    path = export_job_path(job)
    examples = load_coco_detection(path, settings.MEDIA_ROOT)
    assert len(examples) == report["kept"] > 0
    assert all(len(example.labels) == 1 for example in examples)
    document = json.loads(path.read_text())
    caps = job.provenance["scene_distribution"]
    kept = {}
    for image, annotation in zip(document["images"], document["annotations"]):
        name = document["categories"][annotation["category_id"] - 1]["name"]
        kept[name] = kept.get(name, 0) + 1
        product = Product.objects.get(pk=image["product_id"])
        assert product.merchant_provided_category and product.category.slug == name
        assert image["file_name"] == product.image.file.name
    assert all(count <= caps[name] for name, count in kept.items())
    from pycocotools.coco import COCO

    assert len(COCO(str(path)).getAnnIds()) == report["kept"]


@pytest.mark.parametrize("params, field", [
    ({}, "detector"),
    ({"detector": 999999}, "detector"),
    ({"detector": "DETECTOR", "scene_source": "moon"}, "scene_source"),
    ({"detector": "DETECTOR", "cover": 1.5}, "cover"),
    ({"detector": "DETECTOR", "world_scenes": 2}, "world_scenes"),
    ({"detector": "DETECTOR", "colour": "red"}, "params"),
])
def test_bad_parameters_are_refused_naming_the_field(detector_version, params, field):
    params = {key: detector_version.pk if value == "DETECTOR" else value for key, value in params.items()}
    with pytest.raises(ExportParamsError) as refused:
        format_single_product.params_clean(params)
    assert refused.value.field == field
