"""The labeling REST API: thin views that parse input, call one service or selector, and shape
the output. Service refusals become JSON errors (labeling/api_errors.py) with fitting statuses."""
from __future__ import annotations

from django.contrib.auth import authenticate
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics, status
from rest_framework.authtoken.models import Token
from rest_framework.exceptions import APIException, NotFound
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from labeling import selectors, serializers
from labeling.answer_schemas import AnswerSchemaError
from labeling.models import Queue, Task
from labeling.permissions import CanLabel, IsExpert, IsStaffRole
from labeling.services import queue_engine
from labeling.services.queues import golden_answer_set

BAD_CREDENTIALS = "Unable to sign in with this username and password."
GOLDEN_ANSWER_MISSING = "This task has no golden answer."
IDEMPOTENCY_KEY_HEADER = "Idempotency-Key"
IDEMPOTENCY_KEY_TOO_LONG = "The Idempotency-Key header is longer than 200 characters."

# Which HTTP status and error code each refusal of the queue engine gets.
REFUSALS: dict[type[Exception], tuple[int, str]] = {
    queue_engine.QueueNotOpenToPool: (status.HTTP_403_FORBIDDEN, "queue_not_open"),
    queue_engine.QueueClosed: (status.HTTP_409_CONFLICT, "queue_closed"),
    queue_engine.AssignmentNotFound: (status.HTTP_404_NOT_FOUND, "not_found"),
    queue_engine.AssignmentNotYours: (status.HTTP_403_FORBIDDEN, "not_your_assignment"),
    queue_engine.AssignmentFinished: (status.HTTP_409_CONFLICT, "assignment_finished"),
    queue_engine.LeaseExpired: (status.HTTP_410_GONE, "lease_expired"),
    queue_engine.IdempotencyKeyReused: (status.HTTP_409_CONFLICT, "idempotency_key_reused"),
    # The IETF idempotency-key draft's answer to a key replayed with another payload.
    queue_engine.IdempotencyBodyChanged: (status.HTTP_422_UNPROCESSABLE_ENTITY, "idempotency_body_changed"),
    AnswerSchemaError: (status.HTTP_400_BAD_REQUEST, "answer_invalid"),
}


def refusal(error: Exception) -> APIException:
    status_code, code = REFUSALS[type(error)]
    exception = APIException(detail=str(error), code=code)
    exception.status_code = status_code
    return exception


def _error_responses(*statuses: int) -> dict[int, OpenApiResponse]:
    return {s: OpenApiResponse(description="JSON error: {\"error\": {\"code\", \"message\", \"fields\"?}}") for s in statuses}


class TokenObtainApi(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(request=serializers.TokenRequestSerializer,
                   responses={200: serializers.TokenSerializer, **_error_responses(400)},
                   summary="Exchange a username and password for an API token.")
    def post(self, request):
        credentials = serializers.TokenRequestSerializer(data=request.data)
        credentials.is_valid(raise_exception=True)
        user = authenticate(request=request, **credentials.validated_data)
        if user is None:
            exception = APIException(detail=BAD_CREDENTIALS, code="bad_credentials")
            exception.status_code = status.HTTP_400_BAD_REQUEST
            raise exception
        token, _ = Token.objects.get_or_create(user=user)
        return Response({"token": token.key})


class MeApi(APIView):
    @extend_schema(responses={200: serializers.MeSerializer, **_error_responses(401)}, summary="Who am I.")
    def get(self, request):
        return Response(serializers.MeSerializer(request.user).data)


class QueueListApi(generics.ListAPIView):
    serializer_class = serializers.QueueOpenSerializer

    @extend_schema(summary="Queues open to me, with task counts.")
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        return selectors.queues_open_to(user=self.request.user)


class QueueClaimApi(APIView):
    permission_classes = [IsAuthenticated, CanLabel]

    @extend_schema(request=None,
                   responses={200: serializers.ClaimSerializer,
                              204: OpenApiResponse(description="Nothing is left for you in this queue."),
                              **_error_responses(401, 403, 404, 409)},
                   summary="Claim my next task (or get my live lease back).")
    def post(self, request, queue_id: int):
        queue = get_object_or_404(Queue, pk=queue_id)
        try:
            lease = queue_engine.assignment_claim(queue=queue, labeler=request.user)
        except queue_engine.QueueEngineError as error:
            raise refusal(error) from error
        if lease is None:
            return Response(status=status.HTTP_204_NO_CONTENT)
        return Response(serializers.ClaimSerializer({"assignment": lease}).data)


class AssignmentSubmitApi(APIView):
    permission_classes = [IsAuthenticated, CanLabel]

    @extend_schema(request=serializers.SubmitRequestSerializer,
                   parameters=[OpenApiParameter(IDEMPOTENCY_KEY_HEADER, OpenApiTypes.STR, OpenApiParameter.HEADER,
                                                description="A retry with the same key returns the first result.")],
                   responses={201: serializers.SubmitSerializer,
                              200: OpenApiResponse(serializers.SubmitSerializer, description="Idempotent replay."),
                              **_error_responses(400, 401, 403, 404, 409, 410)},
                   summary="Submit my answer for an assignment.")
    def post(self, request, assignment_id: int):
        body = serializers.SubmitRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        idempotency_key = request.headers.get(IDEMPOTENCY_KEY_HEADER) or None
        if idempotency_key and len(idempotency_key) > 200:
            exception = APIException(detail=IDEMPOTENCY_KEY_TOO_LONG, code="invalid")
            exception.status_code = status.HTTP_400_BAD_REQUEST
            raise exception
        try:
            label, created = queue_engine.label_submit(
                assignment_id=assignment_id, labeler=request.user, answer=body.validated_data["answer"],
                idempotency_key=idempotency_key, time_spent_ms=body.validated_data.get("time_spent_ms"),
            )
        except (queue_engine.QueueEngineError, AnswerSchemaError) as error:
            raise refusal(error) from error
        return Response(serializers.SubmitSerializer({"label": label}).data,
                        status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


class AssignmentSkipApi(APIView):
    permission_classes = [IsAuthenticated, CanLabel]

    @extend_schema(request=None, responses={200: serializers.SkipSerializer, **_error_responses(401, 403, 404, 409)},
                   summary="Skip an assignment; the task is never offered to me again.")
    def post(self, request, assignment_id: int):
        try:
            assignment = queue_engine.assignment_skip(assignment_id=assignment_id, labeler=request.user)
        except queue_engine.QueueEngineError as error:
            raise refusal(error) from error
        return Response(serializers.SkipSerializer(assignment).data)


class MyLabelsApi(generics.ListAPIView):
    serializer_class = serializers.MyLabelSerializer

    @extend_schema(summary="My own labels, newest first.")
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        return selectors.labels_of(labeler=self.request.user)


class QueueTasksApi(generics.ListAPIView):
    """Staff only: a queue's tasks with their golden flags."""

    serializer_class = serializers.StaffTaskSerializer
    permission_classes = [IsAuthenticated, IsStaffRole]

    @extend_schema(summary="A queue's tasks, golden flag included (staff).")
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        return selectors.queue_tasks(queue=get_object_or_404(Queue, pk=self.kwargs["queue_id"]))


class GoldenAnswerApi(APIView):
    """Staff read a task's golden answer; experts (and admins) write it."""

    def get_permissions(self):
        writer = IsExpert if self.request.method == "POST" else IsStaffRole
        return [IsAuthenticated(), writer()]

    @extend_schema(responses={200: serializers.GoldenAnswerSerializer, **_error_responses(401, 403, 404)},
                   summary="A task's golden answer (staff).")
    def get(self, request, task_id: int):
        golden = selectors.golden_answer_of(task=get_object_or_404(Task, pk=task_id))
        if golden is None:
            raise NotFound(GOLDEN_ANSWER_MISSING)
        return Response(serializers.GoldenAnswerSerializer(golden).data)

    @extend_schema(request=serializers.GoldenAnswerRequestSerializer,
                   responses={200: serializers.GoldenAnswerSerializer, **_error_responses(400, 401, 403, 404)},
                   summary="Set a task's golden answer; the task becomes golden (expert).")
    def post(self, request, task_id: int):
        task = get_object_or_404(Task.objects.select_related("queue"), pk=task_id)
        body = serializers.GoldenAnswerRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            golden = golden_answer_set(task=task, expert=request.user, answer=body.validated_data["answer"],
                                       reason=body.validated_data["reason"])
        except AnswerSchemaError as error:
            raise refusal(error) from error
        return Response(serializers.GoldenAnswerSerializer(golden).data)
