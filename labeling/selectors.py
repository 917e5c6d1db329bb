"""Reads for the labeling API: queues open to a user with their counts, a labeler's own labels,
and the staff view of a queue's tasks. Golden sets and items: labeling/golden/selectors.py."""
from __future__ import annotations

from datetime import datetime

from django.db.models import Case, Exists, F, Func, IntegerField, OuterRef, QuerySet, Subquery, Value, When
from django.db.models.functions import Coalesce, Least
from django.utils import timezone

from labeling.models import Assignment, AssignmentState, GuideVersion, Label, Queue, Role, Task, User


def _count(queryset: QuerySet) -> Coalesce:
    """A correlated COUNT(*) of ``queryset`` as an integer annotation (0 when it has no rows)."""
    counted = queryset.order_by().annotate(n=Func(F("pk"), function="COUNT")).values("n")
    return Coalesce(Subquery(counted, output_field=IntegerField()), Value(0))


def task_labels_wanted_expression(*, task: str = "", queue: str = "queue__"):
    """How many counted labels a task wants now, as an expression (``task`` and ``queue`` lead from
    the query's model to the task and to its queue): the queue's replication, or on an adaptive queue
    the task's labels_wanted, else min_labels, capped by replication (the rule of
    labeling/services/queue_engine.task_labels_wanted, labeling/QUEUE.md)."""
    prefix = task
    return Case(
        When(**{f"{queue}agreement_target__isnull": True}, then=F(f"{queue}replication")),
        default=Least(Coalesce(F(f"{prefix}labels_wanted"), F(f"{queue}min_labels"), Value(1)),
                      F(f"{queue}replication")),
    )


def queues_open_to(*, user: User, now: datetime | None = None) -> QuerySet[Queue]:
    """Active queues the user may work in, each annotated with ``tasks_total``, ``tasks_complete``,
    ``my_labels`` and ``available_for_me``, all in one query whatever the number of queues.

    Counts of tasks leave golden tasks out (labelers must not learn which tasks are golden);
    ``available_for_me`` is what claim could still hand this user, golden tasks included when the
    queue serves them. Labelers see the queues of their pool and the queues open to all pools.

    ``available_for_me`` is built from small sets so that it does not evaluate a live-lease subquery
    for every task of a large queue: open tasks (label_count < replication), minus the open tasks
    that live leases fill up, minus the open tasks this user has touched (claimed, skipped, labeled),
    minus the open tasks whose golden twin they touched; golden copies likewise leave out those whose
    twin they touched.
    """
    now = now or timezone.now()
    queues = Queue.objects.filter(is_active=True)
    if user.role == Role.LABELER and not user.is_superuser:
        pools = Queue.allowed_pools.through.objects.filter(queue=OuterRef("pk"))
        queues = queues.filter(~Exists(pools) | Exists(pools.filter(pool_id=user.pool_id)))
    normal_tasks = Task.objects.filter(queue=OuterRef("pk"), is_golden=False)
    live_leases = Assignment.objects.filter(task=OuterRef("pk"), state=AssignmentState.ACTIVE, expires_at__gt=now)
    leased_task_ids = Assignment.objects.filter(
        queue=OuterRef(OuterRef("pk")), state=AssignmentState.ACTIVE, expires_at__gt=now,
    ).values("task_id")
    touched_task_ids = Assignment.objects.filter(queue=OuterRef(OuterRef("pk")), labeler=user).values("task_id")
    normal_tasks = normal_tasks.alias(wanted=task_labels_wanted_expression())
    open_tasks = normal_tasks.filter(label_count__lt=F("wanted"))
    open_tasks_with_slots_taken = open_tasks.alias(slots_taken=F("label_count") + _count(live_leases))
    filled_by_leases = open_tasks_with_slots_taken.filter(pk__in=leased_task_ids, slots_taken__gte=F("wanted"))
    touched_and_open = open_tasks_with_slots_taken.filter(pk__in=touched_task_ids, slots_taken__lt=F("wanted"))
    # Claim never serves both twins: a normal task whose golden copy the user touched is not theirs
    # to claim, nor a golden copy of a task they touched.
    twins_of_touched = Assignment.objects.filter(queue=OuterRef(OuterRef("pk")), labeler=user,
                                                 task__twin_of__isnull=False).values("task__twin_of")
    twin_blocked_and_open = (open_tasks_with_slots_taken.filter(pk__in=twins_of_touched,
                                                                slots_taken__lt=F("wanted"))
                             .exclude(pk__in=touched_task_ids))
    golden_tasks = Task.objects.filter(queue=OuterRef("pk"), is_golden=True)
    golden_untouched = Case(
        When(golden_rate__gt=0, then=_count(golden_tasks) - _count(golden_tasks.filter(pk__in=touched_task_ids))
             - _count(golden_tasks.filter(twin_of__in=touched_task_ids).exclude(pk__in=touched_task_ids))),
        default=Value(0),
    )
    return queues.annotate(
        tasks_total=_count(normal_tasks),
        tasks_complete=_count(normal_tasks.filter(label_count__gte=F("wanted"))),
        my_labels=_count(Label.objects.filter(task__queue=OuterRef("pk"), labeler=user)),
        available_for_me=(_count(open_tasks) - _count(filled_by_leases) - _count(touched_and_open)
                          - _count(twin_blocked_and_open) + golden_untouched),
    ).order_by("-priority", "id")


def labels_of(*, labeler: User) -> QuerySet[Label]:
    """The labeler's own labels, newest first."""
    return Label.objects.filter(labeler=labeler).select_related("task__queue").order_by("-created_at", "-id")


def queue_tasks(*, queue: Queue) -> QuerySet[Task]:
    """Staff view of a queue's tasks, golden flag included, in claim order."""
    return Task.objects.filter(queue=queue).select_related("queue").order_by("-priority", "created_at", "id")


def guide_version_latest(*, task_kind: str) -> GuideVersion | None:
    """The newest guide version of a task kind: what a new queue and a new golden answer work under."""
    return (GuideVersion.objects.filter(guide__task_kind=task_kind)
            .select_related("guide").order_by("-created_at", "-version").first())
