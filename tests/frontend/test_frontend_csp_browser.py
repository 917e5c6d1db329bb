"""The pages work under the Content-Security-Policy: real Chromium opens each role's pages and the
API docs, and the browser reports no policy violation and no request to another host."""
from __future__ import annotations

from urllib.parse import urlparse

import pytest
from playwright.sync_api import expect

from conftest import PASSWORD
from frontend_pages import LoginPage, MyQueuesPage, RECORD_VIOLATIONS, csp_violations

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]



def _watch(page, origin: str) -> dict[str, list[str]]:
    seen = {"console": [], "foreign": []}
    page.add_init_script(RECORD_VIOLATIONS)
    page.on("console", lambda message: seen["console"].append(message.text)
            if "Content Security Policy" in message.text else None)
    page.on("request", lambda request: seen["foreign"].append(request.url)
            if urlparse(request.url).netloc not in ("", urlparse(origin).netloc)
            and not request.url.startswith(("data:", "blob:")) else None)
    return seen


def _violations(page) -> list[str]:
    return csp_violations(page)


def test_the_labelers_grading_page_works_under_the_policy(live_server, browser_page, labeler, relevance_queue):
    seen = _watch(browser_page, live_server.url)
    LoginPage(browser_page, live_server.url).sign_in("lena", PASSWORD)
    grading = MyQueuesPage(browser_page).start(relevance_queue.pk)
    grading.type_grades("essnm")
    grading.expect_grade(1, "extremely_similar")

    assert _violations(browser_page) == []
    assert seen == {"console": [], "foreign": []}


def test_the_engineers_pages_and_the_api_docs_work_under_the_policy(live_server, browser_page, engineer,
                                                                    judged_run_create):
    run = judged_run_create("embedder V1.1", embedder_tag="V1.1")
    seen = _watch(browser_page, live_server.url)
    LoginPage(browser_page, live_server.url).sign_in("erik", PASSWORD)
    violations = []
    for path in ("/runs/", f"/runs/{run.pk}/", "/runs/new/", "/models/"):
        browser_page.goto(live_server.url + path)
        browser_page.wait_for_load_state("networkidle")
        violations += _violations(browser_page)
    browser_page.goto(live_server.url + "/api/docs/")
    expect(browser_page.locator(".swagger-ui .info")).to_be_visible()
    violations += _violations(browser_page)

    assert violations == []
    assert seen == {"console": [], "foreign": []}
