"""The producer of bounding-box queues: a queue with one task per scene of a scene set, optionally
pre-annotated by a registered detector version (its proposals go into each task's payload; the
queue decides whether labelers see them). ``evaluation/PIPELINE.md`` ("Box queues") is the note.

Pre-annotation runs on the ``gpu`` queue in chunks, each scene written in one transaction with its
done mark first (``BoxQueueScene``), so a retried or duplicated chunk writes nothing twice. Without
a detector the tasks are written at once, in the creating transaction.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable

from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from evaluation.models import BoxQueueJob, BoxQueueJobStatus, BoxQueueScene, ModelKind, ModelVersion
from evaluation.producers import producer_queue_create
from labeling.models import GoldenSet, Image, Pool, SceneSet, TaskKind, User
from labeling.services.tasks import TaskSpec, tasks_create
from labeling.task_kinds import task_kind_spec

BOX_QUEUE_NAME_EMPTY = "Give the queue a name."
BOX_QUEUE_SCENE_SET_EMPTY = "The scene set '{name}' has no scenes."
BOX_QUEUE_NOT_DETECTOR = "Model version {id} is a {kind}, not a detector."
BOX_QUEUE_REPLICATION_INVALID = "Replication must be between 1 and {maximum}."
BOX_QUEUE_GOLDEN_RATE_INVALID = "The golden rate is a share between 0 and 1."
MAX_REPLICATION = 10
SCENES_PER_CHUNK = 16
DEFAULT_PROPOSAL_THRESHOLD = 0.3
PROPOSAL_THRESHOLD_CONFIG_KEY = "score_threshold"


class BoxQueueError(ValueError):
    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field


def box_queue_create(*, name: str, scene_set: SceneSet, created_by: User | None, detector: ModelVersion | None = None,
                     replication: int = 3, golden_rate: float = 0.0, golden_sets: Iterable[GoldenSet] = (),
                     show_preannotations: bool = True, allowed_pools: Iterable[Pool] = (),
                     start_preannotation: bool = True) -> BoxQueueJob:
    """Create the queue and its job. With a detector, pre-annotation is enqueued once the rows are
    committed (``start_preannotation=False`` leaves it to an in-process caller, the demo)."""
    golden_sets = list(golden_sets)
    if not name.strip():
        raise BoxQueueError(BOX_QUEUE_NAME_EMPTY, "name")
    if detector is not None and detector.kind != ModelKind.DETECTOR:
        raise BoxQueueError(BOX_QUEUE_NOT_DETECTOR.format(id=detector.pk, kind=detector.kind), "detector")
    if not 1 <= replication <= MAX_REPLICATION:
        raise BoxQueueError(BOX_QUEUE_REPLICATION_INVALID.format(maximum=MAX_REPLICATION), "replication")
    if not 0.0 <= golden_rate <= 1.0:
        raise BoxQueueError(BOX_QUEUE_GOLDEN_RATE_INVALID, "golden_rate")
    scene_ids = list(scene_set.scenes.order_by("pk").values_list("pk", flat=True))
    if not scene_ids:
        raise BoxQueueError(BOX_QUEUE_SCENE_SET_EMPTY.format(name=scene_set.name), "scene_set")
    with transaction.atomic():
        queue = producer_queue_create(error_class=BoxQueueError, task_kind=TaskKind.BOUNDING_BOXES, name=name,
                                      replication=replication, golden_rate=golden_rate, golden_sets=golden_sets,
                                      allowed_pools=allowed_pools, show_preannotations=show_preannotations,
                                      created_by=created_by)
        job = BoxQueueJob.objects.create(queue=queue, scene_set=scene_set, detector=detector,
                                         scenes_total=len(scene_ids), created_by=created_by)
        if detector is None:
            _scenes_write(job=job, scenes=list(Image.objects.filter(pk__in=scene_ids).order_by("pk")),
                          proposals_of={})
            BoxQueueJob.objects.filter(pk=job.pk).update(status=BoxQueueJobStatus.READY, finished_at=timezone.now())
            job.refresh_from_db()
        elif start_preannotation:
            from evaluation.tasks import box_queue_preannotate

            transaction.on_commit(lambda: box_queue_preannotate.delay(job.pk))
    return job


def box_queue_preannotation_start(*, job_id: int) -> list[int]:
    """Mark the job pre-annotating; return the ids of its scenes not written yet."""
    with transaction.atomic():
        job = BoxQueueJob.objects.select_for_update().get(pk=job_id)
        if job.status in (BoxQueueJobStatus.FAILED, BoxQueueJobStatus.READY):
            return []
        if job.status == BoxQueueJobStatus.PENDING:
            job.status = BoxQueueJobStatus.PREANNOTATING
            # The stalled-job sweep (recovery.py) measures from here until the first scene is written.
            job.progress_at = timezone.now()
            job.save(update_fields=["status", "progress_at"])
        scene_ids = list(job.scene_set.scenes.order_by("pk").values_list("pk", flat=True))
    done = set(BoxQueueScene.objects.filter(job_id=job_id).values_list("scene_id", flat=True))
    remaining = [pk for pk in scene_ids if pk not in done]
    if not remaining:
        box_queue_finish_if_complete(job_id=job_id)
    return remaining


def box_queue_finish_if_complete(*, job_id: int) -> bool:
    done = BoxQueueScene.objects.filter(job_id=job_id).count()
    return bool(BoxQueueJob.objects.filter(pk=job_id, status=BoxQueueJobStatus.PREANNOTATING, scenes_total__lte=done)
                .update(status=BoxQueueJobStatus.READY, scenes_done=done, finished_at=timezone.now()))


def box_queue_fail(*, job_id: int, error: str) -> None:
    BoxQueueJob.objects.filter(pk=job_id).exclude(status=BoxQueueJobStatus.READY).update(
        status=BoxQueueJobStatus.FAILED, error=error[:4000])


def _proposals(*, detector: ModelVersion, scenes: list[Image], batch_size: int | None = None) -> dict[int, list[dict]]:
    """The detector's boxes per scene, categories mapped onto the platform's taxonomy. ``batch_size``
    (scenes per forward pass; None: the detector's default) shrinks on an out-of-memory retry."""
    from evaluation import runtime_cache
    from labeling.services.images import image_open

    model = runtime_cache.detector_for(detector)
    threshold = float(detector.config.get(PROPOSAL_THRESHOLD_CONFIG_KEY, DEFAULT_PROPOSAL_THRESHOLD))
    category_map = detector.config.get("category_map") or {}
    batch = {} if batch_size is None else {"batch_size": batch_size}
    found = model.detect([image_open(image=scene) for scene in scenes], score_threshold=threshold, **batch)
    proposals = {}
    for scene, detections in zip(scenes, found):
        proposals[scene.pk] = [
            {"box": [round(float(v), 1) for v in box], "category": category_map.get(category, category),
             "score": round(float(score), 3)}
            for box, category, score in zip(detections.boxes.tolist(), detections.categories, detections.scores.tolist())]
    return proposals


def box_queue_preannotate_scenes(*, job_id: int, scene_ids: list[int], batch_size: int | None = None) -> int:
    """Run the detector on the scenes of ``scene_ids`` not written yet (outside any transaction),
    then write each scene's task with its done mark. Returns how many scenes it wrote."""
    job = BoxQueueJob.objects.select_related("detector", "queue").get(pk=job_id)
    if job.status == BoxQueueJobStatus.FAILED:
        return 0
    done = set(BoxQueueScene.objects.filter(job=job, scene_id__in=scene_ids).values_list("scene_id", flat=True))
    scenes = list(Image.objects.filter(pk__in=[pk for pk in scene_ids if pk not in done]).order_by("pk"))
    written = 0
    if scenes:
        proposals = (_proposals(detector=job.detector, scenes=scenes, batch_size=batch_size)
                     if job.detector_id else {})
        for scene in scenes:
            written += int(_scene_write(job=job, scene=scene, proposals=proposals.get(scene.pk, [])))
    box_queue_finish_if_complete(job_id=job_id)
    return written


def box_queue_preannotate_all(*, job_id: int, progress: Callable[[int, int], None] | None = None) -> BoxQueueJob:
    """Pre-annotate a whole job in this process (the demo's path; workers use the Celery fan-out)."""
    remaining = box_queue_preannotation_start(job_id=job_id)
    try:
        for start in range(0, len(remaining), SCENES_PER_CHUNK):
            box_queue_preannotate_scenes(job_id=job_id, scene_ids=remaining[start:start + SCENES_PER_CHUNK])
            if progress is not None:
                job = BoxQueueJob.objects.only("scenes_done", "scenes_total").get(pk=job_id)
                progress(job.scenes_done, job.scenes_total)
    except Exception as error:
        box_queue_fail(job_id=job_id, error=f"{type(error).__name__}: {error}")
        raise
    box_queue_finish_if_complete(job_id=job_id)
    return BoxQueueJob.objects.get(pk=job_id)


def _payload(*, scene: Image, proposals: list[dict]) -> dict:
    payload = {"scene_id": scene.pk,
               "image": {"url": default_storage.url(scene.file.name), "width": scene.width, "height": scene.height},
               "proposals": proposals}
    return task_kind_spec(TaskKind.BOUNDING_BOXES).payload_clean(payload)


def _scenes_write(*, job: BoxQueueJob, scenes: list[Image], proposals_of: dict[int, list[dict]]) -> None:
    """All scenes at once (no detector): the done marks and the tasks in the caller's transaction."""
    BoxQueueScene.objects.bulk_create([BoxQueueScene(job=job, scene=scene) for scene in scenes])
    tasks_create(queue=job.queue, specs=[
        TaskSpec(source_key=f"scene:{scene.pk}", payload=_payload(scene=scene, proposals=proposals_of.get(scene.pk, [])))
        for scene in scenes])
    BoxQueueJob.objects.filter(pk=job.pk).update(scenes_done=len(scenes))


def _scene_write(*, job: BoxQueueJob, scene: Image, proposals: list[dict]) -> bool:
    """One scene's task and done mark, all or nothing; False when another worker wrote it first."""
    try:
        with transaction.atomic():
            BoxQueueScene.objects.create(job=job, scene=scene, proposals=len(proposals))
            tasks_create(queue=job.queue, specs=[TaskSpec(source_key=f"scene:{scene.pk}",
                                                          payload=_payload(scene=scene, proposals=proposals))])
            BoxQueueJob.objects.filter(pk=job.pk).update(scenes_done=F("scenes_done") + 1, progress_at=timezone.now())
    except IntegrityError:
        if BoxQueueScene.objects.filter(job=job, scene=scene).exists():
            return False
        raise
    return True


WORLD_GOLDEN_REASON = "The synthetic world's own boxes for this scene (the world's oracle), not a person's."
WORLD_GOLDEN_KEY = "scene:{sha256}"


def box_golden_set_from_world(*, name: str, scenes: list[Image], created_by: User | None = None,
                              description: str = "") -> tuple[GoldenSet, int]:
    """A golden set of box items answered by the synthetic world's ground truth (the demo's oracle;
    in real use experts answer golden items). Scenes without truth are left out. Safe to run again:
    items are keyed by scene. Returns (set, items created)."""
    from labeling.golden.services import GoldenItemInput, golden_items_put
    from labeling.models import GoldenSource
    from labeling.services.world_import import scene_truth_read

    golden_set, _ = GoldenSet.objects.get_or_create(
        name=name, defaults={"task_kind": TaskKind.BOUNDING_BOXES, "created_by": created_by,
                             "description": description})
    items = []
    for scene in scenes:
        truth = scene_truth_read(sha256=scene.sha256)
        if truth is None:
            continue
        answer = {"boxes": [{"box": [float(v) for v in obj["box"]], "category": obj["category"]}
                            for obj in truth["objects"]]}
        items.append(GoldenItemInput(key=WORLD_GOLDEN_KEY.format(sha256=scene.sha256),
                                     payload=_payload(scene=scene, proposals=[]), answer=answer,
                                     reason=WORLD_GOLDEN_REASON, source=GoldenSource.WORLD_ORACLE))
    _, created, _ = golden_items_put(golden_set=golden_set, items=items)
    return golden_set, created


# -- truth for simulated labelers (evaluation/simulation.py) --------------------------------------

def box_truth_answers(*, payloads: dict[int, dict]) -> dict[int, dict | None]:
    """The true answer of each box task (task id -> payload): the synthetic world's boxes for its
    scene, as ``box_golden_set_from_world`` answers them; None for a scene without truth. One query."""
    from labeling.services.world_import import scene_truth_read

    scene_ids = {payload.get("scene_id") for payload in payloads.values()}
    sha_of = dict(Image.objects.filter(pk__in=[pk for pk in scene_ids if isinstance(pk, int)])
                  .values_list("pk", "sha256"))
    truths: dict[str, dict | None] = {}
    answers = {}
    for task_id, payload in payloads.items():
        sha = sha_of.get(payload.get("scene_id"))
        if sha is not None and sha not in truths:
            truths[sha] = scene_truth_read(sha256=sha)
        truth = truths.get(sha) if sha is not None else None
        answers[task_id] = None if truth is None else {
            "boxes": [{"box": [float(v) for v in obj["box"]], "category": obj["category"]} for obj in truth["objects"]]}
    return answers
