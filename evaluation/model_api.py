"""The model registry's API: a model version with the runs that used it and its offline
evaluations, starting an offline evaluation, and one evaluation's progress and figures.

Permissions as in evaluation/api.py: staff read, engineers (and admins) write, labelers never.
"""
from __future__ import annotations

from django.http import Http404
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.response import Response

from evaluation import model_selectors, offline
from evaluation.api import ENGINEER_WRITE, STAFF_READ, StaffReadEngineerWriteApi
from evaluation.models import EvalRun, ModelKind, ModelVersion, OfflineEvaluation
from evaluation.serializers import ModelVersionOutputSerializer, ModelVersionRefSerializer
from labeling.api_schema import JSONObjectField, error_responses, field_error_example, request_example
from labeling.parsers import BoundedJSONParser

VERSION_NOT_FOUND = "No model version with this id."
EVALUATION_NOT_FOUND = "No offline evaluation with this id."


def _parameters_schema() -> dict:
    """Every parameter of either kind, with its range; a key of the other kind is refused (400)."""
    properties = {}
    for specs in offline.OFFLINE_PARAMETERS.values():
        for key, spec in specs.items():
            kinds = [kind for kind, others in offline.OFFLINE_PARAMETERS.items() if key in others]
            only = f" {kinds[0].capitalize()}s only." if len(kinds) == 1 else ""
            properties[key] = {"type": "integer", "minimum": spec.minimum, "maximum": spec.maximum,
                               "description": f"{spec.help} Default {spec.default}.{only}"}
    return {"type": "object", "additionalProperties": False, "properties": properties}


@extend_schema_field(_parameters_schema())
class OfflineParametersField(JSONObjectField):
    """The parameters as sent; ``offline.offline_parameters_resolve`` checks them against the version's kind."""


class OfflineEvaluationRequestSerializer(serializers.Serializer):
    parameters = OfflineParametersField(required=False, default=dict,
                                        help_text="Test-set sizes and seed; what is left out takes its default.")


class OfflineEvaluationOutputSerializer(serializers.ModelSerializer):
    model_version = ModelVersionRefSerializer()
    status_display = serializers.CharField(source="get_status_display")
    created_by = serializers.SerializerMethodField()
    results = serializers.JSONField(help_text="Once done: `figures` (see evaluation/OFFLINE.md), `seconds` per "
                                              "stage and the `device` it ran on; `{}` before.")

    class Meta:
        model = OfflineEvaluation
        fields = ["id", "model_version", "status", "status_display", "parameters", "steps_total", "steps_done",
                  "step", "results", "error", "created_by", "created_at", "started_at", "finished_at"]

    def get_created_by(self, evaluation: OfflineEvaluation) -> str | None:
        return evaluation.created_by.username if evaluation.created_by else None


class ModelVersionRunSerializer(serializers.ModelSerializer):
    role = serializers.ChoiceField(choices=ModelKind.choices, help_text="Whether the run used the version as its "
                                                                       "detector or its embedder.")

    class Meta:
        model = EvalRun
        fields = ["id", "name", "status", "role", "created_at"]


class ModelVersionDetailOutputSerializer(ModelVersionOutputSerializer):
    created_by = serializers.SerializerMethodField()
    runs_total = serializers.SerializerMethodField()
    runs = serializers.SerializerMethodField()
    offline_evaluations_total = serializers.SerializerMethodField()
    offline_evaluations = serializers.SerializerMethodField()

    class Meta(ModelVersionOutputSerializer.Meta):
        fields = ModelVersionOutputSerializer.Meta.fields + [
            "created_by", "runs_total", "runs", "offline_evaluations_total", "offline_evaluations"]

    def get_created_by(self, version) -> str | None:
        return version.created_by.username if version.created_by else None

    def get_runs_total(self, version) -> int:
        return self.context["runs_total"]

    @extend_schema_field(ModelVersionRunSerializer(many=True))
    def get_runs(self, version) -> list:
        return ModelVersionRunSerializer(self.context["runs"], many=True).data

    def get_offline_evaluations_total(self, version) -> int:
        return self.context["evaluations_total"]

    @extend_schema_field(OfflineEvaluationOutputSerializer(many=True))
    def get_offline_evaluations(self, version) -> list:
        return OfflineEvaluationOutputSerializer(self.context["evaluations"], many=True).data


PARAMETER_EXAMPLES = [
    field_error_example("A parameter of the other kind", field="parameters",
                        message=offline.OFFLINE_PARAMETER_UNKNOWN.format(
                            keys="'query_scenes'", kind="detector",
                            accepted=", ".join(offline.OFFLINE_PARAMETERS[ModelKind.DETECTOR]))),
    field_error_example("Out of range", field="parameters", message=offline.OFFLINE_PARAMETER_INVALID.format(
        key="val_scenes", minimum=1, maximum=3000)),
]
PARAMETER_RULES = (
    "Beyond the shape of the body: a detector takes `seed`, `n_products`, `val_scenes` and `test_scenes`; an "
    "embedder takes `seed`, `n_products`, `query_scenes`, `distractors` and `k_max`. A parameter of the other "
    "kind gets 400 on `parameters`.")


def _version_or_404(version_id: int):
    try:
        return model_selectors.model_version_get(version_id=version_id)
    except ModelVersion.DoesNotExist:
        raise Http404(VERSION_NOT_FOUND) from None


class ModelVersionDetailApi(StaffReadEngineerWriteApi):
    @extend_schema(operation_id="model_versions_retrieve", summary="A model version: config, notes, the runs that "
                   "used it and its offline evaluations.",
                   description=f"{STAFF_READ} The newest {model_selectors.RUNS_SHOWN} runs and "
                               f"{model_selectors.EVALUATIONS_SHOWN} offline evaluations, with their totals.",
                   responses={200: ModelVersionDetailOutputSerializer,
                              **error_responses(401, 403, 404, reasons={404: VERSION_NOT_FOUND})})
    def get(self, request, version_id: int):
        version = _version_or_404(version_id)
        runs = model_selectors.model_version_runs(version=version)
        evaluations = model_selectors.offline_evaluations(version=version)
        context = {"runs_total": runs.count(), "runs": runs[:model_selectors.RUNS_SHOWN],
                   "evaluations_total": evaluations.count(),
                   "evaluations": evaluations[:model_selectors.EVALUATIONS_SHOWN]}
        return Response(ModelVersionDetailOutputSerializer(version, context=context).data)


class OfflineEvaluationCreateApi(StaffReadEngineerWriteApi):
    parser_classes = [BoundedJSONParser]

    @extend_schema(operation_id="model_versions_offline_evaluations_create", request=OfflineEvaluationRequestSerializer,
                   summary="Start an offline evaluation of a model version; a GPU worker runs it.",
                   description=f"{ENGINEER_WRITE} {PARAMETER_RULES} Answers 202 with the pending evaluation; poll "
                               "`GET /api/v1/offline-evaluations/<id>` for its progress and figures.",
                   examples=[request_example("A detector on 40 validation and 40 test scenes",
                                             {"parameters": {"val_scenes": 40, "test_scenes": 40}})],
                   responses={202: OfflineEvaluationOutputSerializer,
                              **error_responses(400, 401, 403, 404, 413, 415, examples=PARAMETER_EXAMPLES,
                                                reasons={404: VERSION_NOT_FOUND})})
    def post(self, request, version_id: int):
        version = _version_or_404(version_id)
        payload = OfflineEvaluationRequestSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        try:
            evaluation = offline.offline_evaluation_request(
                model_version=version, created_by=request.user, parameters=payload.validated_data["parameters"])
        except offline.OfflineEvaluationError as error:
            raise serializers.ValidationError({error.field or "non_field_errors": [str(error)]}) from error
        evaluation = model_selectors.offline_evaluation_get(evaluation_id=evaluation.pk)
        return Response(OfflineEvaluationOutputSerializer(evaluation).data, status=status.HTTP_202_ACCEPTED)


class OfflineEvaluationDetailApi(StaffReadEngineerWriteApi):
    @extend_schema(operation_id="offline_evaluations_retrieve", summary="An offline evaluation's progress and figures.",
                   description=f"{STAFF_READ} `steps_done` of `steps_total` and the current `step` while it runs; "
                               "`results` once done, `error` once failed.",
                   responses={200: OfflineEvaluationOutputSerializer,
                              **error_responses(401, 403, 404, reasons={404: EVALUATION_NOT_FOUND})})
    def get(self, request, evaluation_id: int):
        evaluation = get_object_or_404(model_selectors.offline_evaluations(), pk=evaluation_id)
        return Response(OfflineEvaluationOutputSerializer(evaluation).data)
