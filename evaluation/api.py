"""Engineer-facing API of the evaluation loop: model versions, scene sets, evaluation runs.

Reads are open to staff roles (experts, engineers, admins); writes to engineers and admins.
Labelers get 403 everywhere here: these views show model outputs and aggregate results that
would bias their judgements.
"""
from __future__ import annotations

from django.conf import settings
from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import APIView

from evaluation import selectors, services
from evaluation.models import BoxQueueJob
from evaluation.serializers import (
    MODEL_UPLOAD_FORM_OVERHEAD_BYTES,
    CheckpointTooLarge,
    EvalRunCreateSerializer,
    EvalRunDetailOutputSerializer,
    EvalRunOutputSerializer,
    ModelVersionOutputSerializer,
    ModelVersionUploadSerializer,
    SceneSetOutputSerializer,
)
from labeling.api_schema import error_responses, field_error_example, list_error_responses, request_example
from labeling.parsers import BoundedJSONParser
from labeling.permissions import IsEngineer, IsStaffRole

STAFF_READ = "Experts, engineers and admins; labelers get 403."
ENGINEER_WRITE = "Engineers and admins; labelers and experts get 403."
EVAL_RUN_RULES = (
    "Beyond the shape of the body: `scene_set`, `detector`, `embedder` and `baseline` are ids of existing "
    "objects; the detector is a model version of kind `detector` and the embedder one of kind `embedder`; the "
    "scene set holds at least one scene. A body that breaks one of these rules gets 400 naming the field.")
EVAL_RUN_EXAMPLES = [
    field_error_example("Unknown scene set", field="scene_set", message='Invalid pk "42" - object does not exist.'),
    field_error_example("Empty scene set", field="scene_set", message=services.RUN_SCENE_SET_EMPTY.format(name="empty")),
    field_error_example("Detector of the wrong kind", field="detector",
                        message=services.RUN_DETECTOR_WRONG_KIND.format(id=2, kind="embedder")),
    field_error_example("Embedder of the wrong kind", field="embedder",
                        message=services.RUN_EMBEDDER_WRONG_KIND.format(id=1, kind="detector")),
    field_error_example("Unknown baseline", field="baseline", message='Invalid pk "42" - object does not exist.'),
]
MODEL_VERSION_RULES = (
    "Beyond the shape of the body: the checkpoint must be a models_runtime checkpoint of `kind` that loads "
    "without running code and builds its architecture; (`kind`, `name`, `version_tag`) must be new. An upload "
    "that breaks one of these rules gets 400 naming the field, and nothing is stored.")
MODEL_VERSION_EXAMPLES = [
    field_error_example("Not a checkpoint", field="checkpoint",
                        message=services.MODEL_CHECKPOINT_INVALID.format(kind="detector", reason="not a checkpoint")),
    field_error_example("Version already registered", field="version_tag",
                        message=services.MODEL_VERSION_EXISTS.format(kind="detector", name="default", version_tag="V1")),
]


class StaffReadEngineerWriteApi(APIView):
    pagination_class = api_settings.DEFAULT_PAGINATION_CLASS

    def get_permissions(self):
        if self.request.method == "POST":
            return [IsAuthenticated(), IsEngineer()]
        return [IsAuthenticated(), IsStaffRole()]

    def paginated(self, queryset, serializer_class):
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(queryset, self.request, view=self)
        return paginator.get_paginated_response(serializer_class(page, many=True).data)


def _service_error(error: services.EvalRunError | services.ModelVersionError) -> serializers.ValidationError:
    return serializers.ValidationError({error.field or "non_field_errors": [str(error)]})


class EvalRunListCreateApi(StaffReadEngineerWriteApi):

    @extend_schema(operation_id="eval_runs_list", summary="Evaluation runs, newest first.", description=STAFF_READ,
                   responses={200: EvalRunOutputSerializer(many=True), **list_error_responses(401, 403)})
    def get(self, request):
        return self.paginated(selectors.eval_run_list(), EvalRunOutputSerializer)

    @extend_schema(operation_id="eval_runs_create", request=EvalRunCreateSerializer,
                   summary="Start an evaluation run; workers generate its relevance tasks.",
                   description=f"{ENGINEER_WRITE} {EVAL_RUN_RULES}",
                   examples=[request_example("A run of detector 1 and embedder 2 on scene set 1", {
                       "name": "V2 vs V1", "scene_set": 1, "detector": 1, "embedder": 2, "replication": 3,
                       "golden_rate": 0.05, "top_k": 5})],
                   responses={201: EvalRunOutputSerializer,
                              **error_responses(400, 401, 403, 413, 415, examples=EVAL_RUN_EXAMPLES)})
    def post(self, request):
        payload = EvalRunCreateSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        try:
            run = services.eval_run_create(created_by=request.user, **payload.validated_data)
        except services.EvalRunError as error:
            raise _service_error(error) from error
        return Response(EvalRunOutputSerializer(selectors.eval_run_get(run_id=run.pk)).data,
                        status=status.HTTP_201_CREATED)


class EvalRunDetailApi(StaffReadEngineerWriteApi):
    @extend_schema(operation_id="eval_runs_retrieve", summary="A run with its progress, metrics and comparison.",
                   description=STAFF_READ,
                   responses={200: EvalRunDetailOutputSerializer, **error_responses(401, 403, 404)})
    def get(self, request, run_id: int):
        run = get_object_or_404(selectors.eval_run_list(), pk=run_id)
        context = {"metrics": selectors.eval_run_metrics(run=run), "comparison": selectors.eval_run_comparison(run=run),
                   "reuse": selectors.eval_run_reuse(run=run)}
        return Response(EvalRunDetailOutputSerializer(run, context=context).data)


def _trec_response(lines: list[str], filename: str) -> HttpResponse:
    response = HttpResponse("".join(lines), content_type="text/plain; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


class EvalRunQrelsApi(StaffReadEngineerWriteApi):
    @extend_schema(operation_id="eval_runs_qrels", summary="The run's judgements as TREC qrels.",
                   description=(f"{STAFF_READ} One line `q<query object id> 0 p<product id> <relevance>` per judged "
                                "slot, its grade aggregated as the run's metrics are: extremely_similar 3, similar 2, "
                                "marginally_similar 1, not_similar 0, did_not_load 0. trec_eval's P@5 at relevance "
                                "level 2 is the run's Similar P@5 (docs/METRICS.md, \"TREC exports\")."),
                   responses={(200, "text/plain"): OpenApiResponse(OpenApiTypes.STR, description="qrels lines"),
                              **error_responses(401, 403, 404)})
    def get(self, request, run_id: int):
        run = get_object_or_404(selectors.eval_run_list(), pk=run_id)
        return _trec_response(selectors.eval_run_trec_qrels(run=run), f"run-{run.pk}.qrels")


class EvalRunTrecRunApi(StaffReadEngineerWriteApi):
    @extend_schema(operation_id="eval_runs_trec_run", summary="The run's top-k as a TREC run file.",
                   description=(f"{STAFF_READ} One line `q<query object id> Q0 p<product id> <rank> <score> run<id>` "
                                "per retrieved candidate; the score falls with the rank."),
                   responses={(200, "text/plain"): OpenApiResponse(OpenApiTypes.STR, description="run-file lines"),
                              **error_responses(401, 403, 404)})
    def get(self, request, run_id: int):
        run = get_object_or_404(selectors.eval_run_list(), pk=run_id)
        return _trec_response(selectors.eval_run_trec_run(run=run), f"run-{run.pk}.trec")


class ModelVersionListCreateApi(StaffReadEngineerWriteApi):
    parser_classes = [MultiPartParser, FormParser, BoundedJSONParser]

    @extend_schema(operation_id="model_versions_list", summary="Registered model versions.", description=STAFF_READ,
                   responses={200: ModelVersionOutputSerializer(many=True), **list_error_responses(401, 403)})
    def get(self, request):
        return self.paginated(selectors.model_version_list(), ModelVersionOutputSerializer)

    @extend_schema(operation_id="model_versions_create", request={"multipart/form-data": ModelVersionUploadSerializer},
                   summary="Upload a checkpoint as a new model version.",
                   description=f"{ENGINEER_WRITE} {MODEL_VERSION_RULES}",
                   responses={201: ModelVersionOutputSerializer,
                              **error_responses(400, 401, 403, 413, 415, examples=MODEL_VERSION_EXAMPLES)})
    def post(self, request):
        # Refuse an oversized body from its declared length, before the parser streams it to disk.
        limit = int(settings.MODEL_UPLOAD_MAX_BYTES)
        declared = str(request.META.get("CONTENT_LENGTH") or "")
        if declared.isdigit() and int(declared) > limit + MODEL_UPLOAD_FORM_OVERHEAD_BYTES:
            raise CheckpointTooLarge(services.MODEL_CHECKPOINT_TOO_LARGE.format(limit=limit))
        payload = ModelVersionUploadSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        try:
            version = services.model_version_register(
                kind=data["kind"], name=data["name"], version_tag=data["version_tag"],
                checkpoint_file=data["checkpoint"], config=data["config"], notes=data["notes"],
                created_by=request.user)
        except services.ModelVersionTooLarge as error:
            raise CheckpointTooLarge(str(error)) from error
        except services.ModelVersionError as error:
            raise _service_error(error) from error
        return Response(ModelVersionOutputSerializer(version).data, status=status.HTTP_201_CREATED)


class SceneSetListApi(StaffReadEngineerWriteApi):

    @extend_schema(operation_id="scene_sets_list", summary="Scene sets runs can be evaluated on.", description=STAFF_READ,
                   responses={200: SceneSetOutputSerializer(many=True), **list_error_responses(401, 403)})
    def get(self, request):
        return self.paginated(selectors.scene_set_list(), SceneSetOutputSerializer)


class BoxQueueJobOutputSerializer(serializers.Serializer):
    queue = serializers.IntegerField(source="queue_id")
    status = serializers.CharField()
    status_display = serializers.CharField(source="get_status_display")
    scenes_total = serializers.IntegerField()
    scenes_done = serializers.IntegerField()
    detector = serializers.IntegerField(source="detector_id", allow_null=True)
    error = serializers.CharField()


class BoxQueueJobApi(APIView):
    """Progress of a box queue's pre-annotation, for the queue page's progress bar."""

    permission_classes = [IsAuthenticated, IsStaffRole]

    @extend_schema(responses={200: BoxQueueJobOutputSerializer,
                              **error_responses(401, 403, 404, reasons={404: "No box queue with this id."})},
                   summary="A box queue's pre-annotation progress (staff).", description=STAFF_READ)
    def get(self, request, queue_id: int):
        job = get_object_or_404(BoxQueueJob, queue_id=queue_id)
        return Response(BoxQueueJobOutputSerializer(job).data)
