"""The work queue: claim a lease on a task, submit a label for it, or skip it.

``labeling/QUEUE.md`` describes the flow and why each invariant holds; keep the two in step.
Every function takes ``now`` so tests can move the clock; interfaces leave it out.
"""
from __future__ import annotations

import hashlib
import json
import random
from datetime import datetime, timedelta

from django.db import IntegrityError, connection, transaction
from django.db.models import Exists, F, OuterRef, QuerySet
from django.utils import timezone

from labeling.answer_schemas import answer_clean
from labeling.calibration import qualification
from labeling.models import Assignment, AssignmentState, Label, Queue, Role, Task, User
from labeling.services.rows import instance_fetch, instance_insert, instances_from_row, select_columns
from labeling.task_kinds import task_kind_spec

QUEUE_CLOSED = "This queue is closed; it hands out no more work."
QUEUE_NOT_OPEN_TO_POOL = "This queue is not open to your labeler pool."
ASSIGNMENT_NOT_FOUND = "There is no assignment with this id."
ASSIGNMENT_NOT_YOURS = "This assignment belongs to another labeler."
ASSIGNMENT_ALREADY_SUBMITTED = "This assignment was already submitted; claim a new task."
ASSIGNMENT_ALREADY_SKIPPED = "This assignment was skipped; it can no longer be submitted."
LEASE_EXPIRED = "Your lease on this task expired and the task was handed to other labelers; claim a new task."
IDEMPOTENCY_KEY_REUSED = "This Idempotency-Key was already used for another assignment; send a new key with each new submit."
IDEMPOTENCY_BODY_CHANGED = ("This Idempotency-Key was already used with a different request body; a retry must send the "
                            "same body, and a new answer needs a new key.")

# Qualification and re-calibration (labeling/calibration/qualification.py): claim's refusals.
QUALIFICATION_REQUIRED = ("This queue gives tasks only to labelers who passed the {kind} qualification for its "
                          "current guide version. Take the qualification at {url} and then claim again.")
LABELER_FLAGGED = ("Your rolling golden accuracy on {kind} tasks ({accuracy:.0%}) fell below the {threshold:.0%} "
                   "this queue requires, so you get no {kind} tasks for now. An expert can clear you, or you can "
                   "re-qualify at {url}.")
LABELER_FLAGGED_NO_QUALIFICATION = ("Your rolling golden accuracy on {kind} tasks ({accuracy:.0%}) fell below the "
                                    "{threshold:.0%} this queue requires, so you get no {kind} tasks for now. Ask an "
                                    "expert to review your work and clear you.")

# Bounded retries keep claim's query count independent of the queue size (see QUEUE.md, "Claim").
CLAIM_ATTEMPTS = 3


class QueueEngineError(Exception):
    """A refused claim, submit or skip; ``str(error)`` is the message for the user."""


class QueueClosed(QueueEngineError):
    pass


class QueueNotOpenToPool(QueueEngineError):
    pass


class AssignmentNotFound(QueueEngineError):
    pass


class AssignmentNotYours(QueueEngineError):
    pass


class AssignmentFinished(QueueEngineError):
    pass


class LeaseExpired(QueueEngineError):
    pass


class IdempotencyKeyReused(QueueEngineError):
    pass


class IdempotencyBodyChanged(QueueEngineError):
    pass


class QualificationRequired(QueueEngineError):
    """Claim refused: the queue requires a qualification the labeler has not passed (or that a newer
    guide version voided). ``qualify_url`` is where they take it."""

    def __init__(self, message: str, *, qualify_url: str | None = None):
        super().__init__(message)
        self.qualify_url = qualify_url


class LabelerFlagged(QualificationRequired):
    """Claim refused: the labeler's rolling golden accuracy of the kind fell below a threshold."""


def submit_fingerprint(*, answer, time_spent_ms: int | None) -> str:
    """sha256 of a submit's body in canonical JSON (sorted keys, no spaces): equal bodies give
    equal fingerprints however the client ordered or spaced them."""
    canonical = json.dumps({"answer": answer, "time_spent_ms": time_spent_ms}, sort_keys=True,
                           separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def labeler_is_staff(labeler: User) -> bool:
    """Experts and admins label too (golden items, spot checks); their labels are staff labels."""
    return labeler.is_superuser or labeler.role != Role.LABELER


def _golden_candidates(*, queue: Queue, labeler: User) -> QuerySet[Task]:
    """Golden tasks the labeler has not touched, best first. Golden tasks are shown to every
    labeler (that is how accuracy is measured), so replication does not cap them."""
    return (
        Task.objects.filter(queue=queue, is_golden=True)
        .filter(~Exists(Assignment.objects.filter(task=OuterRef("pk"), labeler=labeler)))
        # Never both twins: not the copy of a task the labeler was served.
        .filter(~Exists(Assignment.objects.filter(task=OuterRef("twin_of"), labeler=labeler)))
        .order_by("-priority", "created_at", "id")
    )


def queue_is_adaptive(queue: Queue) -> bool:
    """Adaptive replication (QUEUE.md): a task gets min_labels labels, then one more at a time while
    its agreement stays under the target, up to ``replication``."""
    return queue.agreement_target is not None


def queue_base_labels(queue: Queue) -> int:
    """How many labels a task wants before any of its labels came in."""
    if not queue_is_adaptive(queue):
        return queue.replication
    return min(queue.min_labels or 1, queue.replication)


def task_labels_wanted(*, queue: Queue, labels_wanted: int | None) -> int:
    """How many counted labels a normal task wants now. A fixed queue ignores ``labels_wanted``
    (left over from a time the queue was adaptive): every task gets exactly ``replication``."""
    if not queue_is_adaptive(queue):
        return queue.replication
    wanted = queue_base_labels(queue) if labels_wanted is None else labels_wanted
    return min(wanted, queue.replication)


def _labels_wanted_params(queue: Queue) -> list:
    """The parameters of the queue's ``_LABELS_WANTED_SQL``."""
    if not queue_is_adaptive(queue):
        return [queue.replication]
    return [queue_base_labels(queue), queue.replication, queue.replication]


# The claim's hot queries are written in SQL: compiling their ORM form (correlated subqueries,
# lock clause) cost about 3x the time PostgreSQL took to run them (see benchmarks/RESULTS_queue.md).
_LIVE_LEASES_SQL = (
    f"(SELECT COUNT(*) FROM {Assignment._meta.db_table} lease"
    f" WHERE lease.task_id = t.id AND lease.state = '{AssignmentState.ACTIVE}' AND lease.expires_at > %s"
    f" AND lease.counts_toward_replication)"
)
# task_labels_wanted of row t, by whether the queue is adaptive (CASE, not LEAST: SQLite has none).
_LABELS_WANTED_SQL = {
    False: "%s",
    True: "(CASE WHEN t.labels_wanted IS NULL THEN %s WHEN t.labels_wanted < %s THEN t.labels_wanted ELSE %s END)",
}
# Any assignment of the labeler on a task (submitted, skipped, or a lease they let expire) rules
# the task out for them: a skip is final and nobody labels a task twice. Order = task_claim_order.
_OPEN_NORMAL_TASK_TEMPLATE = (
    f"SELECT {select_columns(Task, 't')} FROM {Task._meta.db_table} t"
    f" WHERE t.queue_id = %s AND NOT t.is_golden AND t.label_count < {{wanted}}"
    f" AND NOT EXISTS (SELECT 1 FROM {Assignment._meta.db_table} mine"
    f" WHERE mine.task_id = t.id AND mine.labeler_id = %s)"
    # Never both twins: not a task whose golden copy the labeler was served.
    f" AND NOT EXISTS (SELECT 1 FROM {Task._meta.db_table} twin JOIN {Assignment._meta.db_table} seen"
    f" ON seen.task_id = twin.id WHERE twin.twin_of_id = t.id AND seen.labeler_id = %s)"
    f" AND t.label_count + {_LIVE_LEASES_SQL} < {{wanted}}"
    f" ORDER BY t.priority DESC, t.created_at, t.id LIMIT 1"
)
_OPEN_NORMAL_TASK_SQL = {adaptive: _OPEN_NORMAL_TASK_TEMPLATE.format(wanted=wanted)
                         for adaptive, wanted in _LABELS_WANTED_SQL.items()}
# labels_wanted is read by the same fresh statement as the counts: submit changes it together with
# label_count, under the task lock.
_SLOTS_TAKEN_SQL = (f"SELECT t.label_count + {_LIVE_LEASES_SQL}, t.labels_wanted"
                    f" FROM {Task._meta.db_table} t WHERE t.id = %s")


def _sql_time(moment: datetime):
    # Raw SQL gets the time in the form the backend stores it (SQLite compares text).
    return connection.ops.adapt_datetimefield_value(moment)


def _open_normal_task_locked(*, queue: Queue, labeler: User, now: datetime, skip_locked: bool) -> Task | None:
    """The first open normal task for the labeler, row-locked. SQLite has no row locks: there the
    IMMEDIATE transaction already holds the database's write lock."""
    wanted_params = _labels_wanted_params(queue)
    sql = _OPEN_NORMAL_TASK_SQL[queue_is_adaptive(queue)]
    if connection.features.has_select_for_update:
        sql += " FOR UPDATE OF t SKIP LOCKED" if skip_locked else " FOR UPDATE OF t"
    return instance_fetch(sql, [queue.pk, *wanted_params, labeler.pk, labeler.pk, _sql_time(now), *wanted_params],
                          Task)


def _task_has_free_slot(*, queue: Queue, task: Task, now: datetime) -> bool:
    """Labels plus live leases < the labels the task wants, read by a fresh statement (a fresh
    snapshot under READ COMMITTED) while the caller holds the task's row lock, so both are exact."""
    with connection.cursor() as cursor:
        cursor.execute(_SLOTS_TAKEN_SQL, [_sql_time(now), task.pk])
        slots_taken, labels_wanted = cursor.fetchone()
    return slots_taken < task_labels_wanted(queue=queue, labels_wanted=labels_wanted)


_OWN_LIVE_LEASE_SQL = (
    f"SELECT {select_columns(Assignment, 'a')}, {select_columns(Task, 't')} FROM {Assignment._meta.db_table} a"
    f" JOIN {Task._meta.db_table} t ON t.id = a.task_id"
    f" WHERE a.queue_id = %s AND a.labeler_id = %s AND a.state = '{AssignmentState.ACTIVE}' AND a.expires_at > %s"
    f" ORDER BY a.expires_at LIMIT 1"
)
_ALLOWED_POOLS_SQL = f"SELECT pool_id FROM {Queue.allowed_pools.through._meta.db_table} WHERE queue_id = %s"
_LABEL_BY_KEY_SQL = (f"SELECT {select_columns(Label, 'l')} FROM {Label._meta.db_table} l"
                     f" WHERE l.labeler_id = %s AND l.idempotency_key = %s")
# Submit's two writes besides the label's INSERT, hand-written like the reads (no ORM compile).
_ASSIGNMENT_FINISH_SQL = f"UPDATE {Assignment._meta.db_table} SET state = %s, finished_at = %s WHERE id = %s"
_TASK_LABEL_COUNTED_SQL = f"UPDATE {Task._meta.db_table} SET label_count = label_count + 1 WHERE id = %s"


def _own_live_lease(*, queue: Queue, labeler: User, now: datetime) -> Assignment | None:
    with connection.cursor() as cursor:
        cursor.execute(_OWN_LIVE_LEASE_SQL, [queue.pk, labeler.pk, _sql_time(now)])
        row = cursor.fetchone()
    if row is None:
        return None
    lease, task = instances_from_row(row, (Assignment, Task))
    lease.task = task
    lease.queue = task.queue = queue
    return lease


_QUEUE_WITH_POOLS_SQL = (
    f"SELECT {select_columns(Queue, 'q')}, ap.pool_id FROM {Queue._meta.db_table} q"
    f" LEFT JOIN {Queue.allowed_pools.through._meta.db_table} ap ON ap.queue_id = q.id WHERE q.id = %s"
)


def queue_for_claim(queue_id: int) -> Queue | None:
    """The queue a claim names with its allowed pools, by one hand-written SELECT (the ORM's
    ``get`` cost a claim more CPU than any of its other statements, and the pool check is then no
    query of its own); None when there is none."""
    with connection.cursor() as cursor:
        cursor.execute(_QUEUE_WITH_POOLS_SQL, [queue_id])
        rows = cursor.fetchall()
    if not rows:
        return None
    (queue,) = instances_from_row(rows[0], (Queue,))
    queue.claim_allowed_pool_ids = frozenset(row[-1] for row in rows if row[-1] is not None)
    return queue


def queue_check_open(*, queue: Queue, labeler: User) -> None:
    """Raise unless ``labeler`` may take work from ``queue``. Pools restrict labelers only: staff
    (experts answering golden items, admins) belong to no pool. An empty allowed_pools is open to all."""
    if not queue.is_active:
        raise QueueClosed(QUEUE_CLOSED)
    if labeler.role != Role.LABELER or labeler.is_superuser:
        return
    # Read with the queue by queue_for_claim (the claim API), or here.
    allowed_pool_ids = getattr(queue, "claim_allowed_pool_ids", None)
    if allowed_pool_ids is None:
        with connection.cursor() as cursor:
            cursor.execute(_ALLOWED_POOLS_SQL, [queue.pk])
            allowed_pool_ids = {pool_id for (pool_id,) in cursor.fetchall()}
    if allowed_pool_ids and labeler.pool_id not in allowed_pool_ids:
        raise QueueNotOpenToPool(QUEUE_NOT_OPEN_TO_POOL)


def queue_qualify_url(queue: Queue) -> str:
    from django.urls import reverse  # the URL conf imports the API, which imports this module

    return reverse("frontend:qualify", kwargs={"queue_id": queue.pk})


def queue_check_standing(*, queue: Queue, labeler: User) -> None:
    """Raise unless the labeler may get the queue's tasks under qualification and re-calibration: one
    query, run only for a labeler on a queue that uses either (CALIBRATION_qualification.md). A flag
    of the kind blocks every such queue of the kind; staff are never checked."""
    if not qualification.queue_uses_calibration(queue) or labeler_is_staff(labeler):
        return
    standing = qualification.claim_standing(queue=queue, labeler=labeler)
    kind = task_kind_spec(queue.task_kind).label
    if standing.flagged:
        can_requalify = queue.requires_qualification and queue.qualification_set_id is not None
        template = LABELER_FLAGGED if can_requalify else LABELER_FLAGGED_NO_QUALIFICATION
        url = queue_qualify_url(queue) if can_requalify else None
        raise LabelerFlagged(template.format(kind=kind, accuracy=standing.flag_accuracy,
                                             threshold=standing.flag_threshold, url=url), qualify_url=url)
    if queue.requires_qualification and not standing.qualified:
        url = queue_qualify_url(queue)
        raise QualificationRequired(QUALIFICATION_REQUIRED.format(kind=kind, url=url), qualify_url=url)


def _lease_create(*, queue: Queue, task: Task, labeler: User, now: datetime,
                  counts_toward_replication: bool = True) -> Assignment:
    task.queue = queue  # the caller serializes the task's kind; spare that query
    return instance_insert(Assignment(
        task=task, queue=queue, labeler=labeler, state=AssignmentState.ACTIVE,
        expires_at=now + timedelta(seconds=queue.lease_seconds),
        counts_toward_replication=counts_toward_replication,
    ))


def _claim_golden(*, queue: Queue, labeler: User, now: datetime) -> Assignment | None:
    # No row lock: golden tasks have no replication cap, so concurrent claimers cannot overfill one.
    task = _golden_candidates(queue=queue, labeler=labeler).first()
    if task is None:
        return None
    with transaction.atomic():
        return _lease_create(queue=queue, task=task, labeler=labeler, now=now)


def _claim_uncounted(*, queue: Queue, labeler: User, now: datetime) -> Assignment | None:
    """A staff member's claim on a queue whose staff labels do not count: their lease and label take
    no replication slot, so (as for golden tasks) there is nothing to overfill and no lock to take.
    They get the first normal task they have not touched, full or not."""
    task = (Task.objects.filter(queue=queue, is_golden=False)
            .filter(~Exists(Assignment.objects.filter(task=OuterRef("pk"), labeler=labeler)))
            .filter(~Exists(Assignment.objects.filter(task__twin_of=OuterRef("pk"), labeler=labeler)))
            .order_by("-priority", "created_at", "id").first())
    if task is None:
        return None
    with transaction.atomic():
        return _lease_create(queue=queue, task=task, labeler=labeler, now=now, counts_toward_replication=False)


def _claim_replicated(*, queue: Queue, labeler: User, now: datetime) -> Assignment | None:
    skip_locked = True
    for _ in range(CLAIM_ATTEMPTS):
        with transaction.atomic():
            task = _open_normal_task_locked(queue=queue, labeler=labeler, now=now, skip_locked=skip_locked)
            if task is None:
                if not skip_locked:
                    return None
                # Every remaining candidate may merely be locked by other claimers this instant
                # (the tail of a queue): wait for one lock once instead of answering "nothing left".
                skip_locked = False
                continue
            # The candidate query read its counts from a snapshot taken before the lock; a claim or
            # submit that committed in between may have filled the task. Re-count under the lock.
            if _task_has_free_slot(queue=queue, task=task, now=now):
                return _lease_create(queue=queue, task=task, labeler=labeler, now=now)
    return None


def assignment_claim(
    *, queue: Queue, labeler: User, now: datetime | None = None, rng: random.Random | None = None,
) -> Assignment | None:
    """The labeler's live lease in ``queue`` if they hold one, else a new lease on the next task
    for them, or None when nothing is left for them. ``rng`` draws golden vs normal per claim."""
    now = now or timezone.now()
    queue_check_open(queue=queue, labeler=labeler)
    queue_check_standing(queue=queue, labeler=labeler)
    lease = _own_live_lease(queue=queue, labeler=labeler, now=now)
    if lease is not None:
        return lease
    if queue.golden_rate > 0:
        golden_first = (rng or random).random() < queue.golden_rate
        kinds = (True, False) if golden_first else (False, True)
    else:
        kinds = (False,)
    normal_claim = (_claim_uncounted if labeler_is_staff(labeler) and not queue.staff_labels_count
                    else _claim_replicated)
    try:
        for is_golden in kinds:
            claim = _claim_golden if is_golden else normal_claim
            lease = claim(queue=queue, labeler=labeler, now=now)
            if lease is not None:
                return lease
    except IntegrityError:
        # The one-active-lease-per-(task, labeler) constraint refused a lease: the same labeler's
        # concurrent claim (a second tab) won the race. Hand back that lease.
        return _own_live_lease(queue=queue, labeler=labeler, now=now)
    return None


def _replayed_label(*, labeler: User, idempotency_key: str, assignment_id: int, fingerprint: str) -> Label | None:
    label = instance_fetch(_LABEL_BY_KEY_SQL, [labeler.pk, idempotency_key], Label)
    if label is not None:
        _check_replay(label=label, assignment_id=assignment_id, fingerprint=fingerprint)
    return label


def _check_replay(*, label: Label, assignment_id: int, fingerprint: str) -> None:
    """A replay must repeat the first request exactly: same assignment, same body."""
    if label.assignment_id != assignment_id:
        raise IdempotencyKeyReused(IDEMPOTENCY_KEY_REUSED)
    if label.request_sha256 and label.request_sha256 != fingerprint:
        raise IdempotencyBodyChanged(IDEMPOTENCY_BODY_CHANGED)


_ASSIGNMENT_WITH_TASK_AND_QUEUE_SQL = (
    f"SELECT {select_columns(Assignment, 'a')}, {select_columns(Task, 't')}, {select_columns(Queue, 'q')}"
    f" FROM {Assignment._meta.db_table} a JOIN {Task._meta.db_table} t ON t.id = a.task_id"
    f" JOIN {Queue._meta.db_table} q ON q.id = a.queue_id WHERE a.id = %s"
)


def _locked_own_assignment(*, assignment_id: int, labeler: User, lock_task: bool) -> Assignment:
    """The assignment with its task and queue, the assignment row locked (and the task's with
    ``lock_task``); hand-written like claim's statements (no ORM compile on every submit)."""
    sql = _ASSIGNMENT_WITH_TASK_AND_QUEUE_SQL
    if connection.features.has_select_for_update:
        sql += " FOR UPDATE OF a, t" if lock_task else " FOR UPDATE OF a"
    with connection.cursor() as cursor:
        cursor.execute(sql, [assignment_id])
        row = cursor.fetchone()
    if row is None:
        raise AssignmentNotFound(ASSIGNMENT_NOT_FOUND)
    assignment, task, queue = instances_from_row(row, (Assignment, Task, Queue))
    assignment.task, assignment.queue, task.queue = task, queue, queue
    if assignment.labeler_id != labeler.pk:
        raise AssignmentNotYours(ASSIGNMENT_NOT_YOURS)
    return assignment


def _adaptive_task_changes(*, queue: Queue, task: Task) -> dict:
    """The task's new agreement, and one more label wanted when the labels it wanted are in, they
    still disagree, and replication allows another. The caller holds the task's row lock, so
    ``task.label_count`` and ``task.labels_wanted`` are the committed values and nobody else
    changes them before our UPDATE commits (QUEUE.md, "Adaptive replication")."""
    # The new label is already inserted in this transaction, so the query returns it too.
    answers = list(Label.objects.filter(task=task, counts_toward_replication=True)
                   .order_by("pk").values_list("answer", flat=True))
    agreement = task_kind_spec(queue.task_kind).consensus(payload=task.payload, answers=answers).agreement
    changes = {"agreement": agreement}
    label_count = task.label_count + 1
    if (
        agreement is not None
        and agreement < queue.agreement_target
        and label_count >= task_labels_wanted(queue=queue, labels_wanted=task.labels_wanted)
        and label_count < queue.replication
    ):
        changes["labels_wanted"] = label_count + 1
    return changes


def label_submit(
    *,
    assignment_id: int,
    labeler: User,
    answer,
    idempotency_key: str | None = None,
    time_spent_ms: int | None = None,
    now: datetime | None = None,
) -> tuple[Label, bool]:
    """Store the labeler's answer for their assignment; return (label, created).

    A replay with the same ``idempotency_key`` and the same body returns the first label and stores
    nothing new; the same key with another body is refused (IdempotencyBodyChanged).
    Raises a QueueEngineError or labeling.answer_schemas.AnswerSchemaError when refused.
    """
    fingerprint = submit_fingerprint(answer=answer, time_spent_ms=time_spent_ms)
    if idempotency_key:
        replay = _replayed_label(labeler=labeler, idempotency_key=idempotency_key, assignment_id=assignment_id,
                                 fingerprint=fingerprint)
        if replay is not None:
            return replay, False
    try:
        with transaction.atomic():
            # Lock the assignment (against a concurrent submit or skip of it) and the task (claims
            # re-count a task's slots under this same lock, and label_count changes only under it).
            assignment = _locked_own_assignment(assignment_id=assignment_id, labeler=labeler, lock_task=True)
            task, queue = assignment.task, assignment.queue
            if assignment.state == AssignmentState.SUBMITTED:
                if idempotency_key:
                    # A concurrent replay of this very submit committed while we waited for the lock.
                    replay = Label.objects.filter(assignment=assignment, idempotency_key=idempotency_key).first()
                    if replay is not None:
                        _check_replay(label=replay, assignment_id=assignment_id, fingerprint=fingerprint)
                        return replay, False
                raise AssignmentFinished(ASSIGNMENT_ALREADY_SUBMITTED)
            if assignment.state == AssignmentState.SKIPPED:
                raise AssignmentFinished(ASSIGNMENT_ALREADY_SKIPPED)
            # Read the clock only now, holding the task lock: a claim that counted this lease as
            # expired has committed by now, so we see its lease in the re-count below.
            now = now or timezone.now()
            counted = assignment.counts_toward_replication
            if (
                assignment.expires_at <= now
                and counted
                and not task.is_golden
                and not _task_has_free_slot(queue=queue, task=task, now=now)
            ):
                raise LeaseExpired(LEASE_EXPIRED)
            cleaned_answer = answer_clean(kind=queue.task_kind, payload=task.payload, answer=answer)
            if time_spent_ms is None:
                time_spent_ms = max(0, int((now - assignment.created_at).total_seconds() * 1000))
            adaptive = counted and queue_is_adaptive(queue) and not task.is_golden
            # The label, its assignment finished and its task's count: one statement on PostgreSQL.
            along = [(_ASSIGNMENT_FINISH_SQL, [AssignmentState.SUBMITTED, _sql_time(now), assignment.pk])]
            if counted and not adaptive:
                along.append((_TASK_LABEL_COUNTED_SQL, [task.pk]))
            label = instance_insert(Label(
                task=task, assignment=assignment, labeler=labeler, answer=cleaned_answer,
                guide_version_id=queue.guide_version_id, time_spent_ms=time_spent_ms,
                idempotency_key=idempotency_key or None, request_sha256=fingerprint,
                is_staff_label=labeler_is_staff(labeler), counts_toward_replication=counted,
                is_simulated=labeler.is_simulated,
            ), along=along)
            if adaptive:  # the new agreement reads the label just inserted
                Task.objects.filter(pk=task.pk).update(label_count=F("label_count") + 1,
                                                       **_adaptive_task_changes(queue=queue, task=task))
            golden_feedback = None
            if task.is_golden and _golden_hook_wanted(queue=queue, labeler=labeler):
                golden_feedback = qualification.golden_label_recorded(queue=queue, label=label, labeler=labeler)
    except IntegrityError:
        # Only the (labeler, idempotency_key) constraint can fire here: the same key was committed
        # meanwhile by a submit of another assignment, or of this one.
        if idempotency_key:
            replay = _replayed_label(labeler=labeler, idempotency_key=idempotency_key, assignment_id=assignment_id,
                                     fingerprint=fingerprint)
            if replay is not None:
                return replay, False
        raise
    assignment.state, assignment.finished_at = AssignmentState.SUBMITTED, now
    label.assignment = assignment
    # Read by the submit responses: the expert's answer, shown to this labeler after they answered.
    label.golden_feedback = golden_feedback
    return label, True


def _golden_hook_wanted(*, queue: Queue, labeler: User) -> bool:
    return ((qualification.queue_recalibrates(queue) or queue.immediate_feedback)
            and not labeler_is_staff(labeler))


def assignment_skip(*, assignment_id: int, labeler: User, now: datetime | None = None) -> Assignment:
    """End the labeler's assignment without a label; the task is never offered to them again in
    that queue. Skipping a skipped assignment again changes nothing."""
    with transaction.atomic():
        assignment = _locked_own_assignment(assignment_id=assignment_id, labeler=labeler, lock_task=False)
        if assignment.state == AssignmentState.SUBMITTED:
            raise AssignmentFinished(ASSIGNMENT_ALREADY_SUBMITTED)
        if assignment.state == AssignmentState.ACTIVE:
            assignment.state = AssignmentState.SKIPPED
            assignment.finished_at = now or timezone.now()
            assignment.save(update_fields=["state", "finished_at"])
    return assignment


def label_submit_and_claim(
    *,
    assignment_id: int,
    labeler: User,
    answer,
    idempotency_key: str | None = None,
    time_spent_ms: int | None = None,
    now: datetime | None = None,
    rng: random.Random | None = None,
) -> tuple[Label, bool, Assignment | None]:
    """Submit, then claim the labeler's next task in the same queue: (label, created, next lease).

    Two short transactions, exactly ``label_submit`` then ``assignment_claim``, so every invariant of
    each holds as it does for two requests (QUEUE.md, "Submit and claim next"). A replay of the submit
    returns the first label and the labeler's live lease, which is the task the first call handed
    them. A claim the queue refuses (closed meanwhile, the labeler's pool taken off it) is no reason
    to refuse the stored label: the next lease is then None and a plain claim says why."""
    label, created = label_submit(assignment_id=assignment_id, labeler=labeler, answer=answer,
                                  idempotency_key=idempotency_key, time_spent_ms=time_spent_ms, now=now)
    assignment = label.assignment
    queue = assignment.queue if created else Queue.objects.get(pk=assignment.queue_id)
    # Read by the submit-and-claim response: why there is no next task (a qualification refusal).
    label.claim_refusal = None
    try:
        lease = assignment_claim(queue=queue, labeler=labeler, now=now, rng=rng)
    except QueueEngineError as error:
        lease = None
        label.claim_refusal = error
    return label, created, lease
