"""Training jobs: a detector or an embedder fine-tuned from exports, on the ``gpu`` queue
(evaluation/TRAINING.md).

``training_job_create`` (a web request) validates and stores the job and, on commit, sends
``evaluation.tasks.training_job_run`` to the ``gpu`` queue. ``training_job_run`` (that task) builds
the trainer's input from the exports' files, trains with the loss curve written to the row as it
goes, and registers the new version in the same transaction that marks the job done, so a retried
or duplicated task never registers a second one. It then requests the version's offline evaluation.
``training_job_cancel`` asks a running job to stop at its next step; a pending job stops at once.
"""
from __future__ import annotations

import json
import logging
import math
import re
import tempfile
import time
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from evaluation.models import ModelKind, ModelVersion, TrainingJob, TrainingJobStatus
from labeling.models import ExportJob, JobStatus

logger = logging.getLogger(__name__)

# Which export formats feed which trainer (labeling/exports/EXPORTS.md).
TRAINING_FORMATS: dict[str, tuple[str, ...]] = {
    ModelKind.DETECTOR: ("coco_detection", "single_product"),
    ModelKind.EMBEDDER: ("matching", "attributes"),
}
# name -> (type, minimum, maximum, default for detector, default for embedder)
TRAINING_PARAMS: dict[str, tuple[type, float, float, float, float]] = {
    "steps": (int, 1, 100000, 200, 300),
    "batch_size": (int, 1, 512, 4, 32),
    "lr": (float, 1e-7, 10.0, 2e-4, 0.01),
    "seed": (int, 0, 2**31 - 1, 0, 0),
}
TRAINING_ERROR_MAX_LENGTH = 4000
PROGRESS_WRITE_SECONDS = 0.5
CANCEL_CHECK_SECONDS = 1.0

TRAINING_KIND_UNKNOWN = "kind must be one of: " + ", ".join(ModelKind.values) + "."
TRAINING_NAME_EMPTY = "Give the training job a name."
TRAINING_PARENT_MISSING = "Choose the version to fine-tune from (parent)."
TRAINING_PARENT_KIND = "The parent is a {found}; a {kind} job fine-tunes a {kind}."
TRAINING_EXPORTS_EMPTY = "Choose at least one export to train on."
TRAINING_EXPORT_NOT_DONE = "Export #{id} is {status}; only a finished export can be trained on."
TRAINING_EXPORT_FORMAT = "Export #{id} is a {format} export; a {kind} trains on {formats} exports."
TRAINING_VERSION_TAG_INVALID = "version_tag must be 1-40 letters, digits, '.', '-' or '_' (like V1.1)."
TRAINING_VERSION_TAG_TAKEN = "{name} {tag} already exists; choose another version tag."
TRAINING_PARAMS_NOT_OBJECT = "params must be a JSON object."
TRAINING_PARAM_UNKNOWN = "{keys}: not a training parameter; the parameters are " + ", ".join(TRAINING_PARAMS) + "."
TRAINING_PARAM_INVALID = "'{key}' must be a {type} from {minimum:g} to {maximum:g}."
TRAINING_NOT_CANCELLABLE = "Training job {id} is {status}; only a pending or running job can be cancelled."
TRAINING_NO_RECORDS = "The exports hold no training record (after leaving out evaluation-split records)."
STEP_QUEUED = "Waiting for a GPU worker"
STEP_PREPARING = "Reading the exports"
STEP_TRAINING = "Training: step {step} of {steps}"
STEP_REGISTERING = "Registering the new version"
STEP_DONE = "Done"
STEP_CANCELLED = "Cancelled"

VERSION_TAG_PATTERN = re.compile(r"^[A-Za-z0-9._-]{1,40}$")


class TrainingJobError(ValueError):
    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field


def version_tag_next(*, parent: ModelVersion) -> str:
    """The first free ``<parent tag>.<n>`` for the parent's name: V1 -> V1.1, V1.2, ..."""
    taken = set(ModelVersion.objects.filter(kind=parent.kind, name=parent.name).values_list("version_tag", flat=True))
    n = 1
    while f"{parent.version_tag}.{n}" in taken:
        n += 1
    return f"{parent.version_tag}.{n}"


def training_params_resolve(*, kind: str, params) -> dict:
    """The kind's defaults with ``params`` laid over them, each checked against its range."""
    if params is None:
        params = {}
    if not isinstance(params, dict):
        raise TrainingJobError(TRAINING_PARAMS_NOT_OBJECT, "params")
    unknown = sorted(set(params) - set(TRAINING_PARAMS))
    if unknown:
        raise TrainingJobError(TRAINING_PARAM_UNKNOWN.format(keys=", ".join(f"'{key}'" for key in unknown)), "params")
    resolved = {}
    for key, (kind_type, minimum, maximum, detector_default, embedder_default) in TRAINING_PARAMS.items():
        value = params.get(key, detector_default if kind == ModelKind.DETECTOR else embedder_default)
        number = not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)
        if kind_type is int:
            number = number and float(value).is_integer()
        if not number or not minimum <= value <= maximum:
            raise TrainingJobError(TRAINING_PARAM_INVALID.format(
                key=key, type="whole number" if kind_type is int else "number", minimum=minimum, maximum=maximum),
                "params")
        resolved[key] = kind_type(value)
    return resolved


def training_job_create(*, kind: str, name: str, parent: ModelVersion | None, exports: list[ExportJob],
                        version_tag: str | None, params: dict | None, created_by) -> TrainingJob:
    """Validate and store a training job; a GPU worker runs it once committed."""
    if kind not in ModelKind.values:
        raise TrainingJobError(TRAINING_KIND_UNKNOWN, "kind")
    name = (name or "").strip()
    if not name:
        raise TrainingJobError(TRAINING_NAME_EMPTY, "name")
    if parent is None:
        raise TrainingJobError(TRAINING_PARENT_MISSING, "parent")
    if parent.kind != kind:
        raise TrainingJobError(TRAINING_PARENT_KIND.format(found=parent.kind, kind=kind), "parent")
    if not exports:
        raise TrainingJobError(TRAINING_EXPORTS_EMPTY, "exports")
    formats = TRAINING_FORMATS[kind]
    for export in exports:
        if export.status != JobStatus.DONE:
            raise TrainingJobError(TRAINING_EXPORT_NOT_DONE.format(id=export.pk, status=export.status), "exports")
        if export.format not in formats:
            raise TrainingJobError(TRAINING_EXPORT_FORMAT.format(
                id=export.pk, format=export.format, kind=kind, formats=" or ".join(formats)), "exports")
    version_tag = (version_tag or "").strip() or version_tag_next(parent=parent)
    if not VERSION_TAG_PATTERN.match(version_tag):
        raise TrainingJobError(TRAINING_VERSION_TAG_INVALID, "version_tag")
    if (ModelVersion.objects.filter(kind=kind, name=parent.name, version_tag=version_tag).exists()
            or TrainingJob.objects.filter(parent__name=parent.name, kind=kind, version_tag=version_tag)
            .exclude(status__in=[TrainingJobStatus.FAILED, TrainingJobStatus.CANCELLED]).exists()):
        raise TrainingJobError(TRAINING_VERSION_TAG_TAKEN.format(name=parent.name, tag=version_tag), "version_tag")
    resolved = training_params_resolve(kind=kind, params=params)
    with transaction.atomic():
        job = TrainingJob.objects.create(kind=kind, name=name[:200], parent=parent, version_tag=version_tag,
                                         params=resolved, steps_total=resolved["steps"], step=STEP_QUEUED,
                                         created_by=created_by)
        job.exports.set(exports)
        from evaluation.tasks import training_job_run as task

        transaction.on_commit(lambda: task.apply_async(args=[job.pk]))
    return job


def training_job_cancel(*, job: TrainingJob) -> TrainingJob:
    """A pending job is cancelled at once; a running one stops at its next step."""
    with transaction.atomic():
        job = TrainingJob.objects.select_for_update().get(pk=job.pk)
        if job.status == TrainingJobStatus.PENDING:
            job.status, job.step, job.finished_at = TrainingJobStatus.CANCELLED, STEP_CANCELLED, timezone.now()
        elif job.status == TrainingJobStatus.RUNNING:
            job.cancel_requested = True
        else:
            raise TrainingJobError(TRAINING_NOT_CANCELLABLE.format(id=job.pk, status=job.status), "status")
        job.save()
    return job


class _Progress:
    """Appends each logged step to the loss curve; writes the row at most every PROGRESS_WRITE_SECONDS
    (and always at the last step), outside any transaction, so the page's poll sees it."""

    def __init__(self, job_id: int, steps: int) -> None:
        self.job_id, self.steps = job_id, steps
        self.curve: list[dict] = []
        self.written_at = 0.0
        self.checked_at = 0.0
        self.cancelled = False

    def __call__(self, event: dict) -> None:
        if "loss" not in event:
            return
        point = {"step": int(event["step"]), "loss": round(float(event["loss"]), 5)}
        self.curve.append(point)
        now = time.monotonic()
        if point["step"] < self.steps and now - self.written_at < PROGRESS_WRITE_SECONDS:
            return
        self.written_at = now
        TrainingJob.objects.filter(pk=self.job_id, status=TrainingJobStatus.RUNNING).update(
            steps_done=point["step"], loss_curve=self.curve,
            step=STEP_TRAINING.format(step=point["step"], steps=self.steps))

    def should_stop(self) -> bool:
        now = time.monotonic()
        if not self.cancelled and now - self.checked_at >= CANCEL_CHECK_SECONDS:
            self.checked_at = now
            self.cancelled = TrainingJob.objects.filter(pk=self.job_id, cancel_requested=True).exists()
        return self.cancelled


def _job_start(job_id: int) -> TrainingJob | None:
    """Mark the job running; None when it has ended already (a retried or duplicated message)."""
    with transaction.atomic():
        job = TrainingJob.objects.select_for_update().get(pk=job_id)
        if job.status in (TrainingJobStatus.DONE, TrainingJobStatus.FAILED, TrainingJobStatus.CANCELLED):
            return None
        if job.cancel_requested:
            job.status, job.step, job.finished_at = TrainingJobStatus.CANCELLED, STEP_CANCELLED, timezone.now()
            job.save()
            return None
        job.status, job.attempts, job.step = TrainingJobStatus.RUNNING, job.attempts + 1, STEP_PREPARING
        job.started_at, job.steps_done, job.loss_curve, job.error = timezone.now(), 0, [], ""
        job.save()
    return job


def _export_paths(job: TrainingJob) -> list[Path]:
    from labeling.exports.jobs import export_job_path

    return [export_job_path(export) for export in job.exports.order_by("pk")]


def coco_files_merge(paths: list[Path], out: Path) -> Path:
    """One COCO file from several: images and annotations renumbered, categories joined by name."""
    merged = {"images": [], "annotations": [], "categories": []}
    category_ids: dict[str, int] = {}
    for path in paths:
        document = json.loads(path.read_text())
        names = {int(c["id"]): c["name"] for c in document.get("categories", [])}
        for name in names.values():
            if name not in category_ids:
                category_ids[name] = len(category_ids) + 1
                merged["categories"].append({"id": category_ids[name], "name": name})
        image_ids = {}
        for image in document.get("images", []):
            image_ids[image["id"]] = len(merged["images"]) + 1
            merged["images"].append({**image, "id": image_ids[image["id"]]})
        for annotation in document.get("annotations", []):
            merged["annotations"].append({**annotation, "id": len(merged["annotations"]) + 1,
                                          "image_id": image_ids[annotation["image_id"]],
                                          "category_id": category_ids[names[int(annotation["category_id"])]]})
    out.write_text(json.dumps(merged))
    return out


def manifests_merge(paths: list[Path], out: Path) -> tuple[Path, int]:
    """One manifest from several, leaving out records of an evaluation split (the attribute export's
    10%): they are for measuring, not training."""
    kept = 0
    with open(out, "w") as target:
        for path in paths:
            with open(path) as source:
                for line in source:
                    if not line.strip():
                        continue
                    if json.loads(line).get("split") == "eval":
                        continue
                    target.write(line if line.endswith("\n") else line + "\n")
                    kept += 1
    return out, kept


def _train(job: TrainingJob, scratch: Path, progress: _Progress) -> tuple[Path, dict]:
    from evaluation import runtime_cache  # noqa: F401  (keeps torch imports in worker processes only)
    from models_runtime.training import detector as detector_training
    from models_runtime.training import embedder as embedder_training

    parent_path = Path(job.parent.checkpoint.path)
    params = job.params
    out = scratch / f"{job.kind}.pt"
    images_dir = Path(settings.MEDIA_ROOT)
    paths = _export_paths(job)
    if job.kind == ModelKind.DETECTOR:
        coco = coco_files_merge(paths, scratch / "train.json")
        record = detector_training.train_detector(
            coco_path=coco, images_dir=images_dir, out_path=out, steps=params["steps"],
            batch_size=params["batch_size"], seed=params["seed"], lr=params["lr"],
            warmup_steps=min(50, max(1, params["steps"] // 10)), log_every=max(1, params["steps"] // 100),
            progress=progress, should_stop=progress.should_stop, init_checkpoint=parent_path,
            command=f"training job {job.pk}")
    else:
        manifest, kept = manifests_merge(paths, scratch / "train.jsonl")
        if not kept:
            raise ValueError(TRAINING_NO_RECORDS)
        result = embedder_training.train_embedder(
            manifest=manifest, images_dir=images_dir, out=out, seed=params["seed"], progress=progress,
            should_stop=progress.should_stop, init_checkpoint=parent_path, steps=params["steps"],
            batch_size=params["batch_size"], lr=params["lr"], warmup_steps=min(50, max(1, params["steps"] // 10)),
            log_every=max(1, params["steps"] // 100))
        record = result.record
    return out, record


def _record_summary(record: dict) -> dict:
    """The training record without its long lists (the loss curve lives on the job)."""
    return {key: value for key, value in record.items() if key not in ("history", "losses")}


def _inference_overlay(job: TrainingJob) -> dict:
    """The parent's inference settings that are not architecture (a detector's score threshold)."""
    from evaluation.services import SCORE_THRESHOLD_CONFIG_KEY

    if job.kind == ModelKind.DETECTOR and SCORE_THRESHOLD_CONFIG_KEY in job.parent.config:
        return {SCORE_THRESHOLD_CONFIG_KEY: job.parent.config[SCORE_THRESHOLD_CONFIG_KEY]}
    return {}


def training_job_run(*, job_id: int) -> TrainingJob:
    """Run a training job (the ``gpu`` task). Safe to run twice: an ended job is returned as it is,
    and the version is registered in the transaction that marks the job done."""
    from models_runtime.training.common import TrainingCancelled

    job = _job_start(job_id)
    if job is None:
        return TrainingJob.objects.get(pk=job_id)
    progress = _Progress(job.pk, job.params["steps"])
    with tempfile.TemporaryDirectory(prefix=f"training-{job.pk}-") as scratch:
        try:
            checkpoint, record = _train(job, Path(scratch), progress)
        except TrainingCancelled:
            TrainingJob.objects.filter(pk=job.pk).update(
                status=TrainingJobStatus.CANCELLED, step=STEP_CANCELLED, loss_curve=progress.curve,
                finished_at=timezone.now())
            return TrainingJob.objects.get(pk=job.pk)
        TrainingJob.objects.filter(pk=job.pk).update(step=STEP_REGISTERING, loss_curve=progress.curve,
                                                     steps_done=progress.curve[-1]["step"] if progress.curve else 0)
        with transaction.atomic():
            job = TrainingJob.objects.select_for_update(of=("self",)).select_related("parent").get(pk=job.pk)
            if job.model_version_id is None:
                from evaluation.services import model_version_register

                version = model_version_register(
                    kind=job.kind, name=job.parent.name, version_tag=job.version_tag, checkpoint_path=checkpoint,
                    config=_inference_overlay(job), created_by=job.created_by,
                    notes=(f"Fine-tuned from {job.parent.name} {job.parent.version_tag} by training job #{job.pk} "
                           f"on exports {', '.join('#' + str(pk) for pk in job.exports.values_list('pk', flat=True))}."))
                job.model_version = version
            job.status, job.step, job.finished_at = TrainingJobStatus.DONE, STEP_DONE, timezone.now()
            job.record = _record_summary(record)
            job.loss_curve = progress.curve
            job.save()
    _offline_request(job)
    return TrainingJob.objects.get(pk=job.pk)


def _offline_request(job: TrainingJob) -> None:
    """The new version's offline evaluation (default parameters), once; requested after the done
    mark so that a failure here never undoes the version."""
    from evaluation.offline import offline_evaluation_request

    with transaction.atomic():
        job = TrainingJob.objects.select_for_update().get(pk=job.pk)
        if job.offline_evaluation_id is not None or job.model_version_id is None:
            return
        job.offline_evaluation = offline_evaluation_request(model_version=job.model_version, created_by=job.created_by)
        job.save(update_fields=["offline_evaluation"])


def training_job_fail(*, job_id: int, error: str) -> None:
    TrainingJob.objects.filter(pk=job_id).exclude(
        status__in=[TrainingJobStatus.DONE, TrainingJobStatus.CANCELLED]).update(
        status=TrainingJobStatus.FAILED, error=error[:TRAINING_ERROR_MAX_LENGTH], finished_at=timezone.now())
