"""Algorithm 1 (models_runtime/single_product.py) on a hand-built catalogue, rule by rule, and
single-product mAP: a perfect detector scores 1."""
from __future__ import annotations

import json
import re

import numpy as np
import pytest
from PIL import Image

from models_runtime.detector import Detections
from models_runtime.offline import SingleProductTestSets, single_product_offline_evaluate
from models_runtime.single_product import (COVER_INVALID, RULES, ProductRecord, coco_document, largest_box,
                                           single_product_dataset)
from models_runtime.training.detector import load_coco_detection
from models_runtime.world.world import build_world

SIZE = 100
WHITE, GREY = (255, 255, 255), (90, 90, 90)


def product(pid: int, category: str, *, merchant: bool = True, background=WHITE) -> ProductRecord:
    return ProductRecord(product_id=pid, category=category, merchant_provided_category=merchant,
                         load_image=lambda: Image.new("RGB", (SIZE, SIZE), background), extra={"name": f"p{pid}.png"})


# What the fake detector finds in each product's image, by product id.
BOXES = {
    1: [[0, 0, 95, 95]],  # kept: covers 90%
    2: [[0, 0, 95, 95]],  # no merchant category (never detected)
    3: [[0, 0, 95, 95]],  # not on white
    4: [],  # nothing detected
    5: [[0, 0, 50, 50], [0, 0, 89, 89]],  # largest covers 79%: too small
    6: [[0, 0, 10, 10], [5, 5, 100, 100]],  # kept: the largest (90%) is the box, not the first
    7: [[0, 0, 100, 100]],  # a category the scenes do not have
    8: [[0, 0, 100, 100]],  # dress, within the cap of 2 (with 1)
    9: [[0, 0, 100, 100]],  # dress, over the cap
}


def catalogue() -> list[ProductRecord]:
    return [product(1, "shoes"), product(2, "shoes", merchant=False), product(3, "shoes", background=GREY),
            product(4, "shoes"), product(5, "shoes"), product(6, "handbags"), product(7, "hat"),
            product(8, "dresses"), product(9, "dresses")]


class FakeDetector:
    def __init__(self):
        self.calls = []

    def __call__(self, images):
        ids = self.pending[:len(images)]
        self.pending = self.pending[len(images):]
        self.calls.append(ids)
        return [np.asarray(BOXES[pid], dtype=np.float32).reshape(-1, 4) for pid in ids]


def is_white(image: Image.Image) -> bool:
    return image.getpixel((0, 0)) == WHITE


def test_each_rule_removes_exactly_the_product_built_to_fail_it_and_the_cap_keeps_product_order():
    detect = FakeDetector()
    detect.pending = [1, 4, 5, 6, 7, 8, 9]  # the products that reach the detector, in order
    distribution = {"shoes": 5, "handbags": 1, "dresses": 1}
    result = single_product_dataset(catalogue(), detect=detect, scene_distribution=distribution,
                                    is_on_white=is_white, batch_size=3)
    assert [item.record.product_id for item in result.kept] == [1, 6, 8]
    assert result.removed == {"no_merchant_category": 1, "not_on_white": 1, "no_detection": 1, "box_too_small": 1,
                              "category_not_in_scenes": 1, "category_cap_reached": 1}
    assert set(result.removed) == set(RULES)
    assert result.kept_per_category == {"shoes": 1, "handbags": 1, "dresses": 1}
    assert result.products_seen == 9
    # The largest box, not the first, and its cover.
    six = next(item for item in result.kept if item.record.product_id == 6)
    assert six.box == (5.0, 5.0, 100.0, 100.0) and six.cover == pytest.approx(0.9025)
    # Only products past rules 1 and 2 reach the detector, in batches.
    assert detect.calls == [[1, 4, 5], [6, 7, 8], [9]]


def test_the_cover_threshold_is_a_share_and_is_inclusive():
    assert largest_box(np.zeros((0, 4))) == (None, 0.0)
    detect = FakeDetector()
    detect.pending = [5]
    record = product(5, "shoes")
    result = single_product_dataset([record], detect=detect, scene_distribution={"shoes": 1},
                                    is_on_white=is_white, cover=0.7921)
    assert len(result.kept) == 1  # 89 x 89 = 7921 of 10000: exactly at the threshold
    with pytest.raises(ValueError, match=re.escape(COVER_INVALID.split("{")[0])):
        single_product_dataset([record], detect=detect, scene_distribution={}, cover=1.5)


def test_the_kept_products_are_coco_the_detector_trainer_reads(tmp_path):
    detect = FakeDetector()
    detect.pending = [1, 4, 5, 6, 7, 8, 9]
    result = single_product_dataset(catalogue(), detect=detect, scene_distribution={"shoes": 5, "handbags": 1, "dresses": 1},
                                    is_on_white=is_white)
    for item in result.kept:
        item.record.load_image().save(tmp_path / item.record.extra["name"])
    document = coco_document(result.kept, file_name=lambda item: item.record.extra["name"],
                             categories=["shoes", "handbags", "dresses"], description="test")
    path = tmp_path / "single.json"
    path.write_text(json.dumps(document))
    examples = load_coco_detection(path, tmp_path)
    assert [example.categories for example in examples] == [["shoes"], ["handbags"], ["dresses"]]
    assert examples[1].boxes.tolist() == [[5.0, 5.0, 100.0, 100.0]]
    from pycocotools.coco import COCO

    coco = COCO(str(path))
    assert len(coco.getImgIds()) == 3 and len(coco.getAnnIds()) == 3


class PerfectDetector:
    """Finds each held-out product's true box and category (looked up by render order)."""

    def __init__(self, truth):
        self.truth = list(truth)

    def detect(self, images, score_threshold=0.5, batch_size=8):
        out = []
        for _ in images:
            box, category = self.truth.pop(0)
            out.append(Detections(boxes=np.asarray([box], dtype=np.float32), categories=[category],
                                  scores=np.asarray([0.99], dtype=np.float32)))
        return out


def test_single_product_map_is_one_for_a_perfect_detector_and_held_out_products_are_not_the_catalogues():
    sets = SingleProductTestSets(seed=0, n_products=40, count=4, backgrounds=("white", "busy"))
    world = build_world(seed=0, n_products=44)
    held_out = [world.product(40 + index) for index in range(4)]
    truth = [(world.product_box_on_white(p, 128), p.category) for p in held_out] * 2
    report = single_product_offline_evaluate(PerfectDetector(truth), sets)
    assert report.figures["images"] == 8
    assert report.figures["map50"] == pytest.approx(1.0)
    assert set(report.figures["by_background"]) == {"white", "busy"}
