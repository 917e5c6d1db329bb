"""The producer of matching-pair cleanup queues: one task per creator pair (a scene, the creator's
box on it, the product they tagged). For synthetic pairs, whose noise the world recorded, golden
items carry the true answer. ``evaluation/PIPELINE.md`` ("Cleanup queues") is the note."""
from __future__ import annotations

from collections.abc import Iterable

from django.core.files.storage import default_storage
from django.db import transaction

from evaluation.producers import producer_queue_create
from labeling.golden.services import GoldenItemInput, golden_items_put
from labeling.models import CreatorPair, GoldenSet, GoldenSource, Pool, Queue, TaskKind, User
from labeling.services.tasks import TaskSpec, tasks_create
from labeling.task_kinds import task_kind_spec

CLEANUP_QUEUE_NAME_EMPTY = "Give the queue a name."
CLEANUP_QUEUE_NO_PAIRS = "There are no creator pairs to clean in this selection."
TRUTH_GOLDEN_REASON = "The synthetic world's record of the noise it put in this pair (the world's oracle)."
PAIR_TASK_KEY = "pair:{pair_id}"


class CleanupQueueError(ValueError):
    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field


def pair_payload(*, pair: CreatorPair) -> dict:
    """What a labeler sees of a pair: the scene, the creator's box and category, the product."""
    scene, product_image = pair.scene, pair.product_image
    product = {"image_url": default_storage.url(product_image.file.name)}
    if pair.product_id is not None:
        product.update(id=pair.product_id, category=pair.product.category.slug)
    return task_kind_spec(TaskKind.MATCHING_PAIR).payload_clean({
        "pair_id": pair.pk,
        "scene": {"url": default_storage.url(scene.file.name), "width": scene.width, "height": scene.height},
        "box": [round(float(v), 1) for v in pair.box],
        "category": pair.category,
        "product": product,
    })


def _pairs_loaded(pairs: Iterable[CreatorPair]) -> list[CreatorPair]:
    if hasattr(pairs, "select_related"):
        pairs = pairs.select_related("scene", "product_image", "product__category").order_by("pk")
    return list(pairs)


def cleanup_queue_create(*, name: str, pairs: Iterable[CreatorPair], created_by: User | None, replication: int = 3,
                         golden_rate: float = 0.0, golden_sets: Iterable[GoldenSet] = (),
                         allowed_pools: Iterable[Pool] = ()) -> Queue:
    """A cleanup queue with one task per pair (idempotent per pair)."""
    if not name.strip():
        raise CleanupQueueError(CLEANUP_QUEUE_NAME_EMPTY, "name")
    pairs = _pairs_loaded(pairs)
    if not pairs:
        raise CleanupQueueError(CLEANUP_QUEUE_NO_PAIRS, "pair_import")
    with transaction.atomic():
        queue = producer_queue_create(error_class=CleanupQueueError, task_kind=TaskKind.MATCHING_PAIR, name=name,
                                      replication=replication, golden_rate=golden_rate, golden_sets=golden_sets,
                                      allowed_pools=allowed_pools, created_by=created_by)
        tasks_create(queue=queue, specs=[TaskSpec(source_key=PAIR_TASK_KEY.format(pair_id=pair.pk),
                                                  payload=pair_payload(pair=pair)) for pair in pairs])
    return queue


def truth_answer(*, pair: CreatorPair) -> dict | None:
    """The true cleanup answer of a synthetic pair, from the noise the world recorded."""
    truth = pair.truth
    if not truth:
        return None
    x0, y0, x1, y1 = truth["true_box"]
    width, height = pair.scene.width, pair.scene.height
    return {"box": [round(x0 * width, 1), round(y0 * height, 1), round(x1 * width, 1), round(y1 * height, 1)],
            "category": truth["true_category"], "match": truth["match"], "is_spam": bool(truth["is_spam"])}


def cleanup_golden_set_from_truth(*, name: str, pairs: Iterable[CreatorPair], created_by: User | None = None
                                  ) -> tuple[GoldenSet, int]:
    """Golden cleanup items of synthetic pairs, answered with their recorded truth. (set, created)."""
    golden_set, _ = GoldenSet.objects.get_or_create(
        name=name, defaults={"task_kind": TaskKind.MATCHING_PAIR, "created_by": created_by,
                             "description": "Synthetic creator pairs answered with the noise the world put in."})
    items = []
    for pair in _pairs_loaded(pairs):
        answer = truth_answer(pair=pair)
        if answer is not None:
            items.append(GoldenItemInput(key=PAIR_TASK_KEY.format(pair_id=pair.pk), payload=pair_payload(pair=pair),
                                         answer=answer, reason=TRUTH_GOLDEN_REASON, source=GoldenSource.WORLD_ORACLE))
    _, created, _ = golden_items_put(golden_set=golden_set, items=items)
    return golden_set, created


# -- truth for simulated labelers (evaluation/simulation.py) --------------------------------------

def cleanup_truth_answers(*, payloads: dict[int, dict]) -> dict[int, dict | None]:
    """The true answer of each cleanup task (task id -> payload): ``truth_answer`` of its pair;
    None for a pair without recorded truth (a real creator's pair). One query."""
    pair_ids = {payload.get("pair_id") for payload in payloads.values()}
    pairs = CreatorPair.objects.select_related("scene").in_bulk([pk for pk in pair_ids if isinstance(pk, int)])
    answers = {}
    for task_id, payload in payloads.items():
        pair = pairs.get(payload.get("pair_id"))
        answers[task_id] = truth_answer(pair=pair) if pair is not None else None
    return answers
