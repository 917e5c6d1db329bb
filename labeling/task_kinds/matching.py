"""Matching-pair cleanup: a creator's (scene, box, product) tag; the labeler fixes the box and the
category, says whether the product is the boxed item (the same item, a similar item, or not a
match) and flags spam. Reuses the box geometry of ``boxes`` (and the browser reuses its canvas).

Payload: ``{"pair_id", "scene": {"url", "width", "height"}, "box", "category", "product": {"id"?,
"image_url", "category"?}}``; ``box`` is the creator's, in scene pixels.
Answer: ``{"box": [x0, y0, x1, y1], "category": slug, "match": "same" | "similar" | "not_match",
"is_spam": bool}``.
"""
from __future__ import annotations

from collections import Counter

from labeling import taxonomy
from labeling.answer_schemas import (MATCH_VERDICT_UNKNOWN, AnswerSchemaError, _clean_box, _clean_category,
                                     _clean_flag, _image_size, require_answer_keys, require_object)
from labeling.task_kinds.base import (AccuracyRow, Consensus, GoldenComparison, PayloadSchemaError, QualityRow, TaskKindSpec,
                                      require_keys)
from labeling.task_kinds.boxes import DEFAULT_IOU_THRESHOLD, box_iou, boxes_cluster

# Best to worst: a tie in the vote goes to the later verdict, so a cleaned dataset never keeps a
# pair the labelers could not agree was the same item.
MATCH_VERDICTS: tuple[str, ...] = ("same", "similar", "not_match")
MATCH_LABELS = {"same": "Same item", "similar": "Similar item", "not_match": "Not a match"}
FIELDS = ("box", "category", "match", "is_spam")
PAYLOAD_SCENE_INVALID = "'scene' must be an object with the scene's 'url', 'width' and 'height' in pixels."
PAYLOAD_PRODUCT_INVALID = "'product' must be an object with the product's 'image_url'."

GUIDE_TITLE = "Matching-pair cleanup: checking creators' product tags"
GUIDE_BODY = """\
# Matching-pair cleanup

A creator tagged a product in a scene: a box on the scene and the product they say it is.

1. **Fix the box** so it is tight around the tagged item (drag it, or its corners).
2. **Fix the category** if it is wrong.
3. **Match**: is the product shown the boxed item?
   - *Same item*: the same product (same colour, pattern, shape and details).
   - *Similar item*: the same kind of product, close but not the same one.
   - *Not a match*: anything else.
4. **Spam**: flag the pair when the tag is an advert, a watermark, or unrelated to the scene (a box on
   the background, a product that has nothing to do with the photo). Spam pairs never become training
   data, whatever the other answers say.
"""


def verdict_vote(verdicts: list[str]) -> str:
    counts = Counter(verdicts)
    order = {verdict: position for position, verdict in enumerate(MATCH_VERDICTS)}
    return max(counts, key=lambda verdict: (counts[verdict], order.get(verdict, len(order))))


def spam_vote(flags: list[bool]) -> bool:
    """Spam when a majority says so, and on a tie (a pair kept out costs less than a wrong one in)."""
    return sum(flags) * 2 >= len(flags)


class MatchingPairKind(TaskKindSpec):
    kind = "matching_pair"
    label = "Matching-pair cleanup"
    golden_rule = ("a label is correct when the box (IoU ≥ 0.5), the category, the match verdict and the spam flag "
                   "all match; the score is the share of the four that do")
    default_guide_title = GUIDE_TITLE
    default_guide_body = GUIDE_BODY
    editor_template = "frontend/editors/matching.html"
    editor_scripts = ("frontend/editors/box_canvas.js",
                      "frontend/editors/category_picker.js",
                      "frontend/editors/matching.js")
    # The canvas's styles (the bx-* classes) are the box editor's sheet; matching.css adds the rest.
    editor_stylesheets = ("frontend/editors/boxes.css", "frontend/editors/matching.css")
    review_template = "frontend/review/matching.html"

    def payload_clean(self, payload) -> dict:
        payload = super().payload_clean(payload)
        require_keys(payload, ("scene", "box", "category", "product"))
        if not isinstance(payload["scene"], dict) or _image_size(payload["scene"]) is None \
                or not isinstance(payload["scene"].get("url"), str):
            raise PayloadSchemaError(PAYLOAD_SCENE_INVALID)
        if not isinstance(payload["product"], dict) or not isinstance(payload["product"].get("image_url"), str):
            raise PayloadSchemaError(PAYLOAD_PRODUCT_INVALID)
        _clean_box(payload["box"], where="The creator's box", image_size=None)
        return payload

    def answer_clean(self, *, payload: dict, answer) -> dict:
        answer = require_object(answer)
        require_answer_keys(answer, FIELDS)
        if not isinstance(answer["match"], str) or answer["match"] not in MATCH_VERDICTS:
            raise AnswerSchemaError(MATCH_VERDICT_UNKNOWN.format(value=answer["match"],
                                                                 allowed=", ".join(MATCH_VERDICTS)))
        return {
            "box": _clean_box(answer["box"], where="'box'", image_size=_image_size(payload.get("scene"))),
            "category": _clean_category(answer["category"], where="'category'"),
            "match": answer["match"],
            "is_spam": _clean_flag(answer, "is_spam"),
        }

    def editor_context(self) -> dict:
        choices = taxonomy.category_choices()
        return {"categories": choices, "match_verdicts": [{"value": v, "label": MATCH_LABELS[v]} for v in MATCH_VERDICTS]}

    def export_left_out(self, *, answer: dict) -> str | None:
        """Spam never becomes training data, whatever the verdict; nor does a pair that is not a match."""
        if answer.get("is_spam"):
            return "spam"
        if answer.get("match") == "not_match":
            return "not_match"
        return None

    def consensus(self, *, payload: dict, answers: list[dict]) -> Consensus:
        """The box as for box tasks (the labelers' boxes clustered by IoU; the consensus box is the
        median of the largest cluster), the category and the verdict by majority (category ties
        alphabetical, verdict ties to the worse verdict), spam when at least half say so. Each field's
        agreement is in ``details["field_agreement"]``; the item's agreement is their mean."""
        if not answers:
            return Consensus(None, None, 0)
        n = len(answers)
        clusters = boxes_cluster([(index, [{"box": answer["box"], "category": answer["category"]}])
                                  for index, answer in enumerate(answers)])
        largest = max(clusters, key=lambda cluster: len(cluster.members))
        counts = Counter(answer["category"] for answer in answers)
        category = min(counts, key=lambda slug: (-counts[slug], slug))
        verdict = verdict_vote([answer["match"] for answer in answers])
        is_spam = spam_vote([answer["is_spam"] for answer in answers])
        field_agreement = {
            "box": len(largest.members) / n,
            "category": counts[category] / n,
            "match": sum(answer["match"] == verdict for answer in answers) / n,
            "is_spam": sum(answer["is_spam"] == is_spam for answer in answers) / n,
        }
        consensus = {"box": [round(v, 1) for v in largest.box], "category": category, "match": verdict,
                     "is_spam": is_spam}
        return Consensus(consensus, sum(field_agreement.values()) / len(field_agreement), n,
                         {"field_agreement": field_agreement})

    def golden_compare(self, *, payload: dict, answer: dict, golden: dict,
                       iou_threshold: float = DEFAULT_IOU_THRESHOLD, **options) -> GoldenComparison:
        """Per field (``details["fields"]``): the box at IoU >= 0.5, the rest equal."""
        fields = {
            "box": box_iou(answer["box"], golden["box"]) >= iou_threshold,
            "category": answer["category"] == golden["category"],
            "match": answer["match"] == golden["match"],
            "is_spam": answer["is_spam"] == golden["is_spam"],
        }
        return GoldenComparison(all(fields.values()), sum(fields.values()) / len(fields), {"fields": fields})

    def answer_summary(self, *, payload: dict, answer: dict) -> list[str]:
        box = ", ".join(f"{value:g}" for value in answer.get("box") or [])
        return [f"Match: {MATCH_LABELS.get(answer.get('match'), answer.get('match'))}",
                f"Category: {answer.get('category')}", f"Box: [{box}]",
                "Spam" if answer.get("is_spam") else "Not spam"]

    def review_context(self, *, payload: dict, labels: list[tuple[str, dict]], consensus: Consensus,
                       golden: dict | None) -> dict:
        """The boxes review's layers (each labeler's box, the consensus and golden boxes, the creator's
        box as the first layer) plus a row of fields per labeler."""
        from labeling.task_kinds.boxes import REVIEW_COLOURS, _rect, _review_sizes

        scene = payload.get("scene") or {}
        creator = {"box": payload.get("box"), "category": payload.get("category") or "?"}
        layers = [{"name": "creator", "boxes": [_rect(creator)], "colour": "#999999"}]
        layers += [{"name": name, "boxes": [_rect(answer)], "colour": REVIEW_COLOURS[index % len(REVIEW_COLOURS)]}
                   for index, (name, answer) in enumerate(labels)]
        agreement = consensus.details.get("field_agreement", {})
        rows = [{"name": name, "category": answer["category"], "match": MATCH_LABELS.get(answer["match"]),
                 "is_spam": answer["is_spam"]} for name, answer in labels]
        return {"image": scene, "layers": layers,
                "consensus_boxes": [_rect(consensus.answer, confidence=agreement.get("box"))] if consensus.answer else [],
                "golden_boxes": [_rect(golden)] if golden else None, "product": payload.get("product") or {},
                "rows": rows, "consensus": consensus.answer, "match_labels": MATCH_LABELS, "agreement": agreement,
                "golden": golden, **_review_sizes(max(scene.get("width") or 0, scene.get("height") or 0))}

    def simulated_answer(self, *, payload: dict, truth: dict, profile, rng, shared_key: str | None = None) -> dict:
        """A simulated labeler's answer (labeling/quality/simulation.py): the error model of this module's
        last section applied to the true answer (this kind has no pool-shared reading: ``shared_key``
        is not used)."""
        return matching_simulated(truth=truth, image_size=_image_size(payload.get("scene")),
                                  categories=taxonomy.taxonomy_snapshot().leaves, profile=profile, rng=rng)

    def item_category(self, payload: dict) -> str | None:
        return payload.get("category")

    def accuracy_rows(self, *, payload: dict, answer: dict, golden: dict, scale: str = "exact",
                      iou_threshold: float = DEFAULT_IOU_THRESHOLD, **options) -> list[AccuracyRow]:
        """A row per field: the box by IoU with the golden box, the others equal to the golden value."""
        rows = [AccuracyRow("box", box_iou(answer["box"], golden["box"]) >= iou_threshold)]
        rows += [AccuracyRow(name, answer[name] == golden[name], answer[name], golden[name])
                 for name in ("category", "match", "is_spam")]
        return rows

    def quality_rows(self, *, payload: dict, labels: list[tuple[int, dict]]) -> list[QualityRow]:
        """Nominal fields as they are; the box as whether it pairs with the creator's box (IoU >= 0.5)."""
        rows = []
        for labeler_id, answer in labels:
            rows.append(QualityRow(labeler_id, "box", box_iou(answer["box"], payload["box"]) >= DEFAULT_IOU_THRESHOLD))
            rows.extend(QualityRow(labeler_id, unit, answer[unit]) for unit in ("category", "match", "is_spam"))
        return rows


# == Simulated labelers ============================================================================
# A simulation, never a person (labeling/quality/simulation.py; docs/METRICS.md, "Simulated
# labelers"). The box geometry is the boxes kind's.


def matching_simulated(*, truth: dict, image_size: tuple[float, float], categories, profile, rng) -> dict:
    """A simulated labeler's cleanup answer: the true box jittered by ``box_jitter``; with
    probability ``category_error`` another category, with ``verdict_error`` another verdict, with
    ``spam_error`` the spam flag flipped. A spammer answers every field at random."""
    from labeling.task_kinds.boxes import box_jittered, box_random, category_other

    if profile.spammer:
        return {"box": box_random(image_size=image_size, rng=rng), "category": rng.choice(categories),
                "match": rng.choice(MATCH_VERDICTS), "is_spam": rng.random() < 0.5}
    category, verdict, is_spam = truth["category"], truth["match"], bool(truth["is_spam"])
    if rng.random() < profile.category_error:
        category = category_other(category, categories=categories, rng=rng)
    if rng.random() < profile.verdict_error:
        verdict = rng.choice([other for other in MATCH_VERDICTS if other != verdict])
    if rng.random() < profile.spam_error:
        is_spam = not is_spam
    return {"box": box_jittered(truth["box"], jitter=profile.box_jitter, image_size=image_size, rng=rng),
            "category": category, "match": verdict, "is_spam": is_spam}


