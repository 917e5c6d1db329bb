"""Reads the pages need that no domain selector answers: a labeler's throughput, the staff overview
of queues and guides, and the model-version list. Each is a fixed number of queries, whatever the
amount of data."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time

from django.db.models import Count, F, OuterRef, Q, QuerySet, Subquery, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from evaluation.models import BoxQueueJob, ModelVersion
from evaluation.selectors import model_version_list
from labeling.golden.selectors import golden_item_for_task
from labeling.models import Attribute, GoldenItem, Guide, GuideVersion, Label, Queue, Task, User
from labeling.selectors import task_labels_wanted_expression


@dataclass(frozen=True)
class LabelerThroughput:
    labels_today: int
    labels_total: int
    median_seconds_today: float | None


def labeler_throughput(*, labeler: User, now: datetime | None = None) -> LabelerThroughput:
    now = now or timezone.now()
    start_of_day = timezone.make_aware(datetime.combine(timezone.localdate(now), time.min))
    counts = Label.objects.filter(labeler=labeler).aggregate(
        total=Count("id"), today=Count("id", filter=Q(created_at__gte=start_of_day)),
    )
    today_times = sorted(
        Label.objects.filter(labeler=labeler, created_at__gte=start_of_day).values_list("time_spent_ms", flat=True)
    )
    median = today_times[len(today_times) // 2] / 1000 if today_times else None
    return LabelerThroughput(labels_today=counts["today"], labels_total=counts["total"], median_seconds_today=median)


def queue_overview_rows() -> QuerySet[Queue]:
    """Every queue with its task and label counts and the labels still wanted, for the overview.

    Golden tasks are left out of the counts: every labeler sees them, so they have no target.
    """
    replicated = Q(tasks__is_golden=False)
    return (
        Queue.objects.select_related("guide_version__guide")
        .annotate(
            task_count=Count("tasks", filter=replicated),
            golden_count=Count("tasks", filter=Q(tasks__is_golden=True)),
            labels_stored=Coalesce(Sum("tasks__label_count", filter=replicated), 0),
        )
        .annotate(labels_wanted=Coalesce(Sum(task_labels_wanted_expression(task="tasks__", queue=""), filter=replicated), 0)
                  - F("labels_stored"))
        .order_by("-is_active", "-priority", "-created_at")
    )


def queue_overview_row(*, queue_id: int) -> Queue | None:
    return queue_overview_rows().filter(pk=queue_id).first()


def guide_rows() -> QuerySet[Guide]:
    latest = GuideVersion.objects.filter(guide=OuterRef("pk")).order_by("-version")
    return Guide.objects.annotate(
        latest_version=Subquery(latest.values("version")[:1]),
        latest_version_at=Subquery(latest.values("created_at")[:1]),
        version_count=Count("versions"),
    ).order_by("task_kind", "title")


def model_version_rows() -> QuerySet[ModelVersion]:
    return model_version_list().select_related("created_by").annotate(
        run_count=Count("detector_runs", distinct=True) + Count("embedder_runs", distinct=True),
    )


def queue_task_rows(*, queue: Queue) -> QuerySet[Task]:
    """A queue's tasks for staff, claim order, with their label counts (one query per page)."""
    return (Task.objects.filter(queue=queue).select_related("golden_item")
            .annotate(n_labels=Count("labels")).order_by("is_golden", "-priority", "created_at", "id"))


def box_job_of(*, queue: Queue) -> BoxQueueJob | None:
    return BoxQueueJob.objects.select_related("detector", "scene_set").filter(queue=queue).first()


class LabelerName(str):
    """A labeler's name on the review page that also says whether the label was given by a
    simulated labeler. It is still the name (every kind's ``review_context`` takes plain
    ``(name, answer)`` pairs and passes names through), so each review template can mark it with
    ``{% if name.is_simulated %}`` whatever kind built its rows."""

    is_simulated: bool

    def __new__(cls, name: str, *, is_simulated: bool = False):
        labeled = super().__new__(cls, name)
        labeled.is_simulated = is_simulated
        return labeled


@dataclass(frozen=True)
class TaskReview:
    task: Task
    labels: list[tuple[LabelerName, dict]]  # (labeler name, answer), by labeler id
    golden_item: GoldenItem | None


def task_review(*, task_id: int) -> TaskReview | None:
    """A task, its labels by labeler id and its golden item (its own, or the one made from it)."""
    task = Task.objects.select_related("queue", "golden_item").filter(pk=task_id).first()
    if task is None:
        return None
    labels = [(LabelerName(username + (" (staff)" if is_staff else ""), is_simulated=is_simulated), answer)
              for username, is_staff, is_simulated, answer in
              Label.objects.filter(task=task).order_by("labeler_id").values_list(
                  "labeler__username", "is_staff_label", "is_simulated", "answer")]
    return TaskReview(task, labels, golden_item_for_task(task=task))


def attribute_rows() -> QuerySet[Attribute]:
    """The attribute schema with each attribute's categories, in schema order (two queries)."""
    return Attribute.objects.prefetch_related("categories").order_by("pk")
