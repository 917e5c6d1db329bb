"""Simulated labelers' error models: valid answers for every kind, the truth from a labeler who never
errs, the relevance confusion matrix, and the three demo pools measured on relevance."""
from __future__ import annotations

import math
import random
from collections import Counter
from dataclasses import replace

import pytest

from labeling import taxonomy
from labeling.quality.simulation import (DEMO_POOL_PROFILES, PERFECT_LABELER, PROBABILITY_OUT_OF_RANGE, SPAMMER,
                                         LabelerProfile, labeler_profiles_draw, simulated_time_spent_ms)
from labeling.task_kinds import task_kind_spec
from labeling.task_kinds.attributes import CANT_TELL
from labeling.task_kinds.base import Consensus, GoldenComparison, TaskKindSpec
from labeling.task_kinds.relevance import (GRADE_ORDER, GRADES, relevance_confusion, relevance_grade_chances,
                                           relevance_perception, relevance_simulated_grades)

POOLS = {pool.slug: pool for pool in DEMO_POOL_PROFILES}
# The true grades of retrieved candidates, roughly as a trained retrieval restricted to the query's
# category finds them: mostly the same kind of product in another colour or pattern.
TRUTH_SHARES = {"extremely_similar": 0.1, "similar": 0.2, "marginally_similar": 0.45, "not_similar": 0.25}
# The protocol docs/METRICS.md ("Simulated labelers") states the pools' figures for: 1500 items, each
# labeled by 5 of 30 labelers drawn from the pool (enough that the pool's share of spammers shows).
LABELS_PER_ITEM = 5
LABELERS_PER_POOL = 30

RELEVANCE_PAYLOAD = {"query_object": {"id": 1, "crop_url": "/media/c.png", "scene_url": "/media/s.png",
                                      "box": [0, 0, 10, 10], "category": "tops"},
                     "candidates": [{"product_id": k, "image_url": f"/media/p{k}.png", "category": "tops"}
                                    for k in range(5)]}
RELEVANCE_TRUTH = {"grades": ["extremely_similar", "similar", "marginally_similar", "not_similar", "similar"]}
BOXES_PAYLOAD = {"scene_id": 1, "image": {"url": "/media/s.png", "width": 640, "height": 480}, "proposals": []}
# A large object, a small one (under 2% of the image) and one touching the image's right and bottom edges.
BOXES_TRUTH = {"boxes": [{"box": [40.0, 30.0, 300.0, 400.0], "category": "tops"},
                         {"box": [500.0, 20.0, 530.0, 60.0], "category": "shoes"},
                         {"box": [560.0, 380.0, 640.0, 480.0], "category": "handbags"}]}
ATTRIBUTES_PAYLOAD = {"category": "tops", "crop": {"url": "/media/c.png", "width": 50, "height": 80}}
ATTRIBUTES_TRUTH = {"attributes": {"color": "red", "pattern": "solid", "fabric": CANT_TELL, "gender": "women"}}
MATCHING_PAYLOAD = {"pair_id": 1, "scene": {"url": "/media/s.png", "width": 200, "height": 100},
                    "box": [20.0, 20.0, 100.0, 90.0], "category": "tops", "product": {"image_url": "/media/p.png"}}
MATCHING_TRUTH = {"box": [30.0, 20.0, 110.0, 90.0], "category": "tops", "match": "similar", "is_spam": False}
CASES = {
    "relevance": (RELEVANCE_PAYLOAD, RELEVANCE_TRUTH),
    "bounding_boxes": (BOXES_PAYLOAD, BOXES_TRUTH),
    "attributes": (ATTRIBUTES_PAYLOAD, ATTRIBUTES_TRUTH),
    "matching_pair": (MATCHING_PAYLOAD, MATCHING_TRUTH),
}


def demo_labelers() -> list[LabelerProfile]:
    return [profile for pool in DEMO_POOL_PROFILES for profile in labeler_profiles_draw(pool=pool, count=6, seed=3)]


@pytest.mark.django_db
@pytest.mark.parametrize("kind", list(CASES))
def test_every_kinds_simulated_answer_passes_its_answer_clean_for_many_seeds(kind):
    spec = task_kind_spec(kind)
    payload, truth = CASES[kind]
    profiles = [*demo_labelers(), SPAMMER,
                LabelerProfile(slip=1.0, jitter=2.0, extra_box=1.0, wrong_category=1.0, attribute_error=1.0,
                               verdict_error=1.0, spam_error=1.0, category_error=1.0, box_jitter=2.0)]
    answers = set()
    for seed in range(40):
        for profile in profiles:
            answer = spec.simulated_answer(payload=payload, truth=truth, profile=profile, rng=random.Random(seed))
            assert spec.answer_clean(payload=payload, answer=answer) == answer
            answers.add(repr(answer))
    assert len(answers) > len(profiles)  # the errors vary with the seed


@pytest.mark.django_db
@pytest.mark.parametrize("kind", list(CASES))
def test_a_labeler_who_never_errs_gives_the_true_answer(kind):
    spec = task_kind_spec(kind)
    payload, truth = CASES[kind]
    for seed in range(5):
        assert spec.simulated_answer(payload=payload, truth=truth, profile=PERFECT_LABELER,
                                     rng=random.Random(seed)) == truth


@pytest.mark.django_db
def test_a_labeler_who_misses_small_objects_boxes_only_the_large_ones():
    profile = replace(PERFECT_LABELER, miss_small=1.0, small_area=0.02)
    answer = task_kind_spec("bounding_boxes").simulated_answer(payload=BOXES_PAYLOAD, truth=BOXES_TRUTH,
                                                                profile=profile, rng=random.Random(0))
    # The 30 x 40 shoe box is 0.4% of the image; the 80 x 100 bag box 2.6%.
    assert [entry["category"] for entry in answer["boxes"]] == ["tops", "handbags"]


@pytest.mark.django_db
def test_an_attribute_error_is_another_allowed_value_or_cant_tell():
    allowed = {attribute.name: attribute.values for attribute in taxonomy.attributes_for("tops")}
    for cant_tell_share, expect_cant_tell in ((0.0, False), (1.0, True)):
        profile = replace(PERFECT_LABELER, attribute_error=1.0, cant_tell_share=cant_tell_share)
        answer = task_kind_spec("attributes").simulated_answer(payload=ATTRIBUTES_PAYLOAD, truth=ATTRIBUTES_TRUTH,
                                                                profile=profile, rng=random.Random(1))["attributes"]
        for name, value in answer.items():
            true = ATTRIBUTES_TRUTH["attributes"][name]
            assert value != true
            if true == CANT_TELL or not expect_cant_tell:
                assert value in allowed[name]
            else:
                assert value == CANT_TELL


def test_a_kind_without_a_simulation_cannot_be_made():
    class Bare(TaskKindSpec):
        kind = "bare"

        def answer_clean(self, *, payload, answer):
            return answer

        def consensus(self, *, payload, answers):
            return Consensus(None, None, 0)

        def golden_compare(self, *, payload, answer, golden, **options):
            return GoldenComparison(True, 1.0)

        def quality_rows(self, *, payload, labels):
            return []

    # simulated_answer is abstract: every kind must say how a simulated labeler answers it.
    with pytest.raises(TypeError, match="simulated_answer"):
        Bare()


def test_a_profile_refuses_a_probability_outside_0_and_1():
    with pytest.raises(ValueError) as refused:
        LabelerProfile(slip=1.5)
    assert str(refused.value) == PROBABILITY_OUT_OF_RANGE.format(name="slip", value=1.5)


def test_relevance_matrices_rows_sum_to_1_for_every_demo_labeler_and_a_spammer():
    for profile in [*demo_labelers(), SPAMMER, PERFECT_LABELER]:
        for matrix in (relevance_perception(profile), relevance_confusion(profile), relevance_grade_chances(profile)):
            assert len(matrix) == len(GRADES) and all(len(row) == len(GRADES) for row in matrix)
            assert all(value >= 0 for row in matrix for value in row)
            assert [round(sum(row), 12) for row in matrix] == [1.0] * len(GRADES)
    assert relevance_confusion(SPAMMER) == [[0.2] * 5 for _ in range(5)]


def test_relevance_confusion_moves_one_step_with_leniency_and_slips_uniformly():
    profile = LabelerProfile(confusion=0.2, leniency=0.1, slip=0.5)
    # One step better: 0.1 + 0.1; one step worse: 0.1; off the ends of the scale a grade stays.
    before_slip = [[0.9, 0.1, 0.0, 0.0, 0.0],
                   [0.2, 0.7, 0.1, 0.0, 0.0],
                   [0.0, 0.2, 0.7, 0.1, 0.0],
                   [0.0, 0.0, 0.2, 0.8, 0.0],
                   [0.0, 0.0, 0.0, 0.0, 1.0]]
    expected = [[0.5 * value + 0.1 for value in row] for row in before_slip]
    assert relevance_confusion(profile) == [pytest.approx(row) for row in expected]
    strict = relevance_confusion(LabelerProfile(leniency=-0.3))
    assert strict[GRADE_ORDER["similar"]] == pytest.approx([0.0, 0.7, 0.3, 0.0, 0.0])


def test_a_pools_shared_shift_perceives_a_neighbouring_grade_and_never_a_broken_image():
    perception = relevance_perception(LabelerProfile(shared_shift=0.2))
    # Either neighbour alike; the only one at either end of the scale; did_not_load as it is.
    assert perception == [pytest.approx(row) for row in [[0.8, 0.2, 0.0, 0.0, 0.0],
                                                          [0.1, 0.8, 0.1, 0.0, 0.0],
                                                          [0.0, 0.1, 0.8, 0.1, 0.0],
                                                          [0.0, 0.0, 0.2, 0.8, 0.0],
                                                          [0.0, 0.0, 0.0, 0.0, 1.0]]]
    # The grade a labeler gives is its confusion around the perceived grade: with no error of its own,
    # the perception itself.
    assert relevance_grade_chances(LabelerProfile(shared_shift=0.2)) == perception
    chances = relevance_grade_chances(LabelerProfile(shared_shift=0.2, confusion=0.2))
    assert chances[GRADE_ORDER["similar"]][GRADE_ORDER["similar"]] == pytest.approx(0.8 * 0.8 + 2 * 0.1 * 0.1)


def test_labelers_given_the_same_shared_key_share_their_pools_misreading_of_each_slot():
    truth = ["similar"] * 40

    def graded(profile, seed, key=None):
        return relevance_simulated_grades(truth_grades=truth, profile=profile, rng=random.Random(seed), shared_key=key)

    misreading = LabelerProfile(shared_shift=1.0)
    first = graded(misreading, 1, "0:7:12")
    assert set(first) == {"extremely_similar", "marginally_similar"}  # always a neighbour, either one
    # Another labeler of the pool, with its own generator and errors of its own, reads every slot alike:
    # where it does not err itself, it gives the same grade (two independent readings match half the time).
    second = graded(LabelerProfile(shared_shift=1.0, confusion=0.1), 2, "0:7:12")
    assert sum(a == b for a, b in zip(first, second)) >= 30
    # Another item is read its own way.
    assert graded(misreading, 1, "0:7:13") != first
    # Without a key there is no shared reading, and one draw per slot from the labeler's generator, as
    # before the shift existed: a caller's other draws from it stay where they were.
    plain = LabelerProfile(confusion=0.3, slip=0.1)
    assert graded(misreading, 1) == truth
    assert graded(replace(plain, shared_shift=0.5), 3) == graded(plain, 3) == graded(plain, 3, "0:7:12")
    rng = random.Random(4)
    relevance_simulated_grades(truth_grades=truth, profile=replace(plain, shared_shift=0.5), rng=rng, shared_key="k")
    after = rng.random()
    rng = random.Random(4)
    relevance_simulated_grades(truth_grades=truth, profile=plain, rng=rng)
    assert rng.random() == after


def pool_labels(pool, *, n_items: int, seed: int, labels_per_item: int = LABELS_PER_ITEM,
                labelers: int = LABELERS_PER_POOL):
    """Items with a true grade each, labeled by ``labels_per_item`` of the pool's ``labelers``, who
    share the pool's reading of each item (one shared key per item, as the runner's per task);
    returns (true grade, labeler's profile, grade given) per label, grouped by item."""
    profiles = labeler_profiles_draw(pool=pool, count=labelers, seed=seed)
    rng = random.Random(seed)
    items = []
    truths = rng.choices(list(TRUTH_SHARES), weights=list(TRUTH_SHARES.values()), k=n_items)
    for number, true in enumerate(truths):
        chosen = rng.sample(profiles, labels_per_item)
        key = f"{seed}:{pool.slug}:{number}"
        items.append([(true, profile, relevance_simulated_grades(truth_grades=[true], profile=profile, rng=rng,
                                                                 shared_key=key)[0])
                      for profile in chosen])
    return items


def consistency(items) -> float:
    """docs/METRICS.md: per item with two or more labels, the share equal to its most common answer."""
    shares = [Counter(given for _, _, given in item).most_common(1)[0][1] / len(item) for item in items if len(item) >= 2]
    return sum(shares) / len(shares)


def accuracy(items) -> float:
    labels = [label for item in items for label in item]
    return sum(given == true for true, _, given in labels) / len(labels)


def implied_correct_count(item) -> tuple[float, float]:
    """The mean and variance of an item's count of correct labels that its labelers' matrices imply.
    Given the grade the pool perceives, its labels are independent, each correct with its
    confusion matrix's chance of going from the perceived grade to the true one; the perceived grade
    is one draw from the pool's perception row for the true grade, shared by all of them."""
    true = GRADE_ORDER[item[0][0]]
    perception = relevance_perception(item[0][1])[true]
    given = [[relevance_confusion(profile)[seen][true] for _, profile, _ in item] for seen in range(len(GRADES))]
    means = [sum(chances) for chances in given]
    mean = sum(share * means[seen] for seen, share in enumerate(perception))
    within = sum(share * sum(p * (1 - p) for p in given[seen]) for seen, share in enumerate(perception))
    between = sum(share * means[seen] ** 2 for seen, share in enumerate(perception)) - mean ** 2
    return mean, within + between


@pytest.mark.parametrize("slug", list(POOLS))
def test_each_demo_pools_measured_accuracy_lies_in_the_95_percent_interval_its_matrices_imply(slug):
    items = pool_labels(POOLS[slug], n_items=2000, seed=11)
    # Every labeler of a pool shares its reading, so one perception row holds for the whole item.
    assert len({profile.shared_shift for item in items for _, profile, _ in item}) == 1
    n_labels = sum(len(item) for item in items)
    implied = [implied_correct_count(item) for item in items]
    # Items are independent (labels of one item are not: they share the perceived grade).
    expected = sum(mean for mean, _ in implied) / n_labels
    standard_error = math.sqrt(sum(variance for _, variance in implied)) / n_labels
    # The exact mean is the grade-chance matrix's diagonal, label by label.
    diagonal = [relevance_grade_chances(profile)[GRADE_ORDER[true]][GRADE_ORDER[true]]
                for item in items for true, profile, _ in item]
    assert sum(diagonal) / n_labels == pytest.approx(expected)
    assert abs(accuracy(items) - expected) <= 1.96 * standard_error


def test_the_demo_pools_land_near_the_published_comparison_and_in_its_order():
    measured = {slug: pool_labels(pool, n_items=1500, seed=5) for slug, pool in POOLS.items()}
    consistencies = {slug: consistency(items) for slug, items in measured.items()}
    accuracies = {slug: accuracy(items) for slug, items in measured.items()}
    # As published: consistency in-house > outside > crowd, accuracy in-house > crowd > outside.
    assert consistencies["inhouse"] > consistencies["outside"] > consistencies["crowd"]
    assert accuracies["inhouse"] > accuracies["crowd"] > accuracies["outside"]
    # 95% / 89.5% in-house: the shared reading puts consistency above accuracy.
    assert 0.93 <= consistencies["inhouse"] <= 0.97 and 0.875 <= accuracies["inhouse"] <= 0.915
    assert consistencies["inhouse"] - accuracies["inhouse"] >= 0.03
    # 49% / 26% outside, 47% / 32.5% crowd.
    assert 0.46 <= consistencies["outside"] <= 0.53 and 0.22 <= accuracies["outside"] <= 0.30
    assert 0.44 <= consistencies["crowd"] <= 0.51 and 0.29 <= accuracies["crowd"] <= 0.36


def test_labeler_profiles_are_seeded_and_a_labeler_does_not_depend_on_the_pool_size():
    crowd = POOLS["crowd"]
    assert labeler_profiles_draw(pool=crowd, count=4, seed=1) == labeler_profiles_draw(pool=crowd, count=4, seed=1)
    assert labeler_profiles_draw(pool=crowd, count=6, seed=1)[:4] == labeler_profiles_draw(pool=crowd, count=4, seed=1)
    assert labeler_profiles_draw(pool=crowd, count=4, seed=2) != labeler_profiles_draw(pool=crowd, count=4, seed=1)
    # Labelers of one pool differ from each other, but share the pool's reading of the guide.
    inhouse = labeler_profiles_draw(pool=POOLS["inhouse"], count=4, seed=1)
    assert len(set(inhouse)) == 4
    assert {profile.shared_shift for profile in inhouse} == {POOLS["inhouse"].labeler.shared_shift}


def test_only_the_crowd_has_spammers():
    drawn = {slug: labeler_profiles_draw(pool=pool, count=30, seed=0) for slug, pool in POOLS.items()}
    assert not any(profile.spammer for profile in drawn["inhouse"] + drawn["outside"])
    assert 0 < sum(profile.spammer for profile in drawn["crowd"]) < 30


def test_the_in_house_team_takes_longer_per_task_than_the_crowd():
    def median_ms(slug: str) -> float:
        rng = random.Random(0)
        base = POOLS[slug].labeler
        times = sorted(simulated_time_spent_ms(profile=base, units=5, rng=rng) for _ in range(201))
        return times[100]

    assert median_ms("inhouse") > median_ms("outside") > median_ms("crowd")
