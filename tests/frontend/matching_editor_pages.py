"""Page helper for the matching-pair cleanup editor (frontend/static/frontend/editors/matching.js).

Points on the scene are image pixels, as in the answer: the helper maps them to the screen through
the canvas SVG's own transform, so a test reads the same at any window size or zoom. Each action
waits for what the editor shows (its data attributes), never for time.
"""
from __future__ import annotations

import re

from playwright.sync_api import Page, expect

# Screen point of an image point, and screen points per image pixel, from the canvas's transform.
_SCREEN_POINT_JS = """([x, y]) => {
  const matrix = document.querySelector(".mp-editor [data-role=canvas]").getScreenCTM();
  const point = new DOMPoint(x, y).matrixTransform(matrix);
  return [point.x, point.y];
}"""
_SCREEN_SCALE_JS = "() => document.querySelector('.mp-editor [data-role=canvas]').getScreenCTM().a"
# What the session last saved for this assignment: the editor's draft, or null.
_SAVED_DRAFT_JS = """() => {
  const key = Object.keys(localStorage).find((k) => k.startsWith("shoplabel:draft:"));
  const saved = key ? JSON.parse(localStorage.getItem(key)) : null;
  return saved ? saved.state : null;
}"""


class MatchingEditorPage:
    def __init__(self, page: Page):
        self.page = page
        self.root = page.locator(".mp-editor")
        self.canvas = self.root.locator("[data-role=canvas]")
        self.the_box = self.root.locator('[data-layer="box"]')
        self.creator_box = self.root.locator('[data-layer="creator"]')
        self.status = self.root.get_by_test_id("matching-status")
        self.picker = self.root.get_by_test_id("matching-category-picker")

    # ---- what the editor shows ----

    def wait_ready(self) -> None:
        expect(self.root).to_have_attribute("data-ready", "true")
        expect(self.root).to_have_attribute("data-image-state", "loaded")
        expect(self.root).to_have_attribute("data-product-state", "loaded")

    @property
    def box(self) -> list[float]:
        """The box the editor would submit, [x0, y0, x1, y1] in image pixels."""
        return [float(v) for v in self.root.get_attribute("data-box").split(",")]

    @property
    def zoom(self) -> float:
        return float(self.root.get_attribute("data-zoom"))

    @property
    def screen_pixels_per_image_pixel(self) -> float:
        return self.page.evaluate(_SCREEN_SCALE_JS)

    def wait_for_draft(self, condition: str) -> None:
        """Wait until the session has saved a draft for which ``condition`` (JavaScript over ``draft``) holds."""
        self.page.wait_for_function(
            f"() => {{ const draft = ({_SAVED_DRAFT_JS})(); return Boolean(draft && ({condition})); }}")

    def expect_state(self, *, category: str | None = None, match: str | None = None, spam: bool | None = None) -> None:
        for name, value in (("data-category", category), ("data-match", match)):
            if value is not None:
                expect(self.root).to_have_attribute(name, value)
        if spam is not None:
            expect(self.root).to_have_attribute("data-spam", "true" if spam else "false")

    def expect_box(self, box: list[float]) -> None:
        expect(self.root).to_have_attribute("data-box", ",".join(_number(v) for v in box))

    def expect_box_selected(self, selected: bool) -> None:
        expect(self.root).to_have_attribute("data-selected", "box-0" if selected else "")

    def screen_point(self, x: float, y: float) -> tuple[float, float]:
        sx, sy = self.page.evaluate(_SCREEN_POINT_JS, [x, y])
        return sx, sy

    # ---- mouse ----

    def _drag(self, start: tuple[float, float], dx_image: float, dy_image: float) -> None:
        scale = self.screen_pixels_per_image_pixel
        mouse = self.page.mouse
        mouse.move(*start)
        mouse.down()
        mouse.move(start[0] + dx_image * scale, start[1] + dy_image * scale, steps=6)
        mouse.up()

    def _settled(self) -> None:
        """The first draft save writes a line into the session bar, which can move the scene on a
        narrow window: the next drag is measured after it."""
        expect(self.page.get_by_test_id("draft-state")).to_have_text(re.compile("saved", re.IGNORECASE))

    def move_box(self, dx: float, dy: float) -> None:
        """Drag the box by its middle, (dx, dy) image pixels."""
        before = self.root.get_attribute("data-box")
        x0, y0, x1, y1 = self.box
        self._drag(self.screen_point((x0 + x1) / 2, (y0 + y1) / 2), dx, dy)
        expect(self.root).not_to_have_attribute("data-box", before)
        self._settled()

    def resize_box(self, handle: str, dx: float, dy: float) -> None:
        """Drag the box's ``handle`` (nw, n, ne, e, se, s, sw, w) by (dx, dy) image pixels."""
        self.expect_box_selected(True)
        before = self.root.get_attribute("data-box")
        bounds = self.root.get_by_test_id(f"handle-{handle}").bounding_box()
        self._drag((bounds["x"] + bounds["width"] / 2, bounds["y"] + bounds["height"] / 2), dx, dy)
        expect(self.root).not_to_have_attribute("data-box", before)
        self._settled()

    def draw_box(self, x0: float, y0: float, x1: float, y1: float, *, over_the_box: bool = False) -> None:
        """Drag from (x0, y0) to (x1, y1) on empty image, or with Shift held from anywhere: the box is drawn
        again there."""
        if over_the_box:
            self.page.keyboard.down("Shift")
        self._drag(self.screen_point(x0, y0), x1 - x0, y1 - y0)
        if over_the_box:
            self.page.keyboard.up("Shift")
        self.expect_box_selected(True)
        self._settled()

    def click_verdict(self, value: str) -> None:
        self.root.get_by_test_id(f"matching-verdict-{value}").click()
        self.expect_state(match=value)

    # ---- keyboard ----

    def press(self, key: str) -> None:
        self.page.keyboard.press(key)

    def choose_category(self, slug: str, search: str) -> None:
        """C, type ``search``, arrow down to ``slug`` and Enter."""
        self.press("c")
        field = self.root.get_by_test_id("matching-category-input")
        expect(field).to_be_focused()
        field.press_sequentially(search)
        option = self.root.get_by_test_id(f"matching-option-{slug}")
        expect(option).to_be_visible()
        for _ in range(self.root.locator(".bx-picker-option").count()):
            if re.search(r"\bactive\b", option.get_attribute("class") or ""):
                break
            self.press("ArrowDown")
        self.press("Enter")
        self.expect_state(category=slug)
        expect(self.picker).to_be_hidden()
        self._settled()

    def zoom_in(self) -> None:
        before = self.root.get_attribute("data-zoom")
        self.press("+")
        expect(self.root).not_to_have_attribute("data-zoom", before)

    def submit(self) -> None:
        """Enter: the session submits the editor's answer."""
        self.press("Enter")


def _number(value: float) -> str:
    """A coordinate as JavaScript writes it: 120 for 120.0."""
    return str(int(value)) if float(value).is_integer() else str(value)
