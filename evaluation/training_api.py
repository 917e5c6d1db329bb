"""The training jobs' API (evaluation/TRAINING.md): list and start jobs, follow one, cancel it.

Permissions as in evaluation/api.py: staff read, engineers (and admins) start and cancel, labelers never.
"""
from __future__ import annotations

from django.http import Http404
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.exceptions import APIException
from rest_framework.response import Response

from evaluation import training, training_selectors
from evaluation.api import ENGINEER_WRITE, STAFF_READ, StaffReadEngineerWriteApi
from evaluation.models import ModelKind, ModelVersion, TrainingJob
from evaluation.serializers import ModelVersionRefSerializer
from labeling.api_schema import (JSONObjectField, error_responses, field_error_example, list_error_responses,
                                 request_example)
from labeling.models import ExportJob
from labeling.parsers import BoundedJSONParser

TRAINING_JOB_NOT_FOUND = "No training job with this id."
PARENT_NOT_FOUND = "No model version with id {id}."
EXPORT_NOT_FOUND = "No export with id {id}."
# Ids are database integers: a larger number is refused by the schema (400), never sent to a query.
ID_MAX = 2**31 - 1


def _params_schema() -> dict:
    properties = {}
    for key, (kind_type, minimum, maximum, detector_default, embedder_default) in training.TRAINING_PARAMS.items():
        properties[key] = {"type": "integer" if kind_type is int else "number", "minimum": minimum, "maximum": maximum,
                           "description": f"Default {detector_default:g} for a detector, {embedder_default:g} for an "
                                          "embedder."}
    return {"type": "object", "additionalProperties": False, "properties": properties}


@extend_schema_field(_params_schema())
class TrainingParamsField(JSONObjectField):
    """The parameters as sent; ``training.training_params_resolve`` checks each against its range."""


class TrainingJobCreateSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=ModelKind.choices)
    name = serializers.CharField(max_length=200)
    parent = serializers.IntegerField(min_value=1, max_value=ID_MAX, help_text="The model version to fine-tune from; also the "
                                                             "baseline the finished job offers an end-to-end run against.")
    exports = serializers.ListField(child=serializers.IntegerField(min_value=1, max_value=ID_MAX), min_length=1,
                                    max_length=20,
                                    help_text="Finished exports: coco_detection or single_product for a detector, "
                                              "matching or attributes for an embedder.")
    version_tag = serializers.CharField(max_length=40, required=False, allow_blank=True,
                                        help_text="Default: the parent's tag plus .1, .2, ... (the first free one).")
    params = TrainingParamsField(required=False, default=dict)


class ExportRefSerializer(serializers.ModelSerializer):
    class Meta:
        model = ExportJob
        fields = ["id", "format", "name"]


class TrainingJobOutputSerializer(serializers.ModelSerializer):
    parent = ModelVersionRefSerializer()
    model_version = ModelVersionRefSerializer(allow_null=True)
    exports = ExportRefSerializer(many=True)
    status_display = serializers.CharField(source="get_status_display")
    created_by = serializers.SerializerMethodField()
    loss_curve = serializers.JSONField(help_text="`[{step, loss}]`, one point per logged step.")
    record = serializers.JSONField(help_text="The trainer's record once done (config, data sizes, timings).")
    offline_evaluation = serializers.PrimaryKeyRelatedField(read_only=True, allow_null=True)

    class Meta:
        model = TrainingJob
        fields = ["id", "kind", "name", "parent", "exports", "version_tag", "params", "status", "status_display",
                  "steps_total", "steps_done", "step", "loss_curve", "cancel_requested", "record", "model_version",
                  "offline_evaluation", "attempts", "error", "created_by", "created_at", "started_at", "finished_at"]

    def get_created_by(self, job: TrainingJob) -> str | None:
        return job.created_by.username if job.created_by else None


def _job_or_404(job_id: int) -> TrainingJob:
    try:
        return training_selectors.training_job_get(job_id=job_id)
    except TrainingJob.DoesNotExist:
        raise Http404(TRAINING_JOB_NOT_FOUND) from None


def _refused(error: training.TrainingJobError) -> serializers.ValidationError:
    return serializers.ValidationError({error.field or "non_field_errors": [str(error)]})


CREATE_EXAMPLES = [
    field_error_example("An export of the wrong format", field="exports", message=training.TRAINING_EXPORT_FORMAT.format(
        id=3, format="matching", kind="detector", formats="coco_detection or single_product")),
    field_error_example("A parent of the other kind", field="parent",
                        message=training.TRAINING_PARENT_KIND.format(found="embedder", kind="detector")),
]


class TrainingJobListCreateApi(StaffReadEngineerWriteApi):
    parser_classes = [BoundedJSONParser]

    @extend_schema(operation_id="training_jobs_list", summary="Training jobs, newest first.", description=STAFF_READ,
                   responses={200: TrainingJobOutputSerializer(many=True), **list_error_responses(401, 403)})
    def get(self, request):
        return self.paginated(training_selectors.training_job_list(), TrainingJobOutputSerializer)

    @extend_schema(operation_id="training_jobs_create", request=TrainingJobCreateSerializer,
                   summary="Start a training job; a GPU worker runs it.",
                   description=f"{ENGINEER_WRITE} Answers 202 with the pending job; poll "
                               "`GET /api/v1/training-jobs/<id>` for its progress and loss curve. When it is done it "
                               "has registered `model_version` and requested its `offline_evaluation`.",
                   examples=[request_example("Fine-tune the embedder on cleaned pairs", {
                       "kind": "embedder", "name": "cleaned pairs", "parent": 2, "exports": [5],
                       "params": {"steps": 300, "lr": 0.01}})],
                   responses={202: TrainingJobOutputSerializer,
                              **error_responses(400, 401, 403, 413, 415, examples=CREATE_EXAMPLES)})
    def post(self, request):
        payload = TrainingJobCreateSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        parent = ModelVersion.objects.filter(pk=data["parent"]).first()
        if parent is None:
            raise serializers.ValidationError({"parent": [PARENT_NOT_FOUND.format(id=data["parent"])]})
        exports = list(ExportJob.objects.filter(pk__in=data["exports"]).order_by("pk"))
        missing = sorted(set(data["exports"]) - {export.pk for export in exports})
        if missing:
            raise serializers.ValidationError({"exports": [EXPORT_NOT_FOUND.format(id=missing[0])]})
        try:
            job = training.training_job_create(kind=data["kind"], name=data["name"], parent=parent, exports=exports,
                                               version_tag=data.get("version_tag"), params=data["params"],
                                               created_by=request.user)
        except training.TrainingJobError as error:
            raise _refused(error) from error
        return Response(TrainingJobOutputSerializer(_job_or_404(job.pk)).data, status=status.HTTP_202_ACCEPTED)


class TrainingJobDetailApi(StaffReadEngineerWriteApi):
    @extend_schema(operation_id="training_jobs_retrieve", summary="A training job's progress, loss curve and version.",
                   description=STAFF_READ,
                   responses={200: TrainingJobOutputSerializer,
                              **error_responses(401, 403, 404, reasons={404: TRAINING_JOB_NOT_FOUND})})
    def get(self, request, job_id: int):
        return Response(TrainingJobOutputSerializer(_job_or_404(job_id)).data)


class TrainingJobCancelApi(StaffReadEngineerWriteApi):
    @extend_schema(operation_id="training_jobs_cancel", request=None,
                   summary="Cancel a training job: a pending one at once, a running one at its next step.",
                   description=f"{ENGINEER_WRITE} A job that has ended gets 409.",
                   responses={200: TrainingJobOutputSerializer,
                              **error_responses(401, 403, 404, 409, reasons={404: TRAINING_JOB_NOT_FOUND})})
    def post(self, request, job_id: int):
        job = _job_or_404(job_id)
        try:
            training.training_job_cancel(job=job)
        except training.TrainingJobError as error:
            refusal = APIException(detail=str(error), code="training_job_ended")
            refusal.status_code = status.HTTP_409_CONFLICT
            raise refusal from error
        return Response(TrainingJobOutputSerializer(_job_or_404(job_id)).data)
