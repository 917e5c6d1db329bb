"""Attributes: one value per attribute that applies to a crop's category (the attribute schema in
the database, ``labeling.taxonomy``). The web editor comes with issue 8's attribute work; the
answer schema, consensus, golden comparison and quality rows are complete here.

Payload: ``{"category": slug, "crop_url"?: ...}``. Answer: ``{"attributes": {name: value}}``.
"""
from __future__ import annotations

from collections import Counter

from labeling.answer_schemas import attributes_answer_clean
from labeling.task_kinds.base import Consensus, GoldenComparison, QualityRow, TaskKindSpec, require_keys

GUIDE_TITLE = "Attributes: describing a product crop"
GUIDE_BODY = """\
# Attributes

For the product in the crop, choose one value for every attribute listed. Judge what you see, not
what the product might be: a navy top photographed in warm light is still navy.

- **Color**: the main colour, the one covering most of the product.
- **Pattern**: *solid* unless a pattern covers a large part of the product.
- **Fabric**, **length**, **dress style**: the closest value; when two fit, take the more common one.
"""


def _vote(values: list[str]) -> str:
    counts = Counter(values)
    return min(counts, key=lambda value: (-counts[value], str(value)))


class AttributesKind(TaskKindSpec):
    kind = "attributes"
    label = "Attributes"
    golden_rule = "a label is correct when every attribute has the golden value; the score is the share that do"
    default_guide_title = GUIDE_TITLE
    default_guide_body = GUIDE_BODY

    def payload_clean(self, payload) -> dict:
        payload = super().payload_clean(payload)
        require_keys(payload, ("category",))
        return payload

    def answer_clean(self, *, payload: dict, answer) -> dict:
        return attributes_answer_clean(payload=payload, answer=answer)

    def consensus(self, *, payload: dict, answers: list[dict]) -> Consensus:
        """Per attribute the majority value (a tie goes to the value first in sorted order);
        agreement is the mean over attributes of the share of labels giving the consensus value."""
        if not answers:
            return Consensus(None, None, 0)
        names = list(dict.fromkeys(name for answer in answers for name in answer["attributes"]))
        values, shares = {}, []
        for name in names:
            given = [answer["attributes"][name] for answer in answers if name in answer["attributes"]]
            values[name] = _vote(given)
            shares.append(sum(value == values[name] for value in given) / len(given))
        return Consensus({"attributes": values}, sum(shares) / len(shares) if shares else 1.0, len(answers))

    def golden_compare(self, *, payload: dict, answer: dict, golden: dict, **options) -> GoldenComparison:
        expected = golden["attributes"]
        matches = {name: answer["attributes"].get(name) == value for name, value in expected.items()}
        score = sum(matches.values()) / len(matches) if matches else 1.0
        return GoldenComparison(all(matches.values()), score, {"attribute_matches": matches})

    def quality_rows(self, *, payload: dict, labels: list[tuple[int, dict]]) -> list[QualityRow]:
        return [QualityRow(labeler_id, f"attribute:{name}", value)
                for labeler_id, answer in labels for name, value in answer["attributes"].items()]
