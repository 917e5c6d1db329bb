from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin
from django.utils import timezone

from frontend.forms import AdminSignInForm
from labeling import models
from labeling.calibration.audit import AuditAction, audit_record
from labeling.golden.services import GOLDEN_SET_KIND_MISMATCH, queue_golden_sets_add
from labeling.services.images import IMAGE_UPLOAD_TOO_LARGE, image_encode, image_file_write, image_upload_png
from labeling.services.tokens import api_tokens_revoke, credentials_fingerprint

# The admin's login counts failures with the /login/ page and the token endpoint (labeling/services/signin.py).
admin.site.login_form = AdminSignInForm


@admin.register(models.User)
class PlatformUserAdmin(UserAdmin):
    list_display = ("username", "role", "pool", "is_simulated", "is_active", "last_login")
    list_filter = ("role", "pool", "is_simulated", "is_active")
    fieldsets = UserAdmin.fieldsets + (("Platform", {"fields": ("role", "pool", "is_simulated")}),)
    add_fieldsets = UserAdmin.add_fieldsets + (("Platform", {"fields": ("role", "pool")}),)

    def save_model(self, request, obj, form, change):
        """Role and pool changes go to the audit trail, in the save's transaction (the admin's view is atomic)."""
        before = models.User.objects.filter(pk=obj.pk).values("role", "pool_id").first() if change else None
        super().save_model(request, obj, form, change)
        if before is None:
            audit_record(actor=request.user, action=AuditAction.USER_CREATED, target=obj,
                         details={"username": obj.username, "role": obj.role, "pool": obj.pool_id,
                                  "simulated": obj.is_simulated})
            return
        if before["role"] != obj.role:
            audit_record(actor=request.user, action=AuditAction.USER_ROLE_CHANGED, target=obj,
                         details={"username": obj.username, "old": before["role"], "new": obj.role})
        if before["pool_id"] != obj.pool_id:
            audit_record(actor=request.user, action=AuditAction.USER_POOL_CHANGED, target=obj,
                         details={"username": obj.username, "old": before["pool_id"], "new": obj.pool_id})


@admin.register(models.Pool)
class PoolAdmin(admin.ModelAdmin):
    list_display = ("name", "kind", "cost_per_label")


@admin.register(models.Category)
class CategoryAdmin(admin.ModelAdmin):
    list_display = ("path", "slug", "level")
    search_fields = ("path", "slug")


@admin.register(models.Attribute)
class AttributeAdmin(admin.ModelAdmin):
    list_display = ("name", "label", "values")
    filter_horizontal = ("categories",)


IMAGE_ALREADY_STORED = "This image is already stored, as image {id}."


class ImageUploadForm(forms.ModelForm):
    """The admin's add form for an image: a file and a kind. The file is decoded in full (pixel
    limit, verify, load) and re-encoded to PNG by the same service the importers use; its hash,
    size and stored name come from those bytes, never from what a person types."""

    upload = forms.FileField(label="Image file", help_text="PNG, JPEG or WebP; stored as PNG.")

    class Meta:
        model = models.Image
        fields = ("kind",)

    def clean_upload(self):
        upload = self.cleaned_data["upload"]
        limit = settings.IMAGE_UPLOAD_MAX_BYTES
        if upload.size > limit:  # before reading it into memory
            raise forms.ValidationError(IMAGE_UPLOAD_TOO_LARGE.format(size=upload.size, limit=limit))
        try:
            self.encoded = image_encode(data=image_upload_png(data=upload.read()))
        except ValueError as error:
            raise forms.ValidationError(str(error)) from error
        existing = models.Image.objects.filter(sha256=self.encoded.sha256).first()
        if existing is not None:
            raise forms.ValidationError(IMAGE_ALREADY_STORED.format(id=existing.pk))
        self.instance.sha256 = self.encoded.sha256
        self.instance.width, self.instance.height = self.encoded.width, self.encoded.height
        return upload


@admin.register(models.Image)
class ImageAdmin(admin.ModelAdmin):
    list_display = ("id", "kind", "sha256", "width", "height", "created_at")
    list_filter = ("kind",)
    search_fields = ("sha256",)

    def get_form(self, request, obj=None, **kwargs):
        if obj is None:
            kwargs["form"] = ImageUploadForm
        return super().get_form(request, obj, **kwargs)

    def get_readonly_fields(self, request, obj=None):
        # A stored image is content-addressed: its file and hash never change, only its kind may.
        return ("sha256", "file", "width", "height") if obj is not None else ()

    def save_model(self, request, obj, form, change):
        if not change:
            obj.file.name = image_file_write(encoded=form.encoded)
        super().save_model(request, obj, form, change)


@admin.register(models.Product)
class ProductAdmin(admin.ModelAdmin):
    list_display = ("external_id", "category", "gender", "price", "merchant", "merchant_provided_category")
    list_filter = ("category", "gender", "merchant_provided_category")
    search_fields = ("external_id", "merchant")
    raw_id_fields = ("image",)


@admin.register(models.SceneSet)
class SceneSetAdmin(admin.ModelAdmin):
    list_display = ("name", "created_at")
    raw_id_fields = ("scenes",)


class GuideVersionInline(admin.StackedInline):
    """Read-only: versions are published, numbered and audited from /overview/guides/ (guide_version_publish)."""

    model = models.GuideVersion
    extra = 0
    readonly_fields = ("version", "body", "change_note", "requires_requalification", "created_by", "created_at")

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(models.Guide)
class GuideAdmin(admin.ModelAdmin):
    list_display = ("title", "task_kind")
    inlines = [GuideVersionInline]


@admin.register(models.GuideVersion)
class GuideVersionAdmin(admin.ModelAdmin):
    """Read-only, like the inline: a published version never changes (labels keep it)."""

    list_display = ("guide", "version", "created_by", "created_at")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class QueueAdminForm(forms.ModelForm):
    class Meta:
        model = models.Queue
        fields = "__all__"

    def clean(self):
        cleaned = super().clean()
        kind = cleaned.get("task_kind")
        for golden_set in cleaned.get("golden_sets") or ():
            if golden_set.task_kind != kind:
                self.add_error("golden_sets", GOLDEN_SET_KIND_MISMATCH.format(
                    name=golden_set.name, set_kind=golden_set.task_kind, queue=cleaned.get("name"), queue_kind=kind))
        return cleaned


@admin.register(models.Queue)
class QueueAdmin(admin.ModelAdmin):
    form = QueueAdminForm
    list_display = ("name", "task_kind", "replication", "golden_rate", "priority", "staff_labels_count", "is_active")
    list_filter = ("task_kind", "is_active")
    filter_horizontal = ("allowed_pools", "golden_sets")

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        # A set linked here serves its items as golden copies at once, as through the service.
        queue_golden_sets_add(queue=form.instance, golden_sets=form.instance.golden_sets.all())


@admin.register(models.Task)
class TaskAdmin(admin.ModelAdmin):
    list_display = ("id", "queue", "is_golden", "priority", "label_count", "created_at")
    list_filter = ("queue", "is_golden")
    search_fields = ("source_key",)
    # A task never becomes golden after the fact (labeling/golden/GOLDEN.md); label_count is the
    # queue engine's.
    readonly_fields = ("is_golden", "golden_item", "twin_of", "label_count")


@admin.register(models.Assignment)
class AssignmentAdmin(admin.ModelAdmin):
    list_display = ("id", "task", "labeler", "state", "expires_at")
    list_filter = ("state", "queue")
    raw_id_fields = ("task", "labeler")


@admin.register(models.Label)
class LabelAdmin(admin.ModelAdmin):
    """Labels are append-only: the admin shows them but cannot change or delete them."""

    list_display = ("id", "task", "labeler", "is_staff_label", "is_simulated", "counts_toward_replication",
                    "guide_version", "time_spent_ms", "created_at")
    list_filter = ("task__queue", "is_simulated")
    raw_id_fields = ("task", "assignment", "labeler")

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(models.GoldenSet)
class GoldenSetAdmin(admin.ModelAdmin):
    list_display = ("name", "task_kind", "created_by", "created_at")
    list_filter = ("task_kind",)

    def get_readonly_fields(self, request, obj=None):
        # Items are validated against the set's kind; changing it would orphan them.
        return ("task_kind", "created_by") if obj is not None else ("created_by",)

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)


class GoldenItemRevisionInline(admin.TabularInline):
    model = models.GoldenItemRevision
    extra = 0
    can_delete = False
    readonly_fields = ("revision", "answer", "reason", "source", "expert", "guide_version", "created_at")

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(models.GoldenItem)
class GoldenItemAdmin(admin.ModelAdmin):
    """Read-only here: answers change through the expert's editor or the API (labeling/golden/services.py),
    which validate them and keep the history."""

    list_display = ("id", "golden_set", "key", "source", "expert", "revision", "updated_at")
    list_filter = ("golden_set", "source")
    search_fields = ("key",)
    inlines = [GoldenItemRevisionInline]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(models.ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Tokens are issued by POST /api/v1/auth/token (the key is shown only there); here they are listed and revoked."""

    list_display = ("user", "key_prefix", "state", "created_at", "expires_at", "revoked_at")
    list_filter = (("revoked_at", admin.EmptyFieldListFilter),)
    list_select_related = ("user",)
    search_fields = ("user__username",)
    readonly_fields = ("user", "key_sha256", "credentials_fingerprint", "created_at", "expires_at", "revoked_at")
    actions = ["revoke"]

    def has_add_permission(self, request):
        return False

    @admin.display(description="key sha256")
    def key_prefix(self, token):
        return f"{token.key_sha256[:12]}…"

    @admin.display(description="state")
    def state(self, token):
        if token.revoked_at is not None:
            return "revoked"
        if token.expires_at <= timezone.now():
            return "expired"
        if token.credentials_fingerprint != credentials_fingerprint(token.user):
            return "credentials changed"
        return "live"

    @admin.action(description="Revoke the selected tokens", permissions=["change"])
    def revoke(self, request, queryset):
        revoked = api_tokens_revoke(tokens=queryset)
        self.message_user(request, f"Revoked {revoked} live token(s).", messages.SUCCESS)


@admin.register(models.SignInThrottle)
class SignInThrottleAdmin(admin.ModelAdmin):
    """Failed sign-in counters. Deleting a row lifts its slow-down or lockout at once."""

    list_display = ("scope", "key", "failures", "window_started_at", "locked_until")
    list_filter = ("scope",)
    search_fields = ("key",)
    readonly_fields = ("scope", "key", "failures", "window_started_at", "locked_until")

    def has_add_permission(self, request):
        return False


@admin.register(models.PairImport)
class PairImportAdmin(admin.ModelAdmin):
    """Imports run from the pair imports page or the API (labeling/imports/); here they are listed."""

    list_display = ("name", "status", "lines_done", "lines_total", "pairs_created", "created_by", "created_at")
    list_filter = ("status",)
    readonly_fields = ("file", "image_source", "status", "lines_total", "lines_done", "pairs_created", "errors",
                       "error", "created_by", "created_at", "finished_at")

    def has_add_permission(self, request):
        return False


@admin.register(models.CreatorPair)
class CreatorPairAdmin(admin.ModelAdmin):
    """Pairs are what an import stored: read-only, their truth (synthetic pairs) included."""

    list_display = ("id", "scene_key", "product_key", "category", "pair_import", "created_at")
    list_filter = ("pair_import",)
    search_fields = ("scene_key", "product_key")
    raw_id_fields = ("scene", "product_image", "product", "pair_import")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(models.AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    """Read-only: the trail is append-only (labeling/calibration/audit.py); staff also read it at /overview/audit/."""

    list_display = ("created_at", "actor", "action", "target_type", "target_id")
    list_filter = ("action", "target_type")
    readonly_fields = ("created_at", "actor", "action", "target_type", "target_id", "details")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
