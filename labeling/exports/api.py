"""The training-data export API: staff (experts, engineers, admins) start exports, follow their
progress, download finished files and rebuild them; labelers get 403 everywhere here. Thin: parse,
call a service or a selector, shape the output (labeling/exports/EXPORTS.md)."""
from __future__ import annotations

from django.http import FileResponse
from django.shortcuts import get_object_or_404
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.exceptions import APIException
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import APIView

from labeling.api_schema import JSONObjectField, TextField, error_responses, field_error_example, list_error_responses
from labeling.exports import selectors
from labeling.exports.jobs import (EXPORT_NAME_EMPTY, EXPORT_NAME_MAX_LENGTH, EXPORT_PARAMS_NOT_OBJECT, ExportNotDone,
                                   export_job_create, export_job_path, export_job_rebuild)
from labeling.exports import format_single_product as single_product
from labeling.exports.registry import ExportParamsError, export_formats
from labeling.exports.common import OPTION_NOT_BOOLEAN, PARAM_UNKNOWN, SEED_INVALID
from labeling.exports.format_coco import ROLLUP_UNKNOWN
from labeling.exports.format_qrels import EVAL_RUN_MISSING
from labeling.exports.selectors import QUEUES_MISSING
from labeling.models import ExportJob
from labeling.permissions import IsStaffRole

STAFF_ONLY = "Experts, engineers and admins; labelers get 403."
PARAMS_RULES = (
    "`params` by format: `coco_detection` takes `queues` (box queue ids) and `rollup` (`fine`, the default, or "
    "`coarse`); `matching` takes `queues` (matching-pair cleanup queue ids), `keep_similar` and `product_images` (both "
    "default true); "
    "`attributes` takes `queues` (attribute queue ids) and `seed` (default 0); `trec_qrels` takes `eval_run` (an "
    "evaluation run id). A parameter that is missing, unknown or invalid, a queue of another kind or aggregated "
    "by Dawid-Skene is refused with 400 naming the parameter under `fields` (`params.<name>`). The job runs in "
    "the background: follow `items_done` / `items_total` on GET /api/v1/exports/{id}.")
# Every field a refusal of the formats' parameters can name (a new format adds its own here).
PARAMS_EXAMPLES = [
    field_error_example("No name", field="name", message=EXPORT_NAME_EMPTY),
    field_error_example("Unknown parameter", field="params",
                        message=PARAM_UNKNOWN.format(name="colour", names="queues, rollup")),
    field_error_example("No queues", field="params.queues", message=QUEUES_MISSING),
    field_error_example("Unknown rollup", field="params.rollup", message=ROLLUP_UNKNOWN),
    field_error_example("Seed out of range", field="params.seed", message=SEED_INVALID),
    field_error_example("keep_similar not a boolean", field="params.keep_similar",
                        message=OPTION_NOT_BOOLEAN.format(name="keep_similar")),
    field_error_example("No evaluation run", field="params.eval_run", message=EVAL_RUN_MISSING),
    field_error_example("No detector", field="params.detector", message=single_product.DETECTOR_MISSING),
    field_error_example("Unknown scene source", field="params.scene_source", message=single_product.SCENE_SOURCE_UNKNOWN),
    field_error_example("Cover out of range", field="params.cover",
                        message=single_product.SHARE_INVALID.format(name="cover", low=0.05)),
    field_error_example("Score threshold out of range", field="params.score_threshold",
                        message=single_product.SHARE_INVALID.format(name="score_threshold", low=0.0)),
    field_error_example("World seed out of range", field="params.world_seed",
                        message=single_product.WORLD_NUMBER_INVALID.format(name="world_seed", low=0, high=2**31 - 1)),
    field_error_example("World scenes out of range", field="params.world_scenes",
                        message=single_product.WORLD_NUMBER_INVALID.format(name="world_scenes", low=10, high=100000)),
    field_error_example("World products out of range", field="params.world_products",
                        message=single_product.WORLD_NUMBER_INVALID.format(name="world_products", low=1, high=1000000)),
    field_error_example("No scene queues", field="params.queues", message=QUEUES_MISSING),
]
NOT_DONE_REASON = "The export is not done (pending, running or failed): there is no file to download yet."


class ExportNotReady(APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "export_not_done"


class ExportCreateSerializer(serializers.Serializer):
    # The schema's enum: every registered format (export_format_modules).
    format = serializers.ChoiceField(choices=sorted(export_formats()))
    name = TextField(max_length=EXPORT_NAME_MAX_LENGTH)
    params = JSONObjectField(required=False, default=dict, help_text=PARAMS_RULES)

    def validate_params(self, value):
        if not isinstance(value, dict):
            raise serializers.ValidationError(EXPORT_PARAMS_NOT_OBJECT)
        return value


class ExportJobSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    format = serializers.CharField()
    name = serializers.CharField()
    params = serializers.DictField(help_text="The cleaned parameters.")
    status = serializers.CharField(help_text="pending, running, done or failed.")
    status_display = serializers.CharField(source="get_status_display")
    items_total = serializers.IntegerField()
    items_done = serializers.IntegerField()
    progress = serializers.SerializerMethodField(help_text="items_done / items_total, from 0 to 1.")
    step = serializers.CharField(help_text="What the job is doing now.")
    provenance = serializers.DictField(
        help_text="What the export was built from: queues, aggregation, guide versions, the last label id read.")
    report = serializers.DictField(help_text="Records written, and records left out with why.")
    sha256 = serializers.CharField(help_text="Of the finished file; empty until done.")
    size_bytes = serializers.IntegerField()
    attempts = serializers.IntegerField()
    error = serializers.CharField(help_text="Why the export failed; empty otherwise.")
    download_url = serializers.SerializerMethodField()
    created_by = serializers.CharField(source="created_by.username", allow_null=True, default=None)
    created_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)

    @extend_schema_field(OpenApiTypes.DOUBLE)
    def get_progress(self, job: ExportJob) -> float:
        if job.status == "done":
            return 1.0
        return min(1.0, job.items_done / job.items_total) if job.items_total else 0.0

    @extend_schema_field({"type": "string", "nullable": True})
    def get_download_url(self, job: ExportJob) -> str | None:
        return reverse("api-export-download", args=[job.pk]) if job.status == "done" else None


class ExportFormatSerializer(serializers.Serializer):
    name = serializers.CharField()
    label = serializers.CharField()
    description = serializers.CharField()
    extension = serializers.CharField()
    content_type = serializers.CharField()
    celery_queue = serializers.CharField()


class StaffOnly:
    permission_classes = [IsAuthenticated, IsStaffRole]


def _params_refused(error: ExportParamsError) -> serializers.ValidationError:
    field = error.field if error.field in ("format", "name", "params") else f"params.{error.field}"
    return serializers.ValidationError({field: [str(error)]})


class ExportListCreateApi(StaffOnly, APIView):
    pagination_class = api_settings.DEFAULT_PAGINATION_CLASS

    @extend_schema(operation_id="exports_list", summary="Training-data exports, newest first (staff).",
                   description=STAFF_ONLY, responses={200: ExportJobSerializer(many=True), **list_error_responses(401, 403)})
    def get(self, request):
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(selectors.export_job_list(), request, view=self)
        return paginator.get_paginated_response(ExportJobSerializer(page, many=True).data)

    @extend_schema(operation_id="exports_create", request=ExportCreateSerializer,
                   summary="Start a training-data export in the background (staff).",
                   description=f"{STAFF_ONLY} {PARAMS_RULES}",
                   responses={201: ExportJobSerializer, **error_responses(400, 401, 403, examples=PARAMS_EXAMPLES)})
    def post(self, request):
        body = ExportCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        try:
            job = export_job_create(format=data["format"], name=data["name"], params=data["params"],
                                    created_by=request.user)
        except ExportParamsError as error:
            raise _params_refused(error) from error
        return Response(ExportJobSerializer(selectors.export_job_get(job_id=job.pk)).data,
                        status=status.HTTP_201_CREATED)


class ExportDetailApi(StaffOnly, APIView):
    @extend_schema(operation_id="exports_retrieve", summary="One export: status, progress, provenance, report (staff).",
                   description=STAFF_ONLY, responses={200: ExportJobSerializer, **error_responses(
                       401, 403, 404, reasons={404: "No export with this id."})})
    def get(self, request, export_id: int):
        return Response(ExportJobSerializer(get_object_or_404(selectors.export_job_list(), pk=export_id)).data)


class ExportDownloadApi(StaffOnly, APIView):
    @extend_schema(operation_id="exports_download", summary="The finished export's file, streamed (staff).",
                   description=f"{STAFF_ONLY} 409 until the export is done.",
                   responses={(200, "application/octet-stream"): OpenApiResponse(
                       OpenApiTypes.BINARY, description="The file (JSON, JSON lines or text, as its format says)."),
                       **error_responses(401, 403, 404, 409, reasons={404: "No export with this id.",
                                                                      409: NOT_DONE_REASON})})
    def get(self, request, export_id: int):
        job = get_object_or_404(selectors.export_job_list(), pk=export_id)
        try:
            path = export_job_path(job)
        except ExportNotDone as error:
            raise ExportNotReady(str(error)) from error
        content_type = export_formats()[job.format].content_type if job.format in export_formats() else None
        response = FileResponse(open(path, "rb"), as_attachment=True, filename=path.name,
                                content_type=content_type or "application/octet-stream")
        response["X-Content-SHA256"] = job.sha256
        return response


class ExportRebuildApi(StaffOnly, APIView):
    @extend_schema(operation_id="exports_rebuild", request=None,
                   summary="Rebuild an export: a new job with the same parameters and provenance (staff).",
                   description=f"{STAFF_ONLY} The new job reads exactly the labels the first one read, so its file "
                               "has the same sha256.",
                   responses={201: ExportJobSerializer, **error_responses(
                       401, 403, 404, reasons={404: "No export with this id."})})
    def post(self, request, export_id: int):
        job = get_object_or_404(selectors.export_job_list(), pk=export_id)
        rebuilt = export_job_rebuild(job=job, created_by=request.user)
        return Response(ExportJobSerializer(selectors.export_job_get(job_id=rebuilt.pk)).data,
                        status=status.HTTP_201_CREATED)


class ExportFormatListApi(StaffOnly, APIView):
    @extend_schema(operation_id="export_formats_list", summary="The export formats (staff).", description=STAFF_ONLY,
                   responses={200: ExportFormatSerializer(many=True), **error_responses(401, 403)})
    def get(self, request):
        formats = [export_formats()[name] for name in sorted(export_formats())]
        return Response(ExportFormatSerializer(formats, many=True).data)
