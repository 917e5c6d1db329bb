"""The task-kind registry: every kind is registered, an unknown kind fails clearly, refusals map by
class hierarchy, and relevance's consensus and golden scoring behave as before."""
from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured
from rest_framework.exceptions import APIException

from labeling.answer_schemas import UNKNOWN_TASK_KIND, AnswerSchemaError, answer_clean
from labeling.api import refusal
from labeling.models import TaskKind
from labeling.task_kinds import (KIND_NOT_REGISTERED, SPEC_KIND_UNKNOWN, PayloadSchemaError, UnknownTaskKind,
                                 registry_check, task_kind_spec, task_kind_specs)
from labeling.task_kinds.relevance import GRADES


def test_every_task_kind_has_a_registered_spec_that_names_its_kind():
    specs = task_kind_specs()
    assert set(specs) == set(TaskKind.values)
    for kind, spec in specs.items():
        assert spec.kind == kind and spec.label and spec.default_guide_title and spec.default_guide_body


def test_an_unknown_kind_fails_with_a_message_naming_it():
    with pytest.raises(UnknownTaskKind) as refused:
        task_kind_spec("polygons")
    assert str(refused.value) == UNKNOWN_TASK_KIND.format(kind="polygons")
    with pytest.raises(AnswerSchemaError):
        answer_clean(kind="polygons", payload={}, answer={})


def test_start_up_check_fails_loudly_for_a_kind_without_spec_or_a_spec_without_kind():
    specs = task_kind_specs()
    missing = {kind: spec for kind, spec in specs.items() if kind != "attributes"}
    with pytest.raises(ImproperlyConfigured) as refused:
        registry_check(missing)
    assert str(refused.value) == KIND_NOT_REGISTERED.format(kind="attributes")
    with pytest.raises(ImproperlyConfigured) as refused:
        registry_check({**specs, "polygons": specs["relevance"]})
    assert str(refused.value) == SPEC_KIND_UNKNOWN.format(kind="polygons")
    registry_check()


@pytest.mark.parametrize("error", [UnknownTaskKind("no such kind"), PayloadSchemaError("bad payload"),
                                   type("NewKindAnswerError", (AnswerSchemaError,), {})("a new kind's error")])
def test_refusals_of_subclasses_map_to_their_parents_status_instead_of_a_500(error):
    exception = refusal(error)
    assert isinstance(exception, APIException)
    assert exception.status_code == 400
    assert exception.detail == str(error)


def test_relevance_consensus_takes_the_majority_per_slot_with_ties_to_the_lower_grade():
    spec = task_kind_spec("relevance")
    answers = [{"grades": ["similar", "extremely_similar"]}, {"grades": ["similar", "similar"]},
               {"grades": ["not_similar", "extremely_similar"]}, {"grades": ["not_similar", "similar"]}]
    consensus = spec.consensus(payload={}, answers=answers)
    # Slot 1: similar 2 - not_similar 2 -> the lower grade; slot 2: a 2-2 tie -> similar.
    assert consensus.answer == {"grades": ["not_similar", "similar"]}
    assert consensus.agreement == pytest.approx(0.5)


def test_relevance_golden_comparison_is_exact_or_on_the_coarse_scale():
    spec = task_kind_spec("relevance")
    golden = {"grades": ["similar", "not_similar", "extremely_similar"]}
    answer = {"grades": ["similar", "marginally_similar", "extremely_similar"]}
    exact = spec.golden_compare(payload={}, answer=answer, golden=golden)
    assert not exact.correct and exact.score == pytest.approx(2 / 3)
    coarse = spec.golden_compare(payload={}, answer=answer, golden=golden, coarse=True)
    assert coarse.correct and coarse.score == 1.0


def test_relevance_quality_rows_are_one_per_labeler_and_slot():
    rows = task_kind_spec("relevance").quality_rows(payload={}, labels=[(7, {"grades": list(GRADES[:2])})])
    assert [(row.labeler_id, row.unit, row.value) for row in rows] == [(7, "slot:1", GRADES[0]), (7, "slot:2", GRADES[1])]


def test_attribute_and_matching_consensus_vote_per_field(db):
    attributes = task_kind_spec("attributes").consensus(payload={}, answers=[
        {"attributes": {"color": "red", "pattern": "solid"}}, {"attributes": {"color": "red", "pattern": "dotted"}},
        {"attributes": {"color": "blue", "pattern": "dotted"}}])
    assert attributes.answer == {"attributes": {"color": "red", "pattern": "dotted"}}
    assert attributes.agreement == pytest.approx(2 / 3)
    matching = task_kind_spec("matching_pair").consensus(payload={}, answers=[
        {"box": [0, 0, 10, 10], "category": "tops", "match": "same", "is_spam": False},
        {"box": [0, 0, 10, 12], "category": "tops", "match": "similar", "is_spam": True}])
    # Ties go to the conservative side: the worse verdict, spam.
    assert matching.answer["match"] == "similar" and matching.answer["is_spam"] is True
