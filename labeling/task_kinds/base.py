"""The interface every task kind implements, and the value types it returns.

A kind's module (``labeling/task_kinds/<kind>.py``) is the only place that knows the kind: what a
producer may put in a payload, what an answer is, which editor shows it, how N labels become one
consensus answer, how an answer is scored against a golden answer, how labels become rows of a
quality frame, and the guide a new queue starts from. ``docs/TASK_KINDS.md`` is the design note.

Everything here is pure: answers and payloads in, answers and numbers out. Nothing touches the ORM
except through the ``*_context`` methods, which the pages call with rows they already loaded.
"""
from __future__ import annotations

import json
import random
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from labeling.answer_schemas import AnswerSchemaError

if TYPE_CHECKING:
    from labeling.quality.simulation import LabelerProfile

PAYLOAD_NOT_OBJECT = "The payload must be a JSON object."
PAYLOAD_MISSING_KEY = "The payload is missing the key '{key}'."


class PayloadSchemaError(AnswerSchemaError):
    """A producer's payload does not fit its kind (a bug of the producer or a bad import)."""


@dataclass(frozen=True)
class Consensus:
    """The aggregate of one item's labels: the consensus ``answer`` (None when there are no labels),
    the item's ``agreement`` in [0, 1] (1 = every labeler gave the consensus), how many labels
    went in, and kind-specific ``details`` (for boxes, each consensus box's confidence)."""

    answer: dict | None
    agreement: float | None
    n_labels: int
    details: dict = field(default_factory=dict)


@dataclass(frozen=True)
class GoldenComparison:
    """One answer against a golden answer: ``correct`` (the answer matches), a partial ``score``
    in [0, 1], and kind-specific ``details`` (for boxes precision, recall, F1 and the pairing)."""

    correct: bool
    score: float
    details: dict = field(default_factory=dict)


@dataclass(frozen=True)
class QualityRow:
    """One judged unit of one label: the quality frame has a row per (label, unit).

    ``unit`` names the part of the item that was judged (a relevance slot, a box cluster, an
    attribute); ``value`` is the nominal answer for it (hashable). Consistency and Krippendorff's
    alpha work on these rows whatever the kind."""

    labeler_id: int
    unit: str
    value: Any


@dataclass(frozen=True)
class AccuracyRow:
    """One judged unit of one label on a golden item: the accuracy frame has a row per (label, unit).

    ``correct`` says whether the unit matches the golden answer; ``value`` and ``golden_value`` (when
    the unit is nominal) feed the confusion matrix; ``category`` overrides the item's category."""

    unit: str
    correct: bool
    value: Any = None
    golden_value: Any = None
    category: str | None = None


class TaskKindSpec(ABC):
    """Subclass per kind and register an instance in ``labeling.task_kinds``; the abstract methods
    are what every kind must say for itself."""

    kind: ClassVar[str]
    label: ClassVar[str]
    # The editor: a template fragment included in the work page and scripts, the last registering
    # window.ShopEditors[kind] (the JS contract is in docs/TASK_KINDS.md). No template: no web editor yet.
    editor_template: ClassVar[str | None] = None
    # Loaded in order before the session; the last one registers the editor.
    editor_scripts: ClassVar[tuple[str, ...]] = ()
    editor_stylesheets: ClassVar[tuple[str, ...]] = ()
    # What staff see of one task: every label, the consensus and the golden answer.
    review_template: ClassVar[str] = "frontend/review/generic.html"
    # One sentence for staff pages: how a label is scored against a golden answer.
    golden_rule: ClassVar[str] = ""
    default_guide_title: ClassVar[str]
    default_guide_body: ClassVar[str]
    # Label quality (labeling/quality/QUALITY.md): Krippendorff's level for this kind's values, their
    # order (best first; the last is the most conservative, where a tie goes) and the values that
    # are missing data rather than an answer.
    alpha_level: ClassVar[str] = "nominal"
    quality_value_order: ClassVar[tuple | None] = None
    quality_missing_values: ClassVar[frozenset] = frozenset()
    # The scales accuracy is reported on: "exact" always; "coarse" where the kind has one.
    accuracy_scales: ClassVar[tuple[str, ...]] = ("exact",)

    # -- producers and labelers --------------------------------------------------------------

    def payload_clean(self, payload) -> dict:
        """Check a producer's payload; return it (raise PayloadSchemaError when it does not fit)."""
        if not isinstance(payload, dict):
            raise PayloadSchemaError(PAYLOAD_NOT_OBJECT)
        return payload

    @abstractmethod
    def answer_clean(self, *, payload: dict, answer) -> dict:
        """Validate ``answer`` against the task's payload; return it canonical or raise AnswerSchemaError."""

    def payload_for_labeler(self, *, payload: dict, show_preannotations: bool) -> dict:
        """The payload as a labeler gets it; a kind with model pre-annotations drops them when the
        queue hides them."""
        return payload

    def editor_context(self) -> dict:
        """Static data the editor needs besides the task (vocabularies, categories)."""
        return {}

    # -- aggregation, golden scoring, quality -------------------------------------------------

    @abstractmethod
    def consensus(self, *, payload: dict, answers: list[dict]) -> Consensus:
        """The consensus of an item's answers (in labeler order) and its agreement."""

    @abstractmethod
    def golden_compare(self, *, payload: dict, answer: dict, golden: dict, **options) -> GoldenComparison:
        """One answer against the golden answer."""

    @abstractmethod
    def quality_rows(self, *, payload: dict, labels: list[tuple[int, dict]]) -> list[QualityRow]:
        """The quality frame's rows for one item, from its labels as (labeler id, answer) pairs."""

    def quality_field(self, unit: str) -> str:
        """The field a quality unit belongs to (consistency and alpha are also reported per field):
        by default the unit's name up to its first ':' (``slot:3`` -> ``slot``)."""
        return unit.split(":", 1)[0]

    def item_category(self, payload: dict) -> str | None:
        """The category an item is counted under in the per-category breakdown (None: no one category)."""
        return None

    def accuracy_rows(self, *, payload: dict, answer: dict, golden: dict, scale: str = "exact",
                      **options) -> list[AccuracyRow]:
        """The accuracy frame's rows for one label on a golden item: by default one row, the whole
        answer against the golden answer through ``golden_compare``."""
        comparison = self.golden_compare(payload=payload, answer=answer, golden=golden, coarse=scale == "coarse",
                                         **options)
        return [AccuracyRow("answer", comparison.correct)]

    def review_context(self, *, payload: dict, labels: list[tuple[str, dict]], consensus: Consensus,
                       golden: dict | None) -> dict:
        """What the review template shows; ``labels`` are (labeler name, answer) pairs."""
        return {}

    def answer_summary(self, *, payload: dict, answer: dict) -> list[str]:
        """An answer in words, one line per part, for the guide panel's edge cases and the library:
        by default the answer's JSON; kinds say it better."""
        return [json.dumps(answer, sort_keys=True)]

    # What other producers may take from this kind's tasks: the attribute producer crops boxes.
    crop_sources: ClassVar[tuple[str, ...]] = ()

    def crop_boxes(self, *, payload: dict, answers: list[dict], source: str, min_score: float) -> list[dict]:
        """The boxes (``{"box", "category"}``, in the payload's image pixels) one task offers for
        cropping from ``source`` (one of ``crop_sources``); a kind with no crop sources offers none."""
        return []

    # -- training-data exports (labeling/exports/EXPORTS.md) -----------------------------------

    def export_left_out(self, *, answer: dict) -> str | None:
        """Why an item whose consensus is ``answer`` is not training data (the reason an export's
        report counts it under), or None to keep it; by default every item is kept."""
        return None

    # -- simulated labelers (labeling/quality/simulation.py) ----------------------------------

    @abstractmethod
    def simulated_answer(self, *, payload: dict, truth: dict, profile: "LabelerProfile",
                         rng: random.Random, shared_key: str | None = None) -> dict:
        """A simulated labeler's answer to the task (``truth`` is its true answer), drawn from the
        kind's error model with ``profile``; it passes ``answer_clean``. Labelers given the same
        ``shared_key`` (one pool, one task) share the pool's reading of the task where the kind
        models one. Each kind implements it."""


def require_keys(payload: dict, keys: tuple[str, ...]) -> None:
    for key in keys:
        if key not in payload:
            raise PayloadSchemaError(PAYLOAD_MISSING_KEY.format(key=key))
