"""Attribute and matching-pair consensus and golden comparison against hand-computed cases."""
from __future__ import annotations

import pytest

from labeling.answer_schemas import ATTRIBUTE_VALUE_UNKNOWN, AnswerSchemaError
from labeling.models import Attribute
from labeling.task_kinds import task_kind_spec
from labeling.task_kinds.attributes import CANT_TELL, attribute_vote
from labeling.task_kinds.matching import spam_vote, verdict_vote

pytestmark = pytest.mark.django_db
ATTRIBUTES = task_kind_spec("attributes")
MATCHING = task_kind_spec("matching_pair")
PAYLOAD = {"category": "tops", "crop": {"url": "/media/c.png", "width": 10, "height": 10}}


def tops_answer(**values):
    answer = {"color": "red", "pattern": "solid", "fabric": "knit", "gender": "women"}
    return {"attributes": answer | values}


def test_cant_tell_never_wins_a_vote_unless_everyone_says_it():
    assert attribute_vote(["red", CANT_TELL, CANT_TELL]) == "red"
    assert attribute_vote([CANT_TELL, CANT_TELL]) == CANT_TELL


def test_an_attribute_tie_goes_to_the_value_first_in_the_schema_order():
    # colour order in the schema: black, white, grey, red, ...
    assert attribute_vote(["red", "white"], ("black", "white", "grey", "red")) == "white"
    assert attribute_vote(["red", "white", "red"], ("black", "white", "grey", "red")) == "red"


def test_attribute_consensus_reports_per_attribute_agreement():
    consensus = ATTRIBUTES.consensus(payload=PAYLOAD, answers=[
        tops_answer(), tops_answer(color="navy"), tops_answer(color="navy", pattern=CANT_TELL)])
    assert consensus.answer == tops_answer(color="navy")
    agreement = consensus.details["attribute_agreement"]
    assert agreement == {"color": pytest.approx(2 / 3), "pattern": pytest.approx(2 / 3), "fabric": 1.0, "gender": 1.0}
    assert consensus.agreement == pytest.approx((2 / 3 + 2 / 3 + 1 + 1) / 4)


def test_attribute_golden_comparison_is_exact_per_attribute():
    comparison = ATTRIBUTES.golden_compare(payload=PAYLOAD, answer=tops_answer(color="navy", pattern=CANT_TELL),
                                           golden=tops_answer())
    assert not comparison.correct and comparison.score == 0.5
    assert comparison.details["attribute_matches"] == {"color": False, "pattern": False, "fabric": True,
                                                       "gender": True}
    assert ATTRIBUTES.golden_compare(payload=PAYLOAD, answer=tops_answer(), golden=tops_answer()).correct


def test_an_expert_adding_a_value_makes_it_valid_at_once_and_cant_tell_is_always_valid():
    assert ATTRIBUTES.answer_clean(payload=PAYLOAD, answer=tops_answer(color=CANT_TELL))["attributes"]["color"] == CANT_TELL
    with pytest.raises(AnswerSchemaError) as refused:
        ATTRIBUTES.answer_clean(payload=PAYLOAD, answer=tops_answer(color="teal"))
    assert str(refused.value).startswith(ATTRIBUTE_VALUE_UNKNOWN.format(value="teal", name="color", allowed="")[:30])
    color = Attribute.objects.get(name="color")
    color.values = [*color.values, "teal"]
    color.save()
    assert ATTRIBUTES.answer_clean(payload=PAYLOAD, answer=tops_answer(color="teal"))["attributes"]["color"] == "teal"


def pair_answer(box=(10, 10, 110, 210), category="tops", match="same", is_spam=False):
    return {"box": [float(v) for v in box], "category": category, "match": match, "is_spam": is_spam}


def test_verdict_and_spam_votes_break_ties_towards_the_safe_side():
    assert verdict_vote(["same", "similar"]) == "similar"
    assert verdict_vote(["same", "not_match"]) == "not_match"
    assert verdict_vote(["same", "same", "similar"]) == "same"
    assert spam_vote([True, False]) is True and spam_vote([True, False, False]) is False


def test_matching_consensus_takes_the_largest_box_cluster_and_reports_every_fields_agreement():
    consensus = MATCHING.consensus(payload={}, answers=[
        pair_answer(), pair_answer(box=(12, 8, 108, 212), match="similar"), pair_answer(box=(300, 300, 400, 400),
                                                                                         category="coats")])
    # Two boxes agree (median of the pair), one is elsewhere; the third labeler's category loses.
    assert consensus.answer == {"box": [11.0, 9.0, 109.0, 211.0], "category": "tops",
                                "match": "same", "is_spam": False}
    assert consensus.details["field_agreement"] == {"box": pytest.approx(2 / 3), "category": pytest.approx(2 / 3),
                                                    "match": pytest.approx(2 / 3), "is_spam": 1.0}


def test_matching_golden_comparison_reports_each_field():
    golden = pair_answer(match="similar")
    comparison = MATCHING.golden_compare(payload={}, answer=pair_answer(box=(20, 20, 110, 210)), golden=golden)
    assert comparison.details["fields"] == {"box": True, "category": True, "match": False, "is_spam": True}
    assert not comparison.correct and comparison.score == 0.75
    assert MATCHING.golden_compare(payload={}, answer=golden, golden=golden).correct
