"""Page helper for the attribute editor (frontend/static/frontend/editors/attributes.js).

Rows are named by attribute (``"color"``) and values by what the answer stores (``"navy"``,
``"cant_tell"``). Keyboard actions press the key the editor shows on the value's button, so a test
reads as a labeler's keystrokes; every action waits on what the editor shows (its data attributes),
never on time.
"""
from __future__ import annotations

import re

from playwright.sync_api import Page, expect

CANT_TELL = "cant_tell"

_ROWS_JS = """() => Array.from(document.querySelectorAll(".at-editor .at-row")).map((row) => ({
  name: row.dataset.name,
  label: row.querySelector(".at-row-label").textContent,
  values: Array.from(row.querySelectorAll(".at-value:not(.at-cant)")).map((b) => b.dataset.value),
  value: row.dataset.value || null,
}))"""


class AttributeEditorPage:
    def __init__(self, page: Page):
        self.page = page
        self.root = page.locator(".at-editor")

    # ---- state ----

    def wait_ready(self, *, scene: bool = True) -> None:
        expect(self.root).to_have_attribute("data-ready", "true")
        expect(self.root).to_have_attribute("data-crop-state", "loaded")
        expect(self.root).to_have_attribute("data-scene-state", "loaded" if scene else "none")

    def rows(self) -> list[dict]:
        """[{"name", "label", "values": [...], "value": chosen or None}] in the order shown."""
        return self.page.evaluate(_ROWS_JS)

    def row(self, attribute: str):
        return self.root.get_by_test_id(f"attribute-row-{attribute}")

    def button(self, attribute: str, value: str):
        return self.row(attribute).locator(f'.at-value[data-value="{value}"]')

    def value_of(self, attribute: str) -> str | None:
        return self.row(attribute).get_attribute("data-value") or None

    def values(self) -> dict[str, str | None]:
        return {row["name"]: row["value"] for row in self.rows()}

    @property
    def focused(self) -> str:
        return self.root.get_attribute("data-focus")

    @property
    def category_name(self) -> str:
        return self.root.get_by_test_id("attribute-category").text_content()

    def expect_focused(self, attribute: str) -> None:
        expect(self.root).to_have_attribute("data-focus", attribute)
        expect(self.row(attribute)).to_have_class(_has_word("at-focused"))

    def expect_value(self, attribute: str, value: str | None) -> None:
        expect(self.row(attribute)).to_have_attribute("data-value", value or "")
        if value is None:
            expect(self.row(attribute).locator(".at-value.selected")).to_have_count(0)
        else:
            expect(self.button(attribute, value)).to_have_class(_has_word("selected"))

    def expect_missing(self, attribute: str) -> None:
        expect(self.row(attribute)).to_have_class(_has_word("at-missing"))

    def expect_not_missing(self, attribute: str) -> None:
        expect(self.row(attribute)).not_to_have_class(_has_word("at-missing"))

    def expect_filled(self, count: int) -> None:
        expect(self.root).to_have_attribute("data-filled", str(count))

    # ---- the keyboard ----

    def press(self, key: str) -> None:
        self.page.keyboard.press(key)

    def key_for(self, attribute: str, value: str) -> str:
        """The Playwright key that picks ``value`` in the row of ``attribute``, as its button shows it."""
        hint = self.button(attribute, value).locator("kbd").text_content()
        if hint.startswith("\u21e7"):
            return f"Shift+Digit{hint[1:]}"
        return hint if hint == "-" else f"Digit{hint}"

    def focus_row(self, index: int) -> None:
        """Move the highlight to the ``index``-th row with the arrow keys."""
        names = [row["name"] for row in self.rows()]
        current = names.index(self.focused)
        key = "ArrowDown" if index > current else "ArrowUp"
        for _ in range(abs(index - current)):
            self.press(key)
        self.expect_focused(names[index])

    def type_value(self, value: str) -> None:
        """Pick ``value`` in the highlighted row with its key; the highlight moves on to the next row."""
        attribute = self.focused
        self.press(self.key_for(attribute, value))
        self.expect_value(attribute, value)

    def cant_tell(self) -> None:
        attribute = self.focused
        self.press("-")
        self.expect_value(attribute, CANT_TELL)

    def clear(self) -> None:
        attribute = self.focused
        self.press("Backspace")
        self.expect_value(attribute, None)

    def submit(self) -> None:
        """Enter: the session submits the editor's answer."""
        self.press("Enter")

    # ---- the mouse ----

    def pick(self, row: int | str, value: str) -> None:
        """Click ``value`` in a row (its index or attribute name)."""
        attribute = self.rows()[row]["name"] if isinstance(row, int) else row
        self.button(attribute, value).click()
        self.expect_value(attribute, value)
        self.expect_focused(attribute)


def _has_word(word: str):
    return re.compile(rf"(^|\s){re.escape(word)}(\s|$)")
