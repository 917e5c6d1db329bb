"""Engineer-facing API of the evaluation loop: model versions, scene sets, evaluation runs.

Reads are open to staff roles (experts, engineers, admins); writes to engineers and admins.
Labelers get 403 everywhere here: these views show model outputs and aggregate results that
would bias their judgements.
"""
from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import APIView

from evaluation import selectors, services
from evaluation.serializers import (
    EvalRunCreateSerializer,
    EvalRunDetailOutputSerializer,
    EvalRunOutputSerializer,
    ModelVersionOutputSerializer,
    ModelVersionUploadSerializer,
    SceneSetOutputSerializer,
)
from labeling.permissions import IsEngineer, IsStaffRole


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

    @extend_schema(operation_id="eval_runs_list", responses=EvalRunOutputSerializer(many=True))
    def get(self, request):
        return self.paginated(selectors.eval_run_list(), EvalRunOutputSerializer)

    @extend_schema(operation_id="eval_runs_create", request=EvalRunCreateSerializer,
                   responses={201: EvalRunOutputSerializer, 400: OpenApiResponse(description="invalid values")})
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
    @extend_schema(operation_id="eval_runs_retrieve", responses=EvalRunDetailOutputSerializer)
    def get(self, request, run_id: int):
        run = get_object_or_404(selectors.eval_run_list(), pk=run_id)
        context = {"metrics": selectors.eval_run_metrics(run=run), "comparison": selectors.eval_run_comparison(run=run)}
        return Response(EvalRunDetailOutputSerializer(run, context=context).data)


class ModelVersionListCreateApi(StaffReadEngineerWriteApi):
    parser_classes = [MultiPartParser, FormParser, JSONParser]

    @extend_schema(operation_id="model_versions_list", responses=ModelVersionOutputSerializer(many=True))
    def get(self, request):
        return self.paginated(selectors.model_version_list(), ModelVersionOutputSerializer)

    @extend_schema(operation_id="model_versions_create", request={"multipart/form-data": ModelVersionUploadSerializer},
                   responses={201: ModelVersionOutputSerializer, 400: OpenApiResponse(description="invalid upload")})
    def post(self, request):
        payload = ModelVersionUploadSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        try:
            version = services.model_version_register(
                kind=data["kind"], name=data["name"], version_tag=data["version_tag"],
                checkpoint_file=data["checkpoint"], config=data["config"], notes=data["notes"],
                created_by=request.user)
        except services.ModelVersionError as error:
            raise _service_error(error) from error
        return Response(ModelVersionOutputSerializer(version).data, status=status.HTTP_201_CREATED)


class SceneSetListApi(StaffReadEngineerWriteApi):

    @extend_schema(operation_id="scene_sets_list", responses=SceneSetOutputSerializer(many=True))
    def get(self, request):
        return self.paginated(selectors.scene_set_list(), SceneSetOutputSerializer)
