"""Reads of training jobs (evaluation/TRAINING.md)."""
from __future__ import annotations

from django.db.models import QuerySet

from evaluation.models import ModelVersion, TrainingJob
from labeling.models import ExportJob, JobStatus


def training_job_list() -> QuerySet[TrainingJob]:
    return (TrainingJob.objects.select_related("parent", "model_version", "offline_evaluation", "created_by")
            .prefetch_related("exports").order_by("-created_at", "-pk"))


def training_job_get(*, job_id: int) -> TrainingJob:
    return training_job_list().get(pk=job_id)


def training_exports_available(*, formats: tuple[str, ...] | None = None) -> QuerySet[ExportJob]:
    """Finished exports a training job can read, newest first."""
    exports = ExportJob.objects.filter(status=JobStatus.DONE).order_by("-created_at", "-pk")
    return exports.filter(format__in=formats) if formats else exports


def training_parents(*, kind: str | None = None) -> QuerySet[ModelVersion]:
    versions = ModelVersion.objects.order_by("kind", "name", "-created_at")
    return versions.filter(kind=kind) if kind else versions
