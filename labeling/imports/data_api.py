"""The catalogue and COCO import API: staff (experts, engineers, admins) upload a file and follow the
import's progress; labelers get 403 everywhere here. Thin: parse, call a service or a selector,
shape the output (labeling/imports/IMPORTS.md)."""
from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import APIView

from labeling.api_schema import PAGE_EXAMPLES, TextField, error_example, error_responses, field_error_example
from labeling.imports import selectors
from labeling.imports.api import FORM_OVERHEAD_BYTES, STAFF_ONLY, PairFileTooLarge, StaffOnly
from labeling.imports.catalogue import FORMAT_UNKNOWN, FORMATS
from labeling.imports.data_jobs import (COCO_TARGETS, DATA_FILE_MAX_BYTES, FILE_EMPTY, FILE_TOO_LARGE,
                                        GOLDEN_SET_REQUIRED, KIND_UNKNOWN, QUEUE_REQUIRED, TARGET_INVALID,
                                        DataImportError, data_import_create)
from labeling.imports.stl_pairs import (IMAGE_SOURCE_MAX_LENGTH, IMAGE_SOURCE_MISSING, IMAGE_SOURCE_OUTSIDE,
                                        NAME_INVALID, NAME_MAX_LENGTH, WORLD_SOURCE)
from labeling.models import DataImport, DataImportKind

UPLOAD_RULES = (
    "Multipart form: `kind` (`catalogue` or `coco_detection`), `name`, `file`, `image_source` (`world` for the "
    "synthetic world's ids, or a folder under the server's PAIR_IMAGE_ROOT holding `<id>.jpg` or `<id>.png`). "
    "A catalogue is CSV (a header row naming `id, image, category, gender, price, merchant` and optionally "
    "`merchant_provided_category`) or JSON lines (`format`, guessed from the file name when left out). A COCO "
    "detection JSON needs `target`: `tasks` with `queue` (a bounding-box queue: one task per image, its boxes as "
    "proposals) or `golden` with `golden_set` (a bounding-box set: the boxes are the answer); `skip_unmapped=true` "
    "leaves out the boxes of categories that map onto no taxonomy category instead of refusing the file. The "
    "answer is the job: its rows are checked in the background (follow `lines_done` on "
    "GET /api/v1/data-imports/{id}); everything is stored together once no row is refused, and nothing otherwise "
    "(`errors` lists each refused row with its line and, for COCO, its entry).")
UPLOAD_EXAMPLES = [
    field_error_example("Image folder outside PAIR_IMAGE_ROOT", field="image_source",
                        message=IMAGE_SOURCE_OUTSIDE.format(source="../elsewhere")),
    field_error_example("No such image folder", field="image_source",
                        message=IMAGE_SOURCE_MISSING.format(source="shop")),
    field_error_example("COCO target missing", field="target", message=TARGET_INVALID),
    field_error_example("COCO queue missing", field="queue", message=QUEUE_REQUIRED),
    field_error_example("COCO golden set missing", field="golden_set", message=GOLDEN_SET_REQUIRED),
    field_error_example("File not readable as its format", field="file", message=FILE_EMPTY),
    field_error_example("Catalogue format unknown", field="format", message=FORMAT_UNKNOWN.format(format="xls")),
    field_error_example("Kind unknown", field="kind", message=KIND_UNKNOWN.format(kind="music")),
    field_error_example("Name empty", field="name", message=NAME_INVALID),
    field_error_example("Flag not a boolean", field="skip_unmapped", message="Must be a valid boolean."),
    error_example("File too large", code="file_too_large", status=413,
                  message=FILE_TOO_LARGE.format(limit=DATA_FILE_MAX_BYTES)),
]


class DataImportUploadSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=DataImportKind.choices)
    name = TextField(max_length=NAME_MAX_LENGTH)
    file = serializers.FileField(help_text="The catalogue (CSV or JSON lines) or the COCO detection JSON.")
    image_source = TextField(max_length=IMAGE_SOURCE_MAX_LENGTH,
                             help_text=f"`{WORLD_SOURCE}`, or a folder name under PAIR_IMAGE_ROOT.")
    format = serializers.ChoiceField(choices=FORMATS, required=False, help_text="Catalogue only: csv or jsonl.")
    target = serializers.ChoiceField(choices=COCO_TARGETS, required=False, help_text="COCO only: tasks or golden.")
    queue = serializers.IntegerField(required=False, min_value=1, max_value=2**31 - 1,
                                     help_text="COCO tasks: the bounding-box queue's id.")
    golden_set = serializers.IntegerField(required=False, min_value=1, max_value=2**31 - 1,
                                          help_text="COCO golden: the bounding-box golden set's id.")
    skip_unmapped = serializers.BooleanField(required=False, default=False,
                                             help_text="COCO: leave out boxes of unmapped categories.")

    def validate_file(self, value):
        if value.size > DATA_FILE_MAX_BYTES:
            raise PairFileTooLarge(FILE_TOO_LARGE.format(limit=DATA_FILE_MAX_BYTES))
        return value


class DataImportRowErrorSerializer(serializers.Serializer):
    line = serializers.IntegerField(help_text="The row's line in the file (1 is the first line).")
    item = serializers.CharField(required=False, help_text="COCO: the entry, e.g. annotations[12].")
    message = serializers.CharField()


class DataImportSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.CharField(help_text="catalogue or coco_detection.")
    kind_display = serializers.CharField(source="get_kind_display")
    name = serializers.CharField()
    options = serializers.JSONField(help_text="The checked choices: image_source, file_format or target, "
                                              "queue_id / golden_set_id, skip_unmapped.")
    status = serializers.CharField(help_text="pending, running, done or failed.")
    status_display = serializers.CharField(source="get_status_display")
    lines_total = serializers.IntegerField(help_text="Rows of a catalogue, images of a COCO file.")
    lines_done = serializers.IntegerField(help_text="Rows (images) checked so far.")
    progress = serializers.SerializerMethodField(help_text="lines_done / lines_total, from 0 to 1.")
    result = serializers.JSONField(help_text="Once done, what was stored: products created / updated / unchanged, "
                                             "or images, boxes, tasks or golden items, and the unmapped categories.")
    errors = DataImportRowErrorSerializer(many=True, help_text="The refused rows (the first 200), by line.")
    error = serializers.CharField(help_text="Why the import failed, in one sentence; empty otherwise.")
    created_by = serializers.CharField(source="created_by.username", allow_null=True, default=None)
    created_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)

    @extend_schema_field(OpenApiTypes.DOUBLE)
    def get_progress(self, job: DataImport) -> float:
        return job.lines_done / job.lines_total if job.lines_total else 0.0


class DataImportListCreateApi(StaffOnly, APIView):
    parser_classes = [MultiPartParser]
    pagination_class = api_settings.DEFAULT_PAGINATION_CLASS

    @extend_schema(operation_id="data_imports_list", summary="Catalogue and COCO imports, newest first (staff).",
                   description=STAFF_ONLY,
                   parameters=[OpenApiParameter("kind", str, enum=DataImportKind.values,
                                                description="Only imports of this kind.")],
                   responses={200: DataImportSerializer(many=True),
                              **error_responses(400, 401, 403, 404, examples=[*PAGE_EXAMPLES, field_error_example(
                                  "Kind unknown", field="kind", message=KIND_UNKNOWN.format(kind="music"))])})
    def get(self, request):
        kind = request.query_params.get("kind")
        if kind is not None and kind not in DataImportKind.values:
            raise serializers.ValidationError({"kind": [KIND_UNKNOWN.format(kind=kind[:40])]})
        paginator = self.pagination_class()
        imports = selectors.data_import_list(kind=kind if kind in DataImportKind.values else None)
        page = paginator.paginate_queryset(imports, request, view=self)
        return paginator.get_paginated_response(DataImportSerializer(page, many=True).data)

    @extend_schema(operation_id="data_imports_create", request={"multipart/form-data": DataImportUploadSerializer},
                   summary="Import a product catalogue or a COCO detection file (staff).",
                   description=f"{STAFF_ONLY} {UPLOAD_RULES}",
                   responses={201: DataImportSerializer,
                              **error_responses(400, 401, 403, 413, 415, examples=UPLOAD_EXAMPLES)})
    def post(self, request):
        declared = str(request.META.get("CONTENT_LENGTH") or "")
        if declared.isdigit() and int(declared) > DATA_FILE_MAX_BYTES + FORM_OVERHEAD_BYTES:
            raise PairFileTooLarge(FILE_TOO_LARGE.format(limit=DATA_FILE_MAX_BYTES))
        body = DataImportUploadSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        options = {key: data[key] for key in ("image_source", "format", "target", "queue", "golden_set",
                                              "skip_unmapped") if key in data}
        upload = data["file"]
        try:
            job = data_import_create(kind=data["kind"], name=data["name"], data=upload.read(),
                                     file_name=upload.name or "", options=options, created_by=request.user)
        except DataImportError as error:
            raise serializers.ValidationError({error.field or "non_field_errors": [str(error)]}) from error
        return Response(DataImportSerializer(selectors.data_import_get(job_id=job.pk)).data,
                        status=status.HTTP_201_CREATED)


class DataImportDetailApi(StaffOnly, APIView):
    @extend_schema(operation_id="data_imports_retrieve",
                   summary="One catalogue or COCO import with its progress, result and refused rows (staff).",
                   description=STAFF_ONLY,
                   responses={200: DataImportSerializer,
                              **error_responses(401, 403, 404, reasons={404: "No data import with this id."})})
    def get(self, request, data_import_id: int):
        job = get_object_or_404(selectors.data_import_list(), pk=data_import_id)
        return Response(DataImportSerializer(job).data)
