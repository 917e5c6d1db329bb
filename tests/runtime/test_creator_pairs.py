"""Synthetic creator pairs: the world's tags in the Shop The Look format, with noise at the rates
asked and the truth of each pair."""
from __future__ import annotations

import json
from collections import Counter

import pytest

from models_runtime import taxonomy
from models_runtime.world import MARGINALLY_SIMILAR, SIMILAR, build_world, generate_product, grade
from models_runtime.world.creator_pairs import (
    MATCH_NOT_MATCH,
    MATCH_SAME,
    MATCH_SIMILAR,
    NOISE_KINDS,
    NOISE_LOOSE_BOX,
    NOISE_NOT_MATCH_PRODUCT,
    NOISE_SHIFTED_BOX,
    NOISE_SIMILAR_PRODUCT,
    NOISE_SPAM,
    NOISE_WRONG_CATEGORY,
    PAIRS_COUNT_INVALID,
    RATE_INVALID,
    RATES_PRODUCT_SUM,
    RATES_UNKNOWN,
    WORLD_TOO_SMALL,
    box_iou,
    creator_pairs_generate,
    world_key_parse,
    world_product_key,
    world_scene_key,
)

RATES = {NOISE_LOOSE_BOX: 0.12, NOISE_SHIFTED_BOX: 0.1, NOISE_WRONG_CATEGORY: 0.15, NOISE_SIMILAR_PRODUCT: 0.1,
         NOISE_NOT_MATCH_PRODUCT: 0.08, NOISE_SPAM: 0.05}
N_PAIRS = 600
PATH_OF = {c.slug: c.path for c in taxonomy.categories()}


@pytest.fixture(scope="module")
def world():
    return build_world(seed=5, n_products=2000, n_scenes=N_PAIRS)


@pytest.fixture(scope="module")
def generated(world):
    return creator_pairs_generate(world, n_pairs=N_PAIRS, rates=RATES)


def _product(world, key: str):
    parsed = world_key_parse(key)
    assert parsed is not None and parsed.kind == "product" and parsed.seed == world.seed
    # Products past the catalogue (when it lacks a similar one) are the same pure function of the id.
    return generate_product(world.seed, parsed.object_id)


def _scene(world, key: str):
    parsed = world_key_parse(key)
    assert parsed is not None and parsed.kind == "scene"
    assert (parsed.seed, parsed.n_products) == (world.seed, world.n_products)
    return world.scene(parsed.object_id)


def test_the_same_seed_gives_the_same_file_and_another_seed_another(world, generated):
    again = creator_pairs_generate(world, n_pairs=N_PAIRS, rates=RATES)
    assert again.jsonl() == generated.jsonl()
    assert again.categories == generated.categories
    assert again.truth_rows() == generated.truth_rows()
    other = creator_pairs_generate(world, n_pairs=N_PAIRS, rates=RATES, seed=6)
    assert other.jsonl() != generated.jsonl()


def test_every_line_is_a_shop_the_look_pair_with_a_normalised_box(generated):
    lines = [json.loads(line) for line in generated.jsonl().splitlines()]
    assert len(lines) == N_PAIRS
    for line in lines:
        assert set(line) == {"product", "scene", "bbox"}
        left, top, right, bottom = line["bbox"]
        assert 0.0 <= left < right <= 1.0 and 0.0 <= top < bottom <= 1.0
    assert len({(line["scene"], line["product"]) for line in lines}) == N_PAIRS  # no pair twice
    assert set(generated.categories) == {line["product"] for line in lines}
    assert set(generated.categories.values()) <= set(PATH_OF.values())


def test_each_noise_kind_comes_at_its_rate(generated):
    counts = Counter(kind for pair in generated.pairs for kind in pair.truth["noise"])
    for kind in NOISE_KINDS:
        assert abs(counts[kind] / N_PAIRS - RATES[kind]) <= 0.01, (kind, counts[kind])
    assert Counter(pair.truth["match"] for pair in generated.pairs) == {
        MATCH_SIMILAR: counts[NOISE_SIMILAR_PRODUCT], MATCH_NOT_MATCH: counts[NOISE_NOT_MATCH_PRODUCT] + counts[NOISE_SPAM],
        MATCH_SAME: N_PAIRS - counts[NOISE_SIMILAR_PRODUCT] - counts[NOISE_NOT_MATCH_PRODUCT] - counts[NOISE_SPAM]}


def test_no_noise_asked_gives_the_scenes_own_tags(world):
    clean = creator_pairs_generate(world, n_pairs=40, rates={})
    for pair in clean.pairs:
        assert pair.truth["noise"] == [] and pair.truth["match"] == MATCH_SAME and not pair.truth["is_spam"]
        assert pair.truth["true_product"] == pair.product_key
        assert list(pair.bbox) == pair.truth["true_box"]
        assert clean.categories[pair.product_key] == PATH_OF[pair.truth["true_category"]]


def test_a_pairs_truth_says_what_its_noise_did(world, generated):
    size = world.image_size
    for pair in generated.pairs:
        truth, noise = pair.truth, set(pair.truth["noise"])
        scene = _scene(world, pair.scene_key)
        listed = _product(world, pair.product_key)
        listed_category = listed.category
        if NOISE_SPAM in noise:
            assert noise == {NOISE_SPAM} and truth["is_spam"] and truth["match"] == MATCH_NOT_MATCH
            assert listed_category not in {obj.category for obj in scene.objects}
            assert list(pair.bbox) == truth["true_box"] and truth["true_product"] is None
            continue
        # The true box is the box of the scene's objects of the true product (both shoes of a pair).
        true_product = _product(world, truth["true_product"])
        own = [obj.box for obj in scene.objects if obj.product_id == true_product.id]
        union = (min(b[0] for b in own), min(b[1] for b in own), max(b[2] for b in own), max(b[3] for b in own))
        assert truth["true_box"] == pytest.approx([v / size for v in union], abs=1e-6)
        assert truth["true_category"] == true_product.category
        if NOISE_SIMILAR_PRODUCT in noise:
            assert grade(true_product, listed) == SIMILAR and truth["match"] == MATCH_SIMILAR
        elif NOISE_NOT_MATCH_PRODUCT in noise:
            assert grade(true_product, listed) == MARGINALLY_SIMILAR and truth["match"] == MATCH_NOT_MATCH
        else:
            assert listed.id == true_product.id and truth["match"] == MATCH_SAME
        box_noise = noise & {NOISE_LOOSE_BOX, NOISE_SHIFTED_BOX}
        if box_noise:
            assert box_iou(pair.bbox, truth["true_box"]) < 0.8
            if box_noise == {NOISE_LOOSE_BOX}:
                assert pair.bbox[0] <= truth["true_box"][0] and pair.bbox[2] >= truth["true_box"][2]
        else:
            assert list(pair.bbox) == truth["true_box"]
        listed_path = generated.categories[pair.product_key]
        assert (listed_path != PATH_OF[truth["true_category"]]) == (NOISE_WRONG_CATEGORY in noise)


def test_a_spam_box_lies_on_the_background(world, generated):
    spam = [pair for pair in generated.pairs if pair.truth["is_spam"]]
    assert spam
    for pair in spam:
        scene = _scene(world, pair.scene_key)
        size = world.image_size
        boxes = [[v / size for v in obj.box] for obj in scene.objects]
        assert max(box_iou(pair.bbox, box) for box in boxes) < 0.2


def test_world_ids_name_the_scene_and_the_product_they_came_from():
    assert world_key_parse(world_scene_key(seed=3, n_products=2000, scene_id=17)) == world_key_parse(
        "synthetic-scene:3:2000:17")
    scene = world_key_parse("synthetic-scene:3:2000:17")
    assert (scene.kind, scene.seed, scene.n_products, scene.object_id) == ("scene", 3, 2000, 17)
    product = world_key_parse(world_product_key(seed=3, product_id=42))
    assert (product.kind, product.seed, product.object_id) == ("product", 3, 42)
    for not_an_id in ("synthetic:3", "synthetic:3:x", "synthetic:-1:4", "synthetic: 3:4", "synthetic:3:+4",
                      "synthetic-scene:3:0:1", "synthetic-scene:3:2000", "synthetic:0:99999999999", "scene:1:2:3",
                      "cdab9160072dd1800038227960ff6467", ""):
        assert world_key_parse(not_an_id) is None, not_an_id


@pytest.mark.parametrize(("rates", "message"), [
    ({"typo": 0.1}, RATES_UNKNOWN.format(kinds="typo", allowed=", ".join(NOISE_KINDS))),
    ({NOISE_SPAM: 1.5}, RATE_INVALID.format(kind=NOISE_SPAM, value=1.5)),
    ({NOISE_LOOSE_BOX: True}, RATE_INVALID.format(kind=NOISE_LOOSE_BOX, value=True)),
    ({NOISE_SIMILAR_PRODUCT: 0.6, NOISE_NOT_MATCH_PRODUCT: 0.3, NOISE_SPAM: 0.2}, RATES_PRODUCT_SUM.format(total=1.1)),
])
def test_rates_that_cannot_hold_are_refused(world, rates, message):
    with pytest.raises(ValueError) as refused:
        creator_pairs_generate(world, n_pairs=10, rates=rates)
    assert str(refused.value) == message


def test_more_pairs_than_the_world_holds_are_refused():
    small = build_world(seed=0, n_products=200, n_scenes=2)
    with pytest.raises(ValueError) as refused:
        creator_pairs_generate(small, n_pairs=100, rates={})
    found = sum(len({obj.product_id for obj in small.scene(i).objects}) for i in range(2))
    assert str(refused.value) == WORLD_TOO_SMALL.format(n_scenes=2, found=found, wanted=100)
    with pytest.raises(ValueError) as refused:
        creator_pairs_generate(small, n_pairs=0, rates={})
    assert str(refused.value) == PAIRS_COUNT_INVALID.format(value=0)
