"""The triage queue: its ranking on a hand-built set, and the three decisions with their history
(labeling/calibration/CALIBRATION_sessions.md)."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from labeling.calibration.audit import AuditAction
from labeling.calibration.guides import guide_version_publish
from labeling.calibration.triage import (TRIAGE_FEEDBACK_EMPTY, TRIAGE_NO_REFERENCE, TriageError, triage_ambiguous,
                                         triage_golden_fix, triage_labelers_wrong)
from labeling.calibration.triage_selectors import golden_miss_items, low_agreement_items, triage_item
from labeling.golden.selectors import golden_item_for_task
from labeling.golden.services import GoldenItemInput, golden_items_put, golden_set_create, queue_golden_sets_add
from labeling.models import (Assignment, AssignmentState, AuditEvent, EdgeCase, FeedbackKind, GoldenItemRevision, GuideVersion, Label,
                             LabelerFeedback, Role, Task, TriageDecision, TriageDecisionKind)
from labeling.selectors import guide_version_latest
from labeling.services.queue_engine import label_submit
from labeling.services.queues import queue_create
from labeling.services.tasks import TaskSpec, tasks_create
from tests.labeling.conftest import relevance_payload

S, N = "similar", "not_similar"


def grades(text: str) -> dict:
    return {"grades": [S if letter == "s" else N for letter in text]}


def label_task(task, labeler, answer):
    """A lease on exactly ``task`` (the test picks the task, not claim's order), then the real submit."""
    assignment = Assignment.objects.create(task=task, queue=task.queue, labeler=labeler, state=AssignmentState.ACTIVE,
                                           expires_at=timezone.now() + timedelta(minutes=10))
    return label_submit(assignment_id=assignment.pk, labeler=labeler, answer=answer)


@pytest.fixture
def world(make_user):
    expert = make_user(Role.EXPERT)
    labelers = [make_user(Role.LABELER, username=f"lab-{i}") for i in range(3)]
    queue = queue_create(name="triage queue", task_kind="relevance", replication=3)
    tasks = tasks_create(queue=queue, specs=[TaskSpec(source_key=f"t-{i}", payload=relevance_payload(i))
                                             for i in range(3)])
    golden_set = golden_set_create(name="triage golden", task_kind="relevance")
    queue_golden_sets_add(queue=queue, golden_sets=[golden_set])
    golden_items_put(golden_set=golden_set, items=[
        GoldenItemInput(key=f"g-{i}", payload=relevance_payload(10 + i), answer=grades("sssss"), reason="all similar")
        for i in range(3)])
    golden_tasks = list(Task.objects.filter(queue=queue, is_golden=True).order_by("golden_item_id"))
    # Normal tasks: task 0 all agree, task 1 split on every slot, task 2 split on three slots.
    answers = {tasks[0].pk: ["sssss", "sssss", "sssss"], tasks[1].pk: ["sssss", "nnnnn", "sssss"],
               tasks[2].pk: ["sssss", "ssnnn", "sssss"]}
    # Golden copies: item 0 missed by 1 of 3, item 1 by 3 of 3, item 2 by none.
    answers.update({golden_tasks[0].pk: ["sssss", "ssssn", "sssss"],
                    golden_tasks[1].pk: ["nssss", "nnsss", "snsss"],
                    golden_tasks[2].pk: ["sssss", "sssss", "sssss"]})
    for task in [*tasks, *golden_tasks]:
        for labeler, text in zip(labelers, answers[task.pk]):
            label_task(task, labeler, grades(text))
    return expert, labelers, queue, tasks, golden_tasks


def test_triage_ranks_a_hand_built_set_in_the_expected_order(world):
    _, _, _, tasks, golden_tasks = world
    low = low_agreement_items(task_kind="relevance")
    # Item agreement (mean over slots of the share giving the most common grade): task 1 is 2/3 on
    # every slot; task 2 three slots at 2/3 -> 12/15; golden item 1 two slots -> 13/15; golden item
    # 0 one slot -> 14/15; the rest agree fully.
    by_task = [(row.task_id, round(row.agreement, 4)) for row in low]
    assert by_task[:4] == [(tasks[1].pk, round(2 / 3, 4)), (tasks[2].pk, 0.8), (golden_tasks[1].pk, round(13 / 15, 4)),
                           (golden_tasks[0].pk, round(14 / 15, 4))]
    assert [agreement for _, agreement in by_task[4:]] == [1.0, 1.0]
    misses = golden_miss_items(task_kind="relevance")
    assert [(m.golden_item_id, m.n_wrong, m.n_labels) for m in misses] == [
        (golden_tasks[1].golden_item_id, 3, 3), (golden_tasks[0].golden_item_id, 1, 3)]


def test_fixing_a_golden_answer_rescores_exactly_the_labels_given_against_it_and_keeps_history(world):
    expert, labelers, _, _, golden_tasks = world
    task = golden_tasks[1]
    item = golden_item_for_task(task=task)
    other_item_answer = golden_item_for_task(task=golden_tasks[0]).answer
    decision = triage_golden_fix(task=task, expert=expert, answer=grades("nssss"), reason="slot 1 is not similar")
    assert decision.kind == TriageDecisionKind.GOLDEN_WRONG and decision.expert == expert
    details = decision.details
    assert (details["old_revision"], details["new_revision"]) == (1, 2)
    assert details["old_answer"] == grades("sssss") and details["new_answer"] == grades("nssss")
    rescored = {row["username"]: (row["before"]["score"], row["after"]["score"]) for row in details["rescored"]}
    # Exactly the three labels on this item's copies, before and after.
    assert rescored == {"lab-0": (0.8, 1.0), "lab-1": (0.6, 0.8), "lab-2": (0.8, 0.6)}
    assert sorted(row["label"] for row in details["rescored"]) == sorted(
        Label.objects.filter(task__golden_item=item).values_list("pk", flat=True))
    assert list(GoldenItemRevision.objects.filter(item=item).order_by("revision").values_list("answer", flat=True)) == [
        grades("sssss"), grades("nssss")]
    assert golden_item_for_task(task=golden_tasks[0]).answer == other_item_answer
    # Scores are computed on read: the triage page scores against the new answer.
    view = triage_item(task_id=task.pk)
    assert {a.username: a.score for a in view.answers} == {"lab-0": 1.0, "lab-1": 0.8, "lab-2": 0.6}
    assert [d.pk for d in view.decisions] == [decision.pk]
    actions = set(AuditEvent.objects.values_list("action", flat=True))
    assert {AuditAction.GOLDEN_ANSWER_CHANGED, AuditAction.TRIAGE_DECIDED} <= actions


def test_an_ambiguous_case_becomes_an_edge_case_of_a_new_guide_version(world):
    expert, _, _, tasks, _ = world
    first = guide_version_publish(task_kind="relevance", body="# Guide\n\n- Grade the product.", published_by=expert)
    decision = triage_ambiguous(task=tasks[1], expert=expert, rule="Colour variants",
                                reason="A colour variant is similar.", answer=grades("sssss"))
    version = guide_version_latest(task_kind="relevance")
    assert version.version == first.version + 1
    assert version.body.startswith(first.body) and "Edge case (Colour variants)" in version.body
    edge_case = EdgeCase.objects.get(pk=decision.details["edge_case"])
    assert edge_case.guide_version == version and edge_case.source_task == tasks[1]
    assert edge_case.answer == grades("sssss") and edge_case.reason == "A colour variant is similar."
    assert decision.kind == TriageDecisionKind.AMBIGUOUS and decision.details["guide_version"] == version.pk
    assert GuideVersion.objects.filter(guide=version.guide).count() == 2


def test_labelers_wrong_sends_feedback_to_each_labeler_who_answered_wrong_only(world):
    expert, labelers, _, tasks, golden_tasks = world
    with pytest.raises(TriageError, match=TRIAGE_FEEDBACK_EMPTY):
        triage_labelers_wrong(task=golden_tasks[0], expert=expert, body="  ")
    with pytest.raises(TriageError, match=TRIAGE_NO_REFERENCE.split("{")[0]):
        triage_labelers_wrong(task=tasks[1], expert=expert, body="Look again.")
    decision = triage_labelers_wrong(task=golden_tasks[0], expert=expert, body="Slot 5 is a colour variant.")
    feedback = list(LabelerFeedback.objects.filter(kind=FeedbackKind.TRIAGE))
    assert [f.labeler_id for f in feedback] == [labelers[1].pk]
    assert feedback[0].label.task_id == golden_tasks[0].pk and feedback[0].author == expert
    assert "grades" not in str(feedback[0].details)
    # A normal task without a golden answer: the expert names the right answer.
    triage_labelers_wrong(task=tasks[1], expert=expert, body="All similar.", answer=grades("sssss"))
    assert LabelerFeedback.objects.filter(kind=FeedbackKind.TRIAGE, labeler=labelers[1]).count() == 2
    assert TriageDecision.objects.count() == 2 and decision.expert == expert
    assert AuditEvent.objects.filter(action=AuditAction.TRIAGE_DECIDED).count() == 2


def test_labelers_never_reach_the_triage_pages_and_experts_decide_there(world, client):
    expert, labelers, _, tasks, golden_tasks = world
    client.force_login(labelers[0])
    assert client.get("/overview/triage/").status_code == 403
    assert client.get(f"/overview/triage/{golden_tasks[0].pk}/").status_code == 403
    client.force_login(expert)
    page = client.get("/overview/triage/?kind=relevance")
    assert page.status_code == 200
    assert f'/overview/triage/{tasks[1].pk}/' in page.content.decode()
    item_page = client.get(f"/overview/triage/{golden_tasks[0].pk}/")
    assert item_page.status_code == 200 and b"lab-1" in item_page.content
    response = client.post(f"/overview/triage/{golden_tasks[0].pk}/",
                           {"decision": "labelers_wrong", "answer_source": "golden", "body": "Slot 5 again."})
    assert response.status_code == 302
    assert LabelerFeedback.objects.get(kind=FeedbackKind.TRIAGE).labeler == labelers[1]
    refused = client.post(f"/overview/triage/{golden_tasks[0].pk}/", {"decision": "nonsense"})
    assert refused.status_code == 400


def test_the_triage_list_costs_the_same_queries_whatever_the_labels(world, make_user, client,
                                                                   django_assert_num_queries):
    expert, _, _, tasks, _ = world
    client.force_login(expert)
    client.get("/overview/triage/")
    # The session and user, the kind's label records, the golden labels, the decisions shown.
    with django_assert_num_queries(5):
        client.get("/overview/triage/")
    for i in range(2):
        label_task(tasks[0], make_user(Role.LABELER, username=f"more-{i}"), grades("nnnnn"))
    with django_assert_num_queries(5):
        client.get("/overview/triage/")


def test_the_ambiguous_decision_from_the_page_publishes_the_guide_with_the_edge_case(world, client):
    expert, _, _, tasks, golden_tasks = world
    guide_version_publish(task_kind="relevance", body="# Guide", published_by=expert)
    client.force_login(expert)
    refused = client.post(f"/overview/triage/{golden_tasks[1].pk}/", {"decision": "ambiguous", "rule": "",
                                                                     "reason": "x", "answer_source": "golden"})
    assert refused.status_code == 400 and GuideVersion.objects.count() == 1
    done = client.post(f"/overview/triage/{golden_tasks[1].pk}/", {
        "decision": "ambiguous", "rule": "Colour variants", "reason": "Colour does not change the item.",
        "answer_source": "golden"})
    assert done.status_code == 302
    assert guide_version_latest(task_kind="relevance").version == 2
    assert EdgeCase.objects.get().answer == grades("sssss")
    page = client.get(f"/overview/triage/{golden_tasks[1].pk}/").content.decode()
    assert "edge case #" in page and "guide v2" in page


def test_the_triage_item_page_costs_the_same_queries_whatever_the_labels(world, make_user, client):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    expert, _, _, _, golden_tasks = world
    client.force_login(expert)
    url = f"/overview/triage/{golden_tasks[0].pk}/"
    client.get(url)
    with CaptureQueriesContext(connection) as before:
        assert client.get(url).status_code == 200
    for i in range(3):
        label_task(golden_tasks[0], make_user(Role.LABELER, username=f"extra-{i}"), grades("nnnnn"))
    with CaptureQueriesContext(connection) as after:
        assert client.get(url).status_code == 200
    assert len(after.captured_queries) == len(before.captured_queries)
