"""What every queue producer does the same way: a queue of one kind under the kind's newest guide,
drawing golden items from the given sets. The producers (box_queues, attribute_queues,
cleanup_queues, and evaluation runs for the guide) differ only in the tasks they write."""
from __future__ import annotations

from collections.abc import Iterable

from labeling.golden.services import GoldenError, queue_golden_sets_add
from labeling.models import GoldenSet, Queue
from labeling.selectors import guide_version_latest
from labeling.services.queues import queue_create


def producer_queue_create(*, error_class: type[ValueError], task_kind: str, golden_sets: Iterable[GoldenSet] = (),
                          **queue_options) -> Queue:
    """``queue_create`` with the kind's newest guide, linked to ``golden_sets``. Call inside the
    producer's transaction. A set of another kind is refused as ``error_class(message, "golden_sets")``."""
    queue = queue_create(task_kind=task_kind, guide_version=guide_version_latest(task_kind=task_kind), **queue_options)
    golden_sets = list(golden_sets)
    if golden_sets:
        try:
            queue_golden_sets_add(queue=queue, golden_sets=golden_sets)
        except GoldenError as refusal:
            raise error_class(str(refusal), "golden_sets") from refusal
    return queue
