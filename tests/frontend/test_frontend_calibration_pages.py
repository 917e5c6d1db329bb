"""The triage and calibration pages in the browser: an expert decides "the labelers are wrong" and
the labeler reads the feedback; an expert opens a session, the labeler answers blind in the kind's
editor, the expert reveals, the labeler sees their own answers beside the expert's, and the session
page shows the figures. Screenshots: /tmp/calibration_*.png."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from conftest import PASSWORD, relevance_payload
from frontend_pages import GradingPage, LoginPage
from labeling.golden.services import GoldenItemInput, golden_items_put, golden_set_create, queue_golden_sets_add
from labeling.models import Assignment, AssignmentState, FeedbackKind, LabelerFeedback, Role, Task, TriageDecision
from labeling.services.queue_engine import label_submit
from labeling.services.users import user_create

S, N = "similar", "not_similar"


def grades(text: str) -> dict:
    return {"grades": [S if letter == "s" else N for letter in text]}


@pytest.fixture
def golden_items(db, relevance_queue, media_images):
    golden_set = golden_set_create(name="calibration golden", task_kind="relevance")
    queue_golden_sets_add(queue=relevance_queue, golden_sets=[golden_set])
    items, _, _ = golden_items_put(golden_set=golden_set, items=[
        GoldenItemInput(key=f"g-{i}", payload=relevance_payload(media_images, 10 + i), answer=grades("sssss"),
                        reason="Every candidate is the same dress in another colour.")
        for i in range(2)])
    return items


def _label(task, labeler, answer):
    assignment = Assignment.objects.create(task=task, queue=task.queue, labeler=labeler, state=AssignmentState.ACTIVE,
                                           expires_at=timezone.now() + timedelta(minutes=10))
    label_submit(assignment_id=assignment.pk, labeler=labeler, answer=answer)


def test_an_expert_decides_the_labelers_are_wrong_in_triage_and_the_labeler_reads_the_feedback(
        live_server, browser_page, expert, labeler, pool, golden_items):
    other = user_create(username="omar", password=PASSWORD, role=Role.LABELER, pool=pool)
    golden_task = Task.objects.get(golden_item=golden_items[0])
    _label(golden_task, labeler, grades("ssssn"))
    _label(golden_task, other, grades("sssss"))
    page = browser_page
    login = LoginPage(page, live_server.url)
    login.sign_in("esther", PASSWORD)
    page.goto(f"{live_server.url}/overview/triage/?kind=relevance")
    miss = page.get_by_test_id(f"miss-{golden_items[0].pk}")
    expect(miss).to_contain_text("50.0%")
    page.screenshot(path="/tmp/calibration_triage_list.png", full_page=True)
    miss.get_by_role("link", name="Open").click()
    expect(page.get_by_test_id("triage-answers")).to_contain_text("lena")
    expect(page.get_by_test_id("golden-answer")).to_be_visible()
    expect(page.get_by_test_id("make-edge-case")).to_have_attribute("href", f"/overview/edge-cases/new/?task={golden_task.pk}")
    form = page.get_by_test_id("decide-labelers-wrong")
    form.get_by_role("combobox").select_option("golden")
    page.get_by_test_id("feedback-body").fill("Slot 5 is the same dress in blue: similar.")
    form.get_by_role("button", name="Send feedback").click()
    expect(page.get_by_test_id("triage-history")).to_contain_text("The labelers are wrong")
    expect(page.get_by_test_id("triage-history")).to_contain_text("feedback to 1 labeler")
    page.screenshot(path="/tmp/calibration_triage_item.png", full_page=True)
    decision = TriageDecision.objects.get()
    assert decision.expert == expert and decision.details["labelers"] == [labeler.pk]
    assert not LabelerFeedback.objects.filter(labeler=other).exists()

    login.sign_in("lena", PASSWORD)
    page.goto(f"{live_server.url}/me/quality/")
    expect(page.locator("#feedback-head").locator("..")).to_contain_text("Slot 5 is the same dress in blue: similar.")
    page.screenshot(path="/tmp/calibration_triage_feedback.png", full_page=True)
    assert LabelerFeedback.objects.get(labeler=labeler).kind == FeedbackKind.TRIAGE


def test_a_labeler_answers_a_session_blind_the_expert_reveals_and_the_labeler_sees_their_answers_beside_the_experts(
        live_server, browser_page, expert, labeler, golden_items):
    page = browser_page
    login = LoginPage(page, live_server.url)
    login.sign_in("esther", PASSWORD)
    page.goto(f"{live_server.url}/overview/calibration/new/?kind=relevance")
    page.get_by_label("Name").fill("Colour variants")
    page.get_by_test_id(f"golden-{golden_items[0].pk}").check()
    page.get_by_test_id(f"followup-{golden_items[1].pk}").check()
    page.get_by_test_id("labeler-lena").check()
    page.get_by_test_id("open-session").click()
    expect(page.get_by_test_id("session-status")).to_have_text("Open: labelers answer blind")
    session_url = page.url

    login.sign_in("lena", PASSWORD)
    page.goto(f"{live_server.url}/queues/")
    page.get_by_test_id("my-calibration").get_by_role("link", name="Answer").click()
    expect(page.locator("#calibration-answer")).to_have_attribute("data-ready", "true")
    # Blind: no expert answer, no reason on the page.
    expect(page.get_by_test_id("expert-answer")).to_have_count(0)
    expect(page.locator("body")).not_to_contain_text("another colour")
    grading = GradingPage(page)
    grading.focus(1)
    grading.type_grades("sssnn")
    page.screenshot(path="/tmp/calibration_blind.png", full_page=True)
    grading.submit()
    expect(page.get_by_test_id("calibration-waiting")).to_be_visible()

    login.sign_in("esther", PASSWORD)
    page.goto(session_url)
    expect(page.get_by_test_id("accuracy-before")).to_have_text("60.0%")
    page.get_by_test_id("reveal").click()
    expect(page.get_by_test_id("session-status")).to_have_text("Revealed: answers and reasons shown")

    login.sign_in("lena", PASSWORD)
    page.goto(session_url.replace("/overview/calibration/", "/calibration/"))
    revealed = page.get_by_test_id("revealed-1")
    expect(revealed).to_contain_text("your score 0.60")
    expect(revealed.get_by_test_id("expert-reason")).to_have_text("Every candidate is the same dress in another colour.")
    expect(revealed.get_by_test_id("own-answer")).to_contain_text("Not similar")
    expect(revealed.get_by_test_id("expert-answer")).not_to_contain_text("Not similar")
    expect(page.locator("#calibration-answer")).to_have_attribute("data-ready", "true")
    page.screenshot(path="/tmp/calibration_revealed.png", full_page=True)
    grading.focus(1)
    grading.type_grades("sssss")
    grading.submit()
    expect(page.get_by_test_id("revealed-1")).to_be_visible()
    assert LabelerFeedback.objects.get(labeler=labeler).kind == FeedbackKind.CALIBRATION

    login.sign_in("esther", PASSWORD)
    page.goto(session_url)
    expect(page.get_by_test_id("accuracy-before")).to_have_text("60.0%")
    expect(page.get_by_test_id("accuracy-after")).to_have_text("100.0%")
    expect(page.get_by_test_id("participant-lena")).to_contain_text("60.0%")
    page.screenshot(path="/tmp/calibration_session.png", full_page=True)
