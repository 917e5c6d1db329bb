"""Relevance at 5: one grade per retrieved candidate of a query object (docs/METRICS.md, section 1).

The grade vocabulary is defined here and nowhere else; the majority vote of grades (ties to the
lower grade) lives here and ``evaluation.metrics`` calls it.

Payload: ``{"query_object": {"id", "crop_url", "scene_url", "box", "category"}, "candidates":
[{"product_id", "image_url", "category"}, ...]}``, candidates in rank order.
Answer: ``{"grades": [grade, ...]}`` with one grade per candidate, in the payload's order.
"""
from __future__ import annotations

import random
from collections import Counter

import pandas as pd

from labeling.answer_schemas import (GRADE_UNKNOWN, GRADES_NOT_LIST, GRADES_WRONG_COUNT,
                                     AnswerSchemaError, require_answer_keys, require_object)
from labeling.task_kinds.base import (AccuracyRow, Consensus, GoldenComparison, PayloadSchemaError, QualityRow, TaskKindSpec,
                                      require_keys)

# Best to worst. A tie in the vote goes to the lower grade: an evaluation that rounds ties up would
# overstate the model.
GRADES: tuple[str, ...] = ("extremely_similar", "similar", "marginally_similar", "not_similar", "did_not_load")
GRADE_ORDER: dict[str, int] = {grade: position for position, grade in enumerate(GRADES)}
SIMILAR_GRADES = frozenset({"extremely_similar", "similar"})
EXTREMELY_SIMILAR_GRADES = frozenset({"extremely_similar"})
BAD_GRADES = frozenset({"marginally_similar", "not_similar", "did_not_load"})
# The coarse scale the seed reports accuracy on: extremely similar, similar, and everything else.
COARSE_GRADE: dict[str, str] = {"extremely_similar": "extremely_similar", "similar": "similar",
                                "marginally_similar": "bad", "not_similar": "bad", "did_not_load": "bad"}
# Grade -> (key on the keyboard, label, one-line reminder of the guide's definition).
GRADE_KEYS: dict[str, tuple[str, str, str]] = {
    "extremely_similar": ("e", "Extremely similar", "almost the same item"),
    "similar": ("s", "Similar", "minor differences, e.g. colour or shape"),
    "marginally_similar": ("m", "Marginally similar", "same kind of item, clearly different"),
    "not_similar": ("n", "Not similar", "a different item"),
    "did_not_load": ("d", "Did not load", "the product image is missing or broken"),
}
GRADE_DEFINITIONS: list[dict] = [{"value": grade, "key": GRADE_KEYS[grade][0], "label": GRADE_KEYS[grade][1],
                                  "hint": GRADE_KEYS[grade][2]} for grade in GRADES]

CANDIDATES_NOT_LIST = "'candidates' must be a list of the retrieved products, in rank order."
UNKNOWN_GRADE_ERROR = "unknown relevance grade(s) {grades}; expected one of " + ", ".join(GRADES)
SLOT_LABEL_COLUMNS = ("query_object_id", "slot", "grade")
MISSING_COLUMNS_ERROR = "{frame} frame lacks columns {columns}"

GUIDE_TITLE = "Relevance at 5: grading retrieved products"
GUIDE_BODY = """\
# Relevance at 5

You see a **query object** (a crop of a scene photo, with the scene beside it) and up to five
**products** the system retrieved for it. Give every product one grade. Judge the product against
the query object only, never against the other products. Keys 1-5 pick a product; E, S, M, N and
D give it a grade, and the next product is selected automatically.

## The grades

1. **Extremely similar**: almost the same item. Same kind of product, same colour, same pattern,
   same shape and details (trims, emblem, buttons); a shopper would believe it is the item in the photo.
   *Example:* the query is a navy striped top with a small gold star on the chest; the product is a
   navy striped top with the gold star in the same place.
2. **Similar**: the same kind of product with minor differences, such as a slightly different
   shade or shape, while colour and pattern match.
   *Example:* the query is a red dotted skirt at knee length; the product is a red dotted skirt cut a
   little shorter, without the pocket.
3. **Marginally similar**: the same kind of product, but clearly different in colour or pattern.
   *Example:* the query is a black leather handbag; the product is a brown striped handbag.
4. **Not similar**: a different kind of product.
   *Example:* the query is a pair of sunglasses; the product is a necklace.
5. **Did not load**: the product image is blank, broken or does not show a product. Use it only for
   that; never for a product you are unsure about.

## When in doubt

- Between two grades, pick the **lower** one. Results are counted conservatively, and an honest
  "similar" is worth more than a generous "extremely similar".
- Colour beats shape: a product of the right colour and pattern with a different silhouette is
  *similar*; the right silhouette in the wrong colour is *marginally similar*.
- If the crop shows two items, grade against the one that fills most of the crop.
- Ignore the background, the model wearing the item and the lighting.
"""


def grade_lower(first: str, second: str) -> str:
    """The more conservative of two grades."""
    return first if GRADE_ORDER[first] >= GRADE_ORDER[second] else second


def slot_majority_vote(slot_labels: pd.DataFrame) -> pd.DataFrame:
    """Majority vote per (query object, slot); a tie goes to the lower (more conservative) grade.

    ``slot_labels`` has one row per (labeler, query object, slot) with ``query_object_id``, ``slot``
    and ``grade``. Returns one row per judged slot: ``query_object_id``, ``slot``, ``grade``, ``n_labels``.
    """
    missing = [c for c in SLOT_LABEL_COLUMNS if c not in slot_labels.columns]
    if missing:
        raise ValueError(MISSING_COLUMNS_ERROR.format(frame="slot labels", columns=", ".join(missing)))
    if slot_labels.empty:
        return pd.DataFrame({"query_object_id": pd.Series(dtype="int64"), "slot": pd.Series(dtype="int64"),
                             "grade": pd.Series(dtype="object"), "n_labels": pd.Series(dtype="int64")})
    unknown = sorted(set(slot_labels["grade"]) - set(GRADES))
    if unknown:
        raise ValueError(UNKNOWN_GRADE_ERROR.format(grades=", ".join(map(str, unknown))))
    votes = (slot_labels.groupby(["query_object_id", "slot", "grade"], sort=False).size()
             .rename("votes").reset_index())
    votes["order"] = votes["grade"].map(GRADE_ORDER)
    votes["n_labels"] = votes.groupby(["query_object_id", "slot"])["votes"].transform("sum")
    # Most votes first; among equals the worst grade (highest order) first.
    winners = (votes.sort_values(["query_object_id", "slot", "votes", "order"], ascending=[True, True, False, False])
               .drop_duplicates(["query_object_id", "slot"], keep="first"))
    return winners[["query_object_id", "slot", "grade", "n_labels"]].reset_index(drop=True)


SLOT_FRAME_COLUMNS = ["query_object_id", "labeler_id", "slot", "grade"]


def slot_label_frame(rows: list[tuple[int, int, dict]]) -> pd.DataFrame:
    """One row per (labeler, query object, slot) from (query object id, labeler id, answer) rows.

    Grade i of an answer belongs to slot i + 1: the payload lists candidates in rank order."""
    if not rows:
        return pd.DataFrame({"query_object_id": pd.Series(dtype="int64"), "labeler_id": pd.Series(dtype="int64"),
                             "slot": pd.Series(dtype="int64"), "grade": pd.Series(dtype="object")})
    frame = pd.DataFrame(rows, columns=["query_object_id", "labeler_id", "answer"])
    frame["grade"] = frame["answer"].map(lambda answer: list(answer.get("grades") or []))
    frame = frame.drop(columns="answer").explode("grade", ignore_index=False).dropna(subset=["grade"])
    frame["slot"] = frame.groupby(level=0).cumcount() + 1
    return frame.reset_index(drop=True)[SLOT_FRAME_COLUMNS]


def _slot_vote(grades: list[str]) -> str:
    counts = Counter(grades)
    # Most votes, then the lower grade: the same rule as slot_majority_vote, for one slot.
    return max(counts, key=lambda grade: (counts[grade], GRADE_ORDER[grade]))


class RelevanceKind(TaskKindSpec):
    kind = "relevance"
    label = "Relevance at 5"
    editor_template = "frontend/editors/relevance.html"
    editor_scripts = ("frontend/editors/relevance.js",)
    review_template = "frontend/review/relevance.html"
    golden_rule = "a label is correct when every slot has the golden grade; the score is the share of slots that do"
    default_guide_title = GUIDE_TITLE
    default_guide_body = GUIDE_BODY
    # Grades are ordered; did_not_load says nothing about similarity, so it is missing data.
    alpha_level = "ordinal"
    quality_value_order = GRADES
    quality_missing_values = frozenset({"did_not_load"})
    accuracy_scales = ("exact", "coarse")

    def payload_clean(self, payload) -> dict:
        payload = super().payload_clean(payload)
        require_keys(payload, ("query_object", "candidates"))
        if not isinstance(payload["candidates"], list):
            raise PayloadSchemaError(CANDIDATES_NOT_LIST)
        return payload

    def answer_clean(self, *, payload: dict, answer) -> dict:
        answer = require_object(answer)
        require_answer_keys(answer, ("grades",))
        grades = answer["grades"]
        if not isinstance(grades, list):
            raise AnswerSchemaError(GRADES_NOT_LIST)
        expected = len(payload.get("candidates") or [])
        if len(grades) != expected:
            raise AnswerSchemaError(GRADES_WRONG_COUNT.format(expected=expected, got=len(grades)))
        for index, grade in enumerate(grades):
            # isinstance first: a list or object is unhashable.
            if not isinstance(grade, str) or grade not in GRADE_ORDER:
                raise AnswerSchemaError(GRADE_UNKNOWN.format(index=index, grade=grade, allowed=", ".join(GRADES)))
        return {"grades": list(grades)}

    def editor_context(self) -> dict:
        return {"grades": GRADE_DEFINITIONS}

    def consensus(self, *, payload: dict, answers: list[dict]) -> Consensus:
        """Per slot the majority grade (ties to the lower grade); agreement is the mean over slots
        of the share of labels that gave the slot's consensus grade."""
        if not answers:
            return Consensus(None, None, 0)
        n_slots = max(len(answer["grades"]) for answer in answers)
        grades, shares = [], []
        for slot in range(n_slots):
            given = [answer["grades"][slot] for answer in answers if slot < len(answer["grades"])]
            winner = _slot_vote(given)
            grades.append(winner)
            shares.append(sum(grade == winner for grade in given) / len(given))
        agreement = sum(shares) / len(shares) if shares else 1.0
        return Consensus({"grades": grades}, agreement, len(answers), {"slot_agreement": shares})

    def golden_compare(self, *, payload: dict, answer: dict, golden: dict, coarse: bool = False,
                       **options) -> GoldenComparison:
        """Exact grade per slot (or on the coarse scale); correct when every slot matches, and the
        score is the share of slots that match."""
        scale = COARSE_GRADE.get if coarse else (lambda grade: grade)
        pairs = list(zip(answer["grades"], golden["grades"]))
        matches = [scale(given) == scale(expected) for given, expected in pairs]
        total = max(len(answer["grades"]), len(golden["grades"]))
        score = sum(matches) / total if total else 1.0
        return GoldenComparison(all(matches) and len(answer["grades"]) == len(golden["grades"]), score,
                                {"slot_matches": matches})

    def quality_rows(self, *, payload: dict, labels: list[tuple[int, dict]]) -> list[QualityRow]:
        return [QualityRow(labeler_id, f"slot:{slot}", grade)
                for labeler_id, answer in labels for slot, grade in enumerate(answer["grades"], start=1)]

    def simulated_answer(self, *, payload: dict, truth: dict, profile, rng, shared_key: str | None = None) -> dict:
        """A simulated labeler's answer (labeling/quality/simulation.py): the error model of this module's
        last section applied to the true answer. Labelers of one pool given the same ``shared_key`` (the
        runner's: seed, pool, task) share the pool's reading of each slot; without one, none."""
        expected = len(payload.get("candidates") or [])
        if len(truth["grades"]) != expected:
            raise ValueError(SIMULATION_TRUTH_WRONG_COUNT.format(expected=expected, got=len(truth["grades"])))
        return {"grades": relevance_simulated_grades(truth_grades=truth["grades"], profile=profile, rng=rng,
                                                     shared_key=shared_key)}

    def item_category(self, payload: dict) -> str | None:
        return (payload.get("query_object") or {}).get("category")

    def accuracy_rows(self, *, payload: dict, answer: dict, golden: dict, scale: str = "exact",
                      **options) -> list[AccuracyRow]:
        """A row per slot: the grade against the golden grade, exactly or on the coarse scale."""
        to_scale = COARSE_GRADE.get if scale == "coarse" else (lambda grade: grade)
        return [AccuracyRow(f"slot:{slot}", to_scale(given) == to_scale(expected), to_scale(given), to_scale(expected))
                for slot, (given, expected) in enumerate(zip(answer["grades"], golden["grades"]), start=1)]

    def answer_summary(self, *, payload: dict, answer: dict) -> list[str]:
        return [f"Product {slot}: {GRADE_KEYS[grade][1] if grade in GRADE_KEYS else grade}"
                for slot, grade in enumerate(answer.get("grades") or [], start=1)]

    def review_context(self, *, payload: dict, labels: list[tuple[str, dict]], consensus: Consensus,
                       golden: dict | None) -> dict:
        candidates = payload.get("candidates") or []
        labels_by_name = [(name, answer["grades"]) for name, answer in labels]
        rows = []
        for slot, candidate in enumerate(candidates):
            rows.append({
                "slot": slot + 1,
                "candidate": candidate,
                "grades": [grades[slot] if slot < len(grades) else None for _, grades in labels_by_name],
                "consensus": consensus.answer["grades"][slot] if consensus.answer else None,
                "golden": golden["grades"][slot] if golden and slot < len(golden["grades"]) else None,
            })
        return {"labelers": [name for name, _ in labels_by_name], "rows": rows,
                "query_object": payload.get("query_object") or {}, "grade_labels": {g: GRADE_KEYS[g][1] for g in GRADES}}


# == Simulated labelers ============================================================================
# A simulation, never a person (labeling/quality/simulation.py; docs/METRICS.md, "Simulated
# labelers"). Two errors, one after the other: the pool's shared reading of the slot, which with
# probability ``shared_shift`` perceives a neighbouring grade and is the same for every labeler of the
# pool, then the labeler's own draw from the row of its confusion matrix for the perceived grade.
# Both are matrices, so the accuracy a profile implies can be computed exactly.

# The ordered similarity scale a grade moves along; did_not_load is not on it (an image that loads
# is never mistaken for a broken one, except by a slip).
SIMILARITY_SCALE: tuple[str, ...] = GRADES[:4]
SIMULATION_TRUTH_WRONG_COUNT = ("A simulated relevance answer needs one true grade per candidate: the task has "
                                "{expected} candidates and the truth {got} grades.")


def relevance_perception(profile) -> list[list[float]]:
    """The 5x5 matrix of the grade a profile's pool perceives: rows the true grade, columns the
    perceived grade, both in ``GRADES`` order; every row sums to 1.

    With probability ``shared_shift`` a grade on the similarity scale is perceived as a neighbour,
    either one equally likely, the only one at either end of the scale; did_not_load is perceived
    as it is."""
    n = len(GRADES)
    last = len(SIMILARITY_SCALE) - 1
    shift = profile.shared_shift
    matrix = []
    for true_index in range(n):
        row = [0.0] * n
        row[true_index] = 1.0
        if true_index <= last and shift > 0:
            neighbours = [index for index in (true_index - 1, true_index + 1) if 0 <= index <= last]
            row[true_index] -= shift
            for index in neighbours:
                row[index] += shift / len(neighbours)
        matrix.append(row)
    return matrix


def relevance_confusion(profile) -> list[list[float]]:
    """The 5x5 matrix of a labeler's grades around the grade its pool perceives: rows the perceived
    grade, columns the grade given, both in ``GRADES`` order; every row sums to 1.

    On the similarity scale a grade moves one step better with probability ``confusion / 2 +
    max(leniency, 0)`` and one step worse with ``confusion / 2 + max(-leniency, 0)``; a move off
    either end of the scale stays where it is. Then, with probability ``slip``, the grade is one
    of the five uniformly. A spammer's rows are uniform."""
    n = len(GRADES)
    if profile.spammer:
        return [[1.0 / n] * n for _ in range(n)]
    up = profile.confusion / 2 + max(profile.leniency, 0.0)
    down = profile.confusion / 2 + max(-profile.leniency, 0.0)
    last = len(SIMILARITY_SCALE) - 1
    matrix = []
    for true_index in range(n):
        row = [0.0] * n
        if true_index > last:
            row[true_index] = 1.0
        else:
            row[max(true_index - 1, 0)] += up
            row[min(true_index + 1, last)] += down
            row[true_index] += 1.0 - up - down
        matrix.append([(1.0 - profile.slip) * value + profile.slip / n for value in row])
    return matrix


def relevance_grade_chances(profile) -> list[list[float]]:
    """The 5x5 matrix of a labeler's grade for the true grade, its pool's reading unknown: rows the
    true grade, columns the grade given; the product of ``relevance_perception`` and
    ``relevance_confusion``. Its diagonal is the chance of a correct grade."""
    perception, confusion = relevance_perception(profile), relevance_confusion(profile)
    n = len(GRADES)
    return [[sum(perception[true][seen] * confusion[seen][given] for seen in range(n)) for given in range(n)]
            for true in range(n)]


def _row_draw(row: list[float], rng) -> int:
    threshold, total = rng.random(), 0.0
    for index, share in enumerate(row):
        total += share
        if threshold < total:
            return index
    # Rounding can leave the row's sum a hair under 1: the draw lands on the last possible grade.
    return max(index for index, share in enumerate(row) if share > 0)


def relevance_perceived_grades(*, truth_grades: list[str], profile, shared_key: str | None = None) -> list[str]:
    """The grade the labeler's pool perceives for each slot, drawn from ``relevance_perception``:
    slot k's draw is seeded by ``shared_key`` and k alone, so every labeler of the pool given the key
    perceives the same grade. Without a key (a caller that does not know the pool or the task) there
    is no shared reading: the true grades, as before the shared shift existed."""
    if shared_key is None or profile.shared_shift <= 0:
        return list(truth_grades)
    matrix = relevance_perception(profile)
    return [GRADES[_row_draw(matrix[GRADE_ORDER[grade]], random.Random(f"{shared_key}:{slot}"))]
            for slot, grade in enumerate(truth_grades)]


def relevance_simulated_grades(*, truth_grades: list[str], profile, rng, shared_key: str | None = None) -> list[str]:
    """One grade per slot: the pool's perceived grade (``relevance_perceived_grades``), then a draw
    from ``rng`` on the row of the labeler's confusion matrix for it; one draw per slot, whatever the
    key, so a caller's other draws from ``rng`` stay where they were."""
    perceived = relevance_perceived_grades(truth_grades=truth_grades, profile=profile, shared_key=shared_key)
    matrix = relevance_confusion(profile)
    return [GRADES[_row_draw(matrix[GRADE_ORDER[grade]], rng)] for grade in perceived]
