"""The labeling REST API over HTTP (Django's test client through DRF), role by role."""
from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from labeling.answer_schemas import ANSWER_MISSING_KEY, GRADE_UNKNOWN, GRADES_WRONG_COUNT
from labeling.task_kinds.relevance import GRADES as RELEVANCE_GRADES
from labeling.api import BAD_CREDENTIALS
from labeling.golden.api import GOLDEN_ANSWER_MISSING
from labeling.models import Label, Role, Task
from labeling.permissions import ROLE_REQUIRED_MESSAGE
from labeling.services.queue_engine import (
    ASSIGNMENT_NOT_YOURS,
    IDEMPOTENCY_KEY_REUSED,
    QUEUE_NOT_OPEN_TO_POOL,
    assignment_claim,
    label_submit,
)
from tests.labeling.conftest import GOOD_RELEVANCE_ANSWER

pytestmark = pytest.mark.django_db


def client_for(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def claim(client, queue):
    return client.post(f"/api/v1/queues/{queue.pk}/claim")


def submit(client, assignment_id, answer, **headers):
    return client.post(f"/api/v1/assignments/{assignment_id}/submit", {"answer": answer}, format="json", headers=headers)


def test_token_login_returns_a_token_that_authenticates(make_user):
    user = make_user(Role.LABELER, username="ana")
    response = APIClient().post("/api/v1/auth/token", {"username": "ana", "password": "pw-123456"}, format="json")
    assert response.status_code == 200
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {response.json()['token']}")
    me = client.get("/api/v1/me")
    assert me.json() == {"username": "ana", "role": "labeler", "pool": user.pool.name}


def test_me_shows_no_pool_for_staff(make_user):
    expert = make_user(Role.EXPERT, username="eve")
    assert client_for(expert).get("/api/v1/me").json() == {"username": "eve", "role": "expert", "pool": None}


def test_token_login_with_bad_credentials_is_a_400_json_error(make_user):
    make_user(Role.LABELER, username="ana")
    response = APIClient().post("/api/v1/auth/token", {"username": "ana", "password": "wrong"}, format="json")
    assert response.status_code == 400
    assert response.json() == {"error": {"code": "bad_credentials", "message": BAD_CREDENTIALS}}


@pytest.mark.parametrize("method,path", [
    ("get", "/api/v1/me"),
    ("get", "/api/v1/queues"),
    ("get", "/api/v1/me/labels"),
    ("post", "/api/v1/queues/1/claim"),
    ("post", "/api/v1/assignments/1/submit"),
    ("post", "/api/v1/assignments/1/skip"),
    ("get", "/api/v1/queues/1/tasks"),
    ("get", "/api/v1/tasks/1/golden-answer"),
])
def test_anonymous_requests_are_refused(method, path):
    response = getattr(APIClient(), method)(path)
    assert response.status_code in (401, 403)
    assert "error" in response.json()


def test_claim_returns_the_assignment_and_the_task_without_golden_fields(make_queue, labeler):
    queue = make_queue(tasks=1)
    response = claim(client_for(labeler), queue)
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"assignment"}
    assert set(body["assignment"]) == {"id", "expires_at", "task"}
    assert set(body["assignment"]["task"]) == {"id", "kind", "payload"}
    assert body["assignment"]["task"]["kind"] == "relevance"


def test_golden_and_normal_tasks_serialize_with_the_same_shape(make_queue, make_user):
    queue = make_queue(tasks=1, golden_tasks=1, golden_rate=0.5)
    golden_task = Task.objects.get(queue=queue, is_golden=True)
    normal_task = Task.objects.get(queue=queue, is_golden=False)
    Task.objects.filter(pk=golden_task.pk).update(priority=1)
    seen = {}
    # Exhaust the queue for one labeler; both kinds get served whatever the draws.
    client = client_for(make_user())
    while (response := claim(client, queue)).status_code == 200:
        assignment = response.json()["assignment"]
        seen[assignment["task"]["id"]] = assignment
        submit(client, assignment["id"], GOOD_RELEVANCE_ANSWER)
    golden, normal = seen[golden_task.pk], seen[normal_task.pk]
    assert set(golden) == set(normal) and set(golden["task"]) == set(normal["task"])
    assert set(golden["task"]["payload"]) == set(normal["task"]["payload"])
    assert "golden" not in str(golden).lower()


def test_claim_answers_204_when_nothing_is_left(make_queue, labeler):
    queue = make_queue(tasks=1, replication=1)
    client = client_for(labeler)
    lease = claim(client, queue).json()["assignment"]
    submit(client, lease["id"], GOOD_RELEVANCE_ANSWER)
    response = claim(client, queue)
    assert response.status_code == 204
    assert response.content == b""


def test_labeler_cannot_claim_from_a_queue_outside_their_pool(make_queue, make_user, in_house_pool, crowd_pool):
    queue = make_queue(tasks=1, allowed_pools=[in_house_pool])
    response = claim(client_for(make_user(Role.LABELER, pool=crowd_pool)), queue)
    assert response.status_code == 403
    assert response.json() == {"error": {"code": "queue_not_open", "message": QUEUE_NOT_OPEN_TO_POOL}}


def test_engineer_cannot_claim_work(make_queue, make_user):
    queue = make_queue(tasks=1)
    response = claim(client_for(make_user(Role.ENGINEER)), queue)
    assert response.status_code == 403
    assert response.json()["error"]["message"] == ROLE_REQUIRED_MESSAGE.format(roles="labeler or expert", role="engineer")


def test_submit_answers_201_then_200_with_the_identical_body_on_replay(make_queue, labeler):
    queue = make_queue(tasks=1)
    client = client_for(labeler)
    lease = claim(client, queue).json()["assignment"]
    first = submit(client, lease["id"], GOOD_RELEVANCE_ANSWER, **{"Idempotency-Key": "abc"})
    replay = submit(client, lease["id"], GOOD_RELEVANCE_ANSWER, **{"Idempotency-Key": "abc"})
    assert (first.status_code, replay.status_code) == (201, 200)
    assert replay.json() == first.json()
    assert first.json()["label"]["answer"] == GOOD_RELEVANCE_ANSWER
    assert Label.objects.count() == 1


def test_submit_with_a_reused_idempotency_key_on_another_assignment_is_a_409(make_queue, labeler):
    queue = make_queue(tasks=2)
    client = client_for(labeler)
    first = claim(client, queue).json()["assignment"]
    submit(client, first["id"], GOOD_RELEVANCE_ANSWER, **{"Idempotency-Key": "abc"})
    second = claim(client, queue).json()["assignment"]
    response = submit(client, second["id"], GOOD_RELEVANCE_ANSWER, **{"Idempotency-Key": "abc"})
    assert response.status_code == 409
    assert response.json() == {"error": {"code": "idempotency_key_reused", "message": IDEMPOTENCY_KEY_REUSED}}


@pytest.mark.parametrize("answer,message", [
    ({"grades": ["similar"] * 4}, GRADES_WRONG_COUNT.format(expected=5, got=4)),
    ({"grades": ["similar"] * 4 + ["great"]},
     GRADE_UNKNOWN.format(index=4, grade="great", allowed=", ".join(RELEVANCE_GRADES))),
    ({}, ANSWER_MISSING_KEY.format(key="grades")),
], ids=["wrong-number-of-grades", "unknown-grade", "missing-key"])
def test_submit_with_an_answer_outside_the_schema_is_a_400_with_the_exact_message(make_queue, labeler, answer, message):
    queue = make_queue(tasks=1)
    client = client_for(labeler)
    lease = claim(client, queue).json()["assignment"]
    response = submit(client, lease["id"], answer)
    assert response.status_code == 400
    assert response.json() == {"error": {"code": "answer_invalid", "message": message}}


def test_submit_without_an_answer_is_a_400_naming_the_field(make_queue, labeler):
    queue = make_queue(tasks=1)
    client = client_for(labeler)
    lease = claim(client, queue).json()["assignment"]
    response = client.post(f"/api/v1/assignments/{lease['id']}/submit", {}, format="json")
    assert response.status_code == 400
    assert set(response.json()["error"]["fields"]) == {"answer"}


def test_labeler_cannot_submit_or_skip_another_labelers_assignment(make_queue, make_user):
    queue = make_queue(tasks=1)
    owner, intruder = make_user(), client_for(make_user())
    lease = assignment_claim(queue=queue, labeler=owner)
    for response in (submit(intruder, lease.pk, GOOD_RELEVANCE_ANSWER),
                     intruder.post(f"/api/v1/assignments/{lease.pk}/skip")):
        assert response.status_code == 403
        assert response.json() == {"error": {"code": "not_your_assignment", "message": ASSIGNMENT_NOT_YOURS}}


def test_skip_answers_the_skipped_state_and_the_task_never_comes_back(make_queue, labeler):
    queue = make_queue(tasks=1)
    client = client_for(labeler)
    lease = claim(client, queue).json()["assignment"]
    response = client.post(f"/api/v1/assignments/{lease['id']}/skip")
    assert response.json() == {"id": lease["id"], "state": "skipped"}
    assert claim(client, queue).status_code == 204


def test_expired_lease_submit_over_http_is_410_once_its_slot_was_taken(make_queue, make_user, monkeypatch):
    from datetime import timedelta

    from django.utils import timezone

    queue = make_queue(tasks=1, replication=1, lease_seconds=60)
    slow, fast = make_user(), make_user()
    lease = assignment_claim(queue=queue, labeler=slow)
    later = timezone.now() + timedelta(seconds=120)
    monkeypatch.setattr(timezone, "now", lambda: later)
    assert claim(client_for(fast), queue).status_code == 200
    response = submit(client_for(slow), lease.pk, GOOD_RELEVANCE_ANSWER)
    assert response.status_code == 410
    assert response.json()["error"]["code"] == "lease_expired"


def test_me_labels_lists_only_my_own_labels(make_queue, make_user):
    queue = make_queue(tasks=2)
    me, other = make_user(), make_user()
    for labeler in (me, other):
        label_submit(assignment_id=assignment_claim(queue=queue, labeler=labeler).pk, labeler=labeler,
                     answer=GOOD_RELEVANCE_ANSWER)
    body = client_for(me).get("/api/v1/me/labels").json()
    assert body["count"] == 1
    assert [label["id"] for label in body["results"]] == list(Label.objects.filter(labeler=me).values_list("pk", flat=True))
    assert "is_golden" not in body["results"][0]


def test_queue_list_shows_my_pools_queues_with_counts(make_queue, make_user, in_house_pool, crowd_pool):
    mine = make_queue(tasks=3, golden_tasks=2, golden_rate=0.1, replication=1, allowed_pools=[in_house_pool])
    open_to_all = make_queue(tasks=1)
    make_queue(tasks=1, allowed_pools=[crowd_pool])
    me, other = make_user(Role.LABELER, pool=in_house_pool), make_user(Role.LABELER, pool=in_house_pool)
    label_submit(assignment_id=assignment_claim(queue=mine, labeler=other, rng=_never_golden()).pk, labeler=other,
                 answer=GOOD_RELEVANCE_ANSWER)
    label_submit(assignment_id=assignment_claim(queue=mine, labeler=me, rng=_never_golden()).pk, labeler=me,
                 answer=GOOD_RELEVANCE_ANSWER)
    assignment_claim(queue=mine, labeler=other, rng=_never_golden())

    body = client_for(me).get("/api/v1/queues").json()
    counts = {q["id"]: (q["tasks_total"], q["tasks_complete"], q["my_labels"], q["available_for_me"]) for q in body["results"]}
    # mine: 3 normal tasks, 2 labelled (replication 1), 1 leased by other -> only the 2 golden ones left for me.
    assert counts == {mine.pk: (3, 2, 1, 2), open_to_all.pk: (1, 0, 0, 1)}


def test_queue_list_runs_a_constant_number_of_queries(make_queue, labeler, django_assert_num_queries):
    client = client_for(labeler)
    make_queue(tasks=2)
    with django_assert_num_queries(2) as few:  # COUNT for the paginator, then the annotated page
        client.get("/api/v1/queues")
    for _ in range(5):
        make_queue(tasks=3)
    with django_assert_num_queries(len(few.captured_queries)):
        assert client.get("/api/v1/queues").json()["count"] == 6


def _never_golden():
    import random

    class Draws(random.Random):
        def random(self):
            return 0.99

    return Draws()


@pytest.mark.parametrize("path", ["/api/v1/queues/{queue}/tasks", "/api/v1/tasks/{task}/golden-answer"])
def test_labeler_cannot_read_staff_views_or_golden_answers(make_queue, labeler, path):
    queue = make_queue(golden_tasks=1)
    task = Task.objects.get(queue=queue)
    response = client_for(labeler).get(path.format(queue=queue.pk, task=task.pk))
    assert response.status_code == 403
    assert response.json()["error"]["message"] == ROLE_REQUIRED_MESSAGE.format(roles="expert or engineer", role="labeler")


def test_labeler_cannot_write_a_golden_answer(make_queue, labeler):
    queue = make_queue(tasks=1)
    task = Task.objects.get(queue=queue)
    response = client_for(labeler).post(f"/api/v1/tasks/{task.pk}/golden-answer", {"answer": GOOD_RELEVANCE_ANSWER}, format="json")
    assert response.status_code == 403
    assert not Task.objects.get(pk=task.pk).is_golden


@pytest.mark.parametrize("role", [Role.EXPERT, Role.ENGINEER, Role.ADMIN])
def test_staff_list_a_queues_tasks_with_the_golden_flag(make_queue, make_user, role):
    queue = make_queue(tasks=1, golden_tasks=1)
    body = client_for(make_user(role)).get(f"/api/v1/queues/{queue.pk}/tasks").json()
    assert body["count"] == 2
    assert sorted(t["is_golden"] for t in body["results"]) == [False, True]


def test_engineer_reads_but_cannot_write_golden_answers(make_queue, make_user):
    queue = make_queue(golden_tasks=1)
    task = Task.objects.get(queue=queue)
    engineer = client_for(make_user(Role.ENGINEER))
    assert engineer.get(f"/api/v1/tasks/{task.pk}/golden-answer").json()["answer"] == {"grades": ["similar"] * 5}
    response = engineer.post(f"/api/v1/tasks/{task.pk}/golden-answer", {"answer": GOOD_RELEVANCE_ANSWER}, format="json")
    assert response.status_code == 403


def test_expert_makes_a_task_golden_as_a_copy_and_the_task_itself_stays_normal(make_queue, make_user):
    queue = make_queue(tasks=1)
    task = Task.objects.get(queue=queue)
    expert = client_for(make_user(Role.EXPERT))
    assert expert.get(f"/api/v1/tasks/{task.pk}/golden-answer").json()["error"]["message"] == GOLDEN_ANSWER_MISSING
    response = expert.post(f"/api/v1/tasks/{task.pk}/golden-answer",
                           {"answer": GOOD_RELEVANCE_ANSWER, "reason": "clear case"}, format="json")
    assert response.status_code == 200
    assert response.json()["answer"] == GOOD_RELEVANCE_ANSWER
    assert not Task.objects.get(pk=task.pk).is_golden
    copy = Task.objects.get(queue=queue, is_golden=True)
    assert copy.twin_of_id == task.pk and copy.golden_item.source_task_id == task.pk
    assert expert.get(f"/api/v1/tasks/{task.pk}/golden-answer").json()["reason"] == "clear case"


def test_expert_golden_answer_is_validated_against_the_schema(make_queue, make_user):
    queue = make_queue(tasks=1)
    task = Task.objects.get(queue=queue)
    response = client_for(make_user(Role.EXPERT)).post(
        f"/api/v1/tasks/{task.pk}/golden-answer", {"answer": {"grades": ["similar"]}}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["message"] == GRADES_WRONG_COUNT.format(expected=5, got=1)


def test_openapi_schema_lists_the_labeling_endpoints(make_user):
    schema = client_for(make_user(Role.ENGINEER)).get("/api/schema/?format=json")
    paths = schema.json()["paths"]
    for path in ("/api/v1/queues/{queue_id}/claim", "/api/v1/assignments/{assignment_id}/submit",
                 "/api/v1/tasks/{task_id}/golden-answer", "/api/v1/auth/token"):
        assert path in paths
    submit_responses = paths["/api/v1/assignments/{assignment_id}/submit"]["post"]["responses"]
    assert {"200", "201", "400", "409", "410"} <= set(submit_responses)


def test_available_for_me_leaves_out_tasks_filled_by_live_leases_and_tasks_i_touched(make_queue, make_user):
    from datetime import timedelta

    from django.utils import timezone

    from labeling.selectors import queues_open_to
    from labeling.services.queue_engine import assignment_skip

    queue = make_queue(tasks=3, replication=2, lease_seconds=60)
    me, first, second, newcomer = make_user(), make_user(), make_user(), make_user()
    start = timezone.now()
    skipped = assignment_claim(queue=queue, labeler=me, now=start)
    assignment_skip(assignment_id=skipped.pk, labeler=me)
    assert assignment_claim(queue=queue, labeler=first, now=start).task_id == skipped.task_id
    assert assignment_claim(queue=queue, labeler=second, now=start).task_id == skipped.task_id

    def available(user, now):
        return queues_open_to(user=user, now=now).get(pk=queue.pk).available_for_me

    after_expiry = start + timedelta(seconds=61)
    # While both leases live, the skipped task is full for everyone; after they expire it is open
    # again, except for me who skipped it.
    assert (available(me, start), available(me, after_expiry)) == (2, 2)
    assert (available(newcomer, start), available(newcomer, after_expiry)) == (2, 3)
