import json
from collections import Counter

import numpy as np
import pytest
from pycocotools.coco import COCO

from models_runtime import taxonomy
from models_runtime.world import (
    EXTREMELY_SIMILAR,
    MARGINALLY_SIMILAR,
    NOT_SIMILAR,
    SIMILAR,
    build_world,
    export_catalog,
    export_coco,
    export_matching_manifest,
    generate_product,
    grade,
    is_on_white_background,
)
from models_runtime.world.exports import SPLIT_UNKNOWN
from models_runtime.world.render import BACKGROUND_UNKNOWN, WIDE_CATEGORIES
from models_runtime.world.world import PRODUCT_OUT_OF_RANGE


def _pixels(image):
    return np.asarray(image)


def test_world_is_deterministic_for_a_seed_and_differs_across_seeds():
    first = build_world(seed=3, n_products=60, n_scenes=6, image_size=128)
    second = build_world(seed=3, n_products=60, n_scenes=6, image_size=128)
    other = build_world(seed=4, n_products=60, n_scenes=6, image_size=128)
    assert first.products == second.products
    assert first.scenes == second.scenes
    for scene_id in range(6):
        assert np.array_equal(_pixels(first.render_scene(scene_id)), _pixels(second.render_scene(scene_id)))
    for product_id in (0, 17, 59):
        assert np.array_equal(_pixels(first.render_product(product_id)), _pixels(second.render_product(product_id)))
        assert np.array_equal(
            _pixels(first.render_product(product_id, background="busy")),
            _pixels(second.render_product(product_id, background="busy")),
        )
    assert first.products != other.products
    assert [s.objects for s in first.scenes] != [s.objects for s in other.scenes]
    assert not np.array_equal(_pixels(first.render_scene(0)), _pixels(other.render_scene(0)))


def test_product_is_the_same_whatever_the_catalogue_size():
    small = build_world(seed=1, n_products=10, n_scenes=0)
    benchmark = build_world(seed=1, n_products=100_000, n_scenes=0)
    assert [small.product(i) for i in range(10)] == [benchmark.product(i) for i in range(10)]
    assert benchmark.product(99_999).id == 99_999
    with pytest.raises(IndexError) as error:
        small.product(10)
    assert str(error.value) == PRODUCT_OUT_OF_RANGE.format(product_id=10, n_products=10)


def _product_like(world, category, color=None, pattern=None, exclude=()):
    for product in world.products:
        if product.id in exclude or product.category != category:
            continue
        if color is not None and product.color != color:
            continue
        if pattern is not None and product.pattern != pattern:
            continue
        return product
    raise LookupError(category)


def test_oracle_grades_instance_look_alike_same_category_and_other_category():
    world = build_world(seed=0, n_products=4000, n_scenes=0)
    query = next(p for p in world.products if p.category == "tops" and p.pattern == "solid")
    twin = _product_like(world, "tops", query.color, query.pattern, exclude={query.id})
    other_colour = next(p for p in world.products if p.category == "tops" and p.color != query.color)
    shoe = _product_like(world, "shoes", query.color)
    assert grade(query, query) == EXTREMELY_SIMILAR
    assert grade(query, twin) == SIMILAR
    assert grade(query, other_colour) == MARGINALLY_SIMILAR
    assert grade(query, shoe) == NOT_SIMILAR


def test_category_mix_follows_the_stl_counts():
    counts = Counter(generate_product(11, i).category for i in range(20_000))
    total_stl = sum(c.stl_count for c in taxonomy.categories())
    for category in taxonomy.categories():
        expected = category.stl_count / total_stl
        assert abs(counts[category.slug] / 20_000 - expected) < 0.012, category.slug


def test_attributes_are_none_exactly_where_the_schema_does_not_apply():
    world = build_world(seed=5, n_products=1500, n_scenes=0)
    seen_categories = set()
    for product in world.products:
        seen_categories.add(product.category)
        for name, attribute in taxonomy.ATTRIBUTES.items():
            value = getattr(product, name)
            if product.category in attribute.categories:
                assert value in attribute.values, (product.id, name, value)
            else:
                assert value is None, (product.id, name, value)
        if product.category in ("skirts", "dresses"):
            assert product.gender == "women"
        assert product.price > 0
    assert seen_categories == set(taxonomy.CATEGORIES)
    merchant_share = np.mean([p.merchant_provided_category for p in world.products])
    assert 0.65 < merchant_share < 0.75


def test_scene_boxes_lie_inside_the_image_and_objects_are_not_tiny():
    world = build_world(seed=2, n_products=500, n_scenes=30, image_size=256)
    assert Counter(s.split for s in world.scenes) == {"train": 21, "val": 3, "test": 6}
    for scene in world.scenes:
        assert 2 <= len({o.product_id for o in scene.objects}) <= 5
        assert world.render_scene(scene).size == (256, 256)
        for obj in scene.objects:
            x0, y0, x1, y1 = obj.box
            assert 0 <= x0 < x1 <= 256 and 0 <= y0 < y1 <= 256
            assert min(x1 - x0, y1 - y0) >= 20
            assert obj.product_id < world.n_products
            assert obj.category == world.product(obj.product_id).category


def test_white_and_busy_product_images_are_told_apart():
    world = build_world(seed=0, n_products=300, n_scenes=0)
    for category in taxonomy.CATEGORIES:
        product = _product_like(world, category)
        assert is_on_white_background(world.render_product(product, size=96))
        assert not is_on_white_background(world.render_product(product, size=96, background="busy"))
    with pytest.raises(ValueError) as error:
        world.render_product(0, background="beach")
    assert str(error.value) == BACKGROUND_UNKNOWN.format(allowed="white, busy", background="beach")


def test_product_box_on_white_is_tight_and_covers_most_of_the_image():
    world = build_world(seed=0, n_products=300, n_scenes=0)
    size = 128
    for category in taxonomy.CATEGORIES:
        product = _product_like(world, category)
        x0, y0, x1, y1 = (int(v) for v in world.product_box_on_white(product, size))
        pixels = _pixels(world.render_product(product, size))
        ink = (pixels < 215).any(axis=2)
        tint = (pixels < 252).any(axis=2)
        assert not ink[:y0].any() and not ink[y1:].any() and not ink[:, :x0].any() and not ink[:, x1:].any()
        assert tint[y0].any() and tint[y1 - 1].any() and tint[:, x0].any() and tint[:, x1 - 1].any()
        if category not in WIDE_CATEGORIES:
            assert (x1 - x0) * (y1 - y0) >= 0.8 * size * size


def test_exports_write_valid_coco_and_a_manifest_matching_the_scenes(tmp_path):
    world = build_world(seed=1, n_products=40, n_scenes=10, image_size=128)
    coco_path = export_coco(world, tmp_path, "train")
    coco = COCO(str(coco_path))
    train = world.scenes_in("train")
    assert sorted(coco.getImgIds()) == [s.id for s in train]
    assert len(coco.getAnnIds()) == sum(len(s.objects) for s in train)
    assert {c["id"] for c in coco.loadCats(coco.getCatIds())} == {
        taxonomy.detector_label(c) for c in taxonomy.CATEGORIES
    }
    for annotation in coco.loadAnns(coco.getAnnIds()):
        assert annotation["iscrowd"] == 0
        assert (tmp_path / coco.loadImgs(annotation["image_id"])[0]["file_name"]).exists()

    manifest_path = export_matching_manifest(world, tmp_path, "train")
    records = [json.loads(line) for line in manifest_path.read_text().splitlines()]
    scene_records = [r for r in records if r["source"] == "scene"]
    expected = [(s.id, o.product_id, [round(v, 2) for v in o.box]) for s in train for o in s.objects]
    assert [(r["scene_id"], r["product_id"], r["box"]) for r in scene_records] == expected
    product_records = [r for r in records if r["source"] == "product"]
    assert [r["product_id"] for r in product_records] == list(range(40))
    assert all((tmp_path / r["image"]).exists() for r in records)
    first = world.product(0)
    assert product_records[0]["color"] == first.color and product_records[0]["gender"] == first.gender

    with pytest.raises(ValueError) as error:
        export_coco(world, tmp_path, "holdout")
    assert str(error.value) == SPLIT_UNKNOWN.format(split="holdout")


def test_catalog_export_lists_every_requested_product(tmp_path):
    world = build_world(seed=1, n_products=40, n_scenes=0)
    path = export_catalog(world, tmp_path, ids=[3, 5, 8], background="busy")
    records = [json.loads(line) for line in path.read_text().splitlines()]
    assert [r["id"] for r in records] == [3, 5, 8]
    for record in records:
        product = world.product(record["id"])
        assert record["attributes"] == product.attributes
        assert record["merchant"] == product.merchant and record["price"] == product.price
        assert (tmp_path / record["image"]).exists()
