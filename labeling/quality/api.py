"""The label-quality REST API: exports of labels and golden answers (JSON lines, the format
``manage.py quality_report`` reads), a kind's quality report, and a labeler's own figures. Staff
(experts, engineers, admins) read the exports and reports; a labeler reads only their own figures.
Thin: parse, call a selector, shape the output."""
from __future__ import annotations

from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import NotFound
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from labeling.api_schema import error_responses
from labeling.models import Queue, QualitySnapshot
from labeling.permissions import IsStaffRole
from labeling.quality import selectors
from labeling.quality.dawid_skene import AGGREGATION_METHODS
from labeling.quality.labeler import labeler_quality
from labeling.quality.services import quality_snapshot_is_stale, quality_snapshot_request
from labeling.task_kinds import task_kind_specs

QUEUE_NOT_OF_KIND = "Queue {queue} does not exist or is not a '{kind}' queue."
QUEUE_MISSING = "Queue {queue} does not exist."
KIND_PARAMETER = OpenApiParameter("kind", str, required=True, enum=sorted(task_kind_specs()),
                                  description="The task kind: an export or report holds one kind.")


class KindQuery(serializers.Serializer):
    kind = serializers.ChoiceField(choices=sorted(task_kind_specs()))


class LabelExportQuery(KindQuery):
    queue = serializers.IntegerField(required=False, min_value=1)


def _query(serializer_class, request) -> dict:
    query = serializer_class(data=request.query_params)
    query.is_valid(raise_exception=True)
    return query.validated_data


def _jsonl_response(lines, filename: str) -> StreamingHttpResponse:
    response = StreamingHttpResponse(lines, content_type="application/x-ndjson; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


class QualityLabelExportApi(APIView):
    permission_classes = [IsAuthenticated, IsStaffRole]

    @extend_schema(parameters=[KIND_PARAMETER, OpenApiParameter("queue", {"type": "integer", "minimum": 1},
                                                                description="Only this queue's labels.")],
                   responses={(200, "application/x-ndjson"): OpenApiResponse(
                       description="One JSON object per label: item, kind, queue, task, labeler, pool, pool_kind, "
                                   "pool_cost_per_label, simulated, is_golden, answer, payload, guide_version, "
                                   "category, created_at, time_spent_ms."),
                       **error_responses(400, 401, 403, 404, reasons={
                           400: "No or an unknown kind, or a queue id that is not a positive integer.",
                           404: "No queue of that kind has this id."})},
                   summary="Export labels as JSON lines (staff).",
                   description="The format `manage.py quality_report --labels` reads; experts' and admins' own labels "
                               "are left out, as in the quality dashboard.")
    def get(self, request):
        query = _query(LabelExportQuery, request)
        queue = query.get("queue")
        if queue is not None and not Queue.objects.filter(pk=queue, task_kind=query["kind"]).exists():
            raise NotFound(QUEUE_NOT_OF_KIND.format(queue=queue, kind=query["kind"]))
        lines = selectors.label_export_lines(task_kind=query["kind"], queue_ids=[queue] if queue else None)
        name = f"labels-{query['kind']}" + (f"-queue-{queue}" if queue else "") + ".jsonl"
        return _jsonl_response(lines, name)


class QualityGoldenExportApi(APIView):
    permission_classes = [IsAuthenticated, IsStaffRole]

    @extend_schema(parameters=[KIND_PARAMETER],
                   responses={(200, "application/x-ndjson"): OpenApiResponse(
                       description="One JSON object per golden item: item (as the label export names it), answer."),
                       **error_responses(400, 401, 403, reasons={400: "No or an unknown kind."})},
                   summary="Export a kind's golden answers as JSON lines (staff).",
                   description="The format `manage.py quality_report --golden` reads.")
    def get(self, request):
        kind = _query(KindQuery, request)["kind"]
        return _jsonl_response(selectors.golden_export_lines(task_kind=kind), f"golden-{kind}.jsonl")


class QualityReportApi(APIView):
    permission_classes = [IsAuthenticated, IsStaffRole]

    @extend_schema(parameters=[KIND_PARAMETER],
                   responses={200: OpenApiResponse(OpenApiTypes.OBJECT, description=(
                       "`computed_at`, `n_labels`, `stale` (labels arrived since; a refresh is on its way) and "
                       "`report`: the quality report (docs/QUALITY_FORMATS.md), null before the first computation.")),
                       **error_responses(400, 401, 403, reasons={400: "No or an unknown kind."})},
                   summary="A kind's quality report, as the dashboard shows it (staff).")
    def get(self, request):
        kind = _query(KindQuery, request)["kind"]
        snapshot = QualitySnapshot.objects.filter(task_kind=kind).first()
        stale = quality_snapshot_is_stale(snapshot=snapshot, task_kind=kind)
        if stale:
            quality_snapshot_request(task_kind=kind)
        computed = snapshot is not None and snapshot.computed_at is not None
        return Response({"kind": kind, "computed_at": snapshot.computed_at if computed else None,
                         "n_labels": snapshot.n_labels if computed else 0, "stale": stale,
                         "report": snapshot.report if computed else None})


class AggregatedExportQuery(serializers.Serializer):
    queue = serializers.IntegerField(min_value=1)
    method = serializers.ChoiceField(choices=AGGREGATION_METHODS, required=False)


class QualityAggregatedExportApi(APIView):
    permission_classes = [IsAuthenticated, IsStaffRole]

    @extend_schema(parameters=[OpenApiParameter("queue", {"type": "integer", "minimum": 1}, required=True,
                                                description="The queue whose labels are aggregated."),
                               OpenApiParameter("method", str, enum=list(AGGREGATION_METHODS),
                                                description="Majority vote or Dawid-Skene; by default the queue's "
                                                            "own choice.")],
                   responses={(200, "application/x-ndjson"): OpenApiResponse(
                       description="One JSON object per (item, unit): item, unit, field, value, confidence, "
                                   "n_labels, method."),
                       **error_responses(400, 401, 403, 404, reasons={
                           400: "No queue id, or an unknown method.", 404: "No queue has this id."})},
                   summary="Export a queue's aggregated answers as JSON lines (staff).",
                   description="The labels of the queue (staff labels left out) aggregated per judged unit, by the "
                               "queue's aggregation method unless `method` says otherwise: the same rows "
                               "`manage.py quality_report --aggregate` writes from the queue's label export.")
    def get(self, request):
        query = _query(AggregatedExportQuery, request)
        queue = Queue.objects.filter(pk=query["queue"]).first()
        if queue is None:
            raise NotFound(QUEUE_MISSING.format(queue=query["queue"]))
        method = query.get("method") or queue.aggregation
        return _jsonl_response(selectors.aggregated_export_lines(queue=queue, method=method),
                               f"aggregated-queue-{queue.pk}-{method}.jsonl")


class MyQualityApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(responses={200: OpenApiResponse(OpenApiTypes.OBJECT, description=(
                       "Per kind the caller has labels in: their labels, golden accuracy (with intervals and over "
                       "time), time per label and labels per hour, and the feedback experts gave them.")),
                       **error_responses(401)},
                   summary="My own label quality.",
                   description="Only the caller's own figures: never golden answers or other labelers.")
    def get(self, request):
        return Response(labeler_quality(labeler=request.user))
