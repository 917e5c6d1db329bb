"""Input and output shapes of the evaluation API. Validation of values lives here; business rules
(kinds of the chosen model versions, an empty scene set) live in the services."""
from __future__ import annotations

from django.conf import settings
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers, status
from rest_framework.exceptions import APIException

from evaluation.models import EvalRun, ModelKind, ModelVersion
from evaluation.services import MAX_REPLICATION, MAX_TOP_K, MODEL_CHECKPOINT_TOO_LARGE
from labeling.api_schema import (BlankableTextField, JSONObjectField, StrictBooleanField, StrictFloatField,
                                 StrictIntegerField, StrictPrimaryKeyRelatedField, TextField)
from labeling.models import SceneSet


class ModelVersionOutputSerializer(serializers.ModelSerializer):
    checkpoint_url = serializers.SerializerMethodField()

    class Meta:
        model = ModelVersion
        fields = ["id", "kind", "name", "version_tag", "config", "notes", "checkpoint_url", "created_at"]

    def get_checkpoint_url(self, version: ModelVersion) -> str:
        return version.checkpoint.url


MODEL_CONFIG_NOT_OBJECT = "config must be a JSON object."
# Room for the form fields and multipart boundaries around the checkpoint in an upload's body.
MODEL_UPLOAD_FORM_OVERHEAD_BYTES = 1024 * 1024


class CheckpointTooLarge(APIException):
    """413, not 400: the body is refused for its size alone (RFC 9110, 15.5.14)."""

    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "checkpoint_too_large"


class ModelVersionUploadSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=ModelKind.choices)
    name = TextField(max_length=120)
    version_tag = TextField(max_length=40, help_text="Unique with `kind` and `name`.")
    checkpoint = serializers.FileField(help_text="A models_runtime checkpoint of `kind` (a `.pt` file).")
    config = JSONObjectField(required=False, default=dict,
                             help_text="Settings laid over the checkpoint's own config, e.g. a detector's "
                                       "`score_threshold`.")
    notes = BlankableTextField(required=False, default="")

    def validate_checkpoint(self, value):
        limit = int(settings.MODEL_UPLOAD_MAX_BYTES)
        if value.size > limit:
            raise CheckpointTooLarge(MODEL_CHECKPOINT_TOO_LARGE.format(limit=limit))
        return value

    def validate_config(self, value):
        if not isinstance(value, dict):
            raise serializers.ValidationError(MODEL_CONFIG_NOT_OBJECT)
        return value


class SceneSetOutputSerializer(serializers.ModelSerializer):
    n_scenes = serializers.IntegerField(read_only=True)

    class Meta:
        model = SceneSet
        fields = ["id", "name", "description", "n_scenes", "created_at"]


class ModelVersionRefSerializer(serializers.ModelSerializer):
    class Meta:
        model = ModelVersion
        fields = ["id", "kind", "name", "version_tag"]


class ProgressSerializer(serializers.Serializer):
    scenes_done = serializers.IntegerField()
    scenes_total = serializers.IntegerField()


class EvalRunOutputSerializer(serializers.ModelSerializer):
    detector = ModelVersionRefSerializer()
    embedder = ModelVersionRefSerializer()
    scene_set = serializers.SerializerMethodField()
    progress = serializers.SerializerMethodField()
    queue_id = serializers.IntegerField(allow_null=True)
    baseline_id = serializers.IntegerField(allow_null=True)

    class Meta:
        model = EvalRun
        fields = ["id", "name", "status", "error", "progress", "queue_id", "scene_set", "detector", "embedder",
                  "restrict_category", "restrict_gender", "replication", "golden_rate", "top_k", "baseline_id",
                  "reuse_judgements", "reuse_across_guides", "created_at", "generated_at"]

    @extend_schema_field({"type": "object", "properties": {"id": {"type": "integer"}, "name": {"type": "string"}}})
    def get_scene_set(self, run: EvalRun) -> dict:
        return {"id": run.scene_set_id, "name": run.scene_set.name}

    @extend_schema_field(ProgressSerializer)
    def get_progress(self, run: EvalRun) -> dict:
        return {"scenes_done": run.scenes_done, "scenes_total": run.scenes_total}


METRICS_SCHEMA = {
    "type": "object",
    "properties": {
        "similar_p_at_5": {"type": "number", "nullable": True},
        "extremely_similar_p_at_5": {"type": "number", "nullable": True},
        "bad_rate": {"type": "number", "nullable": True},
        "n_query_objects": {"type": "integer"},
        "n_judged": {"type": "integer"},
        "staff_labels": {"type": "object", "description": "Labels given by experts or admins: all of them, and "
                         "those that count in these metrics (only when the queue counts staff labels).",
                         "properties": {"total": {"type": "integer"}, "counted": {"type": "integer"}}},
        "per_category": {"type": "object", "additionalProperties": {"type": "object"}},
        "ci": {"type": "object", "additionalProperties": {"type": "array", "items": {"type": "number"},
                                                          "nullable": True}},
    },
}
COMPARISON_SCHEMA = {
    "type": "object", "nullable": True,
    "properties": {"baseline_id": {"type": "integer"}, "baseline_name": {"type": "string"},
                   "gains": {"type": "object", "additionalProperties": {"type": "object"}}},
}


REUSE_SCHEMA = {
    "type": "object",
    "description": "Judgement reuse: candidate slots of the run, how many it asked labelers about and how many "
                   "it took from earlier runs' judgements of the same (crop, product) pair, and judged@k "
                   "coverage (the share of slots with at least one judgement).",
    "properties": {"slots": {"type": "integer"}, "asked": {"type": "integer"}, "reused": {"type": "integer"},
                   "judged": {"type": "integer"}, "judged_coverage": {"type": "number", "nullable": True},
                   "reuse_judgements": {"type": "boolean"}, "reuse_across_guides": {"type": "boolean"}},
}


class EvalRunDetailOutputSerializer(EvalRunOutputSerializer):
    metrics = serializers.SerializerMethodField()
    comparison = serializers.SerializerMethodField()
    reuse = serializers.SerializerMethodField()

    class Meta(EvalRunOutputSerializer.Meta):
        fields = EvalRunOutputSerializer.Meta.fields + ["metrics", "comparison", "reuse"]

    @extend_schema_field(REUSE_SCHEMA)
    def get_reuse(self, run: EvalRun) -> dict:
        return self.context["reuse"]

    @extend_schema_field(METRICS_SCHEMA)
    def get_metrics(self, run: EvalRun) -> dict:
        return self.context["metrics"]

    @extend_schema_field(COMPARISON_SCHEMA)
    def get_comparison(self, run: EvalRun) -> dict | None:
        return self.context["comparison"]


class EvalRunCreateSerializer(serializers.Serializer):
    name = TextField(max_length=200)
    scene_set = StrictPrimaryKeyRelatedField(queryset=SceneSet.objects.all(),
                                             help_text="An existing scene set with at least one scene.")
    detector = StrictPrimaryKeyRelatedField(queryset=ModelVersion.objects.all(),
                                            help_text="An existing model version of kind `detector`.")
    embedder = StrictPrimaryKeyRelatedField(queryset=ModelVersion.objects.all(),
                                            help_text="An existing model version of kind `embedder`.")
    restrict_category = StrictBooleanField(default=True)
    restrict_gender = StrictBooleanField(default=False)
    replication = StrictIntegerField(default=3, min_value=1, max_value=MAX_REPLICATION)
    golden_rate = StrictFloatField(default=0.0, min_value=0.0, max_value=1.0)
    top_k = StrictIntegerField(default=5, min_value=1, max_value=MAX_TOP_K)
    baseline = StrictPrimaryKeyRelatedField(queryset=EvalRun.objects.all(), required=False, allow_null=True,
                                            default=None, help_text="An existing run to compare with.")
    reuse_judgements = StrictBooleanField(
        default=True, help_text="Ask only the (query crop, product) pairs no earlier run asked under the same "
                                "relevance guide version, and read the earlier judgements of the others. False "
                                "forces fresh judgements of every slot.")
    reuse_across_guides = StrictBooleanField(
        default=False, help_text="With reuse, also reuse judgements made under another relevance guide version.")
