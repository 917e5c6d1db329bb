"""Browser tests of qualification and immediate feedback: a labeler is sent to qualify, fails once,
passes, gets tasks, sees the expert's answer after a golden item, and marks feedback read."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from labeling.golden.services import GoldenItemInput, golden_items_put, golden_set_create, queue_golden_sets_add
from labeling.models import FeedbackKind, LabelerFeedback, LabelerFlag, Qualification, QualificationStatus, Queue
from labeling.services.queues import queue_calibration_update

from conftest import PASSWORD, relevance_payload
from frontend_pages import RECORD_VIOLATIONS, LoginPage, csp_violations, qualification_item_answer

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

RIGHT = {"grades": ["similar"] * 5}


@pytest.fixture
def qualifying_queue(relevance_queue, media_images):
    """The relevance queue, requiring a two-item qualification, with one golden item served first and
    immediate feedback on."""
    qualification_set = golden_set_create(name="relevance qualification", task_kind="relevance")
    golden_items_put(golden_set=qualification_set, items=[
        GoldenItemInput(key=f"q-{i}", payload=relevance_payload(media_images, 10 + i), answer=RIGHT,
                        reason=f"Same cut and fabric: similar (item {i}).") for i in range(2)])
    served = golden_set_create(name="relevance golden", task_kind="relevance")
    queue_golden_sets_add(queue=relevance_queue, golden_sets=[served])
    golden_items_put(golden_set=served, items=[GoldenItemInput(
        key="g-0", payload=relevance_payload(media_images, 20), answer=RIGHT, reason="Only the colour differs.")])
    Queue.objects.filter(pk=relevance_queue.pk).update(golden_rate=1.0)
    relevance_queue.refresh_from_db()
    return queue_calibration_update(queue=relevance_queue, requires_qualification=True,
                                    qualification_set=qualification_set, qualification_pass_mark=0.8,
                                    qualification_items=2, recalibration_window=None, recalibration_threshold=None,
                                    immediate_feedback=True)


def test_a_labeler_is_sent_to_qualify_fails_once_passes_then_gets_tasks_and_feedback(
        live_server, browser_page, labeler, qualifying_queue):
    page = browser_page
    page.add_init_script(RECORD_VIOLATIONS)
    LoginPage(page, live_server.url).sign_in("lena", PASSWORD)
    page.goto(f"{live_server.url}/queues/")
    expect(page.get_by_test_id(f"qualify-first-{qualifying_queue.pk}")).to_be_visible()

    # The work page, opened directly, shows claim's refusal with a link to the qualification.
    page.goto(f"{live_server.url}/queues/{qualifying_queue.pk}/work/")
    expect(page.locator("#grader")).to_have_attribute("data-mode", "refused")
    expect(page.get_by_test_id("claim-refusal")).to_contain_text("passed the Relevance at 5 qualification")
    page.screenshot(path="/tmp/qualify_refused.png")
    page.get_by_test_id("qualify-link").click()
    expect(page).to_have_url(f"{live_server.url}/queues/{qualifying_queue.pk}/qualify/")
    expect(page.get_by_test_id("qualify-standing")).to_contain_text("passed its qualification")
    page.screenshot(path="/tmp/qualify_intro.png")

    # First attempt: every slot wrong; the expert's answer and reason after each item.
    page.get_by_test_id("qualify-start").click()
    qualification_item_answer(page, "nnnnn")
    expect(page.get_by_test_id("qualify-verdict")).to_contain_text("Not quite")
    expect(page.get_by_test_id("qualify-reason")).to_contain_text("Same cut and fabric")
    expect(page.get_by_test_id("qualify-expert-answer")).to_have_text(
        "grades: 1 similar · 2 similar · 3 similar · 4 similar · 5 similar")
    for slot in range(1, 6):  # the editor now shows the expert's answer
        expect(page.get_by_test_id(f"candidate-{slot}")).to_have_attribute("data-grade", "similar")
    page.screenshot(path="/tmp/qualify_feedback.png")
    page.keyboard.press("Enter")
    qualification_item_answer(page, "nnnnn")
    page.keyboard.press("Enter")
    expect(page.get_by_test_id("qualify-result-title")).to_have_text("Not passed yet: 0%")
    expect(page.get_by_test_id("qualify-go-work")).to_be_hidden()
    page.screenshot(path="/tmp/qualify_failed.png")
    assert Qualification.objects.get(labeler=labeler).status == QualificationStatus.FAILED

    # Second attempt: right; then the queue's tasks.
    page.get_by_test_id("qualify-retry").click()
    qualification_item_answer(page, "sssss")
    expect(page.get_by_test_id("qualify-verdict")).to_contain_text("Right")
    page.keyboard.press("Enter")
    qualification_item_answer(page, "sssss")
    page.keyboard.press("Enter")
    expect(page.get_by_test_id("qualify-result-title")).to_have_text("You passed: 100%")
    page.screenshot(path="/tmp/qualify_passed.png")
    page.get_by_test_id("qualify-go-work").click()

    # The golden item comes first (golden rate 1): after submitting it, the expert's answer shows.
    grader = page.locator("#grader")
    expect(grader).to_have_attribute("data-mode", "task")
    expect(page.get_by_test_id("golden-feedback")).to_be_hidden()  # never before the answer
    for key in "nnnnn":
        page.keyboard.press(key)
    page.keyboard.press("Enter")
    expect(grader).to_have_attribute("data-mode", "feedback")
    expect(page.get_by_test_id("golden-feedback-verdict")).to_contain_text("differs from the expert's")
    expect(page.get_by_test_id("golden-feedback-reason")).to_have_text("Only the colour differs.")
    expect(page.get_by_test_id("golden-feedback-answer")).to_have_text(
        "grades: 1 similar · 2 similar · 3 similar · 4 similar · 5 similar")
    page.screenshot(path="/tmp/qualify_golden_feedback.png")
    page.keyboard.press("Enter")
    expect(grader).to_have_attribute("data-mode", "task")
    expect(page.get_by_test_id("golden-feedback")).to_be_hidden()
    for key in "sssss":
        page.keyboard.press(key)
    page.keyboard.press("Enter")  # a normal task: no feedback, straight to the next
    expect(page.get_by_test_id("session-count")).to_have_text("2")
    expect(page.get_by_test_id("golden-feedback")).to_be_hidden()

    # The miss is in the feed, unread, and the labeler marks it read.
    page.goto(f"{live_server.url}/me/quality/")
    item = page.get_by_test_id("feedback-item").filter(has_text="Golden item missed")
    expect(item.get_by_test_id("feed-unread")).to_be_visible()
    expect(item).to_contain_text("Only the colour differs.")
    expect(item.get_by_test_id("feed-expert-answer")).to_have_text(
        "grades: 1 similar · 2 similar · 3 similar · 4 similar · 5 similar")
    page.screenshot(path="/tmp/qualify_feed.png")
    item.get_by_test_id("feed-mark-read").click()
    expect(page.get_by_test_id("feed-unread")).to_have_count(0)
    assert LabelerFeedback.objects.get(labeler=labeler, kind=FeedbackKind.GOLDEN_MISS).read_at is not None
    assert csp_violations(page) == []


def test_an_expert_sees_a_flagged_labeler_and_clears_the_flag(live_server, browser_page, labeler, expert,
                                                               qualifying_queue):
    LabelerFlag.objects.create(labeler=labeler, task_kind="relevance", queue=qualifying_queue, rolling_accuracy=0.4,
                               window=10, threshold=0.7)
    page = browser_page
    LoginPage(page, live_server.url).sign_in("esther", PASSWORD)
    page.goto(f"{live_server.url}/overview/quality/labelers/{labeler.pk}/")
    row = page.get_by_test_id("standing-relevance")
    expect(row).to_contain_text("rolling accuracy 40%")
    expect(row).to_contain_text("threshold 70%")
    page.screenshot(path="/tmp/qualify_expert_standing.png")
    page.get_by_test_id("clear-flag-relevance").click()
    expect(page.get_by_test_id("standing-relevance")).to_contain_text("not flagged")
    expect(page.get_by_test_id("history-flag")).to_contain_text("cleared")
    assert LabelerFlag.objects.get(labeler=labeler).cleared_by == expert
