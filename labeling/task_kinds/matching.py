"""Matching-pair cleanup: a creator's (scene, box, product) pair; the labeler fixes the box and the
category, says whether the product matches and flags spam. Reuses the box geometry of ``boxes``.
The web editor comes with issue 8's matching work; the answer schema, consensus, golden comparison
and quality rows are complete here.

Payload: ``{"scene": {"url", "width", "height"}, "box", "category", "product": {...}}``.
Answer: ``{"box": [x0, y0, x1, y1], "category": slug, "is_match": bool, "is_spam": bool}``.
"""
from __future__ import annotations

from collections import Counter

from labeling.answer_schemas import matching_pair_answer_clean
from labeling.task_kinds.base import Consensus, GoldenComparison, QualityRow, TaskKindSpec, require_keys
from labeling.task_kinds.boxes import DEFAULT_IOU_THRESHOLD, _median_box, box_iou

GUIDE_TITLE = "Matching-pair cleanup: checking creators' product tags"
GUIDE_BODY = """\
# Matching-pair cleanup

A creator tagged a product in a scene. Fix the box so it is tight around the tagged item, fix the
category if it is wrong, then say whether the product shown **is** the item in the scene (the same
product, not merely a similar one). Flag **spam** when the tag is an advert, a watermark or unrelated
to the scene; spam pairs never become training data.
"""


def _flag_vote(flags: list[bool], *, tie: bool) -> bool:
    """Majority of booleans; a tie goes to the conservative side for training data: not a match,
    and spam (a pair kept out of the training set costs less than a wrong pair in it)."""
    yes = sum(flags)
    if yes * 2 == len(flags):
        return tie
    return yes * 2 > len(flags)


class MatchingPairKind(TaskKindSpec):
    kind = "matching_pair"
    label = "Matching-pair cleanup"
    golden_rule = "a label is correct when the box (IoU ≥ 0.5), the category and both flags match; the score is the share of the four that do"
    default_guide_title = GUIDE_TITLE
    default_guide_body = GUIDE_BODY

    def payload_clean(self, payload) -> dict:
        payload = super().payload_clean(payload)
        require_keys(payload, ("scene", "box", "category", "product"))
        return payload

    def answer_clean(self, *, payload: dict, answer) -> dict:
        return matching_pair_answer_clean(payload=payload, answer=answer)

    def consensus(self, *, payload: dict, answers: list[dict]) -> Consensus:
        """Median box, majority category (ties alphabetical), majority flags (ties: no match, spam);
        agreement is the mean of the shares agreeing on the category, each flag, and the box (IoU
        >= 0.5 with the median box)."""
        if not answers:
            return Consensus(None, None, 0)
        n = len(answers)
        box = _median_box([answer["box"] for answer in answers])
        counts = Counter(answer["category"] for answer in answers)
        category = min(counts, key=lambda slug: (-counts[slug], slug))
        is_match = _flag_vote([answer["is_match"] for answer in answers], tie=False)
        is_spam = _flag_vote([answer["is_spam"] for answer in answers], tie=True)
        shares = [
            sum(box_iou(answer["box"], box) >= DEFAULT_IOU_THRESHOLD for answer in answers) / n,
            counts[category] / n,
            sum(answer["is_match"] == is_match for answer in answers) / n,
            sum(answer["is_spam"] == is_spam for answer in answers) / n,
        ]
        return Consensus({"box": [round(v, 1) for v in box], "category": category, "is_match": is_match,
                          "is_spam": is_spam}, sum(shares) / len(shares), n)

    def golden_compare(self, *, payload: dict, answer: dict, golden: dict,
                       iou_threshold: float = DEFAULT_IOU_THRESHOLD, **options) -> GoldenComparison:
        parts = {
            "box": box_iou(answer["box"], golden["box"]) >= iou_threshold,
            "category": answer["category"] == golden["category"],
            "is_match": answer["is_match"] == golden["is_match"],
            "is_spam": answer["is_spam"] == golden["is_spam"],
        }
        return GoldenComparison(all(parts.values()), sum(parts.values()) / len(parts), {"parts": parts})

    def quality_rows(self, *, payload: dict, labels: list[tuple[int, dict]]) -> list[QualityRow]:
        return [QualityRow(labeler_id, unit, answer[unit])
                for labeler_id, answer in labels for unit in ("category", "is_match", "is_spam")]
