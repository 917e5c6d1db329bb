"""Writes of the evaluation app: model versions, evaluation runs and their generation.

``evaluation/PIPELINE.md`` describes the run lifecycle, the fan-out and why generation is safe to
retry; keep the two in step.
"""
from __future__ import annotations

import hashlib
import logging
import math
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Callable

from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.text import slugify

from evaluation.models import Candidate, EvalRun, EvalRunScene, EvalRunStatus, ModelKind, ModelVersion, QueryObject
from labeling.golden.services import GoldenItemInput, golden_items_put, golden_set_create, queue_golden_sets_add
from labeling.models import GoldenSet, GoldenSource, Image, ImageKind, Product, Queue, SceneSet, TaskKind
from labeling.selectors import guide_version_latest
from labeling.services.images import image_open, image_png_bytes, images_store
from labeling.services.queues import queue_create
from labeling.services.tasks import TaskSpec, tasks_create
from labeling.services.world_import import parse_synthetic_external_id, scene_truth_read

if TYPE_CHECKING:
    from models_runtime.pipeline import QueryObject as DetectedObject
    from models_runtime.pipeline import ShopTheLookPipeline

# PyTorch is imported inside the functions that run models (generation, checkpoint checks), not
# here: web processes import this module for every page and API call and never run a model, so
# they start in a second and stay small.

logger = logging.getLogger(__name__)

MODEL_KIND_UNKNOWN = "'{kind}' is not a model kind; choose one of: {kinds}."
MODEL_VERSION_EXISTS = "A {kind} named '{name}' with version tag '{version_tag}' is already registered."
MODEL_CHECKPOINT_MISSING = "Give exactly one of a checkpoint path or an uploaded checkpoint file."
MODEL_CHECKPOINT_INVALID = "The checkpoint cannot be used as a {kind}: {reason}"
MODEL_CHECKPOINT_TOO_LARGE = "The checkpoint is larger than the upload limit of {limit} bytes (MODEL_UPLOAD_MAX_BYTES)."
MODEL_CONFIG_CHANGES_ARCHITECTURE = ("config may add inference settings but not change the checkpoint's own "
                                     "settings, which the workers build the model from: {keys}.")
MODEL_SCORE_THRESHOLD_INVALID = "'{key}' must be a number from 0 to 1."
RUN_DETECTOR_WRONG_KIND = "Model version {id} is a {kind}, not a detector."
RUN_EMBEDDER_WRONG_KIND = "Model version {id} is a {kind}, not an embedder."
RUN_REPLICATION_INVALID = "Replication must be between 1 and {maximum}."
RUN_GOLDEN_RATE_INVALID = "The golden rate is a share between 0 and 1."
RUN_SCENE_SET_EMPTY = "The scene set '{name}' has no scenes."
RUN_NAME_EMPTY = "Give the run a name."
RUN_TOP_K_INVALID = "top_k must be between 1 and {maximum}."

MAX_REPLICATION = 10
QUEUE_NAME_MAX_LENGTH = Queue._meta.get_field("name").max_length
MAX_TOP_K = 20
# Scenes per GPU task: big enough to batch detection and embedding, small enough that a crash
# redoes little and the progress bar moves.
SCENES_PER_CHUNK = 16
# The IoU at which a detection counts as finding a ground-truth object (PASCAL VOC's threshold).
GOLDEN_MIN_IOU = 0.5
DEFAULT_SCORE_THRESHOLD = 0.5
SCORE_THRESHOLD_CONFIG_KEY = "score_threshold"
GOLDEN_REASON = "Answered by the synthetic world's oracle (docs/METRICS.md, section 5), not by a person."
RUN_GOLDEN_SET_NAME = "Run #{run_id}: oracle relevance answers"
RUN_GOLDEN_SET_DESCRIPTION = "The synthetic world's oracle grades for the candidates of run '{name}'."


class ModelVersionError(ValueError):
    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field


class ModelVersionTooLarge(ModelVersionError):
    """The upload is over ``MODEL_UPLOAD_MAX_BYTES``; the API answers 413 rather than 400."""


class EvalRunError(ValueError):
    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field


# -- model versions -----------------------------------------------------------------------------

def _score_threshold_valid(value) -> bool:
    return (isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
            and 0.0 <= value <= 1.0)


def _checkpoint_copy(checkpoint_file: BinaryIO, local: Path, limit: int) -> None:
    """Copy an upload to ``local``, refusing it as soon as it passes ``limit`` bytes."""
    size = getattr(checkpoint_file, "size", None)
    if size is not None and size > limit:
        raise ModelVersionTooLarge(MODEL_CHECKPOINT_TOO_LARGE.format(limit=limit), "checkpoint")
    chunks = (checkpoint_file.chunks() if hasattr(checkpoint_file, "chunks")
              else iter(lambda: checkpoint_file.read(1 << 20), b""))
    written = 0
    with open(local, "wb") as out:
        for chunk in chunks:
            written += len(chunk)
            if written > limit:
                raise ModelVersionTooLarge(MODEL_CHECKPOINT_TOO_LARGE.format(limit=limit), "checkpoint")
            out.write(chunk)


def model_version_register(*, kind: str, name: str, version_tag: str, checkpoint_path: str | Path | None = None,
                           checkpoint_file: BinaryIO | None = None, config: dict | None = None, notes: str = "",
                           created_by=None) -> ModelVersion:
    """Validate a checkpoint, then store it in media and register it as a model version.

    Nothing is stored until the checkpoint has passed ``checkpoint_validate``: loaded without
    running code, its architecture built from its config, its state dict loaded strictly and one
    forward pass run (models_runtime/checkpoint_validation.py). Any refusal is a
    ``ModelVersionError`` naming the field, with no file and no row left behind.

    The checkpoint's own config (the architecture) is stored with ``config`` laid over it, so
    inference settings such as a detector's ``score_threshold`` (default: the checkpoint meta's,
    else 0.5) live with the version. ``config`` may add keys but not change the architecture's:
    the workers build the model from the file, so a changed value would only make the stored
    config lie about it.

    The stored config also holds the model's ``categories`` (the checkpoint's, else the fixture
    list ``models_runtime.taxonomy.CATEGORIES``) and ``category_map``, each one's platform slug
    (``labeling.taxonomy.category_list_map``); a list that does not fit the taxonomy, or a
    detector whose class count it does not match, is refused on ``config``.
    """
    if kind not in ModelKind.values:
        raise ModelVersionError(MODEL_KIND_UNKNOWN.format(kind=kind, kinds=", ".join(ModelKind.values)), "kind")
    if (checkpoint_path is None) == (checkpoint_file is None):
        raise ModelVersionError(MODEL_CHECKPOINT_MISSING, "checkpoint")
    if ModelVersion.objects.filter(kind=kind, name=name, version_tag=version_tag).exists():
        raise ModelVersionError(MODEL_VERSION_EXISTS.format(kind=kind, name=name, version_tag=version_tag), "version_tag")
    overlay = dict(config or {})
    if SCORE_THRESHOLD_CONFIG_KEY in overlay and not _score_threshold_valid(overlay[SCORE_THRESHOLD_CONFIG_KEY]):
        raise ModelVersionError(MODEL_SCORE_THRESHOLD_INVALID.format(key=SCORE_THRESHOLD_CONFIG_KEY), "config")
    with tempfile.TemporaryDirectory() as scratch:
        if checkpoint_file is not None:
            local = Path(scratch) / "upload.pt"
            _checkpoint_copy(checkpoint_file, local, int(settings.MODEL_UPLOAD_MAX_BYTES))
        else:
            local = Path(checkpoint_path)
        from models_runtime.checkpoint_validation import checkpoint_validate
        from models_runtime.checkpoints import CheckpointError

        try:
            checked = checkpoint_validate(local, kind=kind)
        except CheckpointError as error:
            raise ModelVersionError(MODEL_CHECKPOINT_INVALID.format(kind=kind, reason=error), "checkpoint") from error
        changed = sorted(key for key, value in overlay.items()
                         if key in checked.config and checked.config[key] != value)
        if changed:
            raise ModelVersionError(MODEL_CONFIG_CHANGES_ARCHITECTURE.format(keys=", ".join(changed)), "config")
        # A trained detector may carry its operating threshold (the F1-optimal one) in its meta.
        inference = ({SCORE_THRESHOLD_CONFIG_KEY: checked.meta[SCORE_THRESHOLD_CONFIG_KEY]}
                     if kind == ModelKind.DETECTOR and SCORE_THRESHOLD_CONFIG_KEY in checked.meta else {})
        if inference and not _score_threshold_valid(inference[SCORE_THRESHOLD_CONFIG_KEY]):
            raise ModelVersionError(MODEL_CHECKPOINT_INVALID.format(
                kind=kind, reason=MODEL_SCORE_THRESHOLD_INVALID.format(key=SCORE_THRESHOLD_CONFIG_KEY)), "checkpoint")
        # The model's own class names (detector label i + 1 = categories[i]) come with the file, as
        # the workers read them from it; a checkpoint without them was trained on the platform's
        # fixture list. Each must name a platform category; the map onto slugs is stored.
        from labeling.taxonomy import CategoryListError, category_list_map
        from models_runtime import taxonomy as fixture_taxonomy

        categories = checked.config.get("categories", list(fixture_taxonomy.CATEGORIES))
        num_classes = None
        if kind == ModelKind.DETECTOR:
            from models_runtime.detector import resolve_config

            num_classes = resolve_config(checked.config)["num_classes"]
        try:
            derived = {"categories": list(categories),
                       "category_map": category_list_map(categories, num_classes=num_classes)}
        except CategoryListError as error:
            raise ModelVersionError(str(error), "config") from error
        overridden = sorted(key for key, value in derived.items() if key in overlay and overlay[key] != value)
        if overridden:
            raise ModelVersionError(MODEL_CONFIG_CHANGES_ARCHITECTURE.format(keys=", ".join(overridden)), "config")
        stored_name = f"{kind}-{slugify(name)}-{slugify(version_tag)}.pt"
        version = ModelVersion(kind=kind, name=name, version_tag=version_tag,
                               config={**checked.config, **inference, **overlay, **derived}, notes=notes,
                               created_by=created_by)
        with open(local, "rb") as handle:
            version.checkpoint.save(stored_name, File(handle), save=False)
        try:
            with transaction.atomic():
                version.save()
        except IntegrityError as error:
            default_storage.delete(version.checkpoint.name)
            raise ModelVersionError(MODEL_VERSION_EXISTS.format(kind=kind, name=name, version_tag=version_tag),
                                    "version_tag") from error
        except BaseException:
            default_storage.delete(version.checkpoint.name)
            raise
    return version


# -- runs ---------------------------------------------------------------------------------------

def eval_run_create(*, created_by, name: str, scene_set: SceneSet, detector: ModelVersion, embedder: ModelVersion,
                    restrict_category: bool = True, restrict_gender: bool = False, replication: int = 3,
                    golden_rate: float = 0.0, baseline: EvalRun | None = None, top_k: int = 5,
                    reuse_judgements: bool = True, reuse_across_guides: bool = False,
                    start_generation: bool = True) -> EvalRun:
    """Create a run and its relevance queue; generation is enqueued once the rows are committed.

    With ``reuse_judgements`` (the default) generation asks only the (query crop, product) pairs
    no earlier run asked under the same relevance guide version (any version with
    ``reuse_across_guides``), and the run's metrics read every judgement of its pairs; without it
    the run asks every slot and reads only its own labels (PIPELINE.md, "Judgement reuse").

    ``start_generation=False`` leaves the run pending for a caller that generates in-process
    (``eval_run_generate_all``, used by ``demo_setup``).
    """
    if not name.strip():
        raise EvalRunError(RUN_NAME_EMPTY, "name")
    if detector.kind != ModelKind.DETECTOR:
        raise EvalRunError(RUN_DETECTOR_WRONG_KIND.format(id=detector.pk, kind=detector.kind), "detector")
    if embedder.kind != ModelKind.EMBEDDER:
        raise EvalRunError(RUN_EMBEDDER_WRONG_KIND.format(id=embedder.pk, kind=embedder.kind), "embedder")
    if not 1 <= replication <= MAX_REPLICATION:
        raise EvalRunError(RUN_REPLICATION_INVALID.format(maximum=MAX_REPLICATION), "replication")
    if not 0.0 <= golden_rate <= 1.0:
        raise EvalRunError(RUN_GOLDEN_RATE_INVALID, "golden_rate")
    if not 1 <= top_k <= MAX_TOP_K:
        raise EvalRunError(RUN_TOP_K_INVALID.format(maximum=MAX_TOP_K), "top_k")
    scenes_total = scene_set.scenes.count()
    if scenes_total == 0:
        raise EvalRunError(RUN_SCENE_SET_EMPTY.format(name=scene_set.name), "scene_set")
    with transaction.atomic():
        # A run's name may use all 200 characters of EvalRun.name; its queue's name adds a prefix.
        queue = queue_create(name=f"Relevance: {name}"[:QUEUE_NAME_MAX_LENGTH], task_kind=TaskKind.RELEVANCE,
                             replication=replication, golden_rate=golden_rate,
                             guide_version=guide_version_latest(task_kind=TaskKind.RELEVANCE))
        run = EvalRun.objects.create(
            name=name, scene_set=scene_set, detector=detector, embedder=embedder,
            restrict_category=restrict_category, restrict_gender=restrict_gender, replication=replication,
            golden_rate=golden_rate, top_k=top_k, baseline=baseline, queue=queue, scenes_total=scenes_total,
            reuse_judgements=reuse_judgements, reuse_across_guides=reuse_judgements and reuse_across_guides,
            created_by=created_by)
        if golden_rate > 0:
            # The oracle's answers for this run's payloads (its candidates are the run's own).
            golden_set = golden_set_create(name=RUN_GOLDEN_SET_NAME.format(run_id=run.pk), task_kind=TaskKind.RELEVANCE,
                                           description=RUN_GOLDEN_SET_DESCRIPTION.format(name=name[:150]),
                                           created_by=created_by)
            queue_golden_sets_add(queue=queue, golden_sets=[golden_set])
        if start_generation:
            from evaluation.tasks import eval_run_generate

            transaction.on_commit(lambda: eval_run_generate.delay(run.pk))
    return run


def eval_run_generation_start(*, run_id: int) -> list[int]:
    """Mark the run generating and return the ids of its scenes not generated yet, in order.

    A run that failed stays failed (a new run is the way to try again); a run whose scenes are all
    done moves on to labeling here, so a coordinator retried after the last chunk still finishes it.
    """
    with transaction.atomic():
        run = EvalRun.objects.select_for_update().get(pk=run_id)
        if run.status == EvalRunStatus.FAILED:
            return []
        scene_ids = list(run.scene_set.scenes.order_by("pk").values_list("pk", flat=True))
        if run.status == EvalRunStatus.PENDING:
            run.status = EvalRunStatus.GENERATING
            run.scenes_total = len(scene_ids)
            run.progress_at = timezone.now()
            run.save(update_fields=["status", "scenes_total", "progress_at"])
    done = set(EvalRunScene.objects.filter(run_id=run_id).values_list("scene_id", flat=True))
    remaining = [pk for pk in scene_ids if pk not in done]
    if not remaining:
        eval_run_finish_if_complete(run_id=run_id)
    return remaining


def eval_run_finish_if_complete(*, run_id: int) -> bool:
    """Move a generating run to labeling once every scene is done; safe to call from any chunk."""
    done = EvalRunScene.objects.filter(run_id=run_id).count()
    return bool(EvalRun.objects.filter(pk=run_id, status=EvalRunStatus.GENERATING, scenes_total__lte=done)
                .update(status=EvalRunStatus.LABELING, scenes_done=done, generated_at=timezone.now()))


def eval_run_fail(*, run_id: int, error: str) -> None:
    """Record a generation failure; a run already handed to labelers is left alone."""
    EvalRun.objects.filter(pk=run_id).exclude(status=EvalRunStatus.LABELING).update(
        status=EvalRunStatus.FAILED, error=error[:4000])


def scene_chunks(scene_ids: list[int], size: int = SCENES_PER_CHUNK) -> list[list[int]]:
    return [scene_ids[start:start + size] for start in range(0, len(scene_ids), size)]


def _pipeline_for(run: EvalRun, batch_size: int | None = None) -> ShopTheLookPipeline:
    """``batch_size`` is the detector's batch (scenes per forward pass); the embedder's keeps the
    pipeline's ratio to it. None keeps the pipeline's defaults; a smaller one is how a chunk that
    ran out of GPU memory is retried (evaluation/task_policy.py)."""
    from evaluation import runtime_cache
    from models_runtime.pipeline import PipelineSettings, ShopTheLookPipeline

    batches = {}
    if batch_size is not None:
        defaults = PipelineSettings()
        batches = {"detector_batch_size": batch_size,
                   "embedder_batch_size": batch_size * defaults.embedder_batch_size // defaults.detector_batch_size}
    settings = PipelineSettings(
        k=run.top_k,
        score_threshold=float(run.detector.config.get(SCORE_THRESHOLD_CONFIG_KEY, DEFAULT_SCORE_THRESHOLD)),
        restrict_category=run.restrict_category, restrict_gender=run.restrict_gender, **batches)
    return ShopTheLookPipeline(runtime_cache.detector_for(run.detector), runtime_cache.embedder_for(run.embedder),
                               runtime_cache.catalogue_index_for(run.embedder), settings)


def eval_run_generate_scenes(*, run_id: int, scene_ids: list[int], batch_size: int | None = None) -> int:
    """Detect, embed and retrieve for the scenes of ``scene_ids`` not done yet; write each scene.

    The model work runs outside any transaction; each scene's rows and its done mark are then
    written in one short transaction (``_scene_write``), so a crash loses at most the scene being
    written and a retry redoes only what is not marked done. Returns how many scenes it wrote.
    """
    run = EvalRun.objects.select_related("detector", "embedder", "queue").get(pk=run_id)
    if run.status == EvalRunStatus.FAILED:
        return 0
    done = set(EvalRunScene.objects.filter(run=run, scene_id__in=scene_ids).values_list("scene_id", flat=True))
    scenes = list(Image.objects.filter(pk__in=[pk for pk in scene_ids if pk not in done]).order_by("pk"))
    written = 0
    if scenes:
        # Tests stand in pipelines that take the run alone.
        pipeline = _pipeline_for(run) if batch_size is None else _pipeline_for(run, batch_size=batch_size)
        results = pipeline.run([image_open(image=scene) for scene in scenes])
        product_ids = {int(pid) for result in results for found in result.objects
                       for pid in found.candidate_ids if pid >= 0}
        products = Product.objects.select_related("image", "category").in_bulk(product_ids)
        for scene, result in zip(scenes, results):
            written += int(_scene_write(run=run, scene=scene, detected=result.objects, products=products))
    eval_run_finish_if_complete(run_id=run_id)
    return written


def eval_run_generate_all(*, run_id: int, progress: Callable[[int, int], None] | None = None,
                          chunk_size: int = SCENES_PER_CHUNK) -> EvalRun:
    """Generate a whole run in this process (the demo's path; workers use the Celery fan-out)."""
    remaining = eval_run_generation_start(run_id=run_id)
    try:
        for chunk in scene_chunks(remaining, chunk_size):
            eval_run_generate_scenes(run_id=run_id, scene_ids=chunk)
            if progress is not None:
                run = EvalRun.objects.only("scenes_done", "scenes_total").get(pk=run_id)
                progress(run.scenes_done, run.scenes_total)
    except Exception as error:
        eval_run_fail(run_id=run_id, error=f"{type(error).__name__}: {error}")
        raise
    eval_run_finish_if_complete(run_id=run_id)
    return EvalRun.objects.get(pk=run_id)


# -- one scene ----------------------------------------------------------------------------------

def _box_iou(box: list[float], other: list[float]) -> float:
    x0, y0 = max(box[0], other[0]), max(box[1], other[1])
    x1, y1 = min(box[2], other[2]), min(box[3], other[3])
    inter = max(0.0, x1 - x0) * max(0.0, y1 - y0)
    union = (box[2] - box[0]) * (box[3] - box[1]) + (other[2] - other[0]) * (other[3] - other[1]) - inter
    return inter / union if union > 0 else 0.0


def _golden_draw(*, run_id: int, scene_sha: str, ordinal: int) -> float:
    """A uniform number in [0, 1) fixed per (run, scene, detection), so a retry picks the same goldens."""
    digest = hashlib.sha256(f"{run_id}:{scene_sha}:{ordinal}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


@dataclass(frozen=True)
class SceneTruth:
    world_seed: int
    objects: list[dict]


def oracle_grades(*, truth: SceneTruth, box: list[float], candidates: list[Product]) -> list[str] | None:
    """The oracle's grade of each candidate for the ground-truth object the detection found, or
    None when the detection matches no object (IoU < 0.5) or a candidate is not from this world."""
    from models_runtime.world.catalog import generate_product
    from models_runtime.world.oracle import grade

    best = max(truth.objects, key=lambda o: _box_iou(box, o["box"]), default=None)
    if best is None or _box_iou(box, best["box"]) < GOLDEN_MIN_IOU:
        return None
    true_product = generate_product(truth.world_seed, int(best["product_id"]))
    grades = []
    for product in candidates:
        parsed = parse_synthetic_external_id(product.external_id)
        if parsed is None or parsed[0] != truth.world_seed:
            return None
        grades.append(grade(true_product, generate_product(parsed[0], parsed[1])))
    return grades


def _scene_write(*, run: EvalRun, scene: Image, detected: list[DetectedObject], products: dict[int, Product]) -> bool:
    """Write one scene's query objects, candidates and tasks with its done mark, all or nothing.

    The done mark is inserted first: a second worker on the same scene blocks on its unique key
    until the first commits, then gets an IntegrityError and leaves the scene alone. Returns False
    when the scene was already done.
    """
    truth_raw = scene_truth_read(sha256=scene.sha256) if run.golden_rate > 0 else None
    truth = SceneTruth(int(truth_raw["world_seed"]), truth_raw["objects"]) if truth_raw else None
    crop_pngs = [(image_png_bytes(found.crop), ImageKind.CROP) for found in detected]
    try:
        with transaction.atomic():
            EvalRunScene.objects.create(run=run, scene=scene, objects_found=len(detected))
            crops = images_store(items=crop_pngs)
            query_objects = QueryObject.objects.bulk_create([
                QueryObject(run=run, scene=scene, ordinal=ordinal, box=[float(v) for v in found.box],
                            category=found.category, score=float(found.score), gender=found.gender, crop=crop)
                for ordinal, (found, crop) in enumerate(zip(detected, crops))])
            asked_before = _pairs_asked_before(run=run, crop_ids=[crop.pk for crop in crops])
            candidates_of: list[list[Product]] = []
            candidate_rows = []
            for query_object, found in zip(query_objects, detected):
                # Padding slots (-1) are missing candidates: no row, and the task shows fewer products.
                ranked = [(products[int(pid)], int(distance))
                          for pid, distance in zip(found.candidate_ids, found.candidate_distances)
                          if pid >= 0 and int(pid) in products]
                # A pair an earlier run asked is not asked again: its candidate keeps no task slot
                # and the metrics read that run's judgements of the pair.
                asked = []
                for rank, (product, distance) in enumerate(ranked, start=1):
                    reused = (query_object.crop_id, product.pk) in asked_before
                    if not reused:
                        asked.append(product)
                    candidate_rows.append(Candidate(query_object=query_object, rank=rank, product=product,
                                                    distance=distance, task_slot=None if reused else len(asked)))
                candidates_of.append(asked)
            Candidate.objects.bulk_create(candidate_rows)
            specs, oracle_answers = [], {}
            for query_object, ranked in zip(query_objects, candidates_of):
                # Nothing to judge without candidates: such an object counts as rel(q) = 0 in the
                # metrics without costing a labeler a task.
                if not ranked:
                    continue
                source_key = f"scene:{scene.pk}:object:{query_object.ordinal}"
                specs.append(TaskSpec(source_key=source_key,
                                      payload=_task_payload(scene=scene, query_object=query_object, candidates=ranked)))
                if truth is None:
                    continue
                if _golden_draw(run_id=run.pk, scene_sha=scene.sha256, ordinal=query_object.ordinal) >= run.golden_rate:
                    continue
                grades = oracle_grades(truth=truth, box=query_object.box, candidates=ranked)
                if grades is not None:
                    oracle_answers[source_key] = {"grades": grades}
            tasks = {task.source_key: task for task in tasks_create(queue=run.queue, specs=specs)}
            if oracle_answers:
                # Golden items of the run's own set; their copies (twins of the normal tasks) land in
                # the run's queue, which draws from that set.
                golden_items_put(golden_set=_run_golden_set(run=run), items=[
                    GoldenItemInput(key=source_key, payload=tasks[source_key].payload, answer=answer,
                                    reason=GOLDEN_REASON, source=GoldenSource.WORLD_ORACLE,
                                    source_task=tasks[source_key])
                    for source_key, answer in oracle_answers.items()])
            for query_object in query_objects:
                query_object.task = tasks.get(f"scene:{scene.pk}:object:{query_object.ordinal}")
            QueryObject.objects.bulk_update(query_objects, ["task"])
            EvalRun.objects.filter(pk=run.pk).update(scenes_done=F("scenes_done") + 1, progress_at=timezone.now())
    except IntegrityError:
        if EvalRunScene.objects.filter(run=run, scene=scene).exists():
            return False
        raise
    return True


def _pairs_asked_before(*, run: EvalRun, crop_ids: list[int]) -> set[tuple[int, int]]:
    """(crop id, product id) pairs of these crops that another live run already put in a task, under
    this run's guide version (any version when the run allows it); empty when the run reuses nothing.

    Crops are content-addressed, so the same pixels from another run are the same crop row. A pair
    asked in a run still labeling counts too: it is already in a queue and would only be asked twice.
    """
    if not run.reuse_judgements or not crop_ids:
        return set()
    earlier = (Candidate.objects.filter(query_object__crop_id__in=crop_ids, task_slot__isnull=False)
               .exclude(query_object__run_id=run.pk).exclude(query_object__run__status=EvalRunStatus.FAILED))
    if not run.reuse_across_guides:
        earlier = earlier.filter(query_object__run__queue__guide_version_id=run.queue.guide_version_id)
    return set(earlier.values_list("query_object__crop_id", "product_id").distinct())


def _run_golden_set(*, run: EvalRun) -> GoldenSet:
    """The run's oracle golden set, linked to the run's queue (made with the run)."""
    return GoldenSet.objects.get(name=RUN_GOLDEN_SET_NAME.format(run_id=run.pk))


def _task_payload(*, scene: Image, query_object: QueryObject, candidates: list[Product]) -> dict:
    """What a labeler sees: the crop, its scene and the candidates, never a grade or a hint."""
    return {
        "query_object": {
            "id": query_object.pk,
            "crop_url": default_storage.url(query_object.crop.file.name),
            "scene_url": default_storage.url(scene.file.name),
            "box": query_object.box,
            "category": query_object.category,
        },
        "candidates": [
            {"product_id": product.pk, "image_url": default_storage.url(product.image.file.name),
             "category": product.category.slug}
            for product in candidates
        ],
    }
