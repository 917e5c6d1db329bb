"""Staff see a box task in real Chromium: every labeler's boxes overlaid in its own colour beside
the consensus and the golden answer, and each labeler's score on the golden items."""
from __future__ import annotations

import io

import pytest
from PIL import Image as PILImage
from playwright.sync_api import expect

from evaluation.box_queues import box_queue_create
from labeling.golden.services import GoldenItemInput, golden_items_put, golden_set_create
from labeling.models import ImageKind, Role, SceneSet, Task
from labeling.services.images import image_store
from labeling.services.queue_engine import assignment_claim, label_submit
from labeling.services.users import user_create
from labeling.taxonomy import taxonomy_seed

from conftest import PASSWORD
from frontend_pages import LoginPage

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

TRUE_BOXES = [{"box": [20.0, 30.0, 120.0, 200.0], "category": "tops"},
              {"box": [150.0, 40.0, 220.0, 120.0], "category": "handbags"}]


def scene_png(colour) -> bytes:
    buffer = io.BytesIO()
    PILImage.new("RGB", (256, 240), colour).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture
def labeled_box_queue(pool, expert, media):
    taxonomy_seed()
    scenes = [image_store(data=scene_png((40 * i, 90, 140)), kind=ImageKind.SCENE) for i in range(2)]
    scene_set = SceneSet.objects.create(name="review scenes")
    scene_set.scenes.set(scenes[:1])
    golden_set = golden_set_create(name="review golden", task_kind="bounding_boxes")
    job = box_queue_create(name="Boxes to review", scene_set=scene_set, created_by=expert, replication=3,
                           golden_rate=1.0, golden_sets=[golden_set])
    golden_items_put(golden_set=golden_set, items=[GoldenItemInput(
        key="golden-scene", answer={"boxes": TRUE_BOXES}, reason="the world's boxes",
        payload={"scene_id": scenes[1].pk, "image": {"url": f"/media/{scenes[1].file.name}", "width": 256,
                                                      "height": 240}, "proposals": []})])
    answers = {
        "ada": [TRUE_BOXES[0], TRUE_BOXES[1]],
        "bob": [{"box": [22.0, 28.0, 118.0, 204.0], "category": "tops"}],
        "cy": [{"box": [18.0, 32.0, 121.0, 198.0], "category": "tops"}, TRUE_BOXES[1]],
    }
    for name, boxes in answers.items():
        labeler = user_create(username=name, password=PASSWORD, role=Role.LABELER, pool=pool)
        # Golden first (rate 1), then the scene's normal task.
        while (lease := assignment_claim(queue=job.queue, labeler=labeler)) is not None:
            label_submit(assignment_id=lease.pk, labeler=labeler, answer={"boxes": boxes})
    return job.queue


def test_staff_see_each_labelers_golden_score_and_the_consensus_of_a_box_task(
        live_server, browser_page, expert, labeled_box_queue):
    LoginPage(browser_page, live_server.url).sign_in(expert.username, PASSWORD)
    browser_page.goto(f"{live_server.url}/overview/queues/{labeled_box_queue.pk}/")
    scores = browser_page.get_by_test_id("golden-scores")
    expect(scores.get_by_test_id("golden-score-ada")).to_contain_text("100.0%")
    # bob missed the handbag: not correct, F1 = 2/3.
    expect(scores.get_by_test_id("golden-score-bob")).to_contain_text("0.0%")
    expect(scores.get_by_test_id("golden-score-bob")).to_contain_text("0.667")

    normal = Task.objects.get(queue=labeled_box_queue, is_golden=False)
    browser_page.get_by_test_id(f"review-task-{normal.pk}").click()
    review = browser_page.get_by_test_id("box-review")
    expect(review).to_be_visible()
    for index in range(3):
        expect(browser_page.get_by_test_id(f"layer-{index}").locator("rect")).to_have_count([2, 1, 2][index])
    # The top is drawn by all three, the handbag by two of three: both pass the quorum of 2.
    expect(browser_page.get_by_test_id("consensus-box")).to_have_count(2)
    expect(browser_page.get_by_test_id("consensus-table")).to_contain_text("67%")
    expect(browser_page.get_by_test_id("make-golden")).to_have_text("Make golden")

    golden = Task.objects.get(queue=labeled_box_queue, is_golden=True)
    browser_page.goto(f"{live_server.url}/overview/tasks/{golden.pk}/")
    expect(browser_page.get_by_test_id("golden-flag")).to_be_visible()
    expect(browser_page.locator(".golden-layer rect")).to_have_count(2)
    expect(browser_page.get_by_test_id("label-scores")).to_contain_text("ada")
    expect(browser_page.get_by_test_id("make-golden")).to_have_text("Fix the golden answer")


def test_an_expert_answers_a_box_task_as_golden_in_the_editor_and_fixes_it_later(
        live_server, browser_page, expert, labeled_box_queue):
    from box_editor_pages import BoxEditorPage

    normal = Task.objects.get(queue=labeled_box_queue, is_golden=False)
    LoginPage(browser_page, live_server.url).sign_in(expert.username, PASSWORD)
    browser_page.goto(f"{live_server.url}/overview/tasks/{normal.pk}/")
    browser_page.get_by_test_id("make-golden").click()
    editor = BoxEditorPage(browser_page)
    editor.wait_ready()
    editor.expect_box_count(0)
    editor.draw(20, 30, 120, 200)
    browser_page.get_by_test_id("golden-reason").fill("a top, tight box")
    browser_page.get_by_role("button", name="Save golden answer").click()
    expect(browser_page.get_by_test_id("grader-message")).to_contain_text("revision 1")

    normal.refresh_from_db()
    assert not normal.is_golden, "the labeled task itself never turns golden"
    item = normal.golden_items_made.get()
    [drawn] = item.answer["boxes"]
    assert all(abs(a - b) <= 1.0 for a, b in zip(drawn["box"], [20, 30, 120, 200])), drawn
    assert item.reason == "a top, tight box"
    assert Task.objects.filter(queue=labeled_box_queue, golden_item=item, twin_of=normal).exists()

    # Fixing it: the editor starts from the saved answer; the history keeps both.
    browser_page.goto(f"{live_server.url}/overview/tasks/{normal.pk}/golden/")
    editor.wait_ready()
    editor.expect_box_count(1)
    editor.draw(150, 40, 220, 120)
    browser_page.keyboard.press("Enter")
    expect(browser_page.get_by_test_id("grader-message")).to_contain_text("revision 2")
    item.refresh_from_db()
    assert len(item.answer["boxes"]) == 2 and item.revisions.count() == 2
