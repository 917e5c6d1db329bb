"""Browser tests of the matching-pair cleanup editor: real Chromium fixes a creator's tag on the work
page against the live server (the box on the scene, the category, the verdict, spam), and the label
the server stores is what the labeler meant, in the scene's pixels."""
from __future__ import annotations

import io
from urllib.parse import urlparse

import pytest
from django.core.files.storage import default_storage
from PIL import Image as PILImage
from PIL import ImageDraw
from playwright.sync_api import expect

from labeling.models import ImageKind, Label, Task, TaskKind
from labeling.services.images import images_store
from labeling.services.queues import queue_create
from labeling.services.tasks import TaskSpec, tasks_create
from labeling.taxonomy import taxonomy_seed

from conftest import PASSWORD
from frontend_pages import LoginPage, RECORD_VIOLATIONS, csp_violations, work_page_open
from matching_editor_pages import MatchingEditorPage

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SCENE_WIDTH, SCENE_HEIGHT = 640, 480
# The tagged item is drawn on the scene; the creator's box is 20 px up and left of it, too small.
ITEM = (300, 150, 420, 330)
CREATOR_BOX = [280.0, 130.0, 400.0, 310.0]
CREATOR_CATEGORY = "tops"
PIXEL_TOLERANCE = 1.0


def _png(size: tuple[int, int], shapes: list[tuple[tuple[int, int, int, int], tuple[int, int, int]]]) -> bytes:
    picture = PILImage.new("RGB", size, (236, 233, 227))
    draw = ImageDraw.Draw(picture)
    for box, colour in shapes:
        draw.rectangle(box, fill=colour)
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture
def pair_queue_create(db, pool):
    """Build a matching-pair queue with one creator's tag through the real services."""
    taxonomy_seed()

    def create(*, category: str = CREATOR_CATEGORY):
        queue = queue_create(name="Pairs: creators' tags", task_kind=TaskKind.MATCHING_PAIR, replication=1,
                             allowed_pools=[pool])
        scene, product = images_store(items=[
            (_png((SCENE_WIDTH, SCENE_HEIGHT), [(ITEM, (190, 40, 50)), ((40, 300, 140, 420), (40, 80, 190))]),
             ImageKind.SCENE),
            (_png((300, 400), [((60, 60, 240, 340), (190, 40, 50))]), ImageKind.PRODUCT),
        ])
        payload = {"pair_id": 7, "box": CREATOR_BOX, "category": category,
                   "scene": {"url": default_storage.url(scene.file.name), "width": scene.width, "height": scene.height},
                   "product": {"id": 12, "image_url": default_storage.url(product.file.name), "category": "tops"}}
        tasks_create(queue=queue, specs=[TaskSpec(source_key="pair:7", payload=payload)])
        return queue

    return create


def _open_work_page(page, live_server, queue) -> MatchingEditorPage:
    LoginPage(page, live_server.url).sign_in("lena", PASSWORD)
    work_page_open(page, live_server.url, queue.pk)
    editor = MatchingEditorPage(page)
    editor.wait_ready()
    return editor


def _expect_submitted(page) -> None:
    expect(page.get_by_test_id("session-count")).to_have_text("1")


def _message(page, name: str) -> str:
    return page.evaluate("(name) => window.ShopEditors.matching_pair.messages[name]", name)


def _assert_box_close(actual: list[float], expected: list[float]) -> None:
    assert all(abs(a - e) <= PIXEL_TOLERANCE for a, e in zip(actual, expected, strict=True)), (actual, expected)


@pytest.mark.parametrize(("width", "height", "smallest_scale", "largest_scale"), [
    (1400, 900, 1.1, 2.0),   # the scene shown larger than its pixels
    (960, 700, 0.5, 0.99),   # the scene shown smaller
], ids=["wide-window", "small-window"])
def test_a_pair_cleaned_with_the_mouse_stores_the_moved_box_the_new_category_and_similar(
        live_server, browser_page, labeler, pair_queue_create, width, height, smallest_scale, largest_scale):
    browser_page.set_viewport_size({"width": width, "height": height})
    editor = _open_work_page(browser_page, live_server, pair_queue_create())
    assert smallest_scale <= editor.screen_pixels_per_image_pixel <= largest_scale
    editor.expect_box(CREATOR_BOX)
    editor.expect_state(category=CREATOR_CATEGORY, match="", spam=False)
    expect(editor.creator_box).to_have_count(0)

    editor.move_box(20, 20)
    editor.resize_box("se", 10, 15)
    # "skirt" holds K, the session's skip key: the search takes every key while it has focus.
    editor.choose_category("skirts", "skirt")
    editor.click_verdict("similar")

    intended = [ITEM[0], ITEM[1], ITEM[2] + 10, ITEM[3] + 15]
    _assert_box_close(editor.box, intended)
    expect(editor.creator_box).to_have_attribute("data-box", ",".join(str(int(v)) for v in CREATOR_BOX))
    assert Label.objects.count() == 0
    editor.submit()

    _expect_submitted(browser_page)
    stored = Label.objects.get(labeler=labeler).answer
    _assert_box_close(stored["box"], intended)
    assert {k: v for k, v in stored.items() if k != "box"} == {"category": "skirts", "match": "similar",
                                                               "is_spam": False}


def test_spam_is_flagged_and_submitted_with_the_keyboard_alone(live_server, browser_page, labeler, pair_queue_create):
    editor = _open_work_page(browser_page, live_server, pair_queue_create())
    editor.press("s")
    editor.expect_state(spam=True)
    expect(editor.root.get_by_test_id("matching-spam")).to_have_attribute("aria-pressed", "true")
    editor.press("3")
    editor.expect_state(match="not_match")
    editor.submit()

    _expect_submitted(browser_page)
    assert Label.objects.get(labeler=labeler).answer == {"box": CREATOR_BOX, "category": CREATOR_CATEGORY,
                                                         "match": "not_match", "is_spam": True}


def test_enter_without_a_verdict_is_refused_with_the_message_and_stores_nothing(
        live_server, browser_page, labeler, pair_queue_create):
    editor = _open_work_page(browser_page, live_server, pair_queue_create())
    editor.submit()

    refused = _message(browser_page, "verdictMissing")
    expect(browser_page.get_by_test_id("grader-message")).to_have_text(refused)
    expect(editor.status).to_have_text(refused)
    expect(editor.root.locator(".mp-verdicts")).to_have_class("mp-verdicts mp-missing")
    assert Label.objects.count() == 0
    assert browser_page.locator("#grader").get_attribute("data-mode") == "task"

    editor.press("1")
    expect(editor.root.locator(".mp-verdicts")).to_have_class("mp-verdicts")
    editor.submit()
    _expect_submitted(browser_page)
    assert Label.objects.get(labeler=labeler).answer["match"] == "same"


def test_a_pair_without_the_creators_category_needs_one_before_it_is_submitted(
        live_server, browser_page, labeler, pair_queue_create):
    editor = _open_work_page(browser_page, live_server, pair_queue_create(category=""))
    editor.expect_state(category="")
    editor.submit()
    expect(browser_page.get_by_test_id("grader-message")).to_have_text(
        _message(browser_page, "categoryAndVerdictMissing"))
    editor.press("2")
    editor.submit()
    expect(browser_page.get_by_test_id("grader-message")).to_have_text(_message(browser_page, "categoryMissing"))
    assert Label.objects.count() == 0

    editor.choose_category("pants", "pan")
    editor.submit()
    _expect_submitted(browser_page)
    assert Label.objects.get(labeler=labeler).answer == {"box": CREATOR_BOX, "category": "pants",
                                                         "match": "similar", "is_spam": False}


def test_a_reload_keeps_the_box_category_verdict_spam_and_zoom(live_server, browser_page, labeler, pair_queue_create):
    editor = _open_work_page(browser_page, live_server, pair_queue_create())
    editor.move_box(20, 20)
    moved = editor.box
    for key in ("Shift+ArrowRight", "ArrowDown", "Alt+ArrowRight"):
        editor.press(key)
    nudged = [round(v + d, 1) for v, d in zip(moved, (10, 1, 11, 1))]
    editor.expect_box(nudged)
    editor.choose_category("skirts", "skirt")
    editor.press("2")
    editor.press("s")
    editor.zoom_in()
    zoom = editor.zoom
    editor.wait_for_draft("draft.spam && draft.view.zoom > 1")

    browser_page.reload()
    expect(browser_page.locator("#grader")).to_have_attribute("data-mode", "task")
    editor.wait_ready()

    editor.expect_box(nudged)
    editor.expect_state(category="skirts", match="similar", spam=True)
    assert editor.zoom == zoom
    editor.submit()
    _expect_submitted(browser_page)
    assert Label.objects.get(labeler=labeler).answer == {"box": nudged, "category": "skirts", "match": "similar",
                                                         "is_spam": True}


def test_a_box_drawn_again_is_reset_with_r_and_every_change_undone_and_redone(
        live_server, browser_page, labeler, pair_queue_create):
    editor = _open_work_page(browser_page, live_server, pair_queue_create())
    editor.press("Escape")
    editor.expect_box_selected(False)
    editor.press("Tab")
    editor.expect_box_selected(True)
    # The item's corner is inside the creator's box: Shift+drag draws instead of moving the box.
    editor.draw_box(*ITEM, over_the_box=True)
    _assert_box_close(editor.box, list(ITEM))
    editor.press("1")
    editor.press("r")
    editor.expect_box(CREATOR_BOX)
    expect(editor.creator_box).to_have_count(0)

    editor.press("z")
    _assert_box_close(editor.box, list(ITEM))
    editor.press("z")
    editor.expect_state(match="")
    editor.press("Control+z")
    editor.expect_box(CREATOR_BOX)
    editor.press("z")
    expect(editor.status).to_have_text(_message(browser_page, "nothingToUndo"))
    editor.press("y")
    _assert_box_close(editor.box, list(ITEM))
    editor.press("Control+y")
    editor.expect_state(match="same")
    editor.submit()

    _expect_submitted(browser_page)
    stored = Label.objects.get(labeler=labeler).answer
    _assert_box_close(stored["box"], list(ITEM))
    assert stored["match"] == "same"


def test_the_editor_loads_its_images_and_runs_without_a_csp_violation_or_a_foreign_request(
        live_server, browser_page, labeler, pair_queue_create):
    browser_page.add_init_script(RECORD_VIOLATIONS)
    foreign = []
    browser_page.on("request", lambda request: foreign.append(request.url)
                    if urlparse(request.url).netloc != urlparse(live_server.url).netloc else None)
    editor = _open_work_page(browser_page, live_server, pair_queue_create())
    assert browser_page.evaluate(
        "() => document.querySelector('[data-testid=matching-product-image]').naturalWidth") == 300
    editor.move_box(10, 0)
    editor.choose_category("skirts", "sk")
    editor.press("2")
    editor.submit()

    _expect_submitted(browser_page)
    assert csp_violations(browser_page) == []
    assert foreign == []


def test_an_expert_answers_a_pair_as_golden_and_fixing_it_starts_from_the_saved_answer(
        live_server, browser_page, expert, pair_queue_create):
    task = Task.objects.get(queue=pair_queue_create())
    LoginPage(browser_page, live_server.url).sign_in(expert.username, PASSWORD)
    browser_page.goto(f"{live_server.url}/overview/tasks/{task.pk}/golden/")
    editor = MatchingEditorPage(browser_page)
    editor.wait_ready()
    editor.press("Shift+ArrowRight")
    editor.press("1")
    editor.press("Enter")
    expect(browser_page.get_by_test_id("grader-message")).to_contain_text("revision 1")
    item = task.golden_items_made.get()
    assert item.answer == {"box": [290.0, 130.0, 410.0, 310.0], "category": CREATOR_CATEGORY, "match": "same",
                           "is_spam": False}

    browser_page.reload()
    editor.wait_ready()
    editor.expect_box(item.answer["box"])
    editor.expect_state(category=CREATOR_CATEGORY, match="same", spam=False)
    editor.press("s")
    editor.press("Enter")
    expect(browser_page.get_by_test_id("grader-message")).to_contain_text("revision 2")
    item.refresh_from_db()
    assert item.answer == {"box": [290.0, 130.0, 410.0, 310.0], "category": CREATOR_CATEGORY, "match": "same",
                           "is_spam": True}
