"""The task-kind registry: ``task_kind_spec(kind)`` is the one way code reaches kind-specific
behaviour. ``registry_check()`` runs at start-up (labeling/apps.py) and fails loudly when a
``TaskKind`` has no registered spec, or a spec names a kind that does not exist."""
from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured

from labeling.answer_schemas import UNKNOWN_TASK_KIND, AnswerSchemaError
from labeling.models import TaskKind
from labeling.task_kinds.attributes import AttributesKind
from labeling.task_kinds.base import Consensus, GoldenComparison, PayloadSchemaError, QualityRow, TaskKindSpec
from labeling.task_kinds.boxes import BoundingBoxesKind
from labeling.task_kinds.matching import MatchingPairKind
from labeling.task_kinds.relevance import RelevanceKind

__all__ = ["Consensus", "GoldenComparison", "PayloadSchemaError", "QualityRow", "TaskKindSpec", "UnknownTaskKind",
           "registry_check", "task_kind_spec", "task_kind_specs"]

KIND_NOT_REGISTERED = "TaskKind '{kind}' has no registered spec in labeling/task_kinds/: add its module there."
SPEC_KIND_UNKNOWN = "labeling/task_kinds/ registers a spec for '{kind}', which is not a TaskKind."


class UnknownTaskKind(AnswerSchemaError):
    """No spec for this kind; ``str(error)`` names it (the API answers 400)."""


_REGISTRY: dict[str, TaskKindSpec] = {}


def register(spec: TaskKindSpec) -> None:
    _REGISTRY[spec.kind] = spec


for _spec in (RelevanceKind(), BoundingBoxesKind(), AttributesKind(), MatchingPairKind()):
    register(_spec)


def task_kind_spec(kind: str) -> TaskKindSpec:
    spec = _REGISTRY.get(kind) if isinstance(kind, str) else None
    if spec is None:
        raise UnknownTaskKind(UNKNOWN_TASK_KIND.format(kind=kind))
    return spec


def task_kind_specs() -> dict[str, TaskKindSpec]:
    return dict(_REGISTRY)


def registry_check(registry: dict[str, TaskKindSpec] | None = None) -> None:
    registry = _REGISTRY if registry is None else registry
    for kind in TaskKind.values:
        if kind not in registry:
            raise ImproperlyConfigured(KIND_NOT_REGISTERED.format(kind=kind))
    for kind in registry:
        if kind not in TaskKind.values:
            raise ImproperlyConfigured(SPEC_KIND_UNKNOWN.format(kind=kind))
