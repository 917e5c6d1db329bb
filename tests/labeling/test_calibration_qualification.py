"""Qualification and re-calibration enforced in claim, and immediate feedback on golden items
(labeling/calibration/CALIBRATION_qualification.md)."""
from __future__ import annotations

import html
import random

import pytest
from rest_framework.test import APIClient

from labeling.calibration import qualification as service
from labeling.calibration.audit import AuditAction
from labeling.calibration.guides import guide_version_publish
from labeling.golden.services import GoldenItemInput, golden_items_put, golden_set_create
from labeling.models import (Assignment, AuditEvent, FeedbackKind, LabelerFeedback, LabelerFlag, Qualification,
                             QualificationStatus, Queue, Role)
from labeling.services.queue_engine import (LABELER_FLAGGED, QUALIFICATION_REQUIRED, LabelerFlagged,
                                            QualificationRequired, assignment_claim, label_submit)
from labeling.golden.services import queue_golden_sets_add
from labeling.services.queues import (QUALIFICATION_SET_SERVED, QUALIFICATION_SET_WRONG_KIND, RECALIBRATION_HALF_SET,
                                      QueueReplicationError, queue_calibration_update)
from tests.labeling.conftest import GOOD_RELEVANCE_ANSWER, relevance_payload
from tests.labeling.test_labeling_queue_query_counts import CLAIM_QUERIES, SUBMIT_QUERIES

pytestmark = pytest.mark.django_db

RIGHT = {"grades": ["similar"] * 5}  # what every golden item of these tests is answered
WRONG = {"grades": ["not_similar"] * 5}


def qualification_set_make(*, n: int = 4, name: str = "qualification"):
    golden_set = golden_set_create(name=name, task_kind="relevance")
    golden_items_put(golden_set=golden_set, items=[
        GoldenItemInput(key=f"q-{i}", payload=relevance_payload(100 + i), answer=RIGHT, reason=f"reason {i}")
        for i in range(n)])
    return golden_set


def calibrate(queue: Queue, **changes) -> Queue:
    settings = {"requires_qualification": False, "qualification_set": None, "qualification_pass_mark": 0.8,
                "qualification_items": 3, "recalibration_window": None, "recalibration_threshold": None,
                "immediate_feedback": False, **changes}
    return queue_calibration_update(queue=queue, **settings)


def qualify(queue: Queue, labeler, answer) -> Qualification:
    """Start an attempt and answer every item with ``answer``."""
    attempt = service.qualification_start(queue=queue, labeler=labeler)
    for item in service.qualification_items(qualification=attempt):
        service.qualification_answer(qualification_id=attempt.pk, labeler=labeler, golden_item_id=item.pk,
                                     answer=answer)
    attempt.refresh_from_db()
    return attempt


@pytest.fixture
def qualifying_queue(make_queue):
    queue = make_queue(tasks=5)
    return calibrate(queue, requires_qualification=True, qualification_set=qualification_set_make())


def test_claim_without_qualification_is_a_clear_refusal_and_hands_out_no_task(qualifying_queue, labeler):
    with pytest.raises(QualificationRequired) as refused:
        assignment_claim(queue=qualifying_queue, labeler=labeler)
    url = f"/queues/{qualifying_queue.pk}/qualify/"
    assert str(refused.value) == QUALIFICATION_REQUIRED.format(kind="Relevance at 5", url=url)
    assert refused.value.qualify_url == url
    assert not Assignment.objects.filter(labeler=labeler).exists()


def test_claim_refusal_over_http_is_a_403_naming_the_qualification_page(qualifying_queue, labeler):
    client = APIClient()
    client.force_authenticate(labeler)
    response = client.post(f"/api/v1/queues/{qualifying_queue.pk}/claim")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "qualification_required"
    assert f"/queues/{qualifying_queue.pk}/qualify/" in response.json()["error"]["message"]


def test_a_passed_qualification_opens_the_queue(qualifying_queue, labeler):
    attempt = qualify(qualifying_queue, labeler, RIGHT)
    assert attempt.status == QualificationStatus.PASSED and attempt.score == 1.0 and attempt.n_items == 3
    assert assignment_claim(queue=qualifying_queue, labeler=labeler) is not None
    event = AuditEvent.objects.get(action=AuditAction.QUALIFICATION_FINISHED)
    assert event.details["status"] == "passed" and event.target_id == str(attempt.pk)


def test_failing_then_passing_takes_two_attempts_and_only_the_pass_opens_the_queue(qualifying_queue, labeler):
    failed = qualify(qualifying_queue, labeler, WRONG)
    assert failed.status == QualificationStatus.FAILED and failed.score == 0.0
    with pytest.raises(QualificationRequired):
        assignment_claim(queue=qualifying_queue, labeler=labeler)
    passed = qualify(qualifying_queue, labeler, RIGHT)
    assert passed.pk != failed.pk and passed.status == QualificationStatus.PASSED
    assert assignment_claim(queue=qualifying_queue, labeler=labeler) is not None
    assert AuditEvent.objects.filter(action=AuditAction.QUALIFICATION_FINISHED).count() == 2


def test_each_answer_returns_the_experts_answer_and_reason_and_the_mean_decides(qualifying_queue, labeler):
    attempt = service.qualification_start(queue=qualifying_queue, labeler=labeler)
    items = service.qualification_items(qualification=attempt)
    results = [service.qualification_answer(qualification_id=attempt.pk, labeler=labeler, golden_item_id=item.pk,
                                            answer=answer)
               for item, answer in zip(items, [RIGHT, RIGHT, {"grades": ["similar"] * 4 + ["not_similar"]}])]
    assert [r.correct for r in results] == [True, True, False]
    assert results[0].expert_answer == RIGHT and results[0].reason == items[0].reason
    attempt.refresh_from_db()
    assert attempt.score == pytest.approx((1 + 1 + 0.8) / 3)
    assert attempt.status == QualificationStatus.PASSED  # 0.93 >= 0.8


def test_an_attempt_draws_a_seeded_subset_and_refuses_items_outside_it(qualifying_queue, labeler):
    attempt = service.qualification_start(queue=qualifying_queue, labeler=labeler)
    assert service.qualification_start(queue=qualifying_queue, labeler=labeler).pk == attempt.pk  # one open attempt
    drawn = service.qualification_items(qualification=attempt)
    assert drawn == service.qualification_items(qualification=attempt) and len(drawn) == 3
    outside = qualifying_queue.qualification_set.items.exclude(pk__in=[item.pk for item in drawn]).get()
    with pytest.raises(service.QualificationItemRefused):
        service.qualification_answer(qualification_id=attempt.pk, labeler=labeler, golden_item_id=outside.pk,
                                     answer=RIGHT)
    service.qualification_answer(qualification_id=attempt.pk, labeler=labeler, golden_item_id=drawn[0].pk, answer=RIGHT)
    with pytest.raises(service.QualificationItemRefused):
        service.qualification_answer(qualification_id=attempt.pk, labeler=labeler, golden_item_id=drawn[0].pk,
                                     answer=RIGHT)


def test_another_labelers_attempt_is_not_found(qualifying_queue, make_user):
    owner, other = make_user(Role.LABELER), make_user(Role.LABELER)
    attempt = service.qualification_start(queue=qualifying_queue, labeler=owner)
    item = service.qualification_items(qualification=attempt)[0]
    with pytest.raises(service.QualificationNotFound):
        service.qualification_answer(qualification_id=attempt.pk, labeler=other, golden_item_id=item.pk, answer=RIGHT)


def test_a_guide_version_requiring_requalification_refuses_the_old_pass(qualifying_queue, labeler, make_user):
    expert = make_user(Role.EXPERT)
    v1 = guide_version_publish(task_kind="relevance", body="v1", published_by=expert)
    Queue.objects.filter(pk=qualifying_queue.pk).update(guide_version=v1)
    qualifying_queue.refresh_from_db()
    qualify(qualifying_queue, labeler, RIGHT)
    v2 = guide_version_publish(task_kind="relevance", body="v2: small fix", published_by=expert)
    Queue.objects.filter(pk=qualifying_queue.pk).update(guide_version=v2)
    qualifying_queue.refresh_from_db()
    assert assignment_claim(queue=qualifying_queue, labeler=labeler) is not None  # v2 needs no re-qualification
    v3 = guide_version_publish(task_kind="relevance", body="v3: new rule", published_by=expert,
                               requires_requalification=True)
    Queue.objects.filter(pk=qualifying_queue.pk).update(guide_version=v3)
    qualifying_queue.refresh_from_db()
    with pytest.raises(QualificationRequired):
        assignment_claim(queue=qualifying_queue, labeler=labeler)
    attempt = qualify(qualifying_queue, labeler, RIGHT)
    assert attempt.guide_version_id == v3.pk
    assert assignment_claim(queue=qualifying_queue, labeler=labeler) is not None
    v4 = guide_version_publish(task_kind="relevance", body="v4", published_by=expert)
    Queue.objects.filter(pk=qualifying_queue.pk).update(guide_version=v4)
    qualifying_queue.refresh_from_db()
    assert service.labeler_is_qualified(queue=qualifying_queue, labeler=labeler)


@pytest.fixture
def recalibrating_queue(make_queue):
    """Every claim a golden item (while any is left): four golden labels, window 3, threshold 0.5."""
    queue = make_queue(tasks=5, golden_tasks=6, golden_rate=1.0)
    return calibrate(queue, recalibration_window=3, recalibration_threshold=0.5,
                     requires_qualification=True, qualification_set=qualification_set_make(name="requalify"))


def label_golden(queue, labeler, answer, count):
    for _ in range(count):
        lease = assignment_claim(queue=queue, labeler=labeler, rng=random.Random(0))
        assert lease.task.is_golden
        label_submit(assignment_id=lease.pk, labeler=labeler, answer=answer)


def test_rolling_accuracy_below_the_threshold_flags_the_labeler_until_an_expert_clears_them(
        recalibrating_queue, labeler, make_user):
    qualify(recalibrating_queue, labeler, RIGHT)
    label_golden(recalibrating_queue, labeler, RIGHT, 1)
    label_golden(recalibrating_queue, labeler, WRONG, 1)
    assert not LabelerFlag.objects.exists()  # window not full yet: 1 right, 1 wrong
    label_golden(recalibrating_queue, labeler, WRONG, 1)  # last 3: 1, 0, 0 -> 0.33 < 0.5
    flag = LabelerFlag.objects.get(labeler=labeler, cleared_at__isnull=True)
    assert flag.rolling_accuracy == pytest.approx(1 / 3) and flag.window == 3 and flag.threshold == 0.5
    with pytest.raises(LabelerFlagged) as refused:
        assignment_claim(queue=recalibrating_queue, labeler=labeler)
    assert str(refused.value) == LABELER_FLAGGED.format(kind="Relevance at 5", accuracy=1 / 3, threshold=0.5,
                                                        url=f"/queues/{recalibrating_queue.pk}/qualify/")
    # Every queue of the kind that checks standing refuses them, not only the one that flagged them.
    client = APIClient()
    client.force_authenticate(labeler)
    assert client.post(f"/api/v1/queues/{recalibrating_queue.pk}/claim").json()["error"]["code"] == "labeler_flagged"
    expert = make_user(Role.EXPERT)
    client.force_authenticate(expert)
    response = client.post(f"/api/v1/labelers/{labeler.pk}/flags/clear", {"task_kind": "relevance"}, format="json")
    assert response.status_code == 200
    assert assignment_claim(queue=recalibrating_queue, labeler=labeler) is not None
    assert AuditEvent.objects.filter(action=AuditAction.LABELER_FLAGGED).count() == 1
    assert AuditEvent.objects.get(action=AuditAction.LABELER_CLEARED).actor == expert


def test_a_flagged_labeler_resumes_after_requalifying_and_the_window_restarts(recalibrating_queue, labeler):
    qualify(recalibrating_queue, labeler, RIGHT)
    label_golden(recalibrating_queue, labeler, WRONG, 3)
    assert LabelerFlag.objects.filter(labeler=labeler, cleared_at__isnull=True).exists()
    with pytest.raises(LabelerFlagged):
        assignment_claim(queue=recalibrating_queue, labeler=labeler)
    qualify(recalibrating_queue, labeler, RIGHT)
    flag = LabelerFlag.objects.get(labeler=labeler)
    assert flag.cleared_at is not None and flag.cleared_reason == service.FLAG_CLEARED_BY_QUALIFICATION
    label_golden(recalibrating_queue, labeler, WRONG, 1)  # one new miss: the old misses no longer count
    assert not LabelerFlag.objects.filter(cleared_at__isnull=True).exists()


def test_a_flag_on_a_kind_blocks_an_ungated_queue_of_that_kind_only_when_it_recalibrates(
        recalibrating_queue, labeler, make_queue):
    qualify(recalibrating_queue, labeler, RIGHT)
    label_golden(recalibrating_queue, labeler, WRONG, 3)
    plain = make_queue(tasks=2)
    assert assignment_claim(queue=plain, labeler=labeler) is not None  # neither setting: not checked
    watched = calibrate(make_queue(tasks=2), recalibration_window=5, recalibration_threshold=0.1)
    with pytest.raises(LabelerFlagged):
        assignment_claim(queue=watched, labeler=labeler)


def test_staff_are_never_refused(qualifying_queue, make_user):
    assert assignment_claim(queue=qualifying_queue, labeler=make_user(Role.EXPERT)) is not None


@pytest.mark.parametrize("tasks", [10, 300], ids=["10-tasks", "300-tasks"])
def test_claim_costs_one_extra_query_with_qualification_whatever_the_queue_size(
        tasks, make_queue, make_user, django_assert_num_queries):
    queue = calibrate(make_queue(tasks=tasks), requires_qualification=True, qualification_set=qualification_set_make(),
                      recalibration_window=3, recalibration_threshold=0.5)
    labeler = make_user(Role.LABELER)
    qualify(queue, labeler, RIGHT)
    with django_assert_num_queries(CLAIM_QUERIES + 1):
        assert assignment_claim(queue=queue, labeler=labeler) is not None
    plain = make_queue(tasks=tasks)
    with django_assert_num_queries(CLAIM_QUERIES):
        assert assignment_claim(queue=plain, labeler=labeler) is not None


def test_golden_submit_with_recalibration_costs_a_constant_number_of_queries(
        make_queue, make_user, django_assert_num_queries):
    queue = make_queue(tasks=3, golden_tasks=8, golden_rate=1.0)
    calibrate(queue, recalibration_window=3, recalibration_threshold=0.5)
    labeler = make_user(Role.LABELER)
    for count in range(5):
        lease = assignment_claim(queue=queue, labeler=labeler, rng=random.Random(0))
        # The window read; on a normal task nothing extra.
        with django_assert_num_queries(SUBMIT_QUERIES + 1):
            label_submit(assignment_id=lease.pk, labeler=labeler, answer=RIGHT)
    normal_queue = calibrate(make_queue(tasks=3), recalibration_window=3, recalibration_threshold=0.5)
    lease = assignment_claim(queue=normal_queue, labeler=labeler)
    with django_assert_num_queries(SUBMIT_QUERIES):
        label_submit(assignment_id=lease.pk, labeler=labeler, answer=RIGHT)


def test_immediate_feedback_comes_only_after_a_golden_submit_and_only_to_that_labeler(make_queue, make_user):
    queue = calibrate(make_queue(tasks=3, golden_tasks=2, golden_rate=1.0), immediate_feedback=True)
    labeler, other = make_user(Role.LABELER), make_user(Role.LABELER)
    client = APIClient()
    client.force_authenticate(labeler)
    claimed = client.post(f"/api/v1/queues/{queue.pk}/claim").json()
    assert "similar" not in str(claimed)  # the claim says nothing of the golden answer
    assignment_id = claimed["assignment"]["id"]
    response = client.post(f"/api/v1/assignments/{assignment_id}/submit-and-claim", {"answer": GOOD_RELEVANCE_ANSWER},
                           format="json")
    assert response.status_code == 201
    feedback = response.json()["feedback"]
    assert feedback["expert_answer"] == RIGHT and feedback["correct"] is False
    assert feedback["score"] == pytest.approx(0.2)
    miss = LabelerFeedback.objects.get(kind=FeedbackKind.GOLDEN_MISS)
    assert miss.labeler == labeler and miss.details["expert_answer"] == RIGHT
    assert not LabelerFeedback.objects.filter(labeler=other).exists()
    # A right answer: feedback, but no miss in the feed.
    next_id = response.json()["next"]["id"]
    right = client.post(f"/api/v1/assignments/{next_id}/submit", {"answer": RIGHT}, format="json").json()
    assert right["feedback"]["correct"] is True
    assert LabelerFeedback.objects.filter(kind=FeedbackKind.GOLDEN_MISS).count() == 1
    # The other labeler marking the first one's feedback read: not found.
    client.force_authenticate(other)
    assert client.post(f"/api/v1/me/feedback/{miss.pk}/read").status_code == 404
    client.force_authenticate(labeler)
    read = client.post(f"/api/v1/me/feedback/{miss.pk}/read")
    assert read.status_code == 200
    miss.refresh_from_db()
    assert miss.read_at is not None


def test_without_immediate_feedback_or_on_a_normal_task_the_submit_carries_none(make_queue, make_user):
    labeler = make_user(Role.LABELER)
    client = APIClient()
    client.force_authenticate(labeler)
    golden_queue = make_queue(tasks=1, golden_tasks=1, golden_rate=1.0)  # feedback off (the default)
    normal_queue = calibrate(make_queue(tasks=1), immediate_feedback=True)
    for queue in (golden_queue, normal_queue):
        assignment_id = client.post(f"/api/v1/queues/{queue.pk}/claim").json()["assignment"]["id"]
        response = client.post(f"/api/v1/assignments/{assignment_id}/submit", {"answer": RIGHT}, format="json")
        assert response.status_code == 201 and response.json()["feedback"] is None
    assert not LabelerFeedback.objects.exists()


def test_submit_and_claim_says_why_there_is_no_next_task(recalibrating_queue, labeler):
    qualify(recalibrating_queue, labeler, RIGHT)
    label_golden(recalibrating_queue, labeler, WRONG, 2)
    client = APIClient()
    client.force_authenticate(labeler)
    assignment_id = client.post(f"/api/v1/queues/{recalibrating_queue.pk}/claim").json()["assignment"]["id"]
    response = client.post(f"/api/v1/assignments/{assignment_id}/submit-and-claim", {"answer": WRONG}, format="json")
    assert response.status_code == 201
    body = response.json()
    assert body["next"] is None and body["next_refusal"]["code"] == "labeler_flagged"


def test_qualification_api_walks_an_attempt(qualifying_queue, labeler):
    client = APIClient()
    client.force_authenticate(labeler)
    status = client.get(f"/api/v1/queues/{qualifying_queue.pk}/qualification").json()
    assert status["qualified"] is False and status["may_claim"] is False and status["attempt"] is None
    started = client.post(f"/api/v1/queues/{qualifying_queue.pk}/qualification/start").json()
    for _ in range(started["attempt"]["n_items"]):
        item = client.get(f"/api/v1/queues/{qualifying_queue.pk}/qualification").json()["attempt"]["next_item"]
        answered = client.post(f"/api/v1/queues/{qualifying_queue.pk}/qualification/answer",
                               {"golden_item": item["id"], "answer": RIGHT}, format="json")
        assert answered.status_code == 200 and answered.json()["expert_answer"] == RIGHT
    assert answered.json()["attempt"]["status"] == "passed"
    assert client.get(f"/api/v1/queues/{qualifying_queue.pk}/qualification").json()["may_claim"] is True
    again = client.post(f"/api/v1/queues/{qualifying_queue.pk}/qualification/answer",
                        {"golden_item": item["id"], "answer": RIGHT}, format="json")
    assert again.status_code == 409


def test_queue_settings_refuse_a_set_of_another_kind_and_half_a_recalibration(make_queue):
    queue = make_queue()
    boxes_set = golden_set_create(name="boxes", task_kind="bounding_boxes")
    with pytest.raises(QueueReplicationError) as refused:
        calibrate(queue, requires_qualification=True, qualification_set=boxes_set)
    assert str(refused.value) == QUALIFICATION_SET_WRONG_KIND.format(set_kind="bounding_boxes", queue_kind="relevance")
    with pytest.raises(QueueReplicationError) as refused:
        calibrate(queue, recalibration_window=5)
    assert str(refused.value) == RECALIBRATION_HALF_SET


def test_queue_settings_refuse_a_qualification_set_the_queue_serves_golden_items_from(make_queue):
    queue = make_queue()
    served = qualification_set_make()
    queue_golden_sets_add(queue=queue, golden_sets=[served])
    with pytest.raises(QueueReplicationError) as refused:
        calibrate(queue, requires_qualification=True, qualification_set=served)
    assert str(refused.value) == QUALIFICATION_SET_SERVED



def test_the_settings_form_saves_qualification_and_names_a_wrong_set(client, make_queue, make_user):
    queue = make_queue()
    client.force_login(make_user(Role.EXPERT))
    url = f"/overview/queues/{queue.pk}/settings/"
    base = {"aggregation": "majority", "replication": "3"}
    boxes_set = golden_set_create(name="boxes", task_kind="bounding_boxes")
    response = client.post(url, {**base, "requires_qualification": "on", "qualification_set": boxes_set.pk},
                           follow=True)
    assert html.escape(QUALIFICATION_SET_WRONG_KIND.format(set_kind="bounding_boxes", queue_kind="relevance")) in \
        response.content.decode()
    queue.refresh_from_db()
    assert not queue.requires_qualification
    good = qualification_set_make()
    client.post(url, {**base, "requires_qualification": "on", "qualification_set": good.pk,
                      "qualification_pass_mark": "0.9", "qualification_items": "4", "recalibration_window": "20",
                      "recalibration_threshold": "0.6", "immediate_feedback": "on"})
    queue.refresh_from_db()
    assert (queue.requires_qualification, queue.qualification_set_id, queue.qualification_pass_mark,
            queue.qualification_items, queue.recalibration_window, queue.recalibration_threshold,
            queue.immediate_feedback) == (True, good.pk, 0.9, 4, 20, 0.6, True)
