"""The creator-pair import API: staff (experts, engineers, admins) upload a Shop The Look pair file
and follow the import's progress; labelers get 403 everywhere here. Thin: parse, call a service or a
selector, shape the output."""
from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.exceptions import APIException
from rest_framework.parsers import MultiPartParser
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import APIView

from labeling.api_schema import TextField, error_example, error_responses, field_error_example, list_error_responses
from labeling.imports import selectors
from labeling.imports.stl_pairs import (CATEGORIES_INVALID, CATEGORIES_MAX_BYTES, CATEGORIES_TOO_LARGE, FILE_NOT_UTF8,
                                        FILE_TOO_LARGE, IMAGE_SOURCE_MAX_LENGTH, IMAGE_SOURCE_MISSING,
                                        IMAGE_SOURCE_OUTSIDE, NAME_MAX_LENGTH, PAIR_FILE_MAX_BYTES, WORLD_SOURCE,
                                        PairImportError, pair_import_create)
from labeling.models import PairImport, PairImportStatus
from labeling.permissions import IsStaffRole

STAFF_ONLY = "Experts, engineers and admins; labelers get 403."
FORM_OVERHEAD_BYTES = 1024 * 1024
FILE_EMPTY_FIELD = "The submitted file is empty."  # DRF's FileField message
UPLOAD_RULES = (
    "Multipart form: `file` (JSON lines, one `{\"product\", \"scene\", \"bbox\": [left, top, right, bottom]}` per "
    "line, the box normalised to [0, 1]), `name`, `image_source` (`world` for the synthetic world's ids, or the "
    "name of a folder under the server's PAIR_IMAGE_ROOT holding `<id>.jpg` or `<id>.png`) and optionally "
    "`categories` (a JSON object mapping product ids to Google Product Taxonomy paths). The answer is the job: "
    "its lines are checked in the background (follow `lines_done` on GET /api/v1/pair-imports/{id}); the pairs "
    "are stored all together once no line is refused, and none of them otherwise (`errors` lists each refused "
    "line with its number). A folder outside PAIR_IMAGE_ROOT or missing, a file that is not UTF-8 text or holds "
    "no line, and a category file that is not such an object are refused at once with 400 naming the field.")
UPLOAD_EXAMPLES = [
    field_error_example("Image folder outside PAIR_IMAGE_ROOT", field="image_source",
                        message=IMAGE_SOURCE_OUTSIDE.format(source="../elsewhere")),
    field_error_example("No such image folder", field="image_source",
                        message=IMAGE_SOURCE_MISSING.format(source="stl-fashion")),
    field_error_example("Pair file not text", field="file", message=FILE_NOT_UTF8),
    field_error_example("Pair file empty", field="file", message=FILE_EMPTY_FIELD),
    field_error_example("Category file not an object", field="categories", message=CATEGORIES_INVALID),
    field_error_example("Category file empty", field="categories", message=FILE_EMPTY_FIELD),
    error_example("Pair file too large", code="file_too_large", status=413,
                  message=FILE_TOO_LARGE.format(limit=PAIR_FILE_MAX_BYTES)),
]


class PairFileTooLarge(APIException):
    """413, not 400: the upload is refused for its size alone."""

    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "file_too_large"


class PairImportUploadSerializer(serializers.Serializer):
    file = serializers.FileField(help_text="The pairs: JSON lines in the Shop The Look format.")
    name = TextField(max_length=NAME_MAX_LENGTH)
    image_source = TextField(max_length=IMAGE_SOURCE_MAX_LENGTH,
                             help_text=f"`{WORLD_SOURCE}`, or a folder name under PAIR_IMAGE_ROOT.")
    categories = serializers.FileField(required=False,
                                       help_text="Optional: a JSON object, product id -> taxonomy path.")

    def validate_file(self, value):
        if value.size > PAIR_FILE_MAX_BYTES:
            raise PairFileTooLarge(FILE_TOO_LARGE.format(limit=PAIR_FILE_MAX_BYTES))
        return value

    def validate_categories(self, value):
        if value.size > CATEGORIES_MAX_BYTES:
            raise PairFileTooLarge(CATEGORIES_TOO_LARGE.format(limit=CATEGORIES_MAX_BYTES))
        return value


class PairImportLineErrorSerializer(serializers.Serializer):
    line = serializers.IntegerField(help_text="The line's number in the file (1 is the first line).")
    message = serializers.CharField()


class PairImportSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    image_source = serializers.CharField()
    # Plain text, as the box queue job's: a second enum named after "status" would rename the
    # evaluation runs' enum component.
    status = serializers.CharField(help_text="pending, running, done or failed.")
    status_display = serializers.CharField(source="get_status_display")
    lines_total = serializers.IntegerField(help_text="Pairs in the file (its non-blank lines).")
    lines_done = serializers.IntegerField(help_text="Lines checked so far.")
    progress = serializers.SerializerMethodField(help_text="lines_done / lines_total, from 0 to 1.")
    pairs_created = serializers.IntegerField(help_text="Pairs this import stored.")
    pairs_existing = serializers.SerializerMethodField(
        help_text="Once done: the file's pairs that were stored already (by an earlier import), so not created.")
    errors = PairImportLineErrorSerializer(many=True, help_text="The refused lines (the first 200), by line number.")
    error = serializers.CharField(help_text="Why the import failed, in one sentence; empty otherwise.")
    created_by = serializers.CharField(source="created_by.username", allow_null=True, default=None)
    created_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)

    @extend_schema_field(OpenApiTypes.DOUBLE)
    def get_progress(self, job: PairImport) -> float:
        return job.lines_done / job.lines_total if job.lines_total else 0.0

    @extend_schema_field({"type": "integer", "nullable": True})
    def get_pairs_existing(self, job: PairImport) -> int | None:
        if job.status != PairImportStatus.DONE:
            return None
        return job.lines_total - job.pairs_created


class StaffOnly:
    permission_classes = [IsAuthenticated, IsStaffRole]


class PairImportListCreateApi(StaffOnly, APIView):
    parser_classes = [MultiPartParser]
    pagination_class = api_settings.DEFAULT_PAGINATION_CLASS

    @extend_schema(operation_id="pair_imports_list", summary="Creator-pair imports, newest first (staff).",
                   description=STAFF_ONLY,
                   responses={200: PairImportSerializer(many=True), **list_error_responses(401, 403)})
    def get(self, request):
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(selectors.pair_import_list(), request, view=self)
        return paginator.get_paginated_response(PairImportSerializer(page, many=True).data)

    @extend_schema(operation_id="pair_imports_create", request={"multipart/form-data": PairImportUploadSerializer},
                   summary="Import creator-annotated pairs in the Shop The Look format (staff).",
                   description=f"{STAFF_ONLY} {UPLOAD_RULES}",
                   responses={201: PairImportSerializer,
                              **error_responses(400, 401, 403, 413, 415, examples=UPLOAD_EXAMPLES)})
    def post(self, request):
        # Refuse an oversized body from its declared length, before the parser spools it to disk.
        declared = str(request.META.get("CONTENT_LENGTH") or "")
        if declared.isdigit() and int(declared) > PAIR_FILE_MAX_BYTES + CATEGORIES_MAX_BYTES + FORM_OVERHEAD_BYTES:
            raise PairFileTooLarge(FILE_TOO_LARGE.format(limit=PAIR_FILE_MAX_BYTES))
        body = PairImportUploadSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        categories = data.get("categories")
        try:
            job = pair_import_create(name=data["name"], data=data["file"].read(), image_source=data["image_source"],
                                     categories=categories.read() if categories is not None else None,
                                     created_by=request.user)
        except PairImportError as error:
            raise serializers.ValidationError({error.field or "non_field_errors": [str(error)]}) from error
        return Response(PairImportSerializer(selectors.pair_import_get(job_id=job.pk)).data,
                        status=status.HTTP_201_CREATED)


class PairImportDetailApi(StaffOnly, APIView):
    @extend_schema(operation_id="pair_imports_retrieve",
                   summary="One creator-pair import with its progress and refused lines (staff).",
                   description=STAFF_ONLY,
                   responses={200: PairImportSerializer,
                              **error_responses(401, 403, 404, reasons={404: "No pair import with this id."})})
    def get(self, request, import_id: int):
        job = get_object_or_404(selectors.pair_import_list(), pk=import_id)
        return Response(PairImportSerializer(job).data)
