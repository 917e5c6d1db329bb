"""The golden REST API: staff (experts, engineers, admins) read golden sets and items; experts and
admins write them. Labelers get 403 on every endpoint here. Thin: parse, call a service or a
selector, shape the output."""
from __future__ import annotations

from django.http import StreamingHttpResponse
from django.shortcuts import get_object_or_404
from django.utils.text import slugify
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import generics, status
from rest_framework.exceptions import APIException, NotFound
from rest_framework.parsers import BaseParser
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from labeling import serializers
from labeling.answer_schemas import AnswerSchemaError
from labeling.api_errors import error_body
from labeling.api_schema import (ANSWER_INVALID_EXAMPLES, RELEVANCE_ANSWER_EXAMPLE, error_example, error_responses,
                                 list_error_responses, request_example)
from labeling.golden import jsonl, selectors
from labeling.golden.services import (GOLDEN_KEY_TOO_LONG, GoldenError, GoldenSetNameTaken, golden_item_from_task,
                                      golden_item_revise, golden_set_create)
from labeling.models import GoldenItem, GoldenSet, Task
from labeling.permissions import IsExpert, IsStaffRole

GOLDEN_ANSWER_MISSING = "This task has no golden answer."
IMPORT_INVALID_CODE = "import_invalid"
IMPORT_MAX_BYTES = 32 * 1024 * 1024


class JsonLinesParser(BaseParser):
    """The raw body of a JSON-lines upload; the import service parses it line by line."""

    media_type = "application/x-ndjson"

    def parse(self, stream, media_type=None, parser_context=None):
        return stream.read(IMPORT_MAX_BYTES + 1) if stream is not None else b""


class PlainTextLinesParser(JsonLinesParser):
    media_type = "text/plain"


def golden_refusal(error: Exception) -> APIException:
    if isinstance(error, GoldenSetNameTaken):
        exception = APIException(detail=str(error), code="golden_set_exists")
        exception.status_code = status.HTTP_409_CONFLICT
        return exception
    exception = APIException(detail=str(error), code="golden_invalid" if isinstance(error, GoldenError)
                             else "answer_invalid")
    exception.status_code = status.HTTP_400_BAD_REQUEST
    return exception


class StaffReadExpertWrite:
    def get_permissions(self):
        writer = IsExpert if self.request.method not in ("GET", "HEAD", "OPTIONS") else IsStaffRole
        return [IsAuthenticated(), writer()]


class GoldenAnswerApi(StaffReadExpertWrite, APIView):
    """A task's golden answer. Writing it on a normal task makes a golden item from the task (the
    task itself never turns golden); on a golden task it revises the item the task serves."""

    @extend_schema(responses={200: serializers.GoldenAnswerSerializer, **error_responses(401, 403, 404, reasons={
                       404: "No such task, or the task has no golden answer."})},
                   summary="A task's golden answer (staff).",
                   description="Experts, engineers and admins; labelers get 403.")
    def get(self, request, task_id: int):
        task = get_object_or_404(Task, pk=task_id)
        item = selectors.golden_item_for_task(task=task)
        if item is None:
            raise NotFound(GOLDEN_ANSWER_MISSING)
        return Response(serializers.GoldenAnswerSerializer({"task_id": task.pk, "item": item}).data)

    @extend_schema(request={"application/json": serializers.GoldenAnswerRequestSerializer},
                   examples=[request_example("A relevance task's golden answer",
                                             {"answer": RELEVANCE_ANSWER_EXAMPLE,
                                              "reason": "Checked against the product pages."})],
                   responses={200: serializers.GoldenAnswerSerializer,
                              **error_responses(400, 401, 403, 404, 413, 415, reasons={404: "No such task."},
                                                examples=ANSWER_INVALID_EXAMPLES)},
                   summary="Make a task golden, or fix its golden answer (expert).",
                   description="Experts and admins. On a normal task: a golden item is made from it, in the "
                               "queue's own golden set, and a golden copy joins the queue; the task and its labels "
                               "are untouched. On a golden task: its item's answer is revised (history kept).")
    def post(self, request, task_id: int):
        task = get_object_or_404(Task.objects.select_related("queue", "golden_item__golden_set"), pk=task_id)
        body = serializers.GoldenAnswerRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            item = golden_item_from_task(task=task, expert=request.user, answer=body.validated_data["answer"],
                                         reason=body.validated_data["reason"])
        except (AnswerSchemaError, GoldenError) as error:
            raise golden_refusal(error) from error
        return Response(serializers.GoldenAnswerSerializer({"task_id": task.pk, "item": item}).data)


class GoldenSetListApi(StaffReadExpertWrite, generics.ListAPIView):
    serializer_class = serializers.GoldenSetSerializer

    def get_queryset(self):
        return selectors.golden_set_list()

    @extend_schema(summary="Golden sets (staff).", responses={200: serializers.GoldenSetSerializer(many=True),
                                                              **list_error_responses(401, 403)})
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(request={"application/json": serializers.GoldenSetRequestSerializer},
                   responses={201: serializers.GoldenSetSerializer, **error_responses(400, 401, 403, 409, 413, 415, reasons={
                       409: "A golden set with this name exists already."})},
                   summary="Create a golden set (expert).")
    def post(self, request):
        body = serializers.GoldenSetRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            golden_set = golden_set_create(**body.validated_data, created_by=request.user)
        except (AnswerSchemaError, GoldenError) as error:
            raise golden_refusal(error) from error
        return Response(serializers.GoldenSetSerializer(selectors.golden_set_list().get(pk=golden_set.pk)).data,
                        status=status.HTTP_201_CREATED)


class GoldenSetItemsApi(StaffReadExpertWrite, generics.ListAPIView):
    serializer_class = serializers.GoldenItemSerializer

    def get_queryset(self):
        return selectors.golden_items_of(golden_set=get_object_or_404(GoldenSet, pk=self.kwargs["set_id"]))

    @extend_schema(summary="A golden set's items, answers included (staff).",
                   responses={200: serializers.GoldenItemSerializer(many=True),
                              **list_error_responses(401, 403, not_found="No such golden set, or no such page.")})
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


class GoldenSetExportApi(StaffReadExpertWrite, APIView):
    @extend_schema(responses={(200, "application/x-ndjson"): OpenApiResponse(
                       description="One JSON object per line: key, payload, answer, reason, source, expert, revision."),
                       **error_responses(401, 403, 404, reasons={404: "No such golden set."})},
                   summary="Export a golden set as JSON lines (staff).")
    def get(self, request, set_id: int):
        golden_set = get_object_or_404(GoldenSet, pk=set_id)
        response = StreamingHttpResponse(jsonl.golden_set_export_lines(golden_set=golden_set),
                                         content_type="application/x-ndjson; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="golden-{slugify(golden_set.name) or golden_set.pk}.jsonl"'
        return response


class GoldenSetImportApi(APIView):
    permission_classes = [IsAuthenticated, IsExpert]
    parser_classes = [JsonLinesParser, PlainTextLinesParser]

    @extend_schema(request={"application/x-ndjson": {"type": "string", "format": "binary"}},
                   responses={200: serializers.GoldenImportResultSerializer,
                              **error_responses(400, 401, 403, 404, 413, 415, reasons={
                                  400: "Some lines are refused (`fields.lines` says what is wrong on each, by line "
                                       "number), or the file holds no item; nothing is stored.",
                                  404: "No such golden set."}, examples=[error_example(
                                      "A line that is not an item", code=IMPORT_INVALID_CODE,
                                      message="1 of 3 lines are refused; nothing was imported.",
                                      fields={"lines": [jsonl.IMPORT_LINE_MISSING.format(line=2, key="answer")]}),
                                      error_example("A key too long", code="golden_invalid",
                                                    message=GOLDEN_KEY_TOO_LONG)])},
                   summary="Import JSON lines into a golden set, all or nothing (expert).",
                   description="Each line: `payload`, `answer`, optional `key` (a line whose key is in the set "
                               "revises that item) and `reason`. Checked against the set's kind before anything is "
                               "stored.")
    def post(self, request, set_id: int):
        golden_set = get_object_or_404(GoldenSet, pk=set_id)
        data = request.data if isinstance(request.data, bytes) else b""
        if len(data) > IMPORT_MAX_BYTES:
            exception = APIException(detail=f"An import holds at most {IMPORT_MAX_BYTES} bytes.", code="too_large")
            exception.status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
            raise exception
        try:
            created, revised, unchanged = jsonl.golden_set_import(golden_set=golden_set, data=data,
                                                                  imported_by=request.user)
        except jsonl.GoldenImportError as error:
            # Each refused line's message names its line; they come back together under "lines".
            fields = {"lines": list(error.errors.values())} if error.errors else None
            return Response(error_body(code=IMPORT_INVALID_CODE, message=str(error), fields=fields),
                            status=status.HTTP_400_BAD_REQUEST)
        except (AnswerSchemaError, GoldenError) as error:
            raise golden_refusal(error) from error
        return Response(serializers.GoldenImportResultSerializer(
            {"created": created, "revised": revised, "unchanged": unchanged}).data)


class GoldenItemApi(StaffReadExpertWrite, APIView):
    @extend_schema(responses={200: serializers.GoldenItemDetailSerializer,
                              **error_responses(401, 403, 404, reasons={404: "No such golden item."})},
                   summary="A golden item with its history (staff).")
    def get(self, request, item_id: int):
        item = get_object_or_404(GoldenItem.objects.select_related("expert", "golden_set")
                                 .prefetch_related("revisions__expert"), pk=item_id)
        return Response(serializers.GoldenItemDetailSerializer(item).data)

    @extend_schema(request={"application/json": serializers.GoldenItemReviseSerializer},
                   responses={200: serializers.GoldenItemDetailSerializer,
                              **error_responses(400, 401, 403, 404, 413, 415, reasons={404: "No such golden item."},
                                                examples=ANSWER_INVALID_EXAMPLES)},
                   summary="Fix a golden item's answer (expert); the old answer stays in its history.")
    def put(self, request, item_id: int):
        item = get_object_or_404(GoldenItem.objects.select_related("golden_set"), pk=item_id)
        body = serializers.GoldenItemReviseSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            item = golden_item_revise(item=item, expert=request.user, answer=body.validated_data["answer"],
                                      reason=body.validated_data.get("reason"))
        except (AnswerSchemaError, GoldenError) as error:
            raise golden_refusal(error) from error
        item = GoldenItem.objects.select_related("expert", "golden_set").prefetch_related("revisions__expert").get(
            pk=item.pk)
        return Response(serializers.GoldenItemDetailSerializer(item).data)
