"""The answer-schema primitives and error messages the kinds' cleaners share (labeling/task_kinds/),
and ``answer_clean``, which hands an answer to its kind's module.

Each validator takes the task's payload (the answer is checked against it: one grade per candidate,
boxes inside the image, attributes of the crop's category) and returns the answer in canonical form
(only the schema's keys, in a fixed order), so equal answers compare equal downstream.

Payload keys the validators read (the producers' contract):

- relevance: ``{"query_object": {...}, "candidates": [{...}, ...]}`` - one grade per candidate.
- bounding_boxes: ``{"image": {"url", "width", "height"}, "proposals"?: [...]}``.
- attributes: ``{"category": slug, "crop_url"?: ...}``.
- matching_pair: ``{"scene": {"url", "width", "height"}, "box", "category", "product": {...}}``.

When a payload carries no image size, boxes are only checked for shape and order.
"""
from __future__ import annotations

from labeling import taxonomy

ANSWER_NOT_OBJECT = "The answer must be a JSON object."
ANSWER_MISSING_KEY = "The answer is missing the key '{key}'."
ANSWER_UNKNOWN_KEYS = "The answer has keys this task kind does not take: {keys}."
UNKNOWN_TASK_KIND = "There is no answer schema for the task kind '{kind}'."
GRADES_NOT_LIST = "'grades' must be a list with one grade per candidate."
GRADES_WRONG_COUNT = "'grades' must hold exactly {expected} grades, one per candidate; it holds {got}."
GRADE_UNKNOWN = "Grade {index} is '{grade}', which is not one of: {allowed}."
BOXES_NOT_LIST = "'boxes' must be a list of objects with a 'box' and a 'category'."
BOX_ENTRY_NOT_OBJECT = "Box {index} must be an object with the keys 'box' and 'category'."
BOX_NOT_FOUR_NUMBERS = "{where} must be four numbers [x0, y0, x1, y1]."
BOX_EMPTY = "{where} must have x0 < x1 and y0 < y1."
BOX_OUTSIDE_IMAGE = "{where} lies outside the {width}x{height} image."
CATEGORY_UNKNOWN = "{where}: '{category}' is not a category of the taxonomy."
ATTRIBUTES_NOT_OBJECT = "'attributes' must be an object mapping attribute name to value."
ATTRIBUTES_NO_CATEGORY = "The task has no known category, so its attributes cannot be checked."
ATTRIBUTE_MISSING = "Attribute '{name}' applies to '{category}' and needs a value."
ATTRIBUTE_NOT_APPLICABLE = "Attribute '{name}' does not apply to '{category}'."
ATTRIBUTE_VALUE_UNKNOWN = "'{value}' is not a value of attribute '{name}'; choose one of: {allowed}."
FLAG_NOT_BOOLEAN = "'{key}' must be true or false."
MATCH_VERDICT_UNKNOWN = "'match' is '{value}', which is not one of: {allowed}."


class AnswerSchemaError(ValueError):
    """The answer does not fit its task kind's schema; ``str(error)`` is the message for the user."""


def _require_object(answer) -> dict:
    if not isinstance(answer, dict):
        raise AnswerSchemaError(ANSWER_NOT_OBJECT)
    return answer


def _require_keys(answer: dict, keys: tuple[str, ...]) -> None:
    for key in keys:
        if key not in answer:
            raise AnswerSchemaError(ANSWER_MISSING_KEY.format(key=key))
    extra = sorted(set(answer) - set(keys))
    if extra:
        raise AnswerSchemaError(ANSWER_UNKNOWN_KEYS.format(keys=", ".join(extra)))


# The kinds' modules (labeling/task_kinds/) build their cleaners from these primitives.
require_object = _require_object
require_answer_keys = _require_keys


def _image_size(image) -> tuple[float, float] | None:
    if isinstance(image, dict):
        width, height = image.get("width"), image.get("height")
        if _is_number(width) and _is_number(height):
            return float(width), float(height)
    return None


def _is_number(value) -> bool:
    # bool is an int in Python; a box of booleans is a client bug, not coordinates.
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _clean_box(box, *, where: str, image_size: tuple[float, float] | None) -> list[float]:
    if not isinstance(box, list) or len(box) != 4 or not all(_is_number(v) for v in box):
        raise AnswerSchemaError(BOX_NOT_FOUR_NUMBERS.format(where=where))
    x0, y0, x1, y1 = (float(v) for v in box)
    if not (x0 < x1 and y0 < y1):
        raise AnswerSchemaError(BOX_EMPTY.format(where=where))
    if image_size is not None:
        width, height = image_size
        if x0 < 0 or y0 < 0 or x1 > width or y1 > height:
            raise AnswerSchemaError(BOX_OUTSIDE_IMAGE.format(where=where, width=int(width), height=int(height)))
    return [x0, y0, x1, y1]


def _clean_category(category, *, where: str, snapshot: taxonomy.TaxonomySnapshot | None = None) -> str:
    """``snapshot``: the taxonomy read once for a whole answer, so an answer of many boxes costs
    one taxonomy lookup rather than one per box."""
    snapshot = snapshot or taxonomy.taxonomy_snapshot()
    # isinstance first: a list or object is unhashable, and the dict lookup would raise TypeError.
    if not isinstance(category, str) or category not in snapshot.categories:
        raise AnswerSchemaError(CATEGORY_UNKNOWN.format(where=where, category=category))
    return category


def _clean_flag(answer: dict, key: str) -> bool:
    if not isinstance(answer[key], bool):
        raise AnswerSchemaError(FLAG_NOT_BOOLEAN.format(key=key))
    return answer[key]


def answer_clean(*, kind: str, payload: dict, answer) -> dict:
    """Validate ``answer`` for a task of ``kind`` with ``payload``; return it canonical or raise.
    The kind's module in labeling/task_kinds/ holds the rules."""
    from labeling.task_kinds import task_kind_spec

    return task_kind_spec(kind).answer_clean(payload=payload or {}, answer=answer)
