"""API shapes. Input serializers parse requests; output serializers decide what each role sees.

What a labeler sees of a task is only ``id``, ``kind`` and ``payload``: nothing tells a golden
task from a normal one, and no serializer a labeler reaches has a golden or other-labeler field.
"""
from __future__ import annotations

from rest_framework import serializers

from labeling.api_schema import (ANSWER_RULES, AnswerField, BlankableTextField, SecretField, StrictIntegerField,
                                 TextField)
from labeling.models import GoldenAnswer, Label, Queue, Task, User


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


class LabelerTaskSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.CharField(source="queue.task_kind")
    payload = serializers.JSONField()


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


class LabelSerializer(serializers.ModelSerializer):
    class Meta:
        model = Label
        fields = ["id", "assignment", "task", "answer", "guide_version", "time_spent_ms", "created_at"]


class SubmitSerializer(serializers.Serializer):
    label = LabelSerializer()


class SkipSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    state = serializers.CharField()


class MyLabelSerializer(serializers.ModelSerializer):
    queue = serializers.IntegerField(source="task.queue_id")
    kind = serializers.CharField(source="task.queue.task_kind")
    payload = serializers.JSONField(source="task.payload")

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


class GoldenAnswerSerializer(serializers.ModelSerializer):
    expert = serializers.CharField(source="expert.username", allow_null=True, default=None)

    class Meta:
        model = GoldenAnswer
        fields = ["task", "answer", "reason", "expert", "created_at"]
