"""The qualification API (a labeler's own attempts), the labeler's feed, and clearing a flag (experts).
Thin: parse, call a service or selector of labeling/calibration/qualification.py, shape the output."""
from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import APIException
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from labeling.answer_schemas import AnswerSchemaError
from labeling.api_schema import ANSWER_RULES, AnswerField, BlankableTextField, StrictIntegerField, error_responses
from labeling.calibration import qualification as service
from labeling.models import Queue, TaskKind, User
from labeling.permissions import CanLabel, IsExpert
from labeling.services.queue_engine import queue_qualify_url
from labeling.task_kinds import task_kind_spec


def qualification_refusal(error: Exception) -> APIException:
    if isinstance(error, AnswerSchemaError):
        exception = APIException(detail=str(error), code="answer_invalid")
        exception.status_code = status.HTTP_400_BAD_REQUEST
        return exception
    exception = APIException(detail=str(error), code=error.code)
    exception.status_code = error.status
    return exception


class QualificationItemSerializer(serializers.Serializer):
    id = serializers.IntegerField(help_text="The golden item's id: send it back with the answer.")
    kind = serializers.CharField()
    payload = serializers.JSONField(help_text="What the item shows; its shape depends on `kind`.")


class QualificationAttemptSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.CharField(help_text="`in_progress`, `passed` or `failed`.")
    n_items = serializers.IntegerField()
    answered = serializers.IntegerField()
    pass_mark = serializers.FloatField()
    score = serializers.FloatField(allow_null=True, help_text="The mean golden score, once finished.")
    guide_version = serializers.IntegerField(allow_null=True, help_text="The guide version number it qualifies for.")
    next_item = QualificationItemSerializer(allow_null=True)


class QualificationStatusSerializer(serializers.Serializer):
    queue = serializers.IntegerField()
    task_kind = serializers.CharField()
    requires_qualification = serializers.BooleanField()
    qualified = serializers.BooleanField(help_text="You passed a qualification valid for the queue's guide version.")
    flagged = serializers.BooleanField(help_text="Your rolling golden accuracy on the kind fell below a threshold.")
    flag_accuracy = serializers.FloatField(allow_null=True)
    flag_threshold = serializers.FloatField(allow_null=True)
    may_claim = serializers.BooleanField()
    qualify_url = serializers.CharField()
    attempt = QualificationAttemptSerializer(allow_null=True, help_text="Your open attempt, else your newest one.")


def _item_data(item, kind: str) -> dict:
    # Qualification is calibration work: never anchored by the model's pre-annotations.
    return {"id": item.pk, "kind": kind,
            "payload": task_kind_spec(kind).payload_for_labeler(payload=item.payload, show_preannotations=False)}


def attempt_data(progress: service.QualificationProgress | None) -> dict | None:
    if progress is None:
        return None
    attempt = progress.qualification
    return {"id": attempt.pk, "status": attempt.status, "n_items": attempt.n_items, "answered": progress.answered,
            "pass_mark": attempt.pass_mark, "score": attempt.score,
            "guide_version": attempt.guide_version.version if attempt.guide_version_id else None,
            "next_item": _item_data(progress.next_item, attempt.task_kind) if progress.next_item else None}


def status_data(state: service.QualificationState) -> dict:
    queue, standing = state.queue, state.standing
    may_claim = not standing.flagged and (standing.qualified or not queue.requires_qualification)
    return {"queue": queue.pk, "task_kind": queue.task_kind, "requires_qualification": queue.requires_qualification,
            "qualified": standing.qualified, "flagged": standing.flagged, "flag_accuracy": standing.flag_accuracy,
            "flag_threshold": standing.flag_threshold, "may_claim": may_claim, "qualify_url": queue_qualify_url(queue),
            "attempt": attempt_data(state.progress)}


class QualificationStatusApi(APIView):
    permission_classes = [IsAuthenticated, CanLabel]

    @extend_schema(responses={200: QualificationStatusSerializer, **error_responses(401, 403, 404, reasons={
                       404: "No such queue."})},
                   summary="My qualification status for a queue's kind.",
                   description="Whether claim would serve me, my open (or newest) attempt and its next item.")
    def get(self, request, queue_id: int):
        queue = get_object_or_404(Queue.objects.select_related("guide_version"), pk=queue_id)
        state = service.qualification_state(queue=queue, labeler=request.user)
        return Response(QualificationStatusSerializer(status_data(state)).data)


class QualificationStartApi(APIView):
    permission_classes = [IsAuthenticated, CanLabel]

    @extend_schema(request=None, responses={200: QualificationStatusSerializer, **error_responses(
                       401, 403, 404, 409, reasons={404: "No such queue.",
                                                    409: "The queue requires no qualification, has no qualification "
                                                         "set, or its set is empty."})},
                   summary="Start (or resume) my qualification attempt for a queue's kind.",
                   description="One open attempt per kind: starting again while one is open returns it.")
    def post(self, request, queue_id: int):
        queue = get_object_or_404(Queue, pk=queue_id)
        try:
            service.qualification_start(queue=queue, labeler=request.user)
        except service.QualificationError as error:
            raise qualification_refusal(error) from error
        state = service.qualification_state(queue=queue, labeler=request.user)
        return Response(QualificationStatusSerializer(status_data(state)).data)


class QualificationAnswerRequestSerializer(serializers.Serializer):
    golden_item = StrictIntegerField(min_value=1, max_value=2**63 - 1, help_text="The `next_item.id` answered.")
    answer = AnswerField(help_text=ANSWER_RULES)


class QualificationAnswerSerializer(serializers.Serializer):
    correct = serializers.BooleanField(help_text="Your answer matched the expert's.")
    score = serializers.FloatField(help_text="Your answer's golden score, 0 to 1.")
    expert_answer = serializers.JSONField(help_text="The expert's answer, shown after yours is stored.")
    reason = serializers.CharField(allow_blank=True, help_text="Why the expert's answer is right.")
    attempt = QualificationAttemptSerializer()


class QualificationAnswerApi(APIView):
    permission_classes = [IsAuthenticated, CanLabel]

    @extend_schema(request={"application/json": QualificationAnswerRequestSerializer},
                   responses={200: QualificationAnswerSerializer, **error_responses(
                       400, 401, 403, 404, 409, 413, 415, reasons={
                           404: "No such queue.",
                           409: "You have no open attempt for the queue's kind, or the item is not one of its items "
                                "or is already answered."})},
                   summary="Answer one item of my qualification attempt; get the expert's answer and reason.",
                   description="The last answer finishes the attempt: passed when the mean score reaches the pass "
                               "mark. A pass clears an open flag of the kind.")
    def post(self, request, queue_id: int):
        queue = get_object_or_404(Queue, pk=queue_id)
        body = QualificationAnswerRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            result = service.qualification_answer_open(queue=queue, labeler=request.user,
                                                       golden_item_id=body.validated_data["golden_item"],
                                                       answer=body.validated_data["answer"])
        except (service.QualificationError, AnswerSchemaError) as error:
            raise qualification_refusal(error) from error
        progress = service.qualification_progress(qualification=result.qualification)
        return Response(QualificationAnswerSerializer({
            "correct": result.correct, "score": result.score, "expert_answer": result.expert_answer,
            "reason": result.reason, "attempt": attempt_data(progress)}).data)


class FeedbackReadSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    read_at = serializers.DateTimeField()


class FeedbackReadApi(APIView):
    @extend_schema(request=None, responses={200: FeedbackReadSerializer, **error_responses(401, 403, 404, reasons={
                       404: "No feedback of yours with this id."})},
                   summary="Mark one item of my feedback read.")
    def post(self, request, feedback_id: int):
        try:
            feedback = service.labeler_feedback_mark_read(feedback_id=feedback_id, labeler=request.user)
        except service.QualificationError as error:
            raise qualification_refusal(error) from error
        return Response(FeedbackReadSerializer(feedback).data)


class FlagClearRequestSerializer(serializers.Serializer):
    task_kind = serializers.ChoiceField(choices=TaskKind.choices, help_text="The kind the labeler is flagged on.")
    reason = BlankableTextField(required=False, default="", max_length=200,
                                help_text="Why the labeler may label the kind again.")


class FlagClearedSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    task_kind = serializers.CharField()
    cleared_at = serializers.DateTimeField()
    cleared_reason = serializers.CharField()


class LabelerFlagClearApi(APIView):
    permission_classes = [IsAuthenticated, IsExpert]

    @extend_schema(request={"application/json": FlagClearRequestSerializer},
                   responses={200: FlagClearedSerializer, **error_responses(400, 401, 403, 404, 413, 415, reasons={
                       403: "Experts and admins only.", 404: "No such user, or no open flag of theirs on the kind."})},
                   summary="Clear a labeler's flag on a kind (experts): they get the kind's tasks again.")
    def post(self, request, user_id: int):
        labeler = get_object_or_404(User, pk=user_id)
        body = FlagClearRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            flag = service.labeler_flag_clear(labeler_id=labeler.pk, task_kind=body.validated_data["task_kind"],
                                              cleared_by=request.user,
                                              reason=body.validated_data["reason"] or service.FLAG_CLEARED_BY_EXPERT)
        except service.QualificationError as error:
            raise qualification_refusal(error) from error
        return Response(FlagClearedSerializer(flag).data)

