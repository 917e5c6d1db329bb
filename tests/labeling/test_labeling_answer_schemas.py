"""Per-kind answer schemas: what each accepts, and the exact message for what it refuses."""
from __future__ import annotations

import pytest

from labeling.answer_schemas import (
    ANSWER_MISSING_KEY,
    ANSWER_NOT_OBJECT,
    ANSWER_UNKNOWN_KEYS,
    ATTRIBUTE_MISSING,
    ATTRIBUTE_NOT_APPLICABLE,
    ATTRIBUTE_VALUE_UNKNOWN,
    ATTRIBUTES_NO_CATEGORY,
    BOX_EMPTY,
    BOX_ENTRY_NOT_OBJECT,
    BOX_NOT_FOUR_NUMBERS,
    BOX_OUTSIDE_IMAGE,
    CATEGORY_UNKNOWN,
    FLAG_NOT_BOOLEAN,
    MATCH_VERDICT_UNKNOWN,
    GRADE_UNKNOWN,
    GRADES_NOT_LIST,
    GRADES_WRONG_COUNT,
    UNKNOWN_TASK_KIND,
    AnswerSchemaError,
    answer_clean,
)
from labeling.task_kinds.attributes import CANT_TELL
from labeling.task_kinds.relevance import GRADES as RELEVANCE_GRADES
from models_runtime import taxonomy
from tests.labeling.conftest import relevance_payload

pytestmark = pytest.mark.django_db  # categories and attributes are checked against the database

SCENE = {"image": {"url": "/media/scene.jpg", "width": 640, "height": 480}}
PAIR = {"scene": {"url": "/media/scene.jpg", "width": 640, "height": 480}, "box": [1, 2, 3, 4],
        "category": "tops", "product": {"id": "p1", "image_url": "/media/product.jpg"}}


def refusal(kind, payload, answer) -> str:
    with pytest.raises(AnswerSchemaError) as refused:
        answer_clean(kind=kind, payload=payload, answer=answer)
    return str(refused.value)


def test_relevance_accepts_one_known_grade_per_candidate():
    grades = list(RELEVANCE_GRADES)
    assert answer_clean(kind="relevance", payload=relevance_payload(1), answer={"grades": grades}) == {"grades": grades}


@pytest.mark.parametrize("answer,message", [
    ([], ANSWER_NOT_OBJECT),
    ({}, ANSWER_MISSING_KEY.format(key="grades")),
    ({"grades": "similar"}, GRADES_NOT_LIST),
    ({"grades": ["similar"] * 6}, GRADES_WRONG_COUNT.format(expected=5, got=6)),
    ({"grades": ["similar"] * 4 + ["Similar"]}, GRADE_UNKNOWN.format(index=4, grade="Similar", allowed=", ".join(RELEVANCE_GRADES))),
    ({"grades": ["similar"] * 5, "note": "x"}, ANSWER_UNKNOWN_KEYS.format(keys="note")),
])
def test_relevance_refusals_carry_the_exact_message(answer, message):
    assert refusal("relevance", relevance_payload(1), answer) == message


def test_relevance_grade_count_follows_the_payloads_candidates():
    assert answer_clean(kind="relevance", payload=relevance_payload(1, candidates=3), answer={"grades": ["similar"] * 3})


def test_bounding_boxes_accepts_boxes_inside_the_image_and_no_boxes_at_all():
    answer = {"boxes": [{"box": [0, 0, 640, 480], "category": "shoes"}, {"box": [10.5, 20, 30, 40], "category": "tops"}]}
    assert answer_clean(kind="bounding_boxes", payload=SCENE, answer=answer)["boxes"][1]["box"] == [10.5, 20.0, 30.0, 40.0]
    assert answer_clean(kind="bounding_boxes", payload=SCENE, answer={"boxes": []}) == {"boxes": []}


@pytest.mark.parametrize("entry,message", [
    ({"box": [0, 0, 641, 10], "category": "shoes"}, BOX_OUTSIDE_IMAGE.format(where="Box 0", width=640, height=480)),
    ({"box": [-1, 0, 10, 10], "category": "shoes"}, BOX_OUTSIDE_IMAGE.format(where="Box 0", width=640, height=480)),
    ({"box": [10, 10, 5, 20], "category": "shoes"}, BOX_EMPTY.format(where="Box 0")),
    ({"box": [1, 2, 3], "category": "shoes"}, BOX_NOT_FOUR_NUMBERS.format(where="Box 0")),
    ({"box": [1, 2, 3, True], "category": "shoes"}, BOX_NOT_FOUR_NUMBERS.format(where="Box 0")),
    ({"box": [1, 2, 3, 4], "category": "hats"}, CATEGORY_UNKNOWN.format(where="Box 0", category="hats")),
    ({"box": [1, 2, 3, 4]}, BOX_ENTRY_NOT_OBJECT.format(index=0)),
])
def test_bounding_boxes_refusals_carry_the_exact_message(entry, message):
    assert refusal("bounding_boxes", SCENE, {"boxes": [entry]}) == message


def test_attributes_needs_one_allowed_value_per_attribute_of_the_category():
    category = "dresses"
    values = {a.name: a.values[0] for a in taxonomy.attributes_for(category)}
    assert answer_clean(kind="attributes", payload={"category": category}, answer={"attributes": values}) == {"attributes": values}

    missing = dict(values)
    missing.pop("dress_style")
    assert refusal("attributes", {"category": category}, {"attributes": missing}) == ATTRIBUTE_MISSING.format(name="dress_style", category=category)
    wrong = dict(values, color="beige")
    assert refusal("attributes", {"category": category}, {"attributes": wrong}) == ATTRIBUTE_VALUE_UNKNOWN.format(
        value="beige", name="color", allowed=", ".join([*taxonomy.ATTRIBUTES["color"].values, CANT_TELL]))


def test_attributes_refuses_an_attribute_that_does_not_apply_and_an_unknown_category():
    sunglasses = {a.name: a.values[0] for a in taxonomy.attributes_for("sunglasses")}
    assert refusal("attributes", {"category": "sunglasses"}, {"attributes": dict(sunglasses, dress_style="wrap")}) == \
        ATTRIBUTE_NOT_APPLICABLE.format(name="dress_style", category="sunglasses")
    assert refusal("attributes", {}, {"attributes": {}}) == ATTRIBUTES_NO_CATEGORY


def test_matching_pair_accepts_a_fixed_box_category_verdict_and_spam_flag():
    answer = {"box": [5, 5, 100, 200], "category": "tops", "match": "similar", "is_spam": False}
    assert answer_clean(kind="matching_pair", payload=PAIR, answer=answer) == {
        "box": [5.0, 5.0, 100.0, 200.0], "category": "tops", "match": "similar", "is_spam": False}


@pytest.mark.parametrize("change,message", [
    ({"match": "yes"}, MATCH_VERDICT_UNKNOWN.format(value="yes", allowed="same, similar, not_match")),
    ({"match": ["same"]}, MATCH_VERDICT_UNKNOWN.format(value=["same"], allowed="same, similar, not_match")),
    ({"is_spam": "no"}, FLAG_NOT_BOOLEAN.format(key="is_spam")),
    ({"box": [0, 0, 700, 10]}, BOX_OUTSIDE_IMAGE.format(where="'box'", width=640, height=480)),
    ({"category": "hats"}, CATEGORY_UNKNOWN.format(where="'category'", category="hats")),
])
def test_matching_pair_refusals_carry_the_exact_message(change, message):
    answer = {"box": [5, 5, 100, 200], "category": "tops", "match": "same", "is_spam": False} | change
    assert refusal("matching_pair", PAIR, answer) == message


def test_matching_pair_needs_every_key():
    assert refusal("matching_pair", PAIR, {"box": [1, 2, 3, 4], "category": "tops", "match": "same"}) == \
        ANSWER_MISSING_KEY.format(key="is_spam")


def test_an_unknown_task_kind_has_no_schema():
    assert refusal("sketch", {}, {}) == UNKNOWN_TASK_KIND.format(kind="sketch")
