"""Browser tests of the bounding-box editor: real Chromium draws, fixes and submits boxes on the work
page against the live server, and the label the server stores holds the intended image pixels."""
from __future__ import annotations

import io
from urllib.parse import urlparse

import pytest
from django.core.files.storage import default_storage
from PIL import Image as PILImage
from PIL import ImageDraw
from playwright.sync_api import expect

from labeling.models import ImageKind, Label, TaskKind
from labeling.services.images import images_store
from labeling.services.queues import queue_create
from labeling.services.tasks import TaskSpec, tasks_create
from labeling.taxonomy import taxonomy_seed

from box_editor_pages import BoxEditorPage
from conftest import PASSWORD
from frontend_pages import LoginPage, RECORD_VIOLATIONS, csp_violations, work_page_open

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SCENE_WIDTH, SCENE_HEIGHT = 640, 480
# Near the middle, so it stays in view while + zooms about the middle of the view.
SMALL_OBJECT = (316, 234, 326, 242)
# Drawn on the scene, so a person watching a failed run sees what each box was meant to hold.
SCENE_OBJECTS = [((100, 80, 260, 300), (200, 40, 40)), ((400, 200, 560, 420), (40, 80, 200)),
                 (SMALL_OBJECT, (20, 20, 20))]
PROPOSALS = [
    {"box": [98.0, 78.0, 262.0, 302.0], "category": "tops", "score": 0.93},
    {"box": [402.0, 198.0, 558.0, 422.0], "category": "pants", "score": 0.71},
    {"box": [20.0, 300.0, 90.0, 400.0], "category": "shoes", "score": 0.42},
]
PIXEL_TOLERANCE = 1.0
DRAFT_HOLDS_BOXES = """(count) => Object.keys(localStorage).some((key) => {
  if (!key.startsWith("shoplabel:draft:")) return false;
  const saved = JSON.parse(localStorage.getItem(key));
  return saved && saved.state && saved.state.boxes.length === count;
})"""


def _scene_png() -> bytes:
    picture = PILImage.new("RGB", (SCENE_WIDTH, SCENE_HEIGHT), (235, 232, 226))
    draw = ImageDraw.Draw(picture)
    for box, colour in SCENE_OBJECTS:
        draw.rectangle(box, fill=colour)
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture
def box_queue_create(db, pool):
    """Build a bounding-box queue with one scene task through the real services; ``proposals``
    (a detector's pre-annotations) go into the payload when given."""
    taxonomy_seed()

    def create(*, proposals: list[dict] | None = None):
        queue = queue_create(name="Boxes: street scenes", task_kind=TaskKind.BOUNDING_BOXES, replication=1,
                             allowed_pools=[pool])
        scene = images_store(items=[(_scene_png(), ImageKind.SCENE)])[0]
        payload = {"scene_id": scene.pk, "image": {"url": default_storage.url(scene.file.name),
                                                   "width": scene.width, "height": scene.height}}
        if proposals is not None:
            payload["proposals"] = proposals
        tasks_create(queue=queue, specs=[TaskSpec(source_key=f"scene:{scene.pk}", payload=payload)])
        return queue

    return create


def _open_work_page(page, live_server, queue) -> BoxEditorPage:
    LoginPage(page, live_server.url).sign_in("lena", PASSWORD)
    work_page_open(page, live_server.url, queue.pk)
    editor = BoxEditorPage(page)
    editor.wait_ready()
    return editor


def _expect_submitted(page) -> None:
    expect(page.get_by_test_id("session-count")).to_have_text("1")


def _quick_category(page, number: int) -> str:
    """The category number key ``number`` (1-9) gives, from the page's editor context."""
    return page.evaluate("(i) => JSON.parse(document.getElementById('editor-context').textContent)"
                         ".common_categories[i]", number - 1)


def _assert_boxes_close(actual: list[dict], expected: list[dict]) -> None:
    assert [b["category"] for b in actual] == [b["category"] for b in expected], actual
    for got, wanted in zip(actual, expected):
        assert all(abs(g - w) <= PIXEL_TOLERANCE for g, w in zip(got["box"], wanted["box"])), (got, wanted)


@pytest.mark.parametrize(("width", "height", "smallest_scale", "largest_scale"), [
    (1400, 900, 1.1, 2.0),   # the scene shown larger than its pixels
    (900, 700, 0.5, 0.99),   # the scene shown smaller
], ids=["wide-window", "small-window"])
def test_boxes_drawn_moved_resized_recategorised_deleted_and_undone_are_stored_in_image_pixels(
        live_server, browser_page, labeler, box_queue_create, width, height, smallest_scale, largest_scale):
    browser_page.set_viewport_size({"width": width, "height": height})
    editor = _open_work_page(browser_page, live_server, box_queue_create())
    assert smallest_scale <= editor.screen_pixels_per_image_pixel <= largest_scale
    assignment_id = browser_page.locator("#grader").get_attribute("data-assignment-id")

    first = editor.draw(100, 80, 260, 300)
    second = editor.draw(400, 200, 560, 420)
    editor.move(first, 20, 10)
    editor.resize(first, "se", 30, -20)
    editor.resize(first, "w", -10, 0)
    # "skirt" holds K, the session's skip key: the search takes every key while it has focus.
    editor.set_category(first, "skirts", "skirt")
    editor.delete(second)
    editor.undo()

    editor.expect_box_count(2)
    # A new box takes the first quick category until the labeler picks one.
    intended = [{"box": [110, 90, 310, 290], "category": "skirts"},
                {"box": [400, 200, 560, 420], "category": _quick_category(browser_page, 1)}]
    _assert_boxes_close(editor.boxes(), intended)
    assert browser_page.locator("#grader").get_attribute("data-assignment-id") == assignment_id
    assert Label.objects.count() == 0
    editor.submit()

    _expect_submitted(browser_page)
    _assert_boxes_close(Label.objects.get(labeler=labeler).answer["boxes"], intended)


def test_a_reload_in_the_middle_of_a_task_keeps_the_boxes_drawn_so_far(
        live_server, browser_page, labeler, box_queue_create):
    editor = _open_work_page(browser_page, live_server, box_queue_create())
    editor.draw(100, 80, 260, 300)
    editor.draw(400, 200, 560, 420)
    editor.set_category(1, "pants", "pan")
    drawn = editor.boxes()
    browser_page.wait_for_function(DRAFT_HOLDS_BOXES, arg=2)

    browser_page.reload()
    expect(browser_page.locator("#grader")).to_have_attribute("data-mode", "task")
    editor.wait_ready()

    assert editor.boxes() == drawn
    editor.submit()
    _expect_submitted(browser_page)
    assert Label.objects.get(labeler=labeler).answer == {"boxes": drawn}


def test_proposals_are_accepted_with_one_key_and_the_submitted_answer_holds_them(
        live_server, browser_page, labeler, box_queue_create):
    editor = _open_work_page(browser_page, live_server, box_queue_create(proposals=PROPOSALS))
    editor.expect_proposal_count(3)
    editor.submit()
    proposals_left = browser_page.evaluate("window.ShopEditors.bounding_boxes.messages.proposalsLeft(3)")
    expect(browser_page.get_by_test_id("grader-message")).to_have_text(proposals_left)
    assert "3 proposals" in proposals_left

    editor.accept_proposal()
    assert editor.boxes() == [{"box": PROPOSALS[0]["box"], "category": "tops"}], "A takes the best-scoring one"
    editor.accept_all()
    editor.submit()

    _expect_submitted(browser_page)
    assert Label.objects.get(labeler=labeler).answer == {"boxes": [
        {"box": PROPOSALS[0]["box"], "category": "tops"},
        {"box": PROPOSALS[1]["box"], "category": "pants"},
        {"box": PROPOSALS[2]["box"], "category": "shoes"},
    ]}


def test_a_selected_proposal_is_accepted_with_a_or_deleted_with_x(
        live_server, browser_page, labeler, box_queue_create):
    editor = _open_work_page(browser_page, live_server, box_queue_create(proposals=PROPOSALS))
    editor.select(2, layer="proposal")
    editor.accept_proposal()
    editor.press("Tab")
    editor.expect_selected("proposal", 0)
    editor.press("x")
    editor.expect_proposal_count(1)
    editor.reject_all()
    editor.submit()

    _expect_submitted(browser_page)
    assert Label.objects.get(labeler=labeler).answer == {"boxes": [{"box": PROPOSALS[2]["box"], "category": "shoes"}]}


def test_a_small_box_drawn_zoomed_in_is_stored_in_image_pixels(live_server, browser_page, labeler, box_queue_create):
    editor = _open_work_page(browser_page, live_server, box_queue_create())
    fitted_scale = editor.screen_pixels_per_image_pixel
    editor.wheel_zoom(321, 238, clicks=6)
    editor.zoom_in()
    assert editor.screen_pixels_per_image_pixel > 3 * fitted_scale
    x, y, _, _ = editor.view_box()
    editor.pan(-40, 0)
    editor.pan(0, -40, with_space=True)
    panned_x, panned_y, _, _ = editor.view_box()
    assert panned_x > x and panned_y > y, "dragging the view left and up shows more of the right and bottom"

    editor.draw(*SMALL_OBJECT)
    editor.reset_zoom()
    editor.submit()

    _expect_submitted(browser_page)
    _assert_boxes_close(Label.objects.get(labeler=labeler).answer["boxes"],
                        [{"box": list(SMALL_OBJECT), "category": _quick_category(browser_page, 1)}])


def test_nothing_to_box_submits_an_empty_answer_and_an_empty_submit_without_it_is_refused(
        live_server, browser_page, labeler, box_queue_create):
    browser_page.add_init_script(RECORD_VIOLATIONS)
    foreign = []
    browser_page.on("request", lambda request: foreign.append(request.url)
                    if urlparse(request.url).netloc != urlparse(live_server.url).netloc else None)
    editor = _open_work_page(browser_page, live_server, box_queue_create())
    editor.submit()
    refused = browser_page.evaluate("window.ShopEditors.bounding_boxes.messages.nothingNotChosen")
    expect(browser_page.get_by_test_id("grader-message")).to_have_text(refused)
    assert "press N" in refused
    assert Label.objects.count() == 0

    editor.nothing_to_box()
    editor.submit()

    _expect_submitted(browser_page)
    assert Label.objects.get(labeler=labeler).answer == {"boxes": []}
    assert csp_violations(browser_page) == []
    assert foreign == []



def test_a_labeler_boxes_with_the_keyboard_alone(live_server, browser_page, labeler, box_queue_create):
    editor = _open_work_page(browser_page, live_server, box_queue_create())
    second_quick = _quick_category(browser_page, 2)

    editor.press("b")  # a quarter of the view in each direction, in its middle
    editor.expect_box_count(1)
    assert editor.boxes()[0]["box"] == [240, 180, 400, 300]
    for key in ("Shift+ArrowRight", "Shift+ArrowRight", "ArrowDown", "Alt+Shift+ArrowRight", "Alt+ArrowUp"):
        editor.press(key)
    editor.press("2")
    expect(editor.box(0)).to_have_attribute("data-category", second_quick)
    editor.press("b")
    editor.expect_box_count(2)
    editor.press("Tab")
    editor.expect_selected("box", 0)
    editor.press("Delete")
    editor.expect_box_count(1)
    editor.undo()
    editor.expect_box_count(2)
    editor.redo()
    editor.expect_box_count(1)
    editor.press("Control+z")
    editor.expect_box_count(2)
    editor.press("Escape")
    editor.expect_selected(None)
    editor.submit()

    _expect_submitted(browser_page)
    assert Label.objects.get(labeler=labeler).answer == {"boxes": [
        {"box": [260.0, 181.0, 430.0, 300.0], "category": second_quick},
        {"box": [240.0, 180.0, 400.0, 300.0], "category": second_quick},
    ]}
