"""Input and output shapes of the evaluation API. Validation of values lives here; business rules
(kinds of the chosen model versions, an empty scene set) live in the services."""
from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from evaluation.models import EvalRun, ModelKind, ModelVersion
from evaluation.services import MAX_REPLICATION, MAX_TOP_K
from labeling.models import SceneSet


class ModelVersionOutputSerializer(serializers.ModelSerializer):
    checkpoint_url = serializers.SerializerMethodField()

    class Meta:
        model = ModelVersion
        fields = ["id", "kind", "name", "version_tag", "config", "notes", "checkpoint_url", "created_at"]

    def get_checkpoint_url(self, version: ModelVersion) -> str:
        return version.checkpoint.url


class ModelVersionUploadSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=ModelKind.choices)
    name = serializers.CharField(max_length=120)
    version_tag = serializers.CharField(max_length=40)
    checkpoint = serializers.FileField()
    config = serializers.JSONField(required=False, default=dict)
    notes = serializers.CharField(required=False, allow_blank=True, default="")

    def validate_config(self, value):
        if not isinstance(value, dict):
            raise serializers.ValidationError("config must be a JSON object.")
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
                  "created_at", "generated_at"]

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


class EvalRunDetailOutputSerializer(EvalRunOutputSerializer):
    metrics = serializers.SerializerMethodField()
    comparison = serializers.SerializerMethodField()

    class Meta(EvalRunOutputSerializer.Meta):
        fields = EvalRunOutputSerializer.Meta.fields + ["metrics", "comparison"]

    @extend_schema_field(METRICS_SCHEMA)
    def get_metrics(self, run: EvalRun) -> dict:
        return self.context["metrics"]

    @extend_schema_field(COMPARISON_SCHEMA)
    def get_comparison(self, run: EvalRun) -> dict | None:
        return self.context["comparison"]


class EvalRunCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    scene_set = serializers.PrimaryKeyRelatedField(queryset=SceneSet.objects.all())
    detector = serializers.PrimaryKeyRelatedField(queryset=ModelVersion.objects.all())
    embedder = serializers.PrimaryKeyRelatedField(queryset=ModelVersion.objects.all())
    restrict_category = serializers.BooleanField(default=True)
    restrict_gender = serializers.BooleanField(default=False)
    replication = serializers.IntegerField(default=3, min_value=1, max_value=MAX_REPLICATION)
    golden_rate = serializers.FloatField(default=0.0, min_value=0.0, max_value=1.0)
    top_k = serializers.IntegerField(default=5, min_value=1, max_value=MAX_TOP_K)
    baseline = serializers.PrimaryKeyRelatedField(queryset=EvalRun.objects.all(), required=False, allow_null=True,
                                                  default=None)
