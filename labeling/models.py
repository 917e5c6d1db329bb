"""Labeling data model: people and pools, taxonomy and attribute schema, images and products,
guides, and the work queue (queues, tasks, assignments = leases, labels, golden answers).

Business rules live in ``labeling/services``; these classes hold data and database constraints.
"""
from __future__ import annotations

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.db import models
from django.db.models import F, Q


class Role(models.TextChoices):
    LABELER = "labeler", "Labeler"
    EXPERT = "expert", "Expert"
    ENGINEER = "engineer", "Engineer"
    ADMIN = "admin", "Admin"


class PoolKind(models.TextChoices):
    IN_HOUSE = "in_house", "In-house"
    FIXED_OUTSIDE = "fixed_outside", "Fixed outside pool"
    CROWD = "crowd", "Crowd"


class Pool(models.Model):
    name = models.CharField(max_length=100, unique=True)
    kind = models.CharField(max_length=20, choices=PoolKind.choices)
    # What one label costs from this pool; the quality dashboard shows cost per label and per
    # correct label when it is set.
    cost_per_label = models.DecimalField(max_digits=8, decimal_places=4, null=True, blank=True,
                                         help_text="cost of one label from this pool (any currency)")

    def __str__(self) -> str:
        return f"{self.name} ({self.get_kind_display()})"


class User(AbstractUser):
    role = models.CharField(max_length=20, choices=Role.choices, default=Role.LABELER)
    # Every labeler belongs to a pool; staff roles may have none.
    pool = models.ForeignKey(Pool, null=True, blank=True, on_delete=models.PROTECT, related_name="members")
    # A simulated labeler (``simulate_labelers``): a program with an error model, never a person.
    # Its labels carry the same flag, and every page that shows people or labels says so.
    is_simulated = models.BooleanField(default=False)

    @property
    def is_labeler(self) -> bool:
        return self.role == Role.LABELER

    def has_role(self, *roles: str) -> bool:
        return self.is_superuser or self.role == Role.ADMIN or self.role in roles


class Category(models.Model):
    """A node of the Google Product Taxonomy tree; ``path`` joins the levels with '|'."""

    slug = models.SlugField(max_length=60, unique=True)
    name = models.CharField(max_length=120)
    path = models.CharField(max_length=300, unique=True)
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.CASCADE, related_name="children")
    level = models.PositiveSmallIntegerField()

    class Meta:
        verbose_name_plural = "categories"
        ordering = ["path"]

    def __str__(self) -> str:
        return self.path


class Attribute(models.Model):
    """The attribute schema is data: allowed values and the categories an attribute applies to."""

    name = models.SlugField(max_length=60, unique=True)
    label = models.CharField(max_length=120)
    values = models.JSONField(default=list)
    categories = models.ManyToManyField(Category, related_name="attributes", blank=True)

    def __str__(self) -> str:
        return self.label


class ImageKind(models.TextChoices):
    SCENE = "scene", "Scene"
    PRODUCT = "product", "Product"
    SINGLE_PRODUCT = "single_product", "Single product"
    CROP = "crop", "Query crop"


class Image(models.Model):
    """Content-addressed: ``sha256`` of the bytes is unique, so a re-import stores nothing new."""

    sha256 = models.CharField(max_length=64, unique=True)
    file = models.FileField(upload_to="images/")
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    kind = models.CharField(max_length=20, choices=ImageKind.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        # The media view and tasks_create find an image by its storage name.
        indexes = [models.Index(fields=["file"], name="image_file")]

    def __str__(self) -> str:
        return f"{self.kind} {self.sha256[:12]}"


class Gender(models.TextChoices):
    MEN = "men", "Men"
    WOMEN = "women", "Women"
    UNISEX = "unisex", "Unisex"


class Product(models.Model):
    external_id = models.CharField(max_length=100, unique=True)
    image = models.ForeignKey(Image, on_delete=models.PROTECT, related_name="products")
    category = models.ForeignKey(Category, on_delete=models.PROTECT, related_name="products")
    gender = models.CharField(max_length=10, choices=Gender.choices)
    price = models.DecimalField(max_digits=10, decimal_places=2)
    merchant = models.CharField(max_length=120)
    merchant_provided_category = models.BooleanField(default=False)
    attributes = models.JSONField(default=dict, blank=True)

    def __str__(self) -> str:
        return f"product {self.external_id}"


class SceneSet(models.Model):
    name = models.CharField(max_length=120, unique=True)
    description = models.TextField(blank=True)
    scenes = models.ManyToManyField(Image, related_name="scene_sets", blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.name


class TaskKind(models.TextChoices):
    BOUNDING_BOXES = "bounding_boxes", "Bounding boxes"
    ATTRIBUTES = "attributes", "Attributes"
    RELEVANCE = "relevance", "Relevance at 5"
    MATCHING_PAIR = "matching_pair", "Matching-pair cleanup"


class Guide(models.Model):
    task_kind = models.CharField(max_length=30, choices=TaskKind.choices)
    title = models.CharField(max_length=200)

    def __str__(self) -> str:
        return self.title


class GuideVersion(models.Model):
    guide = models.ForeignKey(Guide, on_delete=models.CASCADE, related_name="versions")
    version = models.PositiveIntegerField()
    body = models.TextField(help_text="Markdown")
    change_note = models.TextField(blank=True, help_text="what changed since the version before")
    requires_requalification = models.BooleanField(
        default=False, help_text="labelers must pass the kind's qualification again under this version")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["guide", "version"], name="guide_version_unique")]
        ordering = ["guide", "-version"]

    def __str__(self) -> str:
        return f"{self.guide} v{self.version}"


class AggregationMethod(models.TextChoices):
    MAJORITY = "majority", "Majority vote"
    DAWID_SKENE = "dawid_skene", "Dawid-Skene"


class Queue(models.Model):
    name = models.CharField(max_length=200)
    task_kind = models.CharField(max_length=30, choices=TaskKind.choices)
    replication = models.PositiveSmallIntegerField(
        default=3, help_text="labels wanted per task (the most, when adaptive replication is on)")
    # Adaptive replication (labeling/QUEUE.md): with an agreement target set, a task first gets
    # min_labels labels and then one more at a time, up to replication, while its agreement stays
    # below the target. No target: every task gets exactly ``replication`` labels.
    min_labels = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="adaptive replication: labels every task gets before its agreement is checked")
    agreement_target = models.FloatField(
        null=True, blank=True, help_text="adaptive replication: a task stops getting labels once its agreement reaches this")
    # How the queue's labels become one answer per task, for the run metrics and the exports.
    aggregation = models.CharField(max_length=20, choices=AggregationMethod.choices,
                                   default=AggregationMethod.MAJORITY)
    golden_rate = models.FloatField(default=0.0, help_text="share of claims served from golden tasks")
    allowed_pools = models.ManyToManyField(Pool, blank=True, related_name="queues")
    guide_version = models.ForeignKey(GuideVersion, null=True, blank=True, on_delete=models.PROTECT)
    priority = models.IntegerField(default=0)
    lease_seconds = models.PositiveIntegerField(default=600)
    is_active = models.BooleanField(default=True)
    # Staff (experts, admins) may label a queue's ordinary tasks; by default their labels are kept
    # apart from the crowd's: they take no replication slot and the run metrics leave them out.
    staff_labels_count = models.BooleanField(
        default=False, help_text="Experts' and admins' labels count toward replication and the metrics.")
    # Model pre-annotations (a detector's proposals on a box task) are shown to labelers only when
    # this is on; golden and calibration work should not be anchored by the model.
    show_preannotations = models.BooleanField(
        default=True, help_text="Show the model's pre-annotations (proposals) to labelers.")
    # The golden sets this queue serves golden items from, at its golden rate (GoldenItem copies
    # become golden tasks of the queue: labeling/services/golden.py).
    golden_sets = models.ManyToManyField("GoldenSet", blank=True, related_name="queues")
    # Qualification and re-calibration (labeling/calibration/): a labeler claims only after passing
    # the qualification set for the current guide version of the kind, and stops getting the kind's
    # tasks when their rolling golden accuracy falls below the threshold.
    requires_qualification = models.BooleanField(default=False)
    qualification_set = models.ForeignKey("GoldenSet", null=True, blank=True, on_delete=models.PROTECT,
                                          related_name="+", help_text="the golden set a qualification draws from")
    qualification_pass_mark = models.FloatField(default=0.8, help_text="mean golden score a qualification needs, 0 to 1")
    qualification_items = models.PositiveSmallIntegerField(default=10, help_text="golden items per qualification attempt")
    recalibration_window = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="re-calibration: the last N golden items of the kind a labeler answered")
    recalibration_threshold = models.FloatField(
        null=True, blank=True, help_text="re-calibration: rolling golden accuracy below which a labeler is flagged")
    # After a golden item, show the labeler the expert's answer and reason. Off by default: on an
    # evaluation queue it would tell labelers which items are golden.
    immediate_feedback = models.BooleanField(default=False)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(replication__gte=1), name="queue_replication_positive"),
            models.CheckConstraint(condition=Q(golden_rate__gte=0) & Q(golden_rate__lte=1), name="queue_golden_rate_share"),
            models.CheckConstraint(
                condition=Q(agreement_target__isnull=True) | (Q(agreement_target__gt=0) & Q(agreement_target__lte=1)),
                name="queue_agreement_target_share"),
            models.CheckConstraint(
                condition=Q(min_labels__isnull=True) | (Q(min_labels__gte=1) & Q(min_labels__lte=F("replication"))),
                name="queue_min_labels_within_replication"),
            models.CheckConstraint(condition=Q(qualification_pass_mark__gte=0) & Q(qualification_pass_mark__lte=1),
                                   name="queue_qualification_pass_mark_share"),
            models.CheckConstraint(
                condition=Q(recalibration_threshold__isnull=True)
                | (Q(recalibration_threshold__gte=0) & Q(recalibration_threshold__lte=1)),
                name="queue_recalibration_threshold_share"),
        ]

    def __str__(self) -> str:
        return self.name


class Task(models.Model):
    queue = models.ForeignKey(Queue, on_delete=models.CASCADE, related_name="tasks")
    payload = models.JSONField()
    # Idempotency of generation: the producer's key for this unit of work (unique per queue).
    source_key = models.CharField(max_length=200)
    priority = models.IntegerField(default=0)
    # A golden task is always the copy of a golden item (``golden_item``), never a labeled task
    # flipped to golden: is_golden is set when the task is created and never changes.
    is_golden = models.BooleanField(default=False)
    golden_item = models.ForeignKey("GoldenItem", null=True, blank=True, on_delete=models.PROTECT,
                                    related_name="tasks")
    # On a golden copy: the normal task of the same queue it was copied from. Claim never serves one
    # labeler both twins (labeling/QUEUE.md).
    twin_of = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="golden_twins")
    # Labels stored so far; maintained by label_submit under the task's row lock.
    label_count = models.PositiveIntegerField(default=0)
    # Adaptive replication: how many labels this task wants now (NULL = the queue's base: min_labels
    # on an adaptive queue, else replication) and the agreement of its labels so far; both kept by
    # label_submit under the task's row lock.
    labels_wanted = models.PositiveSmallIntegerField(null=True, blank=True)
    agreement = models.FloatField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["queue", "source_key"], name="task_source_key_unique"),
            models.CheckConstraint(condition=Q(is_golden=False) | Q(golden_item__isnull=False),
                                   name="task_golden_has_item"),
        ]
        indexes = [models.Index(fields=["queue", "is_golden", "-priority", "created_at", "id"], name="task_claim_order")]

    def __str__(self) -> str:
        return f"task {self.pk} ({self.queue_id})"


class AssignmentState(models.TextChoices):
    ACTIVE = "active", "Active"
    SUBMITTED = "submitted", "Submitted"
    SKIPPED = "skipped", "Skipped"


class Assignment(models.Model):
    """A lease of one task to one labeler; ``expires_at`` ends it without any cron job."""

    task = models.ForeignKey(Task, on_delete=models.CASCADE, related_name="assignments")
    queue = models.ForeignKey(Queue, on_delete=models.CASCADE, related_name="assignments")
    labeler = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="assignments")
    state = models.CharField(max_length=12, choices=AssignmentState.choices, default=AssignmentState.ACTIVE)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    # False for a staff member's lease on a queue whose staff labels do not count: it holds no
    # replication slot and its label does not raise the task's label_count.
    counts_toward_replication = models.BooleanField(default=True)

    class Meta:
        constraints = [
            # One lease per (task, labeler) at a time: the database refuses a second claim.
            models.UniqueConstraint(fields=["task", "labeler"], condition=Q(state="active"), name="assignment_one_active_per_labeler_task"),
        ]
        indexes = [
            models.Index(fields=["task", "state", "expires_at"], name="assignment_task_live"),
            models.Index(fields=["queue", "labeler", "state"], name="assignment_queue_labeler"),
        ]


class Label(models.Model):
    """Append-only: never updated or deleted by the services."""

    task = models.ForeignKey(Task, on_delete=models.PROTECT, related_name="labels")
    assignment = models.OneToOneField(Assignment, on_delete=models.PROTECT, related_name="label")
    labeler = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="labels")
    answer = models.JSONField()
    guide_version = models.ForeignKey(GuideVersion, null=True, blank=True, on_delete=models.PROTECT)
    time_spent_ms = models.PositiveIntegerField(default=0)
    idempotency_key = models.CharField(max_length=200, null=True, blank=True)
    # sha256 of the submitted request body's answer: a replay under the same key with another body is refused.
    request_sha256 = models.CharField(max_length=64, blank=True, default="")
    # Given by an expert or admin rather than a labeler; see Queue.staff_labels_count.
    is_staff_label = models.BooleanField(default=False)
    # Whether this label took one of the task's replication slots (and counts in the metrics).
    counts_toward_replication = models.BooleanField(default=True)
    # Given by a simulated labeler (User.is_simulated), copied at submit so exports and frames carry it.
    is_simulated = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["task", "labeler"], name="label_one_per_labeler_task"),
            models.UniqueConstraint(fields=["labeler", "idempotency_key"], condition=Q(idempotency_key__isnull=False), name="label_idempotency_key_unique"),
        ]


class GoldenSource(models.TextChoices):
    EXPERT = "expert", "Expert"
    WORLD_ORACLE = "world_oracle", "Synthetic world's oracle"
    IMPORT = "import", "Import"


class GoldenSet(models.Model):
    """Golden items of one task kind; any queue of that kind may draw from it (Queue.golden_sets)."""

    name = models.CharField(max_length=200, unique=True)
    task_kind = models.CharField(max_length=30, choices=TaskKind.choices)
    description = models.TextField(blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.name


class GoldenItem(models.Model):
    """An item with its golden answer. Never served to labelers as such: queues serve copies of it
    (Task.golden_item), which look exactly like normal tasks. The answer's history is kept in
    GoldenItemRevision; scores against it are computed on read, so a fix re-scores every label."""

    golden_set = models.ForeignKey(GoldenSet, on_delete=models.CASCADE, related_name="items")
    # The import/export identity of the item within its set (a re-import updates, never duplicates).
    key = models.CharField(max_length=200)
    payload = models.JSONField()
    answer = models.JSONField()
    source = models.CharField(max_length=20, choices=GoldenSource.choices)
    expert = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                               related_name="+")
    guide_version = models.ForeignKey(GuideVersion, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    # Why this is the answer; labelers see it only when an expert reveals it (calibration, feedback).
    reason = models.TextField(blank=True)
    # The task the item was made from ("make golden"), if any; that task itself never changes.
    source_task = models.ForeignKey(Task, null=True, blank=True, on_delete=models.SET_NULL, related_name="golden_items_made")
    revision = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["golden_set", "key"], name="golden_item_key_unique")]

    def __str__(self) -> str:
        return f"golden item {self.pk} ({self.golden_set_id})"


class GoldenItemRevision(models.Model):
    """One past or present answer of a golden item; revision 1 is the first answer."""

    item = models.ForeignKey(GoldenItem, on_delete=models.CASCADE, related_name="revisions")
    revision = models.PositiveIntegerField()
    answer = models.JSONField()
    reason = models.TextField(blank=True)
    source = models.CharField(max_length=20, choices=GoldenSource.choices)
    expert = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                               related_name="+")
    guide_version = models.ForeignKey(GuideVersion, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["item", "revision"], name="golden_item_revision_unique")]
        ordering = ["item", "-revision"]


class TaskImage(models.Model):
    """Which stored images a task shows (its payload's media URLs), so the media view can tell in
    one indexed query whether a labeler may see a file: they may when they hold or held an
    assignment on a task that shows it. Written by ``tasks_create``."""

    task = models.ForeignKey(Task, on_delete=models.CASCADE, related_name="task_images")
    image = models.ForeignKey(Image, on_delete=models.CASCADE, related_name="task_images")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["task", "image"], name="task_image_unique")]
        indexes = [models.Index(fields=["image", "task"], name="task_image_by_image")]


class ApiToken(models.Model):
    """An API token. Only the sha256 of the key is stored; the key is shown once, when issued.

    A token stops working when it expires, when it is revoked, or when the user's credentials
    fingerprint (password hash, role, pool, active flag) no longer matches the one taken at issue:
    a password, role or pool change therefore revokes every token of that user, whatever path
    (admin, service, shell) made the change.
    """

    key_sha256 = models.CharField(max_length=64, unique=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    credentials_fingerprint = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["user", "revoked_at"], name="api_token_user_live")]

    def __str__(self) -> str:
        return f"token of {self.user_id} ({self.key_sha256[:8]})"


class SignInThrottle(models.Model):
    """Failed sign-ins per user name and per client address; one row per (scope, key).

    ``failures`` counts failures since ``window_started_at``; ``locked_until`` refuses every
    attempt (right password or not) until then. Rules: labeling/services/signin.py.
    """

    scope = models.CharField(max_length=10)  # "user" or "ip"
    key = models.CharField(max_length=200)
    failures = models.PositiveIntegerField(default=0)
    window_started_at = models.DateTimeField()
    locked_until = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["scope", "key"], name="signin_throttle_unique")]


class TaxonomyVersion(models.Model):
    """One row whose ``token`` changes whenever a Category or Attribute row (or an attribute's
    categories) changes, so every process can tell in one query whether its cached taxonomy is
    stale. A fresh random token rather than a counter: a counter bumped inside a transaction that
    rolls back returns to a value another change can reach again, and a cache keyed on it would
    then serve the rolled-back state. See labeling/taxonomy.py."""

    token = models.CharField(max_length=32)


def _private_storage():
    from labeling.storage import private_storage

    return private_storage


class PairImportStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


class PairImport(models.Model):
    """One import of creator-annotated pairs in the Shop The Look format (a JSON-lines file), run
    in the background with its progress; all or nothing (labeling/imports/PAIRS.md)."""

    name = models.CharField(max_length=200)
    # The uploaded file, in private storage (never under MEDIA_ROOT).
    file = models.FileField(upload_to="pair_imports/", blank=True, storage=_private_storage)
    # Where the images are resolved by id: "world" (the synthetic world) or a folder under PAIR_IMAGE_ROOT.
    image_source = models.CharField(max_length=300)
    status = models.CharField(max_length=12, choices=PairImportStatus.choices, default=PairImportStatus.PENDING)
    lines_total = models.PositiveIntegerField(default=0)
    lines_done = models.PositiveIntegerField(default=0)
    pairs_created = models.PositiveIntegerField(default=0)
    # Refused lines: [{"line": n, "message": "..."}], at most a few hundred kept.
    errors = models.JSONField(default=list, blank=True)
    error = models.TextField(blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return self.name


class CreatorPair(models.Model):
    """A creator's tag: a box on a scene and the product they said it is. Cleanup tasks are made
    from these; the labelers' consensus becomes the cleaned matching pair."""

    pair_import = models.ForeignKey(PairImport, null=True, blank=True, on_delete=models.SET_NULL, related_name="pairs")
    # The ids the file used (image signatures in the public dataset): a pair's identity.
    scene_key = models.CharField(max_length=200)
    product_key = models.CharField(max_length=200)
    scene = models.ForeignKey(Image, on_delete=models.PROTECT, related_name="+")
    product_image = models.ForeignKey(Image, on_delete=models.PROTECT, related_name="+")
    product = models.ForeignKey(Product, null=True, blank=True, on_delete=models.SET_NULL, related_name="creator_pairs")
    # The creator's box: normalised as in the file, and in scene pixels.
    box_normalized = models.JSONField()
    box = models.JSONField(help_text="[x0, y0, x1, y1] in scene pixels")
    # The creator's category (a taxonomy slug), from the category file or the catalogue product.
    category = models.CharField(max_length=60, blank=True)
    # Synthetic pairs only: the noise the world put in and the true answer (staff only, never in a payload).
    truth = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["scene_key", "product_key"], name="creator_pair_unique")]


class QualitySnapshot(models.Model):
    """The quality report of one task kind, computed by a Celery task (labeling/quality/QUALITY.md)
    so the dashboard reads one row however many labels there are. ``last_label_id`` is the newest
    label it saw: a newer label means the snapshot is stale and a refresh is due."""

    task_kind = models.CharField(max_length=30, choices=TaskKind.choices, unique=True)
    report = models.JSONField(default=dict)
    n_labels = models.PositiveIntegerField(default=0)
    last_label_id = models.BigIntegerField(default=0)
    computed_at = models.DateTimeField(null=True, blank=True)
    compute_seconds = models.FloatField(default=0.0)
    # Set when a refresh was enqueued and not yet finished, so page views enqueue at most one.
    refresh_requested_at = models.DateTimeField(null=True, blank=True)


class FeedbackKind(models.TextChoices):
    NOTE = "note", "Note from an expert"
    GOLDEN_MISS = "golden_miss", "Golden item missed"
    TRIAGE = "triage", "Triage decision"
    CALIBRATION = "calibration", "Calibration reveal"


class LabelerFeedback(models.Model):
    """A message to one labeler in their feed (their own quality page), optionally about one of
    their labels: an expert's note, a triage decision, a calibration reveal, or (with a queue's
    immediate feedback) the answer of a golden item they just answered. A golden answer reaches a
    labeler only about an item they have already answered."""

    labeler = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="feedback_received")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    label = models.ForeignKey(Label, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    body = models.TextField()
    kind = models.CharField(max_length=20, choices=FeedbackKind.choices, default=FeedbackKind.NOTE)
    details = models.JSONField(default=dict, blank=True)
    read_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["labeler", "-created_at"], name="feedback_labeler_newest")]


# -- the expert's calibration loop (labeling/calibration/CALIBRATION.md) --------------------------

class EdgeCase(models.Model):
    """A hard or ambiguous item with its right answer and the reason, attached to a guide version
    and shown to labelers in the guide panel, grouped by the rule it illustrates."""

    guide_version = models.ForeignKey(GuideVersion, on_delete=models.PROTECT, related_name="edge_cases")
    task_kind = models.CharField(max_length=30, choices=TaskKind.choices)
    rule = models.CharField(max_length=200, help_text="the guide rule it illustrates; edge cases are grouped by it")
    payload = models.JSONField(help_text="the item, as a task payload of its kind")
    answer = models.JSONField()
    reason = models.TextField()
    source_task = models.ForeignKey(Task, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    golden_item = models.ForeignKey(GoldenItem, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["rule", "pk"]
        indexes = [models.Index(fields=["guide_version", "rule"], name="edge_case_by_guide_rule")]

    def __str__(self) -> str:
        return f"edge case {self.pk}: {self.rule}"


class TriageDecisionKind(models.TextChoices):
    GOLDEN_WRONG = "golden_wrong", "The golden answer is wrong"
    AMBIGUOUS = "ambiguous", "The case is ambiguous"
    LABELERS_WRONG = "labelers_wrong", "The labelers are wrong"


class TriageDecision(models.Model):
    """What an expert decided about a triage item, by whom and when; ``details`` keeps what changed
    (the golden answer's old and new revision and the re-scored labelers, the edge case and guide
    version made, or the feedback sent)."""

    kind = models.CharField(max_length=20, choices=TriageDecisionKind.choices)
    task = models.ForeignKey(Task, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    golden_item = models.ForeignKey(GoldenItem, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    expert = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    note = models.TextField(blank=True)
    details = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-pk"]


class CalibrationStatus(models.TextChoices):
    OPEN = "open", "Open: labelers answer blind"
    REVEALED = "revealed", "Revealed: answers and reasons shown"
    CLOSED = "closed", "Closed"


class CalibrationSession(models.Model):
    name = models.CharField(max_length=200)
    task_kind = models.CharField(max_length=30, choices=TaskKind.choices)
    status = models.CharField(max_length=12, choices=CalibrationStatus.choices, default=CalibrationStatus.OPEN)
    pools = models.ManyToManyField(Pool, blank=True, related_name="+")
    followup_golden_n = models.PositiveSmallIntegerField(
        default=10, help_text="'after' is also measured on each participant's next N golden labels of the kind")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    revealed_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return self.name


class CalibrationParticipant(models.Model):
    session = models.ForeignKey(CalibrationSession, on_delete=models.CASCADE, related_name="participants")
    labeler = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["session", "labeler"], name="calibration_participant_unique")]


class CalibrationItem(models.Model):
    """One item of a session with the expert's answer and reason. Follow-up items are fresh golden
    items answered after the reveal: the session's "after" figures."""

    session = models.ForeignKey(CalibrationSession, on_delete=models.CASCADE, related_name="items")
    position = models.PositiveSmallIntegerField()
    is_followup = models.BooleanField(default=False)
    payload = models.JSONField()
    answer = models.JSONField()
    reason = models.TextField(blank=True)
    golden_item = models.ForeignKey(GoldenItem, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    edge_case = models.ForeignKey(EdgeCase, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    source_task = models.ForeignKey(Task, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        ordering = ["session", "is_followup", "position"]
        constraints = [models.UniqueConstraint(fields=["session", "is_followup", "position"],
                                               name="calibration_item_position_unique")]


class CalibrationAnswer(models.Model):
    item = models.ForeignKey(CalibrationItem, on_delete=models.CASCADE, related_name="answers")
    labeler = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    answer = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["item", "labeler"], name="calibration_answer_unique")]


class QualificationStatus(models.TextChoices):
    IN_PROGRESS = "in_progress", "In progress"
    PASSED = "passed", "Passed"
    FAILED = "failed", "Failed"


class Qualification(models.Model):
    """One attempt at a kind's qualification set for a guide version: golden items answered one by
    one with feedback after each; passed when the mean score reaches the pass mark."""

    labeler = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="qualifications")
    task_kind = models.CharField(max_length=30, choices=TaskKind.choices)
    guide_version = models.ForeignKey(GuideVersion, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    golden_set = models.ForeignKey(GoldenSet, on_delete=models.PROTECT, related_name="+")
    status = models.CharField(max_length=12, choices=QualificationStatus.choices, default=QualificationStatus.IN_PROGRESS)
    pass_mark = models.FloatField()
    n_items = models.PositiveSmallIntegerField()
    score = models.FloatField(null=True, blank=True)
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["labeler", "task_kind", "status"], name="qualification_by_labeler")]
        constraints = [models.UniqueConstraint(fields=["labeler", "task_kind"],
                                               condition=Q(status="in_progress"), name="qualification_one_open")]


class QualificationAnswer(models.Model):
    qualification = models.ForeignKey(Qualification, on_delete=models.CASCADE, related_name="answers")
    golden_item = models.ForeignKey(GoldenItem, on_delete=models.PROTECT, related_name="+")
    answer = models.JSONField()
    score = models.FloatField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["qualification", "golden_item"],
                                               name="qualification_answer_unique")]


class LabelerFlag(models.Model):
    """A labeler whose rolling golden accuracy of a kind fell below a queue's threshold: they get no
    task of that kind until an expert clears the flag or they re-qualify."""

    labeler = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="flags")
    task_kind = models.CharField(max_length=30, choices=TaskKind.choices)
    queue = models.ForeignKey(Queue, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    rolling_accuracy = models.FloatField()
    window = models.PositiveSmallIntegerField()
    threshold = models.FloatField()
    flagged_at = models.DateTimeField(auto_now_add=True)
    cleared_at = models.DateTimeField(null=True, blank=True)
    cleared_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    cleared_reason = models.CharField(max_length=200, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["labeler", "task_kind"], condition=Q(cleared_at__isnull=True),
                                               name="labeler_flag_one_open")]


class AuditEvent(models.Model):
    """An append-only record of a change that matters for trust in the labels: golden answers, guide
    versions, qualification decisions, role and pool changes. Written by ``labeling.audit.audit_record``
    in the same transaction as the change; never updated or deleted."""

    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                              related_name="+")
    action = models.CharField(max_length=60)
    target_type = models.CharField(max_length=60)
    target_id = models.CharField(max_length=60, blank=True)
    details = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["target_type", "target_id"], name="audit_event_by_target")]

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise AuditLogAppendOnly(AUDIT_APPEND_ONLY)
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AuditLogAppendOnly(AUDIT_APPEND_ONLY)


AUDIT_APPEND_ONLY = "The audit log is append-only: an event is never changed or deleted."


class AuditLogAppendOnly(RuntimeError):
    pass


class JobStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


class DataImportKind(models.TextChoices):
    CATALOGUE = "catalogue", "Product catalogue"
    COCO_DETECTION = "coco_detection", "COCO detection"


class DataImport(models.Model):
    """One import of a product catalogue (CSV or JSON lines) or a COCO detection JSON, run in the
    background with its progress; all or nothing (labeling/imports/IMPORTS.md). Creator pairs have
    their own job, ``PairImport``."""

    kind = models.CharField(max_length=20, choices=DataImportKind.choices)
    name = models.CharField(max_length=200)
    # The uploaded file, in private storage (never under MEDIA_ROOT).
    file = models.FileField(upload_to="data_imports/", blank=True, storage=_private_storage)
    file_sha256 = models.CharField(max_length=64, blank=True)
    # Kind-specific choices: a COCO import's target ("tasks" into a queue, or "golden" into a set),
    # its queue or golden set, its image folder; a catalogue's format ("csv" or "jsonl").
    options = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=12, choices=JobStatus.choices, default=JobStatus.PENDING)
    lines_total = models.PositiveIntegerField(default=0)
    lines_done = models.PositiveIntegerField(default=0)
    # What was stored, e.g. {"products_created": 10, "products_existing": 2} or
    # {"images": 5, "tasks_created": 5, "unmapped_categories": ["hat"]}.
    result = models.JSONField(default=dict, blank=True)
    # Refused rows: [{"line": n, "message": "..."}], the first few hundred.
    errors = models.JSONField(default=list, blank=True)
    error = models.TextField(blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.kind} import {self.name}"


class ExportJob(models.Model):
    """One training-data export (COCO detection, cleaned matching, attributes, TREC qrels, the
    single-product dataset), written in the background in chunks (labeling/exports/EXPORTS.md).

    ``file`` is set only once the whole file is written and renamed into place, so a job never
    offers half a file. ``provenance`` records what it was built from (queues, aggregation method,
    guide versions, the last label id read) so that the same parameters rebuild the same bytes
    (``sha256``)."""

    format = models.CharField(max_length=30)
    name = models.CharField(max_length=200)
    params = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=12, choices=JobStatus.choices, default=JobStatus.PENDING)
    items_total = models.PositiveIntegerField(default=0)
    items_done = models.PositiveIntegerField(default=0)
    step = models.CharField(max_length=200, blank=True, help_text="what the job is doing now")
    file = models.FileField(upload_to="exports/", blank=True, storage=_private_storage)
    size_bytes = models.BigIntegerField(default=0)
    sha256 = models.CharField(max_length=64, blank=True)
    provenance = models.JSONField(default=dict, blank=True)
    # Figures about the content: records written, records left out and why (Algorithm 1's rules).
    report = models.JSONField(default=dict, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    error = models.TextField(blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["format", "status"], name="export_job_by_format")]

    def __str__(self) -> str:
        return f"{self.format} export {self.name}"
