"""The work queue's hot path writes its response bodies by hand (``labeling.serializers.claim_body``,
``submit_body``, ``submit_and_claim_body``); the serializers stay the schema. These tests hold the
two to the same output, field for field, for every shape a body can take."""
from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from labeling import serializers
from labeling.services.queue_engine import assignment_claim, label_submit, label_submit_and_claim
from labeling.services.queues import queue_calibration_update
from tests.labeling.conftest import GOOD_RELEVANCE_ANSWER

pytestmark = pytest.mark.django_db
RIGHT = {"grades": ["similar"] * 5}


def _feedback_queue(make_queue):
    queue = make_queue(tasks=2, golden_tasks=2, golden_rate=1.0)
    return queue_calibration_update(queue=queue, requires_qualification=False, qualification_set=None,
                                    qualification_pass_mark=0.8, qualification_items=3, recalibration_window=None,
                                    recalibration_threshold=None, immediate_feedback=True)


def test_a_claim_body_is_the_claim_serializers(make_queue, labeler):
    lease = assignment_claim(queue=make_queue(tasks=1), labeler=labeler)
    assert serializers.claim_body(lease) == serializers.ClaimSerializer({"assignment": lease}).data
    assert serializers.claim_body(lease)["assignment"]["expires_at"].endswith("Z")


def test_a_submit_body_is_the_submit_serializers_with_and_without_feedback(make_queue, labeler):
    plain = assignment_claim(queue=make_queue(tasks=1), labeler=labeler)
    label, _ = label_submit(assignment_id=plain.pk, labeler=labeler, answer=GOOD_RELEVANCE_ANSWER, time_spent_ms=1200)
    assert label.guide_version_id is None
    assert serializers.submit_body(label) == serializers.SubmitSerializer({"label": label}).data
    golden = assignment_claim(queue=_feedback_queue(make_queue), labeler=labeler)
    assert golden.task.is_golden
    label, _ = label_submit(assignment_id=golden.pk, labeler=labeler, answer=GOOD_RELEVANCE_ANSWER)
    assert label.golden_feedback is not None
    body = serializers.submit_body(label)
    assert body == serializers.SubmitSerializer({"label": label}).data
    assert body["feedback"]["expert_answer"] == RIGHT and body["feedback"]["correct"] is False


def test_a_submit_and_claim_body_is_the_serializers_with_a_next_lease_none_or_a_refusal(make_queue, labeler):
    queue = make_queue(tasks=2)
    lease = assignment_claim(queue=queue, labeler=labeler)
    label, _, following = label_submit_and_claim(assignment_id=lease.pk, labeler=labeler, answer=GOOD_RELEVANCE_ANSWER)
    for next_lease, refusal in ((following, None), (None, None),
                                (None, {"code": "qualification_required", "message": "Take the qualification."})):
        expected = serializers.SubmitAndClaimSerializer(
            {"label": label, "next": next_lease, "next_refusal": refusal}).data
        assert serializers.submit_and_claim_body(label, next_lease, refusal) == expected


def test_the_api_answers_these_bodies(make_queue, labeler):
    client = APIClient()
    client.force_authenticate(labeler)
    queue = make_queue(tasks=2)
    claimed = client.post(f"/api/v1/queues/{queue.pk}/claim")
    assert claimed.status_code == 200
    lease = labeler.assignments.get()
    assert claimed.json() == serializers.ClaimSerializer({"assignment": lease}).data
    submitted = client.post(f"/api/v1/assignments/{lease.pk}/submit", {"answer": GOOD_RELEVANCE_ANSWER}, format="json")
    assert submitted.status_code == 201
    assert submitted.json() == serializers.SubmitSerializer({"label": labeler.labels.get()}).data
    assert client.post("/api/v1/queues/999999/claim").status_code == 404
