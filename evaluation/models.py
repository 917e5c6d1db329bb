"""Evaluation data model: model versions, end-to-end relevance runs and what they generate
(per-scene progress, query objects, their top-k candidates)."""
from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from labeling.models import Image, Product, Queue, SceneSet, Task


class ModelKind(models.TextChoices):
    DETECTOR = "detector", "Detector"
    EMBEDDER = "embedder", "Embedder"


class ModelVersion(models.Model):
    kind = models.CharField(max_length=12, choices=ModelKind.choices)
    name = models.CharField(max_length=120)
    version_tag = models.CharField(max_length=40, help_text="V1, V1.1, ...")
    checkpoint = models.FileField(upload_to="checkpoints/")
    config = models.JSONField(default=dict, blank=True)
    notes = models.TextField(blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["kind", "name", "version_tag"], name="model_version_unique")]

    def __str__(self) -> str:
        return f"{self.kind} {self.name} {self.version_tag}"


class EvalRunStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    GENERATING = "generating", "Generating"
    LABELING = "labeling", "Labeling"
    FAILED = "failed", "Failed"


class EvalRun(models.Model):
    name = models.CharField(max_length=200)
    scene_set = models.ForeignKey(SceneSet, on_delete=models.PROTECT, related_name="eval_runs")
    detector = models.ForeignKey(ModelVersion, on_delete=models.PROTECT, related_name="detector_runs")
    embedder = models.ForeignKey(ModelVersion, on_delete=models.PROTECT, related_name="embedder_runs")
    restrict_category = models.BooleanField(default=True)
    restrict_gender = models.BooleanField(default=False)
    replication = models.PositiveSmallIntegerField(default=3)
    golden_rate = models.FloatField(default=0.0)
    top_k = models.PositiveSmallIntegerField(default=5)
    baseline = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    queue = models.OneToOneField(Queue, null=True, blank=True, on_delete=models.PROTECT, related_name="eval_run")
    status = models.CharField(max_length=12, choices=EvalRunStatus.choices, default=EvalRunStatus.PENDING)
    scenes_total = models.PositiveIntegerField(default=0)
    scenes_done = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    reuse_judgements = models.BooleanField(
        default=True, help_text="Reuse (query crop, product) judgements of earlier runs instead of asking again.")
    reuse_across_guides = models.BooleanField(
        default=False, help_text="Also reuse judgements made under another version of the relevance guide.")
    progress_at = models.DateTimeField(
        null=True, blank=True, help_text="When generation last moved (started, or wrote a scene); the stale-run sweep reads it.")
    resumes = models.PositiveSmallIntegerField(default=0, help_text="How often the sweep re-sent a stalled generation.")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    generated_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return self.name


class EvalRunScene(models.Model):
    """One row per (run, scene) once the scene is generated: the per-unit "already done" mark
    that makes generation idempotent under retries and crashed workers."""

    run = models.ForeignKey(EvalRun, on_delete=models.CASCADE, related_name="done_scenes")
    scene = models.ForeignKey(Image, on_delete=models.PROTECT, related_name="+")
    objects_found = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["run", "scene"], name="eval_run_scene_unique")]


class QueryObject(models.Model):
    run = models.ForeignKey(EvalRun, on_delete=models.CASCADE, related_name="query_objects")
    scene = models.ForeignKey(Image, on_delete=models.PROTECT, related_name="query_objects")
    ordinal = models.PositiveSmallIntegerField(help_text="index of the detection within the scene")
    box = models.JSONField(help_text="[x0, y0, x1, y1] in scene pixels")
    category = models.CharField(max_length=60)
    score = models.FloatField()
    gender = models.CharField(max_length=10, blank=True)
    crop = models.ForeignKey(Image, on_delete=models.PROTECT, related_name="+")
    task = models.OneToOneField(Task, null=True, blank=True, on_delete=models.SET_NULL, related_name="query_object")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["run", "scene", "ordinal"], name="query_object_unique")]


class Candidate(models.Model):
    query_object = models.ForeignKey(QueryObject, on_delete=models.CASCADE, related_name="candidates")
    rank = models.PositiveSmallIntegerField()
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="+")
    distance = models.IntegerField(help_text="Hamming distance of the binary codes")
    task_slot = models.PositiveSmallIntegerField(
        null=True, blank=True,
        help_text="1-based position of this candidate in its query object's task (grade task_slot - 1 of a "
                  "label); null when the run reused an earlier judgement instead of asking")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["query_object", "rank"], name="candidate_rank_unique"),
            models.CheckConstraint(condition=Q(rank__gte=1), name="candidate_rank_positive"),
        ]
        ordering = ["query_object", "rank"]


class BoxQueueJobStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    PREANNOTATING = "preannotating", "Pre-annotating"
    READY = "ready", "Ready"
    FAILED = "failed", "Failed"


class BoxQueueJob(models.Model):
    """The producer of a bounding-box queue: one task per scene of a scene set, pre-annotated by a
    detector version when one is given (on the ``gpu`` queue, idempotent per scene)."""

    queue = models.OneToOneField(Queue, on_delete=models.PROTECT, related_name="box_job")
    scene_set = models.ForeignKey(SceneSet, on_delete=models.PROTECT, related_name="box_jobs")
    detector = models.ForeignKey(ModelVersion, null=True, blank=True, on_delete=models.PROTECT, related_name="box_jobs")
    status = models.CharField(max_length=16, choices=BoxQueueJobStatus.choices, default=BoxQueueJobStatus.PENDING)
    scenes_total = models.PositiveIntegerField(default=0)
    scenes_done = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    progress_at = models.DateTimeField(null=True, blank=True)
    resumes = models.PositiveSmallIntegerField(default=0)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"box queue job {self.pk} ({self.queue_id})"


class BoxQueueScene(models.Model):
    """The per-scene "already done" mark of a box queue job (as EvalRunScene is for runs)."""

    job = models.ForeignKey(BoxQueueJob, on_delete=models.CASCADE, related_name="done_scenes")
    scene = models.ForeignKey(Image, on_delete=models.PROTECT, related_name="+")
    proposals = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["job", "scene"], name="box_queue_scene_unique")]


class OfflineEvaluationStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


class OfflineEvaluation(models.Model):
    """An offline evaluation of one model version on the synthetic world's test sets (no people):
    a detector's mAP and precision/recall, an embedder's retrieval and attribute P@1. Run on the
    ``gpu`` queue; ``results`` holds the figures once done."""

    model_version = models.ForeignKey(ModelVersion, on_delete=models.CASCADE, related_name="offline_evaluations")
    status = models.CharField(max_length=12, choices=OfflineEvaluationStatus.choices,
                              default=OfflineEvaluationStatus.PENDING)
    parameters = models.JSONField(default=dict, blank=True, help_text="world seed, set sizes, distractors, K values")
    steps_total = models.PositiveIntegerField(default=0)
    steps_done = models.PositiveIntegerField(default=0)
    step = models.CharField(max_length=200, blank=True, help_text="what the job is doing now")
    results = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"offline evaluation {self.pk} of {self.model_version}"


class TrainingJobStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


class TrainingJob(models.Model):
    """Training a detector or an embedder from exports on the ``gpu`` queue (evaluation/TRAINING.md).

    When it finishes it registers exactly one model version (``model_version`` is one-to-one, so a
    retried task finds it instead of registering another), starts that version's offline
    evaluation, and offers an end-to-end run against ``parent`` as baseline."""

    kind = models.CharField(max_length=12, choices=ModelKind.choices)
    name = models.CharField(max_length=200)
    parent = models.ForeignKey(ModelVersion, null=True, blank=True, on_delete=models.PROTECT, related_name="+",
                               help_text="the version it is fine-tuned from, and the E2E baseline")
    exports = models.ManyToManyField("labeling.ExportJob", related_name="training_jobs")
    version_tag = models.CharField(max_length=40, blank=True, help_text="the tag the new version gets (V1.1, ...)")
    params = models.JSONField(default=dict, blank=True, help_text="steps, batch size, learning rate, seed")
    status = models.CharField(max_length=12, choices=TrainingJobStatus.choices, default=TrainingJobStatus.PENDING)
    steps_total = models.PositiveIntegerField(default=0)
    steps_done = models.PositiveIntegerField(default=0)
    step = models.CharField(max_length=200, blank=True, help_text="what the job is doing now")
    # [{"step": n, "loss": x, ...}], one point per logged step: the page's loss curve.
    loss_curve = models.JSONField(default=list, blank=True)
    cancel_requested = models.BooleanField(default=False)
    record = models.JSONField(default=dict, blank=True, help_text="the trainer's training record")
    model_version = models.OneToOneField(ModelVersion, null=True, blank=True, on_delete=models.SET_NULL,
                                         related_name="training_job")
    offline_evaluation = models.ForeignKey(OfflineEvaluation, null=True, blank=True, on_delete=models.SET_NULL,
                                           related_name="+")
    attempts = models.PositiveSmallIntegerField(default=0)
    error = models.TextField(blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.kind} training {self.name}"
