"""The expert's calibration loop in the browser, end to end (issue 11): two labelers disagree on an
item; the expert opens it from Triage, decides it is ambiguous and so publishes guide v2 with it as
an edge case; a labeler on a queue under v2 sees the edge case in the guide panel, is refused work
until qualified, fails the qualification once, passes it, and then gets a task.
Screenshots: /tmp/calibration_loop_*.png."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from labeling.calibration.guides import guide_version_publish
from labeling.golden.services import GoldenItemInput, golden_items_put, golden_set_create
from labeling.models import (AuditEvent, EdgeCase, GuideVersion, Label, Qualification, QualificationStatus, Role,
                             TaskKind, TriageDecision, TriageDecisionKind)
from labeling.selectors import guide_version_latest
from labeling.services.queue_engine import QUALIFICATION_REQUIRED, assignment_claim, label_submit
from labeling.services.queues import queue_calibration_update, queue_create
from labeling.services.tasks import TaskSpec, tasks_create
from labeling.services.users import user_create
from labeling.task_kinds import task_kind_spec

from conftest import PASSWORD, relevance_payload
from frontend_pages import GradingPage, LoginPage, qualification_item_answer

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

GUIDE_V1 = """# Relevance at 5

Grade every product against the query object.

- Between two grades, pick the **lower** one.
"""
RULE = "Colour alone"
REASON = "The same dress in another colour is still similar: colour alone never makes it not similar."
RIGHT = {"grades": ["similar"] * 5}


def _grades(text: str) -> dict:
    return {"grades": ["similar" if letter == "s" else "not_similar" for letter in text]}


@pytest.fixture
def disputed_task(expert, pool, media_images):
    """A queue under guide v1 whose one task two labelers graded differently in 3 of 5 slots,
    through the real claim and submit: item agreement (2 * 1.0 + 3 * 0.5) / 5 = 70%."""
    guide_v1 = guide_version_publish(task_kind=TaskKind.RELEVANCE, body=GUIDE_V1, published_by=expert,
                                     change_note="first")
    queue = queue_create(name="Relevance: first batch", task_kind=TaskKind.RELEVANCE, replication=2,
                         allowed_pools=[pool], guide_version=guide_v1)
    (task,) = tasks_create(queue=queue, specs=[TaskSpec(source_key="q-0", payload=relevance_payload(media_images, 0))])
    for username, answer in (("omar", "sssss"), ("olga", "ssnnn")):
        grader = user_create(username=username, password=PASSWORD, role=Role.LABELER, pool=pool)
        assignment = assignment_claim(queue=queue, labeler=grader)
        assert assignment.task_id == task.pk
        label_submit(assignment_id=assignment.pk, labeler=grader, answer=_grades(answer))
    return task


@pytest.fixture
def qualification_set(media_images):
    golden_set = golden_set_create(name="relevance qualification", task_kind=TaskKind.RELEVANCE)
    golden_items_put(golden_set=golden_set, items=[
        GoldenItemInput(key=f"q-{i}", payload=relevance_payload(media_images, 10 + i), answer=RIGHT,
                        reason=f"Same cut and fabric: similar (item {i}).") for i in range(2)])
    return golden_set


def _answer_qualification_item(page, keys: str) -> None:
    qualification_item_answer(page, keys)
    page.keyboard.press("Enter")  # past the expert's answer to the next item or the result


def test_an_edge_case_from_triage_reaches_a_labeler_who_qualifies_under_the_new_guide_and_gets_tasks(
        live_server, browser_page, expert, labeler, pool, media_images, disputed_task, qualification_set):
    page = browser_page
    login = LoginPage(page, live_server.url)

    # The expert finds the item in Triage and decides the case is ambiguous, taking omar's answer.
    login.sign_in("esther", PASSWORD)
    page.goto(f"{live_server.url}/overview/triage/?kind=relevance")
    row = page.get_by_test_id(f"low-{disputed_task.pk}")
    expect(row).to_contain_text("70.0%")
    row.get_by_role("link", name="Open").click()
    expect(page).to_have_url(f"{live_server.url}/overview/triage/{disputed_task.pk}/")
    expect(page.get_by_test_id("answer-omar")).to_be_visible()
    expect(page.get_by_test_id("answer-olga")).to_be_visible()
    omar_label = Label.objects.get(task=disputed_task, labeler__username="omar")
    form = page.get_by_test_id("decide-ambiguous")
    form.get_by_label("Rule it illustrates").fill(RULE)
    form.get_by_label("The right answer").select_option(f"label-{omar_label.pk}")
    form.get_by_label("Reason").fill(REASON)
    page.screenshot(path="/tmp/calibration_loop_triage_item.png", full_page=True)
    form.get_by_role("button", name="Make an edge case and publish the guide").click()
    expect(page.locator("body")).to_contain_text("Decision recorded.")
    history = page.get_by_test_id("triage-history")
    expect(history).to_contain_text("The case is ambiguous")
    expect(history).to_contain_text(f"({RULE}), guide v2")
    # The decision published v2: the history says so, with the triage's change note.
    page.goto(f"{live_server.url}/overview/guides/relevance/versions/")
    expect(page.get_by_test_id("guide-version-2")).to_contain_text(
        f"Edge case from triage of task #{disputed_task.pk}: {RULE}")

    # A queue keeps the guide version it was made with, and the product has no page or service that
    # moves a queue to a newer version, nor a page that makes a relevance queue: the queue under v2
    # is made through the service, as new queues are (with the newest version), and its
    # qualification is set through the service the staff settings form calls.
    guide_v2 = guide_version_latest(task_kind=TaskKind.RELEVANCE)
    assert guide_v2.version == 2
    queue = queue_create(name="Relevance under guide v2", task_kind=TaskKind.RELEVANCE, replication=2,
                         allowed_pools=[pool], guide_version=guide_v2)
    tasks_create(queue=queue, specs=[TaskSpec(source_key=f"v2-{n}", payload=relevance_payload(media_images, 20 + n))
                                     for n in range(2)])
    queue = queue_calibration_update(queue=queue, requires_qualification=True, qualification_set=qualification_set,
                                     qualification_pass_mark=0.8, qualification_items=2, recalibration_window=None,
                                     recalibration_threshold=None, immediate_feedback=False)

    # The labeler is sent to qualify from My queues and from the work page, whose guide panel shows
    # v2 with the edge case: its rule, the answer in words and the reason.
    page.context.clear_cookies()
    login.sign_in("lena", PASSWORD)
    page.goto(f"{live_server.url}/queues/")
    expect(page.get_by_test_id(f"qualify-first-{queue.pk}")).to_be_visible()
    page.goto(f"{live_server.url}/queues/{queue.pk}/work/")
    expect(page.locator("#grader")).to_have_attribute("data-mode", "refused")
    qualify_url = f"/queues/{queue.pk}/qualify/"
    refusal = QUALIFICATION_REQUIRED.format(kind=task_kind_spec(TaskKind.RELEVANCE).label, url=qualify_url)
    expect(page.get_by_test_id("claim-refusal")).to_have_text(refusal[:refusal.index(qualify_url)])
    page.locator("#open-guide").click()
    expect(page.locator("#guide-overlay")).to_be_visible()
    expect(page.locator("#guide-title")).to_contain_text("v2")
    expect(page.get_by_test_id("guide-body")).to_contain_text(f"Edge case ({RULE}): {REASON}")
    edge_case = EdgeCase.objects.get()
    card = page.get_by_test_id("guide-edge-cases").get_by_test_id(f"edge-case-{edge_case.pk}")
    expect(page.get_by_test_id("guide-edge-cases").get_by_test_id("edge-case-rule")).to_contain_text([RULE])
    expect(card.get_by_test_id("edge-case-answer")).to_contain_text("Product 5: Similar")
    expect(card).to_contain_text(REASON)
    expect(card).to_contain_text("guide v2")
    page.screenshot(path="/tmp/calibration_loop_guide_panel.png")
    page.keyboard.press("Escape")
    expect(page.locator("#guide-overlay")).to_be_hidden()
    page.get_by_test_id("qualify-link").click()
    expect(page).to_have_url(f"{live_server.url}{qualify_url}")

    # First attempt: every slot wrong, so it fails; the work stays closed.
    page.get_by_test_id("qualify-start").click()
    _answer_qualification_item(page, "nnnnn")
    _answer_qualification_item(page, "nnnnn")
    expect(page.get_by_test_id("qualify-result-title")).to_have_text("Not passed yet: 0%")
    expect(page.get_by_test_id("qualify-go-work")).to_be_hidden()
    page.screenshot(path="/tmp/calibration_loop_failed.png")

    # Second attempt: right, so it passes, and the work page gives a task.
    page.get_by_test_id("qualify-retry").click()
    _answer_qualification_item(page, "sssss")
    _answer_qualification_item(page, "sssss")
    expect(page.get_by_test_id("qualify-result-title")).to_have_text("You passed: 100%")
    page.get_by_test_id("qualify-go-work").click()
    expect(page).to_have_url(f"{live_server.url}/queues/{queue.pk}/work/")
    grading = GradingPage(page)
    grading.wait_for_task()
    expect(page.get_by_test_id("claim-refusal")).to_have_count(0)
    page.screenshot(path="/tmp/calibration_loop_task.png")

    # The database agrees: v2 holds the triage's edge case, and the pass came after a failure, under v2.
    assert GuideVersion.objects.filter(guide=guide_v2.guide).count() == 2
    assert (edge_case.guide_version_id, edge_case.source_task_id, edge_case.rule, edge_case.reason) == (
        guide_v2.pk, disputed_task.pk, RULE, REASON)
    assert edge_case.answer == _grades("sssss")
    decision = TriageDecision.objects.get(task=disputed_task)
    assert (decision.kind, decision.expert, decision.details["edge_case"]) == (
        TriageDecisionKind.AMBIGUOUS, expert, edge_case.pk)
    assert guide_v2.body.endswith(f"- Edge case ({RULE}): {REASON}") and guide_v2.created_by == expert
    attempts = list(Qualification.objects.filter(labeler=labeler).order_by("pk")
                    .values_list("status", "guide_version_id"))
    assert attempts == [(QualificationStatus.FAILED, guide_v2.pk), (QualificationStatus.PASSED, guide_v2.pk)]
    assert AuditEvent.objects.filter(action="triage.decided", actor=expert).count() == 1
    assignment_id = grading.assignment_id
    assert queue.assignments.get(pk=assignment_id).labeler == labeler
