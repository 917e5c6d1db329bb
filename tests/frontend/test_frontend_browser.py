"""Browser tests: real Chromium drives the real pages against the live server, keyboard first."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from evaluation.models import EvalRun, EvalRunStatus
from labeling.models import Assignment, AssignmentState, Label
from labeling.services.queues import MIN_LABELS_MISSING

from conftest import (JUDGED_RUN_BAD_RATE, JUDGED_RUN_EXTREMELY_SIMILAR_P_AT_5, JUDGED_RUN_SIMILAR_P_AT_5,
                      PASSWORD)
from frontend_pages import LoginPage, MyQueuesPage, QueueSettingsForm, RunPage

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_labeler_grades_a_task_with_the_keyboard_only_and_the_label_is_stored(
        live_server, browser_page, labeler, relevance_queue):
    LoginPage(browser_page, live_server.url).sign_in("lena", PASSWORD)
    grading = MyQueuesPage(browser_page).start(relevance_queue.pk)
    first_assignment = grading.assignment_id

    grading.type_grades("essnm")
    for slot, grade in enumerate(["extremely_similar", "similar", "similar", "not_similar", "marginally_similar"], 1):
        grading.expect_grade(slot, grade)
    grading.grade(2, "d")
    grading.submit()

    grading.expect_session_count(1)
    grading.wait_for_task()
    assert grading.assignment_id != first_assignment, "Enter must load the next task"
    label = Label.objects.get(labeler=labeler)
    assert label.assignment_id == first_assignment
    assert label.answer == {"grades": ["extremely_similar", "did_not_load", "similar", "not_similar",
                                       "marginally_similar"]}
    assert label.guide_version == relevance_queue.guide_version
    assert label.idempotency_key


def test_enter_with_a_missing_grade_names_the_slot_and_stores_nothing(
        live_server, browser_page, labeler, relevance_queue):
    LoginPage(browser_page, live_server.url).sign_in("lena", PASSWORD)
    grading = MyQueuesPage(browser_page).start(relevance_queue.pk)

    grading.type_grades("ess")
    grading.grade(5, "n")
    grading.submit()

    grading.expect_message("Slot 4 has no grade yet.")
    grading.expect_marked_missing(4)
    grading.expect_focused(4)
    grading.expect_session_count(0)
    assert Label.objects.count() == 0

    grading.type_grades("m")
    grading.submit()
    grading.expect_session_count(1)
    assert Label.objects.get(labeler=labeler).answer["grades"][3] == "marginally_similar"


def test_guide_opens_with_question_mark_and_closes_with_escape(live_server, browser_page, labeler, relevance_queue):
    LoginPage(browser_page, live_server.url).sign_in("lena", PASSWORD)
    grading = MyQueuesPage(browser_page).start(relevance_queue.pk)
    grading.open_guide()
    expect(browser_page.get_by_test_id("guide-body")).to_contain_text("minor differences such as colour")
    grading.type_grades("e")
    grading.close_guide()
    grading.expect_grade(1, "")


def test_engineer_opens_a_run_from_the_list_and_sees_its_metrics(live_server, browser_page, engineer,
                                                                  judged_run_create):
    run = judged_run_create("embedder V1.1", embedder_tag="V1.1")
    LoginPage(browser_page, live_server.url).sign_in("erik", PASSWORD)
    expect(browser_page).to_have_url(f"{live_server.url}/runs/")
    browser_page.get_by_test_id(f"run-{run.pk}").get_by_role("link", name=run.name).click()

    run_page = RunPage(browser_page)
    run_page.expect_metric("similar_p_at_5", JUDGED_RUN_SIMILAR_P_AT_5)
    run_page.expect_metric("extremely_similar_p_at_5", JUDGED_RUN_EXTREMELY_SIMILAR_P_AT_5)
    run_page.expect_metric("bad_rate", JUDGED_RUN_BAD_RATE)
    run_page.expect_category_row("dresses", "60.0%")
    run_page.expect_category_row("shoes", "30.0%")
    run_page.expect_aggregation("majority", chosen=True)
    run_page.expect_aggregation("dawid_skene", chosen=False)
    expect(browser_page.get_by_test_id("run-queue-link")).to_contain_text(run.queue.name)


def test_staff_switch_a_queue_to_dawid_skene_and_adaptive_replication_and_the_run_follows(
        live_server, browser_page, engineer, judged_run_create):
    run = judged_run_create("embedder V1.1", embedder_tag="V1.1")
    LoginPage(browser_page, live_server.url).sign_in("erik", PASSWORD)
    browser_page.goto(f"{live_server.url}/overview/queues/{run.queue_id}/")
    QueueSettingsForm(browser_page).save(aggregation="dawid_skene", min_labels="2", agreement_target="0.8")
    expect(browser_page.get_by_test_id("queue-aggregation")).to_have_text("Dawid-Skene")
    expect(browser_page.get_by_test_id("queue-replication")).to_contain_text("adaptive: 2 to")
    # A target without a minimum: the service refuses it and says why (the browser already refuses a minimum of 1).
    QueueSettingsForm(browser_page).save(min_labels="")
    expect(browser_page.locator(".alert.error")).to_contain_text(MIN_LABELS_MISSING)
    expect(browser_page.get_by_test_id("queue-replication")).to_contain_text("adaptive: 2 to")
    browser_page.goto(f"{live_server.url}/runs/{run.pk}/")
    run_page = RunPage(browser_page)
    run_page.expect_aggregation("dawid_skene", chosen=True)
    run_page.expect_aggregation("majority", chosen=False)


def test_a_submit_whose_answer_is_lost_on_the_way_back_is_retried_with_the_same_key_and_stored_once(
        live_server, browser_page, labeler, relevance_queue):
    LoginPage(browser_page, live_server.url).sign_in("lena", PASSWORD)
    grading = MyQueuesPage(browser_page).start(relevance_queue.pk)
    sent_keys: list[str] = []

    def lose_the_first_answer(route):
        sent_keys.append(route.request.headers["idempotency-key"])
        # The server stores the label, then the connection drops before the browser sees the answer.
        route.fetch()
        if len(sent_keys) == 1:
            route.abort("connectionreset")
        else:
            route.continue_()

    browser_page.route("**/api/v1/assignments/*/submit-and-claim", lose_the_first_answer)
    grading.type_grades("essnm")
    grading.submit()

    grading.expect_session_count(1)
    assert len(sent_keys) == 2 and sent_keys[0] == sent_keys[1]
    label = Label.objects.get(labeler=labeler)
    assert label.idempotency_key == sent_keys[0]
    assert label.answer["grades"] == ["extremely_similar", "similar", "similar", "not_similar", "marginally_similar"]


def test_k_skips_a_task_and_the_page_says_when_nothing_is_left(live_server, browser_page, labeler, relevance_queue):
    LoginPage(browser_page, live_server.url).sign_in("lena", PASSWORD)
    grading = MyQueuesPage(browser_page).start(relevance_queue.pk)
    skipped_assignment = grading.assignment_id

    grading.skip()
    grading.wait_for_task()
    assert grading.assignment_id != skipped_assignment
    grading.type_grades("nnnnn")
    grading.submit()

    grading.expect_empty()
    assert Assignment.objects.get(pk=skipped_assignment).state == AssignmentState.SKIPPED
    assert Label.objects.filter(labeler=labeler).count() == 1


def test_run_page_moves_its_progress_bar_while_the_run_generates(live_server, browser_page, engineer, eval_run):
    EvalRun.objects.filter(pk=eval_run.pk).update(scenes_total=2)
    LoginPage(browser_page, live_server.url).sign_in("erik", PASSWORD)
    browser_page.goto(f"{live_server.url}/runs/{eval_run.pk}/")
    expect(browser_page.get_by_test_id("scene-count")).to_have_text("0 / 2")

    EvalRun.objects.filter(pk=eval_run.pk).update(scenes_done=1)
    expect(browser_page.get_by_test_id("scene-count")).to_have_text("1 / 2")

    EvalRun.objects.filter(pk=eval_run.pk).update(scenes_done=2, status=EvalRunStatus.LABELING)
    expect(browser_page.get_by_test_id("run-status")).to_have_text("Labeling")
    expect(browser_page.get_by_test_id("scene-count")).to_have_text("2 / 2")
