"""Reads of the model registry: a version with the runs that used it and its offline evaluations,
the latest finished offline figures of several versions (the compare page and the list), one
evaluation's progress. Each is a fixed number of queries, however many runs or evaluations there are."""
from __future__ import annotations

from django.db.models import Case, CharField, JSONField, OuterRef, Q, QuerySet, Subquery, Value, When

from evaluation.models import EvalRun, ModelKind, ModelVersion, OfflineEvaluation, OfflineEvaluationStatus

# A version page shows this many of the newest runs and evaluations, and says how many there are.
RUNS_SHOWN = 50
EVALUATIONS_SHOWN = 20


def model_version_get(*, version_id: int) -> ModelVersion:
    return ModelVersion.objects.select_related("created_by").get(pk=version_id)


def model_version_runs(*, version: ModelVersion) -> QuerySet[EvalRun]:
    """Runs that used ``version`` as their detector or embedder, newest first, each with its ``role``."""
    return (EvalRun.objects.filter(Q(detector=version) | Q(embedder=version))
            .select_related("detector", "embedder", "scene_set")
            .annotate(role=Case(When(detector=version, then=Value(ModelKind.DETECTOR)),
                                default=Value(ModelKind.EMBEDDER), output_field=CharField()))
            .order_by("-created_at", "-pk"))


def offline_evaluations(*, version: ModelVersion | None = None) -> QuerySet[OfflineEvaluation]:
    queryset = OfflineEvaluation.objects.select_related("model_version", "created_by").order_by("-created_at", "-pk")
    return queryset if version is None else queryset.filter(model_version=version)


def offline_evaluation_get(*, evaluation_id: int) -> OfflineEvaluation:
    return offline_evaluations().get(pk=evaluation_id)


def _latest_done(*, version_ref) -> QuerySet[OfflineEvaluation]:
    return (OfflineEvaluation.objects.filter(model_version=version_ref, status=OfflineEvaluationStatus.DONE)
            .order_by("-finished_at", "-pk"))


def offline_latest_done(*, versions: list[ModelVersion]) -> dict[int, OfflineEvaluation]:
    """Each version's newest finished offline evaluation (two queries), by version id."""
    latest_ids = (ModelVersion.objects.filter(pk__in=[version.pk for version in versions])
                  .annotate(latest=Subquery(_latest_done(version_ref=OuterRef("pk")).values("pk")[:1]))
                  .values_list("latest", flat=True))
    found = OfflineEvaluation.objects.filter(pk__in=[pk for pk in latest_ids if pk is not None])
    return {evaluation.model_version_id: evaluation for evaluation in found}


def latest_done_results() -> Subquery:
    """For ``.annotate()`` on model versions: the results of each one's newest finished offline
    evaluation (None when it has none), as a subquery of the same query."""
    return Subquery(_latest_done(version_ref=OuterRef("pk")).values("results")[:1], output_field=JSONField())
