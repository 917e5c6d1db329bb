"""Writes of golden sets and items. Rules (GOLDEN.md):

- A golden item is its own record; queues serve *copies* of it as golden tasks
  (``Task.golden_item``). No labeled task is ever flipped to golden: "make golden" on a task makes
  an item from it and a copy, and leaves the task and its labels as they were.
- Every answer is validated by the kind's module and kept in the item's history (revisions); labels
  are scored against the current answer on read, so fixing an answer re-scores them.
- A copy made from a task of the same queue records it (``Task.twin_of``); claim never serves one
  labeler both twins.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.db import transaction
from django.db.models import F

from labeling.calibration.audit import AuditAction, audit_record
from labeling.models import (GoldenItem, GoldenItemRevision, GoldenSet, GoldenSource, GuideVersion, Queue, Task,
                             User)
from labeling.selectors import guide_version_latest
from labeling.services.tasks import TaskSpec, tasks_create
from labeling.task_kinds import task_kind_spec

GOLDEN_SET_NAME_EMPTY = "Give the golden set a name."
GOLDEN_SET_NAME_TAKEN = "A golden set named '{name}' exists already."
GOLDEN_SET_KIND_MISMATCH = ("The golden set '{name}' holds {set_kind} items, but the queue '{queue}' is a "
                            "{queue_kind} queue.")
GOLDEN_TASK_KIND_MISMATCH = "The golden set '{name}' holds {set_kind} items, but this task is a {task_kind} task."
GOLDEN_SOURCE_UNKNOWN = "'{source}' is not a golden source; choose one of: {sources}."
GOLDEN_KEY_TOO_LONG = "A golden item's key has at most 200 characters."

GOLDEN_COPY_KEY = "golden-item:{item_id}"
TASK_ITEM_KEY = "task:{task_id}"
QUEUE_GOLDEN_SET_NAME = "{queue}: golden items (queue #{queue_id})"


class GoldenError(ValueError):
    """A refused golden write; ``str(error)`` is the message for the user."""


class GoldenSetNameTaken(GoldenError):
    """Another set has this name (the API answers 409)."""


@dataclass(frozen=True)
class GoldenItemInput:
    """One item to create or update in a set (an import line, an oracle answer)."""

    key: str
    payload: dict
    answer: dict
    reason: str = ""
    source: str = GoldenSource.EXPERT
    expert: User | None = None
    guide_version: GuideVersion | None = None
    source_task: Task | None = None


def golden_set_create(*, name: str, task_kind: str, description: str = "", created_by: User | None = None) -> GoldenSet:
    task_kind_spec(task_kind)  # an unknown kind is refused with its clear message
    if not name.strip():
        raise GoldenError(GOLDEN_SET_NAME_EMPTY)
    if GoldenSet.objects.filter(name=name).exists():
        raise GoldenSetNameTaken(GOLDEN_SET_NAME_TAKEN.format(name=name))
    return GoldenSet.objects.create(name=name, task_kind=task_kind, description=description, created_by=created_by)


def golden_items_put(*, golden_set: GoldenSet, items: Iterable[GoldenItemInput]) -> tuple[list[GoldenItem], int, int]:
    """Create the items whose key is new in the set, revise those whose answer or reason changed;
    validate everything first, so a bad item stores nothing. Then copy new items into every queue
    that draws from the set. Returns (items in input order, created, revised)."""
    spec = task_kind_spec(golden_set.task_kind)
    cleaned = []
    for item in items:
        if item.source not in GoldenSource.values:
            raise GoldenError(GOLDEN_SOURCE_UNKNOWN.format(source=item.source, sources=", ".join(GoldenSource.values)))
        if len(item.key) > 200:
            raise GoldenError(GOLDEN_KEY_TOO_LONG)
        payload = spec.payload_clean(item.payload)
        cleaned.append((item, payload, spec.answer_clean(payload=payload, answer=item.answer)))
    created = revised = 0
    with transaction.atomic():
        existing = {row.key: row for row in
                    GoldenItem.objects.select_for_update().filter(golden_set=golden_set,
                                                                  key__in=[item.key for item, _, _ in cleaned])}
        guide_version = guide_version_latest(task_kind=golden_set.task_kind)
        result, new_items, revisions = [], [], []
        for item, payload, answer in cleaned:
            row = existing.get(item.key)
            if row is None:
                row = GoldenItem(golden_set=golden_set, key=item.key, payload=payload, answer=answer,
                                 source=item.source, expert=item.expert, reason=item.reason,
                                 guide_version=item.guide_version or guide_version, source_task=item.source_task)
                new_items.append(row)
                existing[item.key] = row
            elif row.answer != answer or row.reason != item.reason:
                old_answer, old_revision = row.answer, row.revision
                row.answer, row.reason, row.source, row.expert = answer, item.reason, item.source, item.expert
                row.guide_version = item.guide_version or guide_version
                row.revision += 1
                row.save(update_fields=["answer", "reason", "source", "expert", "guide_version", "revision",
                                        "updated_at"])
                revisions.append(row)
                revised += 1
                _golden_change_audit(item=row, actor=item.expert, old_answer=old_answer, old_revision=old_revision)
            result.append(row)
        GoldenItem.objects.bulk_create(new_items)
        created = len(new_items)
        GoldenItemRevision.objects.bulk_create([
            GoldenItemRevision(item=row, revision=row.revision, answer=row.answer, reason=row.reason, source=row.source,
                               expert=row.expert, guide_version=row.guide_version)
            for row in [*new_items, *revisions]])
        if new_items:
            for queue in golden_set.queues.all():
                _golden_copies_create(queue=queue, items=new_items)
    return result, created, revised


def golden_item_revise(*, item: GoldenItem, answer, expert: User, reason: str | None = None) -> GoldenItem:
    """Fix an item's answer (or reason); the old answer stays in the history."""
    spec = task_kind_spec(item.golden_set.task_kind)
    cleaned = spec.answer_clean(payload=item.payload, answer=answer)
    with transaction.atomic():
        item = GoldenItem.objects.select_for_update().get(pk=item.pk)
        old_answer, old_revision = item.answer, item.revision
        item.answer, item.expert, item.source = cleaned, expert, GoldenSource.EXPERT
        if reason is not None:
            item.reason = reason
        item.guide_version = guide_version_latest(task_kind=item.golden_set.task_kind) or item.guide_version
        item.revision = F("revision") + 1
        item.save(update_fields=["answer", "expert", "source", "reason", "guide_version", "revision", "updated_at"])
        item.refresh_from_db()
        GoldenItemRevision.objects.create(item=item, revision=item.revision, answer=item.answer, reason=item.reason,
                                          source=item.source, expert=expert, guide_version=item.guide_version)
        _golden_change_audit(item=item, actor=expert, old_answer=old_answer, old_revision=old_revision)
    return item


def _golden_change_audit(*, item: GoldenItem, actor: User | None, old_answer, old_revision: int) -> None:
    """The audit event of a revised golden answer (or reason), in the revising transaction."""
    audit_record(actor=actor, action=AuditAction.GOLDEN_ANSWER_CHANGED, target=item,
                 details={"golden_set": item.golden_set_id, "key": item.key, "old_revision": old_revision,
                          "revision": item.revision, "old_answer": old_answer, "answer": item.answer,
                          "reason": item.reason})


def queue_golden_set(*, queue: Queue, created_by: User | None = None) -> GoldenSet:
    """The queue's own golden set (made on first use and linked to the queue): where "make golden"
    puts items made from the queue's tasks unless the expert names another set."""
    name = QUEUE_GOLDEN_SET_NAME.format(queue=queue.name[:150], queue_id=queue.pk)
    golden_set, created = GoldenSet.objects.get_or_create(
        name=name, defaults={"task_kind": queue.task_kind, "created_by": created_by,
                             "description": "Items experts made golden from this queue's tasks."})
    if created or not queue.golden_sets.filter(pk=golden_set.pk).exists():
        queue.golden_sets.add(golden_set)
    return golden_set


def golden_item_from_task(*, task: Task, expert: User, answer, reason: str = "",
                          golden_set: GoldenSet | None = None) -> GoldenItem:
    """"Make golden": an item with the task's payload and the expert's answer, copied into every
    queue drawing from the set (the task's own queue included, by default). The task itself, its
    labels and its replication are untouched. Answering the same task again revises the item.

    On a golden task (a copy), this revises the item the copy serves."""
    if task.golden_item_id is not None:
        return golden_item_revise(item=task.golden_item, answer=answer, expert=expert, reason=reason)
    queue = task.queue
    with transaction.atomic():
        target = golden_set or queue_golden_set(queue=queue, created_by=expert)
        if target.task_kind != queue.task_kind:
            raise GoldenError(GOLDEN_TASK_KIND_MISMATCH.format(name=target.name, set_kind=target.task_kind,
                                                               task_kind=queue.task_kind))
        items, _, _ = golden_items_put(golden_set=target, items=[GoldenItemInput(
            key=TASK_ITEM_KEY.format(task_id=task.pk), payload=task.payload, answer=answer, reason=reason,
            source=GoldenSource.EXPERT, expert=expert, source_task=task)])
    return items[0]


def queue_golden_sets_add(*, queue: Queue, golden_sets: Iterable[GoldenSet]) -> int:
    """Let ``queue`` draw from ``golden_sets`` (same kind only): every item becomes a golden task of
    the queue, now and when items are added later. Returns how many golden tasks were created."""
    golden_sets = list(golden_sets)
    for golden_set in golden_sets:
        if golden_set.task_kind != queue.task_kind:
            raise GoldenError(GOLDEN_SET_KIND_MISMATCH.format(name=golden_set.name, set_kind=golden_set.task_kind,
                                                              queue=queue.name, queue_kind=queue.task_kind))
    created = 0
    with transaction.atomic():
        queue.golden_sets.add(*golden_sets)
        for golden_set in golden_sets:
            created += _golden_copies_create(queue=queue, items=list(golden_set.items.select_related("source_task")))
    return created


def _golden_copies_create(*, queue: Queue, items: list[GoldenItem]) -> int:
    before = Task.objects.filter(queue=queue, is_golden=True).count()
    tasks_create(queue=queue, specs=[
        TaskSpec(source_key=GOLDEN_COPY_KEY.format(item_id=item.pk), payload=item.payload, golden_item=item,
                 twin_of=item.source_task if item.source_task is not None and item.source_task.queue_id == queue.pk
                 else None)
        for item in items])
    return Task.objects.filter(queue=queue, is_golden=True).count() - before
