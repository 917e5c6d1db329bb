"""What the OpenAPI schema says, where drf-spectacular alone would not say it truly; shared by every
API module: errors, the shape of answers, and input fields that behave as their schema says.

Every refusal is the one error format of labeling/api_errors.py, ``{"error": {"code", "message",
"fields"?}}``; the ``Error`` component describes it. ``error_responses`` documents the statuses an
operation can answer with, each with the reason it happens, and ``error_example`` documents a rule
that refuses a request the schema alone would allow (a grade count that must match the task's
candidates, an id that must exist): the schemathesis run in the suite
(tests/security/test_security_api_fuzz.py) accepts such a refusal of schema-valid input only when
the operation lists that error code, and that field, as an example of that status.

The fields at the end take what their schema promises and nothing else: text that must not be blank
says so with a pattern, and numbers, booleans and ids in a JSON body must be JSON numbers, booleans
and integers (DRF would coerce ``false`` or ``"3"``, which a schema-driven client then relies on).
"""
from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema_field
from rest_framework import serializers
from rest_framework.utils import html

from labeling.task_kinds.attributes import CANT_TELL
from labeling.task_kinds.matching import MATCH_VERDICTS
from labeling.task_kinds.relevance import GRADES as RELEVANCE_GRADES
from labeling.pagination import PAGE_NOT_A_NUMBER, PAGE_PAST_THE_END
from labeling.parsers import BoundedJSONField
from models_runtime import taxonomy


class ErrorDetailSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="A stable machine-readable code, e.g. `not_found`, `answer_invalid`.")
    message = serializers.CharField(help_text="What is wrong, for a person to read.")
    fields = serializers.DictField(
        required=False, child=serializers.JSONField(),
        help_text="Present on validation errors: for each rejected field, its messages (a list of strings, "
                  "or an object of nested fields).")


class ErrorSerializer(serializers.Serializer):
    error = ErrorDetailSerializer()

    class Meta:
        ref_name = "Error"


# Why each status can happen; an operation lists the ones it can answer with.
STATUS_REASONS: dict[int, str] = {
    400: "The request is invalid: malformed JSON or form data, a field that fails validation (see `fields`), "
         "or a rule described in this operation.",
    401: "Not signed in: no credentials, or a token that is unknown, expired or revoked.",
    403: "Signed in, but your role (or pool) may not do this; or signed in with a session cookie and no valid "
         "CSRF token.",
    404: "No such object (or no such page of a list).",
    409: "Refused because of the object's current state.",
    410: "The lease on this assignment has expired and its slot was given to someone else.",
    413: "The request body is larger than this server accepts.",
    415: "The body's Content-Type is not one this operation takes.",
    422: "Well-formed, but refused for a rule of this operation (see its description).",
    429: "Too many failed sign-ins for this user name or address: wait `Retry-After` seconds.",
}

RETRY_AFTER = OpenApiParameter(
    "Retry-After", OpenApiTypes.INT, OpenApiParameter.HEADER, required=True, response=[429],
    description="Seconds to wait before the next sign-in attempt.")


def error_example(name: str, *, code: str, message: str, fields: dict | None = None,
                  status: int = 400) -> OpenApiExample:
    """One documented refusal; ``fields`` for validation errors (``code`` "invalid")."""
    error = {"code": code, "message": message}
    if fields is not None:
        error["fields"] = fields
    return OpenApiExample(name, value={"error": error}, response_only=True, status_codes=[status])


def field_error_example(name: str, *, field: str, message: str) -> OpenApiExample:
    """A documented validation rule on one field, in the shape the API sends it."""
    return error_example(name, code="invalid", message="The request is invalid; see fields.",
                         fields={field: [message]})


def error_responses(*statuses: int, reasons: dict[int, str] | None = None,
                    examples: list[OpenApiExample] | None = None) -> dict[int, OpenApiResponse]:
    """OpenAPI responses for ``statuses``, each the Error component; ``reasons`` overrides the general
    description of a status for this operation, ``examples`` (from ``error_example``) go with their status."""
    reasons = reasons or {}
    examples = examples or []
    responses = {}
    for status in statuses:
        own = [example for example in examples if status in example.status_codes]
        responses[status] = OpenApiResponse(ErrorSerializer, description=reasons.get(status, STATUS_REASONS[status]),
                                            examples=own or None)
    return responses


# -- lists --------------------------------------------------------------------------------------

PAGE_EXAMPLES = [
    error_example("Page not a whole number", code="invalid", message="The request is invalid; see fields.",
                  fields={"page": [PAGE_NOT_A_NUMBER.format(value="null")]}),
    error_example("Page past the end", code="not_found", status=404,
                  message=PAGE_PAST_THE_END.format(page=7, are="are", pages=2, s="s")),
]


def list_error_responses(*statuses: int, not_found: str = "No such page of the list.") -> dict[int, OpenApiResponse]:
    """The errors of a paginated list: a malformed ``page`` (400), a page past the end (404), and
    ``statuses``; ``not_found`` describes the 404 when the list's owner can be missing too."""
    return error_responses(
        *sorted({400, 404, *statuses}), examples=PAGE_EXAMPLES,
        reasons={400: "`page` is not a whole number from 1 up, or is given more than once.", 404: not_found})


# -- answers ------------------------------------------------------------------------------------
# The JSON shapes labeling/answer_schemas.py accepts, one per task kind. What a schema cannot say
# (one grade per candidate, a box inside the image, the attributes of the task's category) is in
# ANSWER_RULES and refused with code "answer_invalid".

_BOX = {"type": "array", "items": {"type": "number"}, "minItems": 4, "maxItems": 4,
        "description": "[x0, y0, x1, y1] in image pixels, x0 < x1 and y0 < y1, inside the image."}
_CATEGORY = {"type": "string", "enum": list(taxonomy.CATEGORIES)}
ANSWER_SCHEMA = {
    "description": "The answer, in the shape of the task's kind (the `kind` of the task).",
    "oneOf": [
        {"title": "relevance", "type": "object", "additionalProperties": False, "required": ["grades"],
         "properties": {"grades": {"type": "array", "items": {"type": "string", "enum": list(RELEVANCE_GRADES)},
                                   "description": "One grade per candidate, in the candidates' order."}}},
        {"title": "bounding_boxes", "type": "object", "additionalProperties": False, "required": ["boxes"],
         "properties": {"boxes": {"type": "array", "items": {
             "type": "object", "additionalProperties": False, "required": ["box", "category"],
             "properties": {"box": _BOX, "category": _CATEGORY}}}}},
        {"title": "attributes", "type": "object", "additionalProperties": False, "required": ["attributes"],
         "properties": {"attributes": {
             "type": "object", "additionalProperties": False,
             "description": "A value for every attribute of the task's category, and no others.",
             "properties": {a.name: {"type": "string", "enum": [*a.values, CANT_TELL]} for a in taxonomy.attributes()}}}},
        {"title": "matching_pair", "type": "object", "additionalProperties": False,
         "required": ["box", "category", "match", "is_spam"],
         "properties": {"box": _BOX, "category": _CATEGORY,
                        "match": {"type": "string", "enum": list(MATCH_VERDICTS),
                                  "description": "The product is the same item, a similar item, or not a match."},
                        "is_spam": {"type": "boolean"}}},
    ],
}
ANSWER_RULES = (
    "The answer must have the shape of the task's kind. Beyond its shape: a relevance answer holds exactly "
    "one grade per candidate of the task; boxes lie inside the task's image; an attributes answer gives a "
    "value (or `cant_tell`) for every attribute of the task's category and for no other. An answer that breaks one of these "
    "rules is refused with 400 and the code `answer_invalid`."
)


@extend_schema_field(ANSWER_SCHEMA)
class AnswerField(BoundedJSONField):
    """An answer, JSON in the shape of its task's kind; the service checks it against the task."""


@extend_schema_field({"type": "object", "additionalProperties": True})
class JSONObjectField(BoundedJSONField):
    """JSON that must be an object: the schema says so; the serializer's ``validate_<field>`` refuses
    anything else (ModelVersionUploadSerializer.validate_config)."""


def request_example(name: str, value: dict) -> OpenApiExample:
    return OpenApiExample(name, value=value, request_only=True)


RELEVANCE_ANSWER_EXAMPLE = {"grades": list(RELEVANCE_GRADES)}

ANSWER_INVALID_EXAMPLES = [
    error_example("Wrong number of grades", code="answer_invalid",
                  message="'grades' must hold exactly 5 grades, one per candidate; it holds 3."),
    error_example("Box outside the image", code="answer_invalid", message="Box 0 lies outside the 640x480 image."),
    error_example("Answer of another task kind", code="answer_invalid",
                  message="The answer is missing the key 'grades'."),
]

# -- strict JSON types ----------------------------------------------------------------------------
# DRF coerces: a FloatField takes ``false`` as 0.0, an IntegerField or a primary key takes ``"3"``,
# a BooleanField takes ``1`` and ``"yes"``. A JSON client that sends the wrong type has a bug the
# API should name, and the schema says ``number``, ``integer``, ``boolean``. These fields take
# exactly those JSON types; from a form (where every value is text) they parse text as DRF does.

WRONG_JSON_TYPE = "Send a JSON {expected}, not {got}."


class _StrictJSONTypeMixin:
    json_types: tuple[type, ...] = ()
    json_type_name = ""

    def get_value(self, dictionary):
        self._from_form = html.is_html_input(dictionary)
        return super().get_value(dictionary)

    def to_internal_value(self, data):
        if not (getattr(self, "_from_form", False) and isinstance(data, str)):
            # bool is an int in Python; in JSON it is its own type.
            if isinstance(data, bool) != (bool in self.json_types) or not isinstance(data, self.json_types):
                raise serializers.ValidationError(
                    WRONG_JSON_TYPE.format(expected=self.json_type_name, got=_json_type_name(data)), code="invalid")
        return super().to_internal_value(data)


def _json_type_name(value) -> str:
    if value is None:
        return "null"
    for python_type, name in ((bool, "a boolean"), ((int, float), "a number"), (str, "a string"),
                              (list, "an array"), (dict, "an object")):
        if isinstance(value, python_type):
            return name
    return type(value).__name__


class StrictIntegerField(_StrictJSONTypeMixin, serializers.IntegerField):
    json_types, json_type_name = (int, float), "integer"  # 3.0 is an integer in JSON; DRF refuses 3.5


class StrictFloatField(_StrictJSONTypeMixin, serializers.FloatField):
    json_types, json_type_name = (int, float), "number"


class StrictBooleanField(_StrictJSONTypeMixin, serializers.BooleanField):
    json_types, json_type_name = (bool,), "boolean"


class StrictPrimaryKeyRelatedField(_StrictJSONTypeMixin, serializers.PrimaryKeyRelatedField):
    json_types, json_type_name = (int,), "integer"


# -- free text ----------------------------------------------------------------------------------
# DRF's CharField refuses NUL characters, and (unless allow_blank) text that is empty once trimmed.
# The schema of a plain CharField says neither; these fields behave the same and say it.

TEXT_PATTERN = r"^[^\x00]*[^\s\x00][^\x00]*$"  # something besides whitespace, and no NUL
BLANKABLE_TEXT_PATTERN = r"^[^\x00]*$"
SECRET_PATTERN = r"^[^\x00]+$"  # not trimmed: whitespace is part of a password


class _StrictText(_StrictJSONTypeMixin):
    json_types, json_type_name = (str,), "string"  # DRF's CharField takes 0 as "0"


@extend_schema_field({"type": "string", "pattern": TEXT_PATTERN})
class TextField(_StrictText, serializers.CharField):
    """Text that must not be blank."""


@extend_schema_field({"type": "string", "pattern": BLANKABLE_TEXT_PATTERN})
class BlankableTextField(_StrictText, serializers.CharField):
    def __init__(self, **kwargs):
        super().__init__(allow_blank=True, **kwargs)


@extend_schema_field({"type": "string", "pattern": SECRET_PATTERN, "format": "password"})
class SecretField(_StrictText, serializers.CharField):
    def __init__(self, **kwargs):
        super().__init__(trim_whitespace=False, style={"input_type": "password"}, **kwargs)
