import numpy as np
import pytest
import torch
from PIL import Image

from models_runtime import taxonomy
from models_runtime.detector import Detector
from models_runtime.embedder import Embedder
from models_runtime.pipeline import (MESSAGE_BAD_PADDING, MESSAGE_IDS_LENGTH, PipelineSettings, QueryObject,
                                     ShopTheLookPipeline, build_catalog_index, crop_box, restriction_for)
from models_runtime.world import build_world

N_PRODUCTS = 32
K = 5


@pytest.fixture(scope="module")
def world():
    return build_world(seed=3, n_products=N_PRODUCTS, n_scenes=3, image_size=128)


@pytest.fixture(scope="module")
def models():
    # untrained models from the default configs (the pipeline's plumbing does not depend on skill),
    # with the detector at the scenes' own 128 px and a few boxes per scene to keep the tests quick
    torch.manual_seed(0)
    detector = Detector.from_config({"arch": "small", "min_size": 128, "max_size": 128,
                                     "box_detections_per_img": 6}, device="cpu")
    return detector, Embedder.from_config({}, device="cpu")


@pytest.fixture(scope="module")
def catalogue(world, models):
    _, embedder = models
    products = [world.product(i) for i in range(N_PRODUCTS)]
    fields = {
        "category": [p.category for p in products],
        "gender": [p.gender for p in products],
        "price": [p.price for p in products],
        "merchant": [p.merchant for p in products],
    }
    images = [world.render_product(p, size=64) for p in products]
    index = build_catalog_index(embedder, iter(images), [p.id for p in products], fields, batch_size=16)
    # the same batches as the catalogue build, so these codes are bit-for-bit those in the index
    codes = embedder.embed(images, batch_size=16).codes
    return products, index, codes


@pytest.fixture(scope="module")
def scenes(world):
    return [world.render_scene(scene) for scene in world.scenes]


def hamming(a: np.ndarray, b: np.ndarray) -> int:
    return int(np.unpackbits(a ^ b).sum())


def test_pipeline_returns_well_formed_objects_honouring_the_category_restriction(world, models, catalogue, scenes):
    detector, embedder = models
    products, index, product_codes = catalogue
    pipeline = ShopTheLookPipeline(detector, embedder, index, PipelineSettings(k=K, score_threshold=0.0))
    results = pipeline.run(scenes)

    direct = detector.detect(scenes, score_threshold=0.0)
    assert [len(result.objects) for result in results] == [len(found) for found in direct]
    assert sum(len(result.objects) for result in results) > 0
    per_category = {slug: sum(p.category == slug for p in products) for slug in taxonomy.CATEGORIES}
    for scene_index, (result, found) in enumerate(zip(results, direct)):
        assert result.scene_index == scene_index
        for position, detected in enumerate(result.objects):
            assert isinstance(detected, QueryObject)
            np.testing.assert_allclose(detected.box, found.boxes[position])
            assert detected.category == found.categories[position]
            assert detected.crop.size[0] >= 1 and detected.crop.size[1] >= 1
            assert detected.embedding.shape == (embedder.embedding_dim,)
            np.testing.assert_allclose(np.linalg.norm(detected.embedding), 1.0, rtol=1e-4)
            assert detected.code.shape == (embedder.embedding_dim // 8,) and detected.code.dtype == np.uint8
            assert detected.gender in taxonomy.ATTRIBUTES["gender"].values
            assert detected.restriction == f'category:"{detected.category}"'
            n_valid = min(K, per_category[detected.category])
            assert (detected.candidate_ids[:n_valid] >= 0).all()
            assert (detected.candidate_ids[n_valid:] == -1).all()
            assert (detected.candidate_distances[n_valid:] == -1).all()
            for product_id, distance in zip(detected.candidate_ids[:n_valid], detected.candidate_distances[:n_valid]):
                assert products[product_id].category == detected.category
                assert distance == hamming(detected.code, product_codes[product_id])
            assert (np.diff(detected.candidate_distances[:n_valid]) >= 0).all()
    timings = pipeline.last_timings
    assert timings.total >= timings.detect + timings.embed > 0


def test_gender_restriction_and_extra_query_are_honoured(models, catalogue, scenes):
    detector, embedder = models
    products, index, _ = catalogue
    pipeline = ShopTheLookPipeline(detector, embedder, index)
    results = pipeline.run(scenes[:2], score_threshold=0.0, restrict_category=False, restrict_gender=True,
                           extra_query="price<80", k=8)
    objects = [detected for result in results for detected in result.objects]
    assert objects
    for detected in objects:
        admitted = [p.id for p in products if p.price < 80
                    and (detected.gender == "unisex" or p.gender in (detected.gender, "unisex"))]
        want_ids, want_distances = index.search(detected.code[None], k=8, restrict=detected.restriction)
        np.testing.assert_array_equal(detected.candidate_ids, want_ids[0])
        np.testing.assert_array_equal(detected.candidate_distances, want_distances[0])
        valid = detected.candidate_ids[detected.candidate_ids >= 0]
        assert set(valid) <= set(admitted)
        assert len(valid) == min(8, len(admitted))


def test_unrestricted_candidates_are_the_nearest_products_overall(models, catalogue, scenes):
    detector, embedder = models
    _, index, _ = catalogue
    results = ShopTheLookPipeline(detector, embedder, index).run(scenes[:1], score_threshold=0.0,
                                                                 restrict_category=False)
    for detected in results[0].objects:
        assert detected.restriction is None
        want_ids, _ = index.search(detected.code[None], k=K)
        np.testing.assert_array_equal(detected.candidate_ids, want_ids[0])


def test_scenes_without_detections_give_empty_results(models, catalogue):
    detector, embedder = models
    _, index, _ = catalogue
    blank = [Image.new("RGB", (96, 96), (255, 255, 255))]
    results = ShopTheLookPipeline(detector, embedder, index).run(blank, score_threshold=1.01)
    assert len(results) == 1 and results[0].objects == []


def test_restrictions_quote_values_and_skip_gender_for_unisex_objects():
    settings = PipelineSettings(restrict_category=True, restrict_gender=True, extra_query="price<50 OR merchant:Zeta")
    assert restriction_for("tops", "women", settings) == 'category:"tops" AND gender:"women" AND (price<50 OR merchant:Zeta)'
    assert restriction_for("tops", "unisex", settings) == 'category:"tops" AND (price<50 OR merchant:Zeta)'
    assert restriction_for("tops", "men", PipelineSettings(restrict_category=False)) is None


def test_crop_box_pads_clamps_and_never_returns_an_empty_crop():
    image = Image.new("RGB", (100, 80))
    assert crop_box(image, [10.2, 20.7, 30.1, 40.0]).size == (21, 20)
    assert crop_box(image, [10, 20, 30, 40], padding=0.5).size == (40, 40)
    assert crop_box(image, [-15, -5, 120, 90]).size == (100, 80)
    assert crop_box(image, [50, 50, 50, 50]).size == (1, 1)
    assert crop_box(image, [150, 90, 160, 95]).size == (1, 1)
    with pytest.raises(ValueError) as raised:
        crop_box(image, [0, 0, 5, 5], padding=-0.1)
    assert str(raised.value) == MESSAGE_BAD_PADDING.format(padding=-0.1)


def test_catalog_index_takes_category_and_gender_from_the_embedder_when_not_given(world, models):
    _, embedder = models
    images = [world.render_product(i, size=64) for i in range(6)]
    index = build_catalog_index(embedder, images, np.arange(100, 106), {"price": [10.0] * 6}, batch_size=4)
    predicted = embedder.embed(images)
    assert len(index) == 6
    assert index.field_kinds == {"price": "number", "category": "text", "gender": "text"}
    assert index.categories() == {slug: predicted.categories.count(slug) for slug in set(predicted.categories)}
    ids, distances = index.search(predicted.codes, k=1)
    np.testing.assert_array_equal(distances[:, 0], 0)
    with pytest.raises(ValueError) as raised:
        build_catalog_index(embedder, images, np.arange(4), batch_size=4)
    assert str(raised.value) == MESSAGE_IDS_LENGTH.format(n_ids=4, n_images=6)
