"""Attributes: one value per attribute that applies to a crop's category, from the attribute
schema in the database (``labeling.taxonomy``), or "can't tell".

Payload: ``{"category": slug, "crop": {"url", "width", "height"}, "scene"?: {"url", "width",
"height"}, "box"?: [x0, y0, x1, y1]}`` (``box`` in scene pixels). Answer: ``{"attributes": {name:
value or "cant_tell"}}`` with exactly the attributes of the category.

Schema edits: a value or attribute an expert adds is valid for the next submit (the taxonomy
snapshot is re-read when it changes). Stored labels are never validated again: consensus and
scoring take them as they were given, so an old label keeps the schema it was made under, and a
value removed later still counts where it was chosen (docs/TASK_KINDS.md).
"""
from __future__ import annotations

from collections import Counter

from labeling import taxonomy
from labeling.answer_schemas import (ATTRIBUTE_MISSING, ATTRIBUTE_NOT_APPLICABLE, ATTRIBUTE_VALUE_UNKNOWN,
                                     ATTRIBUTES_NO_CATEGORY, ATTRIBUTES_NOT_OBJECT, AnswerSchemaError,
                                     require_answer_keys, require_object)
from labeling.task_kinds.base import (AccuracyRow, Consensus, GoldenComparison, PayloadSchemaError, QualityRow, TaskKindSpec,
                                      require_keys)

PAYLOAD_CROP_INVALID = "'crop' must be an object with the crop image's 'url' (and its 'width' and 'height')."
# The answer for an attribute the labeler cannot judge from the crop; it never wins a vote.
CANT_TELL = "cant_tell"

GUIDE_TITLE = "Attributes: describing a product crop"
GUIDE_BODY = """\
# Attributes

For the product in the crop, choose one value for every attribute listed. Judge what you see, not
what the product might be: a navy top photographed in warm light is still navy.

- **Color**: the main colour, the one covering most of the product.
- **Pattern**: *solid* unless a pattern covers a large part of the product.
- **Fabric**, **length**, **dress style**: the closest value; when two fit, take the more common one.
- **Can't tell** only when the crop does not show it (the hem is cut off, the fabric is a blur).
  It is not a way to skip a hard call.
"""


def attribute_vote(values: list, order: tuple = ()) -> object:
    """The majority value, "can't tell" left out unless every label says it; a tie goes to the
    value that comes first in the attribute's schema order (``order``), then in sorted order."""
    judged = [value for value in values if value != CANT_TELL]
    if not judged:
        return CANT_TELL
    counts = Counter(judged)
    rank = {value: position for position, value in enumerate(order)}
    return min(counts, key=lambda value: (-counts[value], rank.get(value, len(rank)), str(value)))


class AttributesKind(TaskKindSpec):
    kind = "attributes"
    label = "Attributes"
    editor_template = "frontend/editors/attributes.html"
    editor_scripts = ("frontend/editors/attributes.js",)
    editor_stylesheets = ("frontend/editors/attributes.css",)
    review_template = "frontend/review/attributes.html"
    golden_rule = "a label is correct when every attribute has the golden value; the score is the share that do"
    default_guide_title = GUIDE_TITLE
    default_guide_body = GUIDE_BODY

    def payload_clean(self, payload) -> dict:
        payload = super().payload_clean(payload)
        require_keys(payload, ("category", "crop"))
        crop = payload["crop"]
        if not isinstance(crop, dict) or not isinstance(crop.get("url"), str):
            raise PayloadSchemaError(PAYLOAD_CROP_INVALID)
        return payload

    def answer_clean(self, *, payload: dict, answer) -> dict:
        answer = require_object(answer)
        require_answer_keys(answer, ("attributes",))
        values = answer["attributes"]
        if not isinstance(values, dict):
            raise AnswerSchemaError(ATTRIBUTES_NOT_OBJECT)
        category = payload.get("category")
        snapshot = taxonomy.taxonomy_snapshot()
        if not isinstance(category, str) or category not in snapshot.categories:
            raise AnswerSchemaError(ATTRIBUTES_NO_CATEGORY)
        applicable = snapshot.attributes_for(category)
        applicable_names = {a.name for a in applicable}
        for name in values:
            if name not in applicable_names:
                raise AnswerSchemaError(ATTRIBUTE_NOT_APPLICABLE.format(name=name, category=category))
        cleaned = {}
        for attribute in applicable:
            if attribute.name not in values:
                raise AnswerSchemaError(ATTRIBUTE_MISSING.format(name=attribute.name, category=category))
            value = values[attribute.name]
            if value != CANT_TELL and value not in attribute.values:
                raise AnswerSchemaError(ATTRIBUTE_VALUE_UNKNOWN.format(  # values edited in the admin may be any JSON
                    value=value, name=attribute.name,
                    allowed=", ".join([*(str(v) for v in attribute.values), CANT_TELL])))
            cleaned[attribute.name] = value
        return {"attributes": cleaned}

    def editor_context(self) -> dict:
        snapshot = taxonomy.taxonomy_snapshot()
        return {
            "attributes_by_category": {
                slug: [{"name": a.name, "label": a.label, "values": list(a.values)}
                       for a in snapshot.attributes_for(slug)]
                for slug in snapshot.leaves},
            "category_names": {slug: snapshot.categories[slug].name for slug in snapshot.leaves},
            "cant_tell": CANT_TELL,
        }

    def export_left_out(self, *, answer: dict) -> str | None:
        """A crop whose every attribute is "can't tell" teaches nothing."""
        values = (answer.get("attributes") or {}).values()
        return "cant_tell" if all(value == CANT_TELL for value in values) else None

    def consensus(self, *, payload: dict, answers: list[dict]) -> Consensus:
        """Per attribute the majority value (``attribute_vote``: "can't tell" never wins against a
        value, a tie goes to the value first in the schema's order); the item's agreement is the mean
        over attributes of the share of labels giving the consensus value, each attribute's in
        ``details["attribute_agreement"]``."""
        if not answers:
            return Consensus(None, None, 0)
        order = {a.name: a.values for a in taxonomy.attributes_for(payload.get("category") or "")}
        names = list(dict.fromkeys(name for answer in answers for name in answer["attributes"]))
        values, agreement = {}, {}
        for name in names:
            given = [answer["attributes"][name] for answer in answers if name in answer["attributes"]]
            values[name] = attribute_vote(given, order.get(name, ()))
            agreement[name] = sum(value == values[name] for value in given) / len(given)
        overall = sum(agreement.values()) / len(agreement) if agreement else 1.0
        return Consensus({"attributes": values}, overall, len(answers), {"attribute_agreement": agreement})

    def answer_summary(self, *, payload: dict, answer: dict) -> list[str]:
        values = answer.get("attributes") or {}
        return [f"{name.replace('_', ' ').capitalize()}: " + ("can't tell" if value == CANT_TELL else str(value))
                for name, value in values.items()]

    def review_context(self, *, payload: dict, labels: list[tuple[str, dict]], consensus: Consensus,
                       golden: dict | None) -> dict:
        names = list(dict.fromkeys(name for _, answer in labels for name in answer["attributes"]))
        if golden:
            names += [name for name in golden["attributes"] if name not in names]
        agreement = consensus.details.get("attribute_agreement", {})
        rows = [{"name": name,
                 "values": [answer["attributes"].get(name) for _, answer in labels],
                 "consensus": consensus.answer["attributes"].get(name) if consensus.answer else None,
                 "agreement": agreement.get(name),
                 "golden": golden["attributes"].get(name) if golden else None} for name in names]
        return {"labelers": [name for name, _ in labels], "rows": rows, "crop": payload.get("crop") or {},
                "category": payload.get("category")}

    def golden_compare(self, *, payload: dict, answer: dict, golden: dict, **options) -> GoldenComparison:
        expected = golden["attributes"]
        matches = {name: answer["attributes"].get(name) == value for name, value in expected.items()}
        score = sum(matches.values()) / len(matches) if matches else 1.0
        return GoldenComparison(all(matches.values()), score, {"attribute_matches": matches})

    def quality_rows(self, *, payload: dict, labels: list[tuple[int, dict]]) -> list[QualityRow]:
        return [QualityRow(labeler_id, f"attribute:{name}", value)
                for labeler_id, answer in labels for name, value in answer["attributes"].items()]

    def simulated_answer(self, *, payload: dict, truth: dict, profile, rng, shared_key: str | None = None) -> dict:
        """A simulated labeler's answer (labeling/quality/simulation.py): the error model of this module's
        last section applied to the true answer (this kind has no pool-shared reading: ``shared_key``
        is not used)."""
        schema = [(attribute.name, attribute.values) for attribute in taxonomy.attributes_for(payload.get("category") or "")]
        return {"attributes": attributes_simulated(truth_values=truth["attributes"], schema=schema, profile=profile,
                                                   rng=rng)}

    def quality_field(self, unit: str) -> str:
        # Every attribute has its own vocabulary: each is a field of its own.
        return unit

    def item_category(self, payload: dict) -> str | None:
        return payload.get("category")

    def accuracy_rows(self, *, payload: dict, answer: dict, golden: dict, scale: str = "exact",
                      **options) -> list[AccuracyRow]:
        """A row per attribute the golden answer sets."""
        return [AccuracyRow(f"attribute:{name}", answer["attributes"].get(name) == value,
                            answer["attributes"].get(name), value)
                for name, value in golden["attributes"].items()]


# == Simulated labelers ============================================================================
# A simulation, never a person (labeling/quality/simulation.py; docs/METRICS.md, "Simulated
# labelers").


def attributes_simulated(*, truth_values: dict, schema: list[tuple[str, tuple]], profile, rng) -> dict:
    """A simulated labeler's value for every attribute of ``schema`` ((name, allowed values) in
    schema order): the true value, except with probability ``attribute_error``, when it is "can't
    tell" (with probability ``cant_tell_share``, or when the attribute has no other value) or
    another allowed value. A true value the schema no longer allows reads as "can't tell". A
    spammer picks uniformly among the allowed values and "can't tell"."""
    answer = {}
    for name, allowed in schema:
        allowed = list(allowed)
        if profile.spammer:
            answer[name] = rng.choice([*allowed, CANT_TELL])
            continue
        true = truth_values.get(name, CANT_TELL)
        if true != CANT_TELL and true not in allowed:
            true = CANT_TELL
        value = true
        if rng.random() < profile.attribute_error:
            others = [candidate for candidate in allowed if candidate != true]
            if true != CANT_TELL and (not others or rng.random() < profile.cant_tell_share):
                value = CANT_TELL
            elif others:
                value = rng.choice(others)
        answer[name] = value
    return answer


