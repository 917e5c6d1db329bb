"""API shapes. Input serializers parse requests; output serializers decide what each role sees.

What a labeler sees of a task is only ``id``, ``kind`` and ``payload``: nothing tells a golden
task from a normal one, and no serializer a labeler reaches has a golden or other-labeler field.
"""
from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from labeling.api_schema import (ANSWER_RULES, AnswerField, BlankableTextField, SecretField, StrictIntegerField,
                                 TextField)
from labeling.models import GoldenItem, GoldenItemRevision, GoldenSet, Label, Queue, Task, TaskKind, User
from labeling.task_kinds import task_kind_spec


class TokenRequestSerializer(serializers.Serializer):
    username = TextField()
    password = SecretField()


class TokenSerializer(serializers.Serializer):
    token = serializers.CharField(help_text="Send it as `Authorization: Token <token>`. Shown only once.")
    expires_at = serializers.DateTimeField(help_text="The token stops working at this time; sign in again then.")


class TokensRevokedSerializer(serializers.Serializer):
    revoked = serializers.IntegerField(help_text="How many live tokens were revoked.")


class MeSerializer(serializers.ModelSerializer):
    pool = serializers.CharField(source="pool.name", allow_null=True, default=None)

    class Meta:
        model = User
        fields = ["username", "role", "pool"]


class QueueOpenSerializer(serializers.ModelSerializer):
    tasks_total = serializers.IntegerField(help_text="Tasks to label (golden tasks not counted).")
    tasks_complete = serializers.IntegerField(help_text="Tasks that have all their labels.")
    my_labels = serializers.IntegerField(help_text="Labels you gave in this queue.")
    available_for_me = serializers.IntegerField(help_text="Tasks a claim could still give you now.")

    class Meta:
        model = Queue
        fields = ["id", "name", "task_kind", "replication", "priority", "lease_seconds", "guide_version",
                  "tasks_total", "tasks_complete", "my_labels", "available_for_me"]


def payload_for_labeler(task: Task) -> dict:
    """The payload as the task's kind shows it to labelers (pre-annotations dropped where the queue
    hides them). ``task.queue`` must be loaded."""
    return task_kind_spec(task.queue.task_kind).payload_for_labeler(
        payload=task.payload, show_preannotations=task.queue.show_preannotations)


class LabelerTaskSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.CharField(source="queue.task_kind")
    payload = serializers.SerializerMethodField()

    @extend_schema_field({"type": "object", "additionalProperties": True,
                          "description": "What the task shows; its shape depends on `kind`."})
    def get_payload(self, task: Task) -> dict:
        return payload_for_labeler(task)


class AssignmentSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    expires_at = serializers.DateTimeField()
    task = LabelerTaskSerializer()


class ClaimSerializer(serializers.Serializer):
    assignment = AssignmentSerializer()


class SubmitRequestSerializer(serializers.Serializer):
    answer = AnswerField(help_text=ANSWER_RULES)
    time_spent_ms = StrictIntegerField(min_value=0, max_value=2_000_000_000, required=False,
                                       help_text="Time the labeler spent; the server's time since claim when left out.")


class LabelSerializer(serializers.Serializer):
    """A stored label, as submit answers it. Declared field by field (not a ModelSerializer, which
    rebuilds its fields from the model on every submit)."""

    id = serializers.IntegerField(read_only=True)
    assignment = serializers.IntegerField(source="assignment_id", read_only=True)
    task = serializers.IntegerField(source="task_id", read_only=True)
    answer = serializers.JSONField(read_only=True)
    guide_version = serializers.IntegerField(source="guide_version_id", read_only=True, allow_null=True)
    time_spent_ms = serializers.IntegerField(read_only=True)
    created_at = serializers.DateTimeField(read_only=True)


class GoldenFeedbackSerializer(serializers.Serializer):
    """Immediate feedback (a queue option): the expert's answer to the golden item this labeler has
    just answered. Never sent before the labeler's answer is stored, nor about another's label."""

    correct = serializers.BooleanField(help_text="Your answer matched the expert's.")
    score = serializers.FloatField(help_text="Your answer's golden score, 0 to 1.")
    expert_answer = serializers.JSONField(help_text="The expert's answer, in the kind's answer shape.")
    reason = serializers.CharField(allow_blank=True, help_text="Why the expert's answer is right.")


class ClaimRefusalSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="`qualification_required` or `labeler_flagged` (as claim answers them), "
                                           "or another refusal of claim.")
    message = serializers.CharField(help_text="Why there is no next task and what to do.")


def _label_golden_feedback(label) -> object:
    return getattr(label, "golden_feedback", None)


class SubmitSerializer(serializers.Serializer):
    label = LabelSerializer()
    feedback = serializers.SerializerMethodField()

    @extend_schema_field(GoldenFeedbackSerializer(allow_null=True, help_text=(
        "Set only on a queue with immediate feedback, after a golden item: the expert's answer and reason. "
        "Null otherwise (and on an idempotent replay).")))
    def get_feedback(self, result) -> dict | None:
        feedback = _label_golden_feedback(result["label"])
        return None if feedback is None else GoldenFeedbackSerializer(feedback).data


class SubmitAndClaimSerializer(SubmitSerializer):
    next = AssignmentSerializer(allow_null=True, help_text="The next task's lease, as claim returns it; null when "
                                                           "nothing is left for you in this queue.")
    next_refusal = serializers.SerializerMethodField()

    @extend_schema_field(ClaimRefusalSerializer(allow_null=True, help_text=(
        "Why `next` is null when claim refused it (a qualification is required, or you are flagged); null "
        "when claim was not refused.")))
    def get_next_refusal(self, result) -> dict | None:
        refusal = result.get("next_refusal")
        return None if refusal is None else ClaimRefusalSerializer(refusal).data


# -- The work queue's hot path: the same bodies as the serializers above, built by hand -------------
# A claim and a submit are the two requests every annotation makes; instantiating the nested
# serializers (their fields are deep-copied per instance) cost each of them more CPU than any of
# its SQL statements. The serializers stay the schema; tests/labeling/test_labeling_hot_bodies.py
# checks that these functions write exactly what the serializers write.
_TIME = serializers.DateTimeField()


def assignment_body(assignment) -> dict:
    """``AssignmentSerializer(assignment).data``."""
    task = assignment.task
    return {"id": assignment.id, "expires_at": _TIME.to_representation(assignment.expires_at),
            "task": {"id": task.id, "kind": task.queue.task_kind, "payload": payload_for_labeler(task)}}


def claim_body(assignment) -> dict:
    """``ClaimSerializer({"assignment": assignment}).data``."""
    return {"assignment": assignment_body(assignment)}


def _label_body(label: Label) -> dict:
    return {"id": label.id, "assignment": label.assignment_id, "task": label.task_id, "answer": label.answer,
            "guide_version": label.guide_version_id, "time_spent_ms": label.time_spent_ms,
            "created_at": _TIME.to_representation(label.created_at)}


def submit_body(label: Label) -> dict:
    """``SubmitSerializer({"label": label}).data``."""
    feedback = _label_golden_feedback(label)
    return {"label": _label_body(label),
            "feedback": None if feedback is None else GoldenFeedbackSerializer(feedback).data}


def submit_and_claim_body(label: Label, lease, next_refusal: dict | None) -> dict:
    """``SubmitAndClaimSerializer({"label": ..., "next": ..., "next_refusal": ...}).data``."""
    return {**submit_body(label), "next": None if lease is None else assignment_body(lease),
            "next_refusal": None if next_refusal is None else ClaimRefusalSerializer(next_refusal).data}


class SkipSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    state = serializers.CharField()


class MyLabelSerializer(serializers.ModelSerializer):
    queue = serializers.IntegerField(source="task.queue_id")
    kind = serializers.CharField(source="task.queue.task_kind")
    payload = serializers.SerializerMethodField()

    @extend_schema_field({"type": "object", "additionalProperties": True,
                          "description": "What the task showed you; its shape depends on `kind`."})
    def get_payload(self, label: Label) -> dict:
        return payload_for_labeler(label.task)

    class Meta:
        model = Label
        fields = ["id", "assignment", "task", "queue", "kind", "payload", "answer", "guide_version",
                  "time_spent_ms", "created_at"]


class StaffTaskSerializer(serializers.ModelSerializer):
    kind = serializers.CharField(source="queue.task_kind")

    class Meta:
        model = Task
        fields = ["id", "queue", "kind", "source_key", "priority", "is_golden", "label_count", "payload", "created_at"]


class GoldenAnswerRequestSerializer(serializers.Serializer):
    answer = AnswerField(help_text=ANSWER_RULES)
    reason = BlankableTextField(required=False, default="", help_text="Why this is the right answer, for the record.")


class GoldenRevisionSerializer(serializers.ModelSerializer):
    expert = serializers.CharField(source="expert.username", allow_null=True, default=None)

    class Meta:
        model = GoldenItemRevision
        fields = ["revision", "answer", "reason", "source", "expert", "guide_version", "created_at"]


class GoldenItemSerializer(serializers.ModelSerializer):
    """Staff only: a golden item with its answer and where it came from."""

    expert = serializers.CharField(source="expert.username", allow_null=True, default=None)
    task_kind = serializers.CharField(source="golden_set.task_kind")

    class Meta:
        model = GoldenItem
        fields = ["id", "golden_set", "task_kind", "key", "payload", "answer", "reason", "source", "expert",
                  "guide_version", "source_task", "revision", "created_at", "updated_at"]


class GoldenItemDetailSerializer(GoldenItemSerializer):
    revisions = GoldenRevisionSerializer(many=True, read_only=True)

    class Meta(GoldenItemSerializer.Meta):
        fields = [*GoldenItemSerializer.Meta.fields, "revisions"]


class GoldenAnswerSerializer(serializers.Serializer):
    """A task's golden answer: the item its golden copy serves, or the item made from it."""

    task = serializers.IntegerField(source="task_id")
    item = GoldenItemSerializer()
    # The fields of the answer itself, flat, as before golden items were records.
    answer = serializers.JSONField(source="item.answer")
    reason = serializers.CharField(source="item.reason")
    expert = serializers.CharField(source="item.expert.username", allow_null=True, default=None)


class GoldenSetSerializer(serializers.ModelSerializer):
    n_items = serializers.IntegerField(read_only=True, help_text="Items in the set.")
    queues = serializers.PrimaryKeyRelatedField(many=True, read_only=True, help_text="Queues drawing from it.")

    class Meta:
        model = GoldenSet
        fields = ["id", "name", "task_kind", "description", "n_items", "queues", "created_at"]


class GoldenSetRequestSerializer(serializers.Serializer):
    name = TextField(max_length=200)
    task_kind = serializers.ChoiceField(choices=TaskKind.choices)
    description = BlankableTextField(required=False, default="")


class GoldenItemReviseSerializer(serializers.Serializer):
    answer = AnswerField(help_text=ANSWER_RULES)
    reason = BlankableTextField(required=False, default=None, allow_null=True,
                                help_text="Why this is the answer; labelers see it only when an expert reveals it.")


class GoldenImportResultSerializer(serializers.Serializer):
    created = serializers.IntegerField()
    revised = serializers.IntegerField()
    unchanged = serializers.IntegerField()
