"""Browser tests of the guide pages, the edge cases and the guide panel: an expert edits a guide
with its live preview and publishes v2, reads the diff; a script in a guide never runs; an expert
makes an edge case from a task's review page; a labeler sees it, image and answer, in the guide
panel of the work page. Screenshots land in /tmp/guide_*.png."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from labeling.calibration.guides import edge_case_create, guide_version_publish
from labeling.models import EdgeCase, GuideVersion, TaskKind
from labeling.services.queues import queue_create
from labeling.services.tasks import TaskSpec, tasks_create

from conftest import PASSWORD, relevance_payload
from frontend_pages import LoginPage, MyQueuesPage

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

GUIDE_V1 = """# Relevance at 5

Grade every product against the query object.

## When in doubt

- Between two grades, pick the **lower** one.

- Colour beats shape.
"""
HOSTILE = """# Relevance at 5

<script>window.__guideScript = 1;</script>
<img src="x" onerror="window.__guideScript = 2">
[press me](javascript:window.__guideScript=3)
"""


@pytest.fixture
def guide_v1(expert):
    return guide_version_publish(task_kind=TaskKind.RELEVANCE, body=GUIDE_V1, published_by=expert, change_note="first")


@pytest.fixture
def guided_queue(pool, guide_v1, media_images):
    queue = queue_create(name="Relevance under the guide", task_kind=TaskKind.RELEVANCE, replication=2,
                         allowed_pools=[pool], guide_version=guide_v1)
    tasks_create(queue=queue, specs=[TaskSpec(source_key=f"q-{n}", payload=relevance_payload(media_images, n))
                                     for n in range(2)])
    return queue


def test_an_expert_edits_with_a_live_preview_publishes_v2_and_reads_the_diff(live_server, browser_page, expert,
                                                                              guide_v1):
    page = browser_page
    LoginPage(page, live_server.url).sign_in("esther", PASSWORD)
    page.goto(f"{live_server.url}/overview/guides/")
    expect(page.get_by_test_id("guide-row-relevance")).to_contain_text("v1")
    page.get_by_test_id("edit-relevance").click()
    preview = page.get_by_test_id("guide-preview")
    # The first view is rendered by the server: the "When in doubt" bullets are one list.
    expect(preview.locator("ul > li")).to_have_count(2)
    new_body = GUIDE_V1 + "\n- If the crop shows two items, grade the larger one.\n"
    expect(page.locator("#guide-form")).to_have_attribute("data-ready", "1")  # the preview script listens
    page.get_by_test_id("guide-body-input").fill(new_body)
    # The preview answered (the state says so; a failed preview names its error there).
    expect(page.locator("#guide-form")).to_have_attribute("data-previewed", "1")
    expect(page.get_by_test_id("guide-preview-state")).to_have_text("as labelers see it")
    expect(preview.locator("ul > li")).to_have_count(3)  # the live preview followed the edit
    expect(preview.locator("ul > li").nth(2)).to_have_text("If the crop shows two items, grade the larger one.")
    page.get_by_test_id("guide-change-note").fill("Two items in a crop")
    page.screenshot(path="/tmp/guide_edit.png", full_page=True)
    page.get_by_test_id("guide-publish").click()
    expect(page.get_by_test_id("guide-version-2")).to_contain_text("Two items in a crop")
    version = GuideVersion.objects.get(guide=guide_v1.guide, version=2)
    assert version.body == new_body and version.created_by == expert
    page.get_by_test_id("diff-2").click()
    diff = page.get_by_test_id("guide-diff")
    expect(diff.locator(".diff-added")).to_contain_text(["If the crop shows two items, grade the larger one."])
    expect(diff.locator(".diff-removed")).to_have_count(0)
    page.screenshot(path="/tmp/guide_diff.png", full_page=True)


def test_a_script_in_a_guide_runs_neither_in_the_preview_nor_in_the_guide_panel(
        live_server, browser_page, expert, labeler, guided_queue):
    page = browser_page
    LoginPage(page, live_server.url).sign_in("esther", PASSWORD)
    page.goto(f"{live_server.url}/overview/guides/relevance/edit/")
    expect(page.locator("#guide-form")).to_have_attribute("data-ready", "1")
    page.get_by_test_id("guide-body-input").fill(HOSTILE)
    preview = page.get_by_test_id("guide-preview")
    expect(preview).to_contain_text('<script>window.__guideScript = 1;</script>')  # shown as text
    preview.get_by_text("press me").click()  # a javascript: link is plain text
    assert page.evaluate("window.__guideScript") is None
    assert preview.locator("script, img, a").count() == 0
    page.get_by_test_id("guide-publish").click()
    expect(page.get_by_test_id("guide-version-2")).to_be_visible()
    # The queue moves to the hostile version; the labeler opens its guide.
    guided_queue.guide_version = GuideVersion.objects.get(guide=guided_queue.guide_version.guide, version=2)
    guided_queue.save(update_fields=["guide_version"])
    page.context.clear_cookies()
    LoginPage(page, live_server.url).sign_in("lena", PASSWORD)
    grading = MyQueuesPage(page).start(guided_queue.pk)
    grading.open_guide()
    body = page.get_by_test_id("guide-body")
    expect(body).to_contain_text('onerror="window.__guideScript = 2"')
    body.get_by_text("press me").click()
    assert page.evaluate("window.__guideScript") is None
    assert body.locator("script, img, a").count() == 0
    page.screenshot(path="/tmp/guide_hostile_panel.png")


def test_an_expert_makes_an_edge_case_from_a_task_review_page(live_server, browser_page, expert, guided_queue):
    page = browser_page
    task = guided_queue.tasks.order_by("pk").first()
    LoginPage(page, live_server.url).sign_in("esther", PASSWORD)
    page.goto(f"{live_server.url}/overview/tasks/{task.pk}/")
    page.get_by_test_id("make-edge-case").click()
    expect(page).to_have_url(f"{live_server.url}/overview/edge-cases/new/?task={task.pk}")
    expect(page.locator("#edge-case-editor")).to_have_attribute("data-ready", "1")
    page.get_by_test_id("edge-case-rule").fill("Colour beats shape")
    page.get_by_test_id("edge-case-reason").fill("Same colour and pattern, another silhouette: similar.")
    page.get_by_test_id("edge-case-save").click()  # not answered yet: the editor says what is missing
    expect(page.get_by_test_id("grader-message")).to_contain_text("have no grade yet")
    assert not EdgeCase.objects.exists()
    page.evaluate("document.activeElement.blur()")  # the keys go to the editor, not the form
    page.keyboard.press("1")
    for key in "ssmnn":
        page.keyboard.press(key)
    page.screenshot(path="/tmp/guide_edge_case_new.png", full_page=True)
    page.get_by_test_id("edge-case-save").click()
    expect(page).to_have_url(f"{live_server.url}/overview/edge-cases/")
    edge_case = EdgeCase.objects.get()
    assert edge_case.answer == {"grades": ["similar", "similar", "marginally_similar", "not_similar", "not_similar"]}
    assert (edge_case.source_task_id, edge_case.guide_version_id) == (task.pk, guided_queue.guide_version_id)
    card = page.get_by_test_id(f"edge-case-{edge_case.pk}")
    expect(card).to_contain_text("Product 3: Marginally similar")
    expect(card).to_contain_text("another silhouette")
    expect(page.get_by_test_id("edge-case-rule")).to_contain_text(["Colour beats shape"])
    page.screenshot(path="/tmp/guide_edge_case_library.png", full_page=True)


def test_a_labeler_sees_the_edge_case_with_its_image_and_answer_in_the_guide_panel(
        live_server, browser_page, expert, labeler, guided_queue, media_images):
    # An item no task of the labeler shows: its images reach them only as an edge case of the guide.
    edge_case = edge_case_create(task_kind=TaskKind.RELEVANCE, rule="Colour beats shape",
                                 payload=relevance_payload(media_images, 7), reason="Same colour, other cut.",
                                 answer={"grades": ["similar", "marginally_similar", "not_similar", "not_similar",
                                                    "did_not_load"]}, created_by=expert)
    page = browser_page
    LoginPage(page, live_server.url).sign_in("lena", PASSWORD)
    grading = MyQueuesPage(page).start(guided_queue.pk)
    grading.open_guide()
    panel = page.get_by_test_id("guide-edge-cases")
    card = panel.get_by_test_id(f"edge-case-{edge_case.pk}")
    expect(panel.get_by_test_id("edge-case-rule")).to_contain_text(["Colour beats shape"])
    expect(card.get_by_test_id("edge-case-answer")).to_contain_text("Product 1: Similar")
    expect(card).to_contain_text("Same colour, other cut.")
    images = card.get_by_test_id("edge-case-image")
    expect(images).to_have_count(7)  # crop, scene and five products
    first = images.first
    first.scroll_into_view_if_needed()
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=first.element_handle())
    # The guide's own list renders as one list too.
    expect(page.get_by_test_id("guide-body").locator("ul > li")).to_have_count(2)
    page.screenshot(path="/tmp/guide_panel_edge_case.png")
