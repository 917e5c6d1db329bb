"""Browser tests of the attribute editor: real Chromium labels the attributes of a product crop on
the work page against the live server, with the keyboard and the mouse, and the label the server
stores holds exactly the values picked."""
from __future__ import annotations

import io
from urllib.parse import urlparse

import pytest
from django.core.files.storage import default_storage
from PIL import Image as PILImage
from PIL import ImageDraw
from playwright.sync_api import expect

from labeling.models import Attribute, Guide, GuideVersion, ImageKind, Label, Task, TaskKind
from labeling.services.images import images_store
from labeling.services.queues import queue_create
from labeling.services.tasks import TaskSpec, tasks_create
from labeling.task_kinds.attributes import CANT_TELL
from labeling.taxonomy import taxonomy_seed

from attribute_editor_pages import AttributeEditorPage
from conftest import PASSWORD
from frontend_pages import LoginPage, RECORD_VIOLATIONS, csp_violations, work_page_open

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CATEGORY = "tops"
# The rows a top gets from the seeded attribute schema, in the schema's order.
TOP_ATTRIBUTES = ["color", "pattern", "fabric", "gender"]
SCENE_WIDTH, SCENE_HEIGHT = 640, 480
BOX = [200.0, 100.0, 320.0, 260.0]
NAVY = (29, 43, 92)
ADDED_COLOUR = "beige"
DRAFT_HOLDS_VALUES = """(count) => Object.keys(localStorage).some((key) => {
  if (!key.startsWith("shoplabel:draft:")) return false;
  const saved = JSON.parse(localStorage.getItem(key));
  return saved && saved.state && Object.keys(saved.state.values).length === count;
})"""
SCENE_BOX_SHARE = """() => {
  const image = document.querySelector(".at-editor [data-role=scene-image]").getBoundingClientRect();
  const box = document.querySelector(".at-editor [data-role=scene-box]").getBoundingClientRect();
  return [(box.left - image.left) / image.width, (box.top - image.top) / image.height,
          (box.right - image.left) / image.width, (box.bottom - image.top) / image.height];
}"""


def _png(size: tuple[int, int], background: tuple[int, int, int], shape: tuple, colour: tuple[int, int, int]) -> bytes:
    picture = PILImage.new("RGB", size, background)
    ImageDraw.Draw(picture).rectangle(shape, fill=colour)
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return buffer.getvalue()


def _image_ref(image) -> dict:
    return {"url": default_storage.url(image.file.name), "width": image.width, "height": image.height}


@pytest.fixture
def attribute_queue_create(db, pool):
    """Build an attributes queue of ``tasks`` crops of a navy top, each cut from a scene, through the
    real services."""
    taxonomy_seed()
    guide = Guide.objects.create(task_kind=TaskKind.ATTRIBUTES, title="Attributes")
    guide_version = GuideVersion.objects.create(guide=guide, version=1, body="# Attributes\n\nOne value a row.")

    def create(*, tasks: int = 1):
        queue = queue_create(name="Attributes: tops", task_kind=TaskKind.ATTRIBUTES, replication=1,
                             allowed_pools=[pool], guide_version=guide_version)
        specs = []
        for ordinal in range(tasks):
            # Each crop differs by a pixel column, so each is its own image.
            crop, scene = images_store(items=[
                (_png((120, 160), (240, 240, 240), (20, 20, 100 + ordinal, 140), NAVY), ImageKind.CROP),
                (_png((SCENE_WIDTH, SCENE_HEIGHT), (225, 220, 210), tuple(BOX), NAVY), ImageKind.SCENE),
            ])
            specs.append(TaskSpec(source_key=f"crop:{crop.pk}", payload={
                "category": CATEGORY, "crop": _image_ref(crop), "scene": _image_ref(scene), "box": BOX}))
        tasks_create(queue=queue, specs=specs)
        return queue

    return create


def _open_work_page(page, live_server, queue, *, sign_in: bool = True) -> AttributeEditorPage:
    if sign_in:
        page.add_init_script(RECORD_VIOLATIONS)
        LoginPage(page, live_server.url).sign_in("lena", PASSWORD)
    work_page_open(page, live_server.url, queue.pk)
    editor = AttributeEditorPage(page)
    editor.wait_ready()
    return editor


def _expect_submitted(page, count: int = 1) -> None:
    expect(page.get_by_test_id("session-count")).to_have_text(str(count))


def _assert_no_csp_violations(page) -> None:
    assert csp_violations(page) == []


def test_a_labeler_labels_every_attribute_of_a_crop_with_the_keyboard_alone(
        live_server, browser_page, labeler, attribute_queue_create):
    foreign = []
    browser_page.on("request", lambda request: foreign.append(request.url)
                    if urlparse(request.url).netloc != urlparse(live_server.url).netloc else None)
    editor = _open_work_page(browser_page, live_server, attribute_queue_create())
    assert editor.category_name == "Shirts & Tops"
    assert [row["name"] for row in editor.rows()] == TOP_ATTRIBUTES
    assert editor.rows()[0]["values"] == Attribute.objects.get(name="color").values
    shares = browser_page.evaluate(SCENE_BOX_SHARE)
    wanted = [BOX[0] / SCENE_WIDTH, BOX[1] / SCENE_HEIGHT, BOX[2] / SCENE_WIDTH, BOX[3] / SCENE_HEIGHT]
    assert all(abs(got - want) < 0.01 for got, want in zip(shares, wanted)), shares
    editor.expect_focused("color")

    for key in ("9", "1", "2", "3"):  # navy, solid, knit, unisex: each moves on to the next row
        editor.press(key)
    assert editor.values() == {"color": "navy", "pattern": "solid", "fabric": "knit", "gender": "unisex"}
    editor.expect_focused("gender")
    editor.press("ArrowUp")
    editor.press("ArrowUp")
    editor.expect_focused("pattern")
    editor.clear()
    editor.cant_tell()
    editor.expect_focused("fabric")
    editor.press("Tab")
    editor.type_value("women")
    for _ in TOP_ATTRIBUTES[1:]:
        editor.press("Shift+Tab")
    editor.expect_focused("color")
    editor.press("0")  # the 10th colour
    editor.expect_value("color", "purple")
    editor.press("ArrowUp")
    editor.press("Shift+Digit1")  # the 11th
    editor.expect_value("color", "pink")
    editor.press("ArrowUp")
    editor.press("ArrowRight")
    editor.expect_value("color", "brown")
    editor.press("ArrowLeft")
    editor.expect_value("color", "pink")
    # G is the session's: it opens the guide, whatever row is highlighted.
    editor.press("g")
    expect(browser_page.locator("#guide-overlay")).to_be_visible()
    editor.press("Escape")
    expect(browser_page.locator("#guide-overlay")).to_be_hidden()
    assert Label.objects.count() == 0
    editor.submit()

    _expect_submitted(browser_page)
    assert Label.objects.get(labeler=labeler).answer == {"attributes": {
        "color": "pink", "pattern": CANT_TELL, "fabric": "knit", "gender": "women"}}
    _assert_no_csp_violations(browser_page)
    assert foreign == []


def test_enter_with_a_row_left_empty_names_it_and_stores_nothing_until_it_is_filled(
        live_server, browser_page, labeler, attribute_queue_create):
    editor = _open_work_page(browser_page, live_server, attribute_queue_create())
    editor.type_value("black")
    editor.press("ArrowDown")  # pattern stays empty
    editor.type_value("leather")
    editor.focus_row(0)
    editor.submit()

    missing = browser_page.evaluate("window.ShopEditors.attributes.messages.missing(['Pattern', 'Gender'])")
    assert missing == "Pattern and Gender have no value yet."
    expect(browser_page.get_by_test_id("grader-message")).to_have_text(missing)
    editor.expect_missing("pattern")
    editor.expect_missing("gender")
    editor.expect_focused("pattern")
    assert Label.objects.count() == 0

    editor.type_value("striped")
    editor.expect_not_missing("pattern")
    expect(browser_page.get_by_test_id("grader-message")).to_be_empty()
    editor.focus_row(3)
    editor.cant_tell()
    editor.submit()

    _expect_submitted(browser_page)
    assert Label.objects.get(labeler=labeler).answer == {"attributes": {
        "color": "black", "pattern": "striped", "fabric": "leather", "gender": CANT_TELL}}
    _assert_no_csp_violations(browser_page)


def test_a_reload_in_the_middle_of_a_task_keeps_the_values_picked_and_the_highlighted_row(
        live_server, browser_page, labeler, attribute_queue_create):
    editor = _open_work_page(browser_page, live_server, attribute_queue_create())
    assignment_id = browser_page.locator("#grader").get_attribute("data-assignment-id")
    editor.pick("color", "green")
    editor.pick(2, "denim")  # the mouse picks and highlights the row without moving on
    editor.press("ArrowUp")
    editor.cant_tell()
    editor.expect_focused("fabric")
    browser_page.wait_for_function(DRAFT_HOLDS_VALUES, arg=3)

    browser_page.reload()
    expect(browser_page.locator("#grader")).to_have_attribute("data-mode", "task")
    editor.wait_ready()

    assert browser_page.locator("#grader").get_attribute("data-assignment-id") == assignment_id
    expect(browser_page.get_by_test_id("draft-state")).to_have_text("Draft restored")
    assert editor.values() == {"color": "green", "pattern": CANT_TELL, "fabric": "denim", "gender": None}
    editor.expect_focused("fabric")
    editor.press("ArrowDown")
    editor.type_value("men")
    editor.submit()

    _expect_submitted(browser_page)
    assert Label.objects.get(labeler=labeler).answer == {"attributes": {
        "color": "green", "pattern": CANT_TELL, "fabric": "denim", "gender": "men"}}
    _assert_no_csp_violations(browser_page)


def test_a_value_an_expert_adds_to_an_attribute_is_a_button_with_a_key_on_the_next_task(
        live_server, browser_page, labeler, attribute_queue_create):
    queue = attribute_queue_create(tasks=2)
    editor = _open_work_page(browser_page, live_server, queue)
    assert ADDED_COLOUR not in editor.rows()[0]["values"]
    for key in ("1", "1", "1", "1"):
        editor.press(key)
    editor.submit()
    _expect_submitted(browser_page)

    # As the admin saves it: the save signal gives the taxonomy a new token.
    color = Attribute.objects.get(name="color")
    color.values = [*color.values, ADDED_COLOUR]
    color.save()
    editor = _open_work_page(browser_page, live_server, queue, sign_in=False)

    assert editor.rows()[0]["values"][-1] == ADDED_COLOUR
    assert editor.key_for("color", ADDED_COLOUR) == "Shift+Digit3"  # the 13th
    editor.type_value(ADDED_COLOUR)
    for _ in TOP_ATTRIBUTES[1:]:
        editor.cant_tell()
    editor.submit()

    _expect_submitted(browser_page)
    answers = [label.answer for label in Label.objects.filter(labeler=labeler).order_by("pk")]
    assert answers == [
        {"attributes": {"color": "black", "pattern": "solid", "fabric": "denim", "gender": "men"}},
        {"attributes": {"color": ADDED_COLOUR, "pattern": CANT_TELL, "fabric": CANT_TELL, "gender": CANT_TELL}},
    ]
    _assert_no_csp_violations(browser_page)


def test_an_expert_answers_an_attribute_task_as_golden_and_fixing_it_starts_from_the_saved_values(
        live_server, browser_page, expert, attribute_queue_create):
    task = Task.objects.get(queue=attribute_queue_create())
    browser_page.add_init_script(RECORD_VIOLATIONS)
    LoginPage(browser_page, live_server.url).sign_in(expert.username, PASSWORD)
    browser_page.goto(f"{live_server.url}/overview/tasks/{task.pk}/golden/")
    editor = AttributeEditorPage(browser_page)
    editor.wait_ready()
    assert editor.values() == dict.fromkeys(TOP_ATTRIBUTES)
    for value in ("navy", "solid", "knit", "women"):
        editor.type_value(value)
    browser_page.keyboard.press("Enter")
    expect(browser_page.get_by_test_id("grader-message")).to_contain_text("revision 1")
    item = task.golden_items_made.get()
    assert item.answer == {"attributes": {"color": "navy", "pattern": "solid", "fabric": "knit", "gender": "women"}}

    browser_page.reload()
    editor.wait_ready()
    assert editor.values() == item.answer["attributes"]
    editor.focus_row(1)
    editor.cant_tell()
    browser_page.keyboard.press("Enter")
    expect(browser_page.get_by_test_id("grader-message")).to_contain_text("revision 2")
    item.refresh_from_db()
    assert item.answer["attributes"] == {"color": "navy", "pattern": CANT_TELL, "fabric": "knit", "gender": "women"}
    _assert_no_csp_violations(browser_page)
