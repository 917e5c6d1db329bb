from django.contrib import admin

from evaluation import models


class ReadOnlyAdmin(admin.ModelAdmin):
    """Shown, never written: every write goes through the services, which validate what the admin
    would not (a checkpoint's architecture and weights, an evaluation's parameters)."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(models.ModelVersion)
class ModelVersionAdmin(ReadOnlyAdmin):
    """Model versions come in through /models/new/ or POST /api/v1/model-versions
    (evaluation.services.model_version_register)."""

    list_display = ("kind", "name", "version_tag", "created_by", "created_at")
    list_filter = ("kind",)
    search_fields = ("name", "version_tag")


@admin.register(models.OfflineEvaluation)
class OfflineEvaluationAdmin(ReadOnlyAdmin):
    """Started from a version's page or POST /api/v1/model-versions/<id>/offline-evaluations
    (evaluation.offline.offline_evaluation_request)."""

    list_display = ("id", "model_version", "status", "steps_done", "steps_total", "created_by", "created_at")
    list_filter = ("status", "model_version__kind")


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
