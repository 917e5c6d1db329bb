"""Task creation for producers (evaluation runs, imports). Idempotent by ``source_key``."""
from __future__ import annotations

from dataclasses import dataclass, field

from labeling.models import GoldenAnswer, Queue, Task


@dataclass(frozen=True)
class TaskSpec:
    source_key: str
    payload: dict
    priority: int = 0
    is_golden: bool = False
    golden_answer: dict | None = field(default=None, compare=False)


def tasks_create(*, queue: Queue, specs: list[TaskSpec]) -> list[Task]:
    """Create the tasks of ``specs`` that the queue does not have yet; return all of them, in order.

    Producers may retry: the unique (queue, source_key) constraint makes a replay store nothing new.
    Call inside the producer's transaction so the tasks land together with the producer's own rows.
    """
    if not specs:
        return []
    Task.objects.bulk_create(
        [Task(queue=queue, source_key=s.source_key, payload=s.payload, priority=s.priority, is_golden=s.is_golden)
         for s in specs],
        ignore_conflicts=True,
    )
    by_key = {t.source_key: t for t in Task.objects.filter(queue=queue, source_key__in=[s.source_key for s in specs])}
    golden = [GoldenAnswer(task=by_key[s.source_key], answer=s.golden_answer)
              for s in specs if s.is_golden and s.golden_answer is not None]
    if golden:
        GoldenAnswer.objects.bulk_create(golden, ignore_conflicts=True)
    return [by_key[s.source_key] for s in specs]
