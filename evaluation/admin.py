from django.contrib import admin

from evaluation import models


@admin.register(models.ModelVersion)
class ModelVersionAdmin(admin.ModelAdmin):
    """Model versions come in through POST /api/v1/model-versions, which validates the checkpoint
    (evaluation.services.model_version_register); the admin may rename and annotate them, but it
    neither adds one nor swaps a checkpoint, which would skip that validation."""

    list_display = ("kind", "name", "version_tag", "created_at")
    list_filter = ("kind",)
    readonly_fields = ("kind", "checkpoint", "config", "created_by", "created_at")

    def has_add_permission(self, request):
        return False


@admin.register(models.EvalRun)
class EvalRunAdmin(admin.ModelAdmin):
    list_display = ("name", "status", "scenes_done", "scenes_total", "detector", "embedder", "created_at")
    list_filter = ("status",)
    raw_id_fields = ("queue", "baseline")


@admin.register(models.EvalRunScene)
class EvalRunSceneAdmin(admin.ModelAdmin):
    list_display = ("run", "scene", "objects_found", "created_at")
    raw_id_fields = ("scene",)


class CandidateInline(admin.TabularInline):
    model = models.Candidate
    extra = 0
    raw_id_fields = ("product",)


@admin.register(models.QueryObject)
class QueryObjectAdmin(admin.ModelAdmin):
    list_display = ("id", "run", "scene", "ordinal", "category", "score")
    list_filter = ("run", "category")
    raw_id_fields = ("scene", "crop", "task")
    inlines = [CandidateInline]


@admin.register(models.Candidate)
class CandidateAdmin(admin.ModelAdmin):
    list_display = ("query_object", "rank", "product", "distance")
    raw_id_fields = ("query_object", "product")
