"""Page helpers for the browser tests: each says what a person does on a page, in the page's terms,
and waits on what the page shows instead of sleeping."""
from __future__ import annotations

import re

from playwright.sync_api import Page, expect


# Run before any page script (``page.add_init_script``): every CSP violation the page sees is kept on window.
RECORD_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation",
  (event) => window.__cspViolations.push(event.violatedDirective + " " + event.blockedURI));
"""


def csp_violations(page: Page) -> list[str]:
    """What RECORD_VIOLATIONS recorded on the page so far."""
    return page.evaluate("window.__cspViolations || []")


def work_page_open(page: Page, base_url: str, queue_id: int) -> None:
    """Open a queue's work page and wait until a task is on it (sign in first)."""
    page.goto(f"{base_url}/queues/{queue_id}/work/")
    expect(page.locator("#grader")).to_have_attribute("data-mode", "task")


def qualification_item_answer(page: Page, keys: str) -> None:
    """On the qualification page: grade the shown item with ``keys`` and submit it; the page then
    shows the expert's answer and reason (Enter goes on)."""
    expect(page.locator("#qualification")).to_have_attribute("data-mode", "item")
    for key in keys:
        page.keyboard.press(key)
    page.keyboard.press("Enter")
    expect(page.locator("#qualification")).to_have_attribute("data-mode", "feedback")


class LoginPage:
    def __init__(self, page: Page, base_url: str):
        self.page = page
        self.base_url = base_url

    def sign_in(self, username: str, password: str) -> None:
        self.page.goto(f"{self.base_url}/login/")
        self.page.get_by_label("Username").fill(username)
        self.page.get_by_label("Password").fill(password)
        self.page.get_by_role("button", name="Sign in").click()
        expect(self.page.locator(".topbar .who")).to_contain_text(username)


class MyQueuesPage:
    def __init__(self, page: Page):
        self.page = page

    def start(self, queue_id: int) -> "GradingPage":
        self.page.get_by_test_id(f"queue-{queue_id}").get_by_role("link", name="Start").click()
        grading = GradingPage(self.page)
        grading.wait_for_task()
        return grading


class GradingPage:
    GRADE_KEYS = {"extremely_similar": "e", "similar": "s", "marginally_similar": "m", "not_similar": "n",
                  "did_not_load": "d"}

    def __init__(self, page: Page):
        self.page = page
        self.root = page.locator("#grader")

    def wait_for_task(self) -> None:
        expect(self.root).to_have_attribute("data-mode", "task")

    @property
    def assignment_id(self) -> int:
        return int(self.root.get_attribute("data-assignment-id"))

    def candidate(self, slot: int):
        return self.page.get_by_test_id(f"candidate-{slot}")

    def focus(self, slot: int) -> None:
        self.page.keyboard.press(str(slot))
        self.expect_focused(slot)

    def expect_focused(self, slot: int) -> None:
        expect(self.candidate(slot)).to_have_class(_has_word("focused"))

    def expect_marked_missing(self, slot: int) -> None:
        expect(self.candidate(slot)).to_have_class(_has_word("missing"))

    def grade(self, slot: int, key: str) -> None:
        """Focus ``slot`` with its digit key, then press the grade key."""
        self.focus(slot)
        self.page.keyboard.press(key)

    def type_grades(self, keys: str) -> None:
        """Type grade keys in a row ("essnm"); each grades the focused slot and moves on."""
        for key in keys:
            self.page.keyboard.press(key)

    def expect_grade(self, slot: int, grade: str) -> None:
        expect(self.candidate(slot)).to_have_attribute("data-grade", grade)

    def submit(self) -> None:
        self.page.keyboard.press("Enter")

    def skip(self) -> None:
        assignment_id = self.root.get_attribute("data-assignment-id")
        self.page.keyboard.press("k")
        expect(self.root).not_to_have_attribute("data-assignment-id", assignment_id)

    def expect_empty(self) -> None:
        expect(self.root).to_have_attribute("data-mode", "empty")
        expect(self.page.get_by_test_id("grader-empty")).to_be_visible()

    def expect_message(self, text: str) -> None:
        expect(self.page.get_by_test_id("grader-message")).to_have_text(text)

    def expect_session_count(self, count: int) -> None:
        expect(self.page.get_by_test_id("session-count")).to_have_text(str(count))

    def open_guide(self) -> None:
        self.page.keyboard.press("?")
        expect(self.page.locator("#guide-overlay")).to_be_visible()

    def close_guide(self) -> None:
        self.page.keyboard.press("Escape")
        expect(self.page.locator("#guide-overlay")).to_be_hidden()


class RunPage:
    def __init__(self, page: Page):
        self.page = page

    def expect_metric(self, key: str, value: str) -> None:
        expect(self.page.get_by_test_id(f"metric-{key}").locator(".value")).to_have_text(value)

    def expect_category_row(self, category: str, similar_p_at_5: str) -> None:
        row = self.page.get_by_test_id("per-category").locator("tbody tr").filter(has_text=category)
        expect(row.locator("td").nth(2)).to_contain_text(similar_p_at_5)

    def expect_aggregation(self, method: str, *, chosen: bool) -> None:
        row = self.page.get_by_test_id(f"aggregation-{method}")
        expect(row).to_be_visible()
        badge = row.get_by_text("the queue's choice")
        expect(badge).to_be_visible() if chosen else expect(badge).to_have_count(0)


class QueueSettingsForm:
    """The settings form on a queue's page: aggregation and fixed or adaptive replication."""

    def __init__(self, page: Page):
        self.page = page
        self.root = page.get_by_test_id("queue-settings")

    def save(self, *, aggregation: str | None = None, min_labels: str | None = None,
             agreement_target: str | None = None) -> None:
        self.root.locator("summary").click()
        if aggregation is not None:
            self.root.locator("select[name=aggregation]").select_option(aggregation)
        if min_labels is not None:
            self.root.locator("input[name=min_labels]").fill(min_labels)
        if agreement_target is not None:
            self.root.locator("input[name=agreement_target]").fill(agreement_target)
        self.root.get_by_role("button", name="Save settings").click()


def _has_word(word: str):
    return re.compile(rf"(^|\s){re.escape(word)}(\s|$)")
