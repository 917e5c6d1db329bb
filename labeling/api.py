"""The labeling REST API: thin views that parse input, call one service or selector, and shape
the output. Service refusals become JSON errors (labeling/api_errors.py) with fitting statuses."""
from __future__ import annotations

from django.http import Http404
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics, status
from rest_framework.exceptions import APIException
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from labeling import selectors, serializers
from labeling.answer_schemas import AnswerSchemaError
from labeling.api_schema import (ANSWER_INVALID_EXAMPLES, RELEVANCE_ANSWER_EXAMPLE, RETRY_AFTER, error_example,
                                 error_responses, list_error_responses, request_example)
from labeling.authentication import ApiTokenAuthentication
from labeling.models import Queue
from labeling.permissions import CanLabel, IsStaffRole
from labeling.services import queue_engine, signin, tokens

BAD_CREDENTIALS = "Unable to sign in with this username and password."
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
    # Qualification and re-calibration (labeling/calibration/CALIBRATION_qualification.md): the message
    # says why and names the qualification page.
    queue_engine.QualificationRequired: (status.HTTP_403_FORBIDDEN, "qualification_required"),
    queue_engine.LabelerFlagged: (status.HTTP_403_FORBIDDEN, "labeler_flagged"),
}


REFUSAL_UNMAPPED = "refusal() got a {name}, which is not a refusal of the queue engine or an answer schema."


def refusal(error: Exception) -> APIException:
    """The API error for a service's refusal, found by class hierarchy: the most specific entry of
    REFUSALS the error's class derives from, so a new subclass (a new kind's answer error, say) gets
    its parent's status instead of a 500."""
    for klass in type(error).__mro__:
        if klass in REFUSALS:
            status_code, code = REFUSALS[klass]
            break
    else:
        raise TypeError(REFUSAL_UNMAPPED.format(name=type(error).__name__)) from error
    exception = APIException(detail=str(error), code=code)
    exception.status_code = status_code
    return exception


def claim_refusal_body(label) -> dict | None:
    """The ``next_refusal`` of a submit-and-claim: why claim handed out no next task, if it refused."""
    error = getattr(label, "claim_refusal", None)
    if error is None:
        return None
    exception = refusal(error)
    return {"code": exception.detail.code, "message": str(exception.detail)}


def signin_throttled(error: signin.SignInThrottled) -> APIException:
    """429 with Retry-After (DRF's handler sends ``wait`` as that header)."""
    exception = APIException(detail=str(error), code="signin_locked_out" if error.locked_out else "signin_slowed_down")
    exception.status_code = status.HTTP_429_TOO_MANY_REQUESTS
    exception.wait = error.retry_after
    return exception


def request_client_address(request) -> str:
    return signin.signin_client_address(remote_addr=request.META.get("REMOTE_ADDR"),
                                        forwarded_for=request.META.get("HTTP_X_FORWARDED_FOR"))


class TokenObtainApi(APIView):
    """POST signs in (no authentication, throttled); DELETE signs the token it carries out."""

    def get_authenticators(self):
        # Only a token can sign itself out; a POST carries no credentials but the body's.
        # drf-spectacular builds its mock request before it sets view.request (None until then).
        return [ApiTokenAuthentication()] if getattr(self.request, "method", None) == "DELETE" else []

    def get_permissions(self):
        return [IsAuthenticated()] if self.request.method == "DELETE" else [AllowAny()]

    @extend_schema(request=serializers.TokenRequestSerializer, parameters=[RETRY_AFTER],
                   responses={200: serializers.TokenSerializer,
                              **error_responses(400, 413, 415, 429, reasons={
                                  400: "A blank user name or password, or a pair that matches no active account "
                                       "(`bad_credentials`: the message does not say which)."}, examples=[
                                  error_example("Wrong user name or password", code="bad_credentials",
                                                message=BAD_CREDENTIALS),
                                  error_example("Locked out", status=429, code="signin_locked_out",
                                                message=signin.SIGNIN_LOCKED_OUT.format(wait="15 minutes")),
                              ])},
                   summary="Exchange a username and password for an API token.",
                   description="Each call issues a new token, valid until `expires_at` or until revoked. "
                               "A password, role or pool change revokes every token of the user.")
    def post(self, request):
        credentials = serializers.TokenRequestSerializer(data=request.data)
        credentials.is_valid(raise_exception=True)
        try:
            user = signin.signin_attempt(**credentials.validated_data, client_address=request_client_address(request),
                                         request=request)
        except signin.SignInThrottled as error:
            raise signin_throttled(error) from error
        except signin.SignInFailed:
            exception = APIException(detail=BAD_CREDENTIALS, code="bad_credentials")
            exception.status_code = status.HTTP_400_BAD_REQUEST
            raise exception from None
        key, token = tokens.api_token_issue(user=user)
        return Response(serializers.TokenSerializer({"token": key, "expires_at": token.expires_at}).data)

    @extend_schema(request=None,
                   responses={204: OpenApiResponse(description="The token is revoked."), **error_responses(401)},
                   summary="Sign out: revoke the API token this request carries.")
    def delete(self, request):
        tokens.api_token_revoke(token=request.auth)
        return Response(status=status.HTTP_204_NO_CONTENT)


class TokenRevokeAllApi(APIView):
    @extend_schema(request=None,
                   responses={200: serializers.TokensRevokedSerializer, **error_responses(401, 403)},
                   summary="Sign out everywhere: revoke every API token of mine.")
    def post(self, request):
        revoked = tokens.api_tokens_revoke_all(user=request.user)
        return Response(serializers.TokensRevokedSerializer({"revoked": revoked}).data)


class MeApi(APIView):
    @extend_schema(responses={200: serializers.MeSerializer, **error_responses(401)}, summary="Who am I.")
    def get(self, request):
        return Response(serializers.MeSerializer(request.user).data)


class QueueListApi(generics.ListAPIView):
    serializer_class = serializers.QueueOpenSerializer

    @extend_schema(summary="Queues open to me, with task counts.",
                   responses={200: serializers.QueueOpenSerializer(many=True), **list_error_responses(401)})
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        return selectors.queues_open_to(user=self.request.user)


class QueueClaimApi(APIView):
    permission_classes = [IsAuthenticated, CanLabel]

    @extend_schema(request=None,
                   responses={200: serializers.ClaimSerializer,
                              204: OpenApiResponse(description="Nothing is left for you in this queue."),
                              **error_responses(401, 403, 404, 409, reasons={
                                  403: "Your role does not label (engineers), the queue is not open to your pool, "
                                       "the queue requires a qualification you have not passed "
                                       "(`qualification_required`), you are flagged for low golden accuracy on "
                                       "the kind (`labeler_flagged`), or a session without a valid CSRF token.",
                                  404: "No such queue.", 409: "The queue is closed."})},
                   summary="Claim my next task (or get my live lease back).",
                   description="Labelers, experts and admins. Claiming again while holding a live lease in the "
                               "queue returns that lease.")
    def post(self, request, queue_id: int):
        queue = queue_engine.queue_for_claim(queue_id)
        if queue is None:
            raise Http404("No Queue matches the given query.")  # what get_object_or_404 says
        try:
            lease = queue_engine.assignment_claim(queue=queue, labeler=request.user)
        except queue_engine.QueueEngineError as error:
            raise refusal(error) from error
        if lease is None:
            return Response(status=status.HTTP_204_NO_CONTENT)
        return Response(serializers.claim_body(lease))


SUBMIT_EXAMPLES = [request_example("A relevance answer for five candidates",
                                   {"answer": RELEVANCE_ANSWER_EXAMPLE, "time_spent_ms": 8200})]
# What a submit (plain, or with the next claim) can answer besides its label.
SUBMIT_ERRORS = error_responses(
    400, 401, 403, 404, 409, 410, 413, 415, 422,
    reasons={403: "Your role does not label (engineers), the assignment is another labeler's, or a session without a "
                  "valid CSRF token.",
             404: "No such assignment.",
             409: "The assignment was already submitted or skipped, or the Idempotency-Key was used for another "
                  "assignment.",
             422: "The Idempotency-Key was already used with a different body."},
    examples=[*ANSWER_INVALID_EXAMPLES,
              error_example("Body changed under a used key", status=422, code="idempotency_body_changed",
                            message=queue_engine.IDEMPOTENCY_BODY_CHANGED)])


def _submit_arguments(request) -> dict:
    """The answer, time and Idempotency-Key of a submit request (400 when they do not fit)."""
    body = serializers.SubmitRequestSerializer(data=request.data)
    body.is_valid(raise_exception=True)
    idempotency_key = request.headers.get(IDEMPOTENCY_KEY_HEADER) or None
    if idempotency_key and len(idempotency_key) > 200:
        exception = APIException(detail=IDEMPOTENCY_KEY_TOO_LONG, code="invalid")
        exception.status_code = status.HTTP_400_BAD_REQUEST
        raise exception
    return {"answer": body.validated_data["answer"], "idempotency_key": idempotency_key,
            "time_spent_ms": body.validated_data.get("time_spent_ms")}


class AssignmentSubmitApi(APIView):
    permission_classes = [IsAuthenticated, CanLabel]

    # JSON only: an answer is nested JSON, which form encodings cannot carry.
    @extend_schema(request={"application/json": serializers.SubmitRequestSerializer}, examples=SUBMIT_EXAMPLES,
                   parameters=[OpenApiParameter(
                       IDEMPOTENCY_KEY_HEADER, {"type": "string", "maxLength": 200}, OpenApiParameter.HEADER,
                       description="A retry with the same key and the same body returns the first result (200). "
                                   "The key with another assignment is a 409, with another body a 422.")],
                   responses={201: serializers.SubmitSerializer,
                              200: OpenApiResponse(serializers.SubmitSerializer, description="Idempotent replay."),
                              **SUBMIT_ERRORS},
                   summary="Submit my answer for an assignment.",
                   description="The answer is checked against the assignment's task: see `answer`.")
    def post(self, request, assignment_id: int):
        try:
            label, created = queue_engine.label_submit(assignment_id=assignment_id, labeler=request.user,
                                                       **_submit_arguments(request))
        except (queue_engine.QueueEngineError, AnswerSchemaError) as error:
            raise refusal(error) from error
        return Response(serializers.submit_body(label),
                        status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


class AssignmentSubmitAndClaimApi(APIView):
    """Submit and claim the next task in one request: what the web session does after each answer,
    at half the requests of a submit followed by a claim."""

    permission_classes = [IsAuthenticated, CanLabel]

    @extend_schema(request={"application/json": serializers.SubmitRequestSerializer}, examples=SUBMIT_EXAMPLES,
                   parameters=[OpenApiParameter(
                       IDEMPOTENCY_KEY_HEADER, {"type": "string", "maxLength": 200}, OpenApiParameter.HEADER,
                       description="As for submit: a retry with the same key and body returns the first label "
                                   "(200) and the lease the first call handed out.")],
                   responses={201: serializers.SubmitAndClaimSerializer,
                              200: OpenApiResponse(serializers.SubmitAndClaimSerializer, description="Idempotent replay."),
                              **SUBMIT_ERRORS},
                   summary="Submit my answer and claim my next task in the same queue.",
                   description="Exactly a submit followed by a claim: the same checks, errors and idempotency as "
                               "submit; `next` is what claim would return (null when nothing is left).")
    def post(self, request, assignment_id: int):
        try:
            label, created, lease = queue_engine.label_submit_and_claim(
                assignment_id=assignment_id, labeler=request.user, **_submit_arguments(request))
        except (queue_engine.QueueEngineError, AnswerSchemaError) as error:
            raise refusal(error) from error
        return Response(serializers.submit_and_claim_body(label, lease, claim_refusal_body(label)),
                        status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


class AssignmentSkipApi(APIView):
    permission_classes = [IsAuthenticated, CanLabel]

    @extend_schema(request=None,
                   responses={200: serializers.SkipSerializer, **error_responses(401, 403, 404, 409, reasons={
                       403: "Your role does not label (engineers), the assignment is another labeler's, or a "
                            "session without a valid CSRF token.",
                       404: "No such assignment.", 409: "The assignment was already submitted."})},
                   summary="Skip an assignment; the task is never offered to me again.",
                   description="Skipping a skipped assignment again changes nothing.")
    def post(self, request, assignment_id: int):
        try:
            assignment = queue_engine.assignment_skip(assignment_id=assignment_id, labeler=request.user)
        except queue_engine.QueueEngineError as error:
            raise refusal(error) from error
        return Response(serializers.SkipSerializer(assignment).data)


class MyLabelsApi(generics.ListAPIView):
    serializer_class = serializers.MyLabelSerializer

    @extend_schema(summary="My own labels, newest first.",
                   responses={200: serializers.MyLabelSerializer(many=True), **list_error_responses(401)})
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        return selectors.labels_of(labeler=self.request.user)


class QueueTasksApi(generics.ListAPIView):
    """Staff only: a queue's tasks with their golden flags."""

    serializer_class = serializers.StaffTaskSerializer
    permission_classes = [IsAuthenticated, IsStaffRole]

    @extend_schema(summary="A queue's tasks, golden flag included (staff).",
                   description="Experts, engineers and admins; labelers get 403.",
                   responses={200: serializers.StaffTaskSerializer(many=True),
                              **list_error_responses(401, 403, not_found="No such queue, or no such page of its "
                                                                         "tasks.")})
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        return selectors.queue_tasks(queue=get_object_or_404(Queue, pk=self.kwargs["queue_id"]))
