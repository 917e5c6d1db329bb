"""The guides REST API and the audit export. Staff (experts, engineers, admins) read; experts and
admins publish. Thin: parse, call a service or a selector, shape the output."""
from __future__ import annotations

import json

from django.core.serializers.json import DjangoJSONEncoder
from django.http import StreamingHttpResponse
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import APIException, NotFound, ValidationError
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from labeling.api_schema import (BlankableTextField, StrictBooleanField, TextField, error_example, error_responses,
                                 request_example)
from labeling.calibration import guide_selectors
from labeling.calibration.audit import AuditAction, audit_events
from labeling.calibration.guides import GUIDE_BODY_EMPTY, GuideError, guide_version_publish
from labeling.models import TaskKind
from labeling.permissions import IsExpert, IsStaffRole

GUIDE_KIND_UNKNOWN = "There is no task kind '{kind}'; the kinds are: {kinds}."
AUDIT_ACTION_UNKNOWN = "'{action}' is not an audit action; choose one of: {actions}."
GUIDE_BODY_MAX = 100_000
AUDIT_ACTIONS = sorted(value for name, value in vars(AuditAction).items() if name.isupper())

TASK_KIND_PATH = OpenApiParameter("task_kind", {"type": "string", "enum": list(TaskKind.values)},
                                  OpenApiParameter.PATH, description="The task kind whose guide this is.")


class GuideRowSerializer(serializers.Serializer):
    task_kind = serializers.CharField()
    label = serializers.CharField()
    title = serializers.CharField(allow_null=True)
    latest_version = serializers.IntegerField(allow_null=True)
    version_count = serializers.IntegerField()


class GuideVersionSerializer(serializers.Serializer):
    version = serializers.IntegerField()
    body = serializers.CharField()
    change_note = serializers.CharField()
    requires_requalification = serializers.BooleanField()
    created_by = serializers.CharField(source="created_by.username", allow_null=True, default=None)
    created_at = serializers.DateTimeField()


class GuidePublishRequestSerializer(serializers.Serializer):
    body = TextField(max_length=GUIDE_BODY_MAX, trim_whitespace=False)
    change_note = BlankableTextField(max_length=2000, required=False, default="")
    requires_requalification = StrictBooleanField(required=False, default=False)


class GuidePreviewRequestSerializer(serializers.Serializer):
    body = BlankableTextField(max_length=GUIDE_BODY_MAX, trim_whitespace=False)


class GuidePreviewSerializer(serializers.Serializer):
    html = serializers.CharField(help_text="The sanitised HTML labelers would see.")


def _kind_or_404(task_kind: str) -> str:
    if task_kind not in TaskKind.values:
        raise NotFound(GUIDE_KIND_UNKNOWN.format(kind=task_kind, kinds=", ".join(TaskKind.values)))
    return task_kind


class GuideListApi(APIView):
    permission_classes = [IsAuthenticated, IsStaffRole]

    @extend_schema(responses={200: GuideRowSerializer(many=True), **error_responses(401, 403)},
                   summary="Guides, one per task kind, with the newest version (staff).")
    def get(self, request):
        rows = [{"task_kind": row.task_kind, "label": row.label, "title": row.guide.title if row.guide else None,
                 "latest_version": row.latest_version, "version_count": row.version_count}
                for row in guide_selectors.guide_rows_by_kind()]
        return Response(GuideRowSerializer(rows, many=True).data)


class GuideVersionsApi(APIView):
    def get_permissions(self):
        writer = IsExpert if self.request.method == "POST" else IsStaffRole
        return [IsAuthenticated(), writer()]

    @extend_schema(parameters=[TASK_KIND_PATH],
                   responses={200: GuideVersionSerializer(many=True), **error_responses(401, 403, 404, reasons={
                       404: "No such task kind."})},
                   summary="A guide's versions with their text, newest first (staff).")
    def get(self, request, task_kind: str):
        versions = guide_selectors.guide_versions(task_kind=_kind_or_404(task_kind))
        return Response(GuideVersionSerializer(versions, many=True).data)

    @extend_schema(parameters=[TASK_KIND_PATH], request={"application/json": GuidePublishRequestSerializer},
                   examples=[request_example("A new version", {
                       "body": "# Relevance at 5\n\n## When in doubt\n\n- Pick the lower grade.",
                       "change_note": "Shorter", "requires_requalification": False})],
                   responses={201: GuideVersionSerializer, **error_responses(400, 401, 403, 404, 413, 415, reasons={
                       404: "No such task kind."}, examples=[error_example(
                           "An empty guide", code="guide_invalid", message=GUIDE_BODY_EMPTY)])},
                   summary="Publish a new version of the kind's guide (expert).",
                   description="Versions are numbered 1, 2, ... With `requires_requalification` labelers pass the "
                               "kind's qualification again before claiming from queues that require it.")
    def post(self, request, task_kind: str):
        task_kind = _kind_or_404(task_kind)
        body = GuidePublishRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            version = guide_version_publish(task_kind=task_kind, published_by=request.user, **body.validated_data)
        except GuideError as error:
            refusal = APIException(detail=str(error), code="guide_invalid")
            refusal.status_code = status.HTTP_400_BAD_REQUEST
            raise refusal from error
        return Response(GuideVersionSerializer(version).data, status=status.HTTP_201_CREATED)


class GuidePreviewApi(APIView):
    permission_classes = [IsAuthenticated, IsStaffRole]

    @extend_schema(request={"application/json": GuidePreviewRequestSerializer},
                   responses={200: GuidePreviewSerializer, **error_responses(400, 401, 403, 413, 415)},
                   summary="Render guide Markdown as labelers would see it (staff).",
                   description="The same renderer as the guide panel: the text is escaped first, links keep only "
                               "http(s) and relative URLs, `![alt](edge-case:<id>)` shows the edge case's image.")
    def post(self, request):
        body = GuidePreviewRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        return Response({"html": guide_selectors.guide_render(body=body.validated_data["body"])})


def _audit_lines(events):
    for event in events.iterator(chunk_size=500):
        yield json.dumps({"id": event.pk, "created_at": event.created_at, "actor": event.actor.username
                          if event.actor else None, "action": event.action, "target_type": event.target_type,
                          "target_id": event.target_id, "details": event.details}, cls=DjangoJSONEncoder) + "\n"


class AuditEventExportApi(APIView):
    permission_classes = [IsAuthenticated, IsStaffRole]

    @extend_schema(parameters=[OpenApiParameter("action", {"type": "string", "enum": AUDIT_ACTIONS},
                                                OpenApiParameter.QUERY, description="Only events of this action.")],
                   responses={(200, "application/x-ndjson"): OpenApiResponse(
                       description="One JSON object per line, newest first: id, created_at, actor, action, "
                                   "target_type, target_id, details."),
                       **error_responses(400, 401, 403, examples=[error_example(
                           "An unknown action", code="invalid", message="The request is invalid; see fields.",
                           fields={"action": [AUDIT_ACTION_UNKNOWN.format(action="x", actions="...")]})])},
                   summary="Export the audit trail as JSON lines (staff).")
    def get(self, request):
        action = request.query_params.get("action")  # given, it must name an action: "" is no filter
        if action is not None and action not in AUDIT_ACTIONS:
            raise ValidationError({"action": [AUDIT_ACTION_UNKNOWN.format(action=action,
                                                                          actions=", ".join(AUDIT_ACTIONS))]})
        response = StreamingHttpResponse(_audit_lines(audit_events(action=action)),
                                         content_type="application/x-ndjson; charset=utf-8")
        response["Content-Disposition"] = 'attachment; filename="audit-events.jsonl"'
        return response
