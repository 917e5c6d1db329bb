"""Page helper for the bounding-box editor (frontend/static/frontend/editors/boxes.js).

Coordinates are image pixels, as in the answer; the helper turns them into screen points through
the SVG's own transform (getScreenCTM), so the same test drives the editor at any display size or
zoom. Every action waits on what the editor shows (its data attributes), never on time.
"""
from __future__ import annotations

import re

from playwright.sync_api import Page, expect

# Finds a screen point that hits the item (box or proposal) and nothing drawn above it: the
# centre when free, else the first free point of a grid over the item. Returns [x, y] or null.
_FREE_POINT_JS = """([selector]) => {
  const group = document.querySelector(selector);
  if (!group) return null;
  const canvas = group.ownerSVGElement;
  const matrix = canvas.getScreenCTM();
  const [x0, y0, x1, y1] = group.dataset.box.split(",").map(Number);
  const fractions = [0.5, 0.35, 0.65, 0.2, 0.8, 0.1, 0.9];
  for (const fy of fractions) {
    for (const fx of fractions) {
      const p = new DOMPoint(x0 + fx * (x1 - x0), y0 + fy * (y1 - y0)).matrixTransform(matrix);
      const hit = document.elementFromPoint(p.x, p.y);
      if (hit && !hit.closest("[data-handle]") && hit.closest("[data-layer]") === group) return [p.x, p.y];
    }
  }
  return null;
}"""

_TO_SCREEN_JS = """([x, y]) => {
  const canvas = document.querySelector(".bx-editor [data-role=canvas]");
  const p = new DOMPoint(x, y).matrixTransform(canvas.getScreenCTM());
  return [p.x, p.y];
}"""

_SCALE_JS = """() => {
  const m = document.querySelector(".bx-editor [data-role=canvas]").getScreenCTM();
  return m.a;
}"""

_ITEMS_JS = """([layer]) => Array.from(document.querySelectorAll('.bx-editor [data-layer="' + layer + '"]'))
  .map((g) => ({index: Number(g.dataset.index), box: g.dataset.box.split(",").map(Number),
                category: g.dataset.category, score: g.dataset.score === undefined ? null : Number(g.dataset.score)}))
  .sort((a, b) => a.index - b.index)"""


class BoxEditorPage:
    def __init__(self, page: Page):
        self.page = page
        self.root = page.locator(".bx-editor")
        self.canvas = self.root.locator("[data-role=canvas]")

    # ---- state ----

    def wait_ready(self) -> None:
        expect(self.root).to_have_attribute("data-ready", "true")
        expect(self.root).to_have_attribute("data-image-state", "loaded")

    def boxes(self) -> list[dict]:
        """The boxes as the editor draws them: [{"box": [x0, y0, x1, y1], "category": slug}] in image pixels."""
        return [{"box": item["box"], "category": item["category"]} for item in self.page.evaluate(_ITEMS_JS, ["box"])]

    def proposals(self) -> list[dict]:
        return [{"box": item["box"], "category": item["category"], "score": item["score"]}
                for item in self.page.evaluate(_ITEMS_JS, ["proposal"])]

    def box(self, index: int):
        return self.root.locator(f'[data-layer="box"][data-index="{index}"]')

    def proposal(self, index: int):
        return self.root.locator(f'[data-layer="proposal"][data-index="{index}"]')

    def expect_box_count(self, count: int) -> None:
        expect(self.root).to_have_attribute("data-boxes", str(count))

    def expect_proposal_count(self, count: int) -> None:
        expect(self.root).to_have_attribute("data-proposals", str(count))

    def expect_selected(self, layer: str | None, index: int | None = None) -> None:
        expect(self.root).to_have_attribute("data-selected", "" if layer is None else f"{layer}-{index}")

    def expect_nothing_to_box(self, chosen: bool) -> None:
        expect(self.root).to_have_attribute("data-nothing", "true" if chosen else "false")

    def expect_status(self, text: str) -> None:
        expect(self.root.get_by_test_id("box-status")).to_have_text(text)

    @property
    def zoom(self) -> float:
        return float(self.root.get_attribute("data-zoom"))

    @property
    def screen_pixels_per_image_pixel(self) -> float:
        return self.page.evaluate(_SCALE_JS)

    # ---- coordinates ----

    def to_screen(self, x: float, y: float) -> tuple[float, float]:
        sx, sy = self.page.evaluate(_TO_SCREEN_JS, [x, y])
        return sx, sy

    def _free_point(self, selector: str) -> tuple[float, float]:
        point = self.page.evaluate(_FREE_POINT_JS, [selector])
        assert point is not None, f"no visible point of {selector} to click"
        return point[0], point[1]

    def _settled(self) -> None:
        """Wait for the work page to say the draft is saved. Its first save writes that line into
        the session bar, which can grow a line on a narrow window and move the scene down: a drag
        measured before that moment would land a line off."""
        draft_state = self.page.get_by_test_id("draft-state")
        if draft_state.count():
            expect(draft_state).to_have_text(re.compile("saved", re.IGNORECASE))

    def _drag(self, start: tuple[float, float], end: tuple[float, float]) -> None:
        mouse = self.page.mouse
        mouse.move(*start)
        mouse.down()
        mouse.move(*end, steps=6)
        mouse.up()

    # ---- mouse ----

    def draw(self, x0: float, y0: float, x1: float, y1: float) -> int:
        """Drag a new box from (x0, y0) to (x1, y1); returns its index."""
        count = len(self.boxes())
        self._drag(self.to_screen(x0, y0), self.to_screen(x1, y1))
        self.expect_box_count(count + 1)
        self.expect_selected("box", count)
        self._settled()
        return count

    def select(self, index: int, layer: str = "box") -> None:
        """Click the box (or proposal) on the image."""
        self.page.mouse.click(*self._free_point(f'.bx-editor [data-layer="{layer}"][data-index="{index}"]'))
        self.expect_selected(layer, index)

    def move(self, index: int, dx: float, dy: float) -> None:
        """Drag box ``index`` by (dx, dy) image pixels."""
        before = self.box(index).get_attribute("data-box")
        start = self._free_point(f'.bx-editor [data-layer="box"][data-index="{index}"]')
        scale = self.screen_pixels_per_image_pixel
        self._drag(start, (start[0] + dx * scale, start[1] + dy * scale))
        expect(self.box(index)).not_to_have_attribute("data-box", before)
        self._settled()

    def resize(self, index: int, handle: str, dx: float, dy: float) -> None:
        """Drag the ``handle`` (nw, n, ne, e, se, s, sw, w) of box ``index`` by (dx, dy) image pixels."""
        self.select(index)
        before = self.box(index).get_attribute("data-box")
        bounds = self.root.get_by_test_id(f"handle-{handle}").bounding_box()
        start = (bounds["x"] + bounds["width"] / 2, bounds["y"] + bounds["height"] / 2)
        scale = self.screen_pixels_per_image_pixel
        self._drag(start, (start[0] + dx * scale, start[1] + dy * scale))
        expect(self.box(index)).not_to_have_attribute("data-box", before)
        self._settled()

    def wheel_zoom(self, x: float, y: float, clicks: int = 3) -> None:
        """Turn the wheel ``clicks`` notches towards zooming in, with the pointer at image point (x, y)."""
        before = self.zoom
        self.page.mouse.move(*self.to_screen(x, y))
        for _ in range(clicks):
            self.page.mouse.wheel(0, -100)
        expect(self.root).not_to_have_attribute("data-zoom", f"{before:.3f}")

    def view_box(self) -> list[float]:
        """The part of the image in view, [x, y, width, height] in image pixels."""
        return [float(v) for v in self.canvas.get_attribute("viewBox").split()]

    def pan(self, dx: float, dy: float, *, with_space: bool = False) -> None:
        """Drag the view by (dx, dy) screen points with the middle button, or with Space held."""
        before = self.canvas.get_attribute("viewBox")
        bounds = self.canvas.bounding_box()
        start = (bounds["x"] + bounds["width"] / 2, bounds["y"] + bounds["height"] / 2)
        mouse = self.page.mouse
        mouse.move(*start)
        if with_space:
            self.page.keyboard.down(" ")
        mouse.down(button="left" if with_space else "middle")
        mouse.move(start[0] + dx, start[1] + dy, steps=4)
        mouse.up(button="left" if with_space else "middle")
        if with_space:
            self.page.keyboard.up(" ")
        expect(self.canvas).not_to_have_attribute("viewBox", before)

    # ---- keyboard ----

    def press(self, key: str) -> None:
        self.page.keyboard.press(key)

    def set_category(self, index: int, slug: str, search: str) -> None:
        """Open the picker for box ``index`` (C), type ``search``, walk down to ``slug`` and pick it (Enter)."""
        self.select(index)
        self.press("c")
        picker_input = self.root.get_by_test_id("box-category-input")
        expect(picker_input).to_be_focused()
        picker_input.press_sequentially(search)
        option = self.root.get_by_test_id(f"category-option-{slug}")
        expect(option).to_be_visible()
        options = self.root.locator(".bx-picker-option")
        for _ in range(options.count()):
            if "active" in (option.get_attribute("class") or ""):
                break
            self.press("ArrowDown")
        expect(option).to_have_class(_has_word("active"))
        self.press("Enter")
        expect(self.box(index)).to_have_attribute("data-category", slug)
        expect(self.root.get_by_test_id("box-category-picker")).to_be_hidden()
        self._settled()

    def quick_category(self, index: int, number: int, slug: str) -> None:
        self.select(index)
        self.press(str(number))
        expect(self.box(index)).to_have_attribute("data-category", slug)

    def delete(self, index: int) -> None:
        count = len(self.boxes())
        self.select(index)
        self.press("Delete")
        self.expect_box_count(count - 1)
        self._settled()

    def undo(self) -> None:
        self.press("z")

    def redo(self) -> None:
        self.press("y")

    def accept_proposal(self) -> None:
        """A: accept the selected proposal, or the best-scoring one."""
        left = len(self.proposals())
        self.press("a")
        self.expect_proposal_count(left - 1)
        self._settled()

    def accept_all(self) -> None:
        self.press("Shift+A")
        self.expect_proposal_count(0)
        self._settled()

    def reject_all(self) -> None:
        self.press("Shift+X")
        self.expect_proposal_count(0)
        self._settled()

    def nothing_to_box(self) -> None:
        chosen = self.root.get_attribute("data-nothing") == "true"
        self.press("n")
        self.expect_nothing_to_box(not chosen)
        self._settled()

    def zoom_in(self) -> None:
        before = self.zoom
        self.press("+")
        expect(self.root).not_to_have_attribute("data-zoom", f"{before:.3f}")

    def reset_zoom(self) -> None:
        self.press("0")
        expect(self.root).to_have_attribute("data-zoom", "1.000")

    def submit(self) -> None:
        """Enter: the session submits the editor's answer."""
        self.press("Enter")


def _has_word(word: str):
    return re.compile(rf"(^|\s){re.escape(word)}(\s|$)")
