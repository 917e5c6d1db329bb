from django.contrib import admin
from django.contrib.auth.admin import UserAdmin

from labeling import models


@admin.register(models.User)
class PlatformUserAdmin(UserAdmin):
    list_display = ("username", "role", "pool", "is_active", "last_login")
    list_filter = ("role", "pool", "is_active")
    fieldsets = UserAdmin.fieldsets + (("Platform", {"fields": ("role", "pool")}),)
    add_fieldsets = UserAdmin.add_fieldsets + (("Platform", {"fields": ("role", "pool")}),)


@admin.register(models.Pool)
class PoolAdmin(admin.ModelAdmin):
    list_display = ("name", "kind")


@admin.register(models.Category)
class CategoryAdmin(admin.ModelAdmin):
    list_display = ("path", "slug", "level")
    search_fields = ("path", "slug")


@admin.register(models.Attribute)
class AttributeAdmin(admin.ModelAdmin):
    list_display = ("name", "label", "values")
    filter_horizontal = ("categories",)


@admin.register(models.Image)
class ImageAdmin(admin.ModelAdmin):
    list_display = ("id", "kind", "sha256", "width", "height", "created_at")
    list_filter = ("kind",)
    search_fields = ("sha256",)


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
    model = models.GuideVersion
    extra = 0


@admin.register(models.Guide)
class GuideAdmin(admin.ModelAdmin):
    list_display = ("title", "task_kind")
    inlines = [GuideVersionInline]


@admin.register(models.GuideVersion)
class GuideVersionAdmin(admin.ModelAdmin):
    list_display = ("guide", "version", "created_by", "created_at")


@admin.register(models.Queue)
class QueueAdmin(admin.ModelAdmin):
    list_display = ("name", "task_kind", "replication", "golden_rate", "priority", "staff_labels_count", "is_active")
    list_filter = ("task_kind", "is_active")
    filter_horizontal = ("allowed_pools",)


@admin.register(models.Task)
class TaskAdmin(admin.ModelAdmin):
    list_display = ("id", "queue", "is_golden", "priority", "label_count", "created_at")
    list_filter = ("queue", "is_golden")
    search_fields = ("source_key",)


@admin.register(models.Assignment)
class AssignmentAdmin(admin.ModelAdmin):
    list_display = ("id", "task", "labeler", "state", "expires_at")
    list_filter = ("state", "queue")
    raw_id_fields = ("task", "labeler")


@admin.register(models.Label)
class LabelAdmin(admin.ModelAdmin):
    """Labels are append-only: the admin shows them but cannot change or delete them."""

    list_display = ("id", "task", "labeler", "is_staff_label", "counts_toward_replication", "guide_version",
                    "time_spent_ms", "created_at")
    list_filter = ("task__queue",)
    raw_id_fields = ("task", "assignment", "labeler")

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(models.GoldenAnswer)
class GoldenAnswerAdmin(admin.ModelAdmin):
    list_display = ("task", "expert", "created_at")
    raw_id_fields = ("task",)
