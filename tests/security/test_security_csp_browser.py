"""The pages work under the Content-Security-Policy: real Chromium signs in as each role and opens
every page that role uses, and nothing is blocked by the policy, no request leaves the site, and
no request fails or gets an error status.

Violations are caught twice: the page's ``securitypolicyviolation`` events (reported through a
Playwright binding, which the policy does not govern) and Chromium's console messages. Static
files come from pytest-django's live server, which serves them through Django's staticfiles
finders as tests/frontend/ does (WhiteNoise serves the collected copies in production)."""
from __future__ import annotations

import io
from urllib.parse import urlsplit

import pytest
from django.conf import settings
from PIL import Image as PILImage

from evaluation.models import BoxQueueJob, BoxQueueJobStatus, EvalRun, EvalRunStatus, ModelKind, ModelVersion
from labeling.models import Guide, GuideVersion, Image, ImageKind, Role, SceneSet, TaskKind
from labeling.services.images import image_store
from labeling.services.queues import queue_create
from labeling.services.tasks import TaskSpec, tasks_create
from tests.security.conftest import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CHROMIUM_PATH = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
REPORT_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", (event) => {
  window.__reportCspViolation({directive: event.violatedDirective, blocked: event.blockedURI,
                               source: event.sourceFile, line: event.lineNumber});
});
"""
LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1"}


class WatchedBrowser:
    """One signed-in Chromium page that records what the policy blocked and where requests went."""

    def __init__(self, context, base_url: str):
        self.base_url = base_url
        self.violations: list[dict] = []
        self.console: list[str] = []
        self.foreign_requests: list[str] = []
        self.failed_requests: list[str] = []
        self.error_responses: list[str] = []
        context.expose_binding("__reportCspViolation", lambda source, violation: self.violations.append(violation))
        context.add_init_script(REPORT_VIOLATIONS)
        self.page = context.new_page()
        self.page.set_default_timeout(15_000)
        self.page.on("console", self._on_console)
        self.page.on("request", self._on_request)
        self.page.on("requestfailed", self._on_request_failed)
        self.page.on("response", self._on_response)

    def _on_console(self, message) -> None:
        # "Failed to load resource" names no URL; _on_response records those, with theirs.
        if message.type in ("error", "warning") and not message.text.startswith("Failed to load resource"):
            self.console.append(f"{message.type}: {message.text} ({self.page.url})")

    def _on_response(self, response) -> None:
        # The admin's pages declare no icon, so Chromium asks for /favicon.ico, which no route serves.
        if response.status >= 400 and urlsplit(response.url).path != "/favicon.ico":
            self.error_responses.append(f"{response.status} {response.url}")

    def _on_request(self, request) -> None:
        parts = urlsplit(request.url)
        if parts.scheme in ("http", "https", "ws", "wss") and parts.hostname not in LOCAL_HOSTS:
            self.foreign_requests.append(request.url)

    def _on_request_failed(self, request) -> None:
        # A poll cut short by leaving the page is aborted by the browser, not refused by anything.
        if request.failure != "net::ERR_ABORTED":
            self.failed_requests.append(f"{request.url}: {request.failure}")

    def sign_in(self, username: str) -> None:
        self.page.goto(f"{self.base_url}/login/")
        self.page.get_by_label("Username").fill(username)
        self.page.get_by_label("Password").fill(PASSWORD)
        self.page.get_by_role("button", name="Sign in").click()
        self.page.locator(".topbar .who").filter(has_text=username).wait_for()

    def visit(self, path: str, ready: str) -> None:
        """Open ``path`` and wait until ``ready`` (a CSS selector) shows, and the network is idle."""
        response = self.page.goto(f"{self.base_url}{path}")
        assert response is not None and response.ok, f"{path}: {response and response.status}"
        assert response.headers.get("content-security-policy") == settings.CSP_POLICY, path
        self.page.locator(ready).first.wait_for()
        self.page.wait_for_load_state("networkidle")

    def assert_clean(self) -> None:
        assert self.violations == []
        assert [line for line in self.console if "Content Security Policy" in line] == []
        assert self.console == []
        assert self.foreign_requests == []
        assert self.failed_requests == []
        assert self.error_responses == []


@pytest.fixture
def watched_browser(live_server, monkeypatch):
    from django.urls import get_resolver
    from playwright.sync_api import sync_playwright

    # Import every view module now (the evaluation services pull in torch), so the live server's
    # first request does not pay for it; Playwright's event loop trips Django's async-safety check
    # on this thread's own ORM calls, which are plain synchronous code.
    get_resolver().url_patterns
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM_PATH, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1440, "height": 900})
        yield WatchedBrowser(context, live_server.url)
        context.close()
        browser.close()


def _png(colour: tuple[int, int, int], size: tuple[int, int]) -> bytes:
    buffer = io.BytesIO()
    PILImage.new("RGB", size, colour).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture
def relevance_queue(pool, media):
    """A relevance queue open to ``pool`` whose two tasks show real stored images."""
    guide = Guide.objects.create(task_kind=TaskKind.RELEVANCE, title="Relevance at 5")
    guide_version = GuideVersion.objects.create(guide=guide, version=1, body="# Grading\n\n- `similar`: close.")
    queue = queue_create(name="Relevance: CSP check", task_kind=TaskKind.RELEVANCE, replication=2,
                         allowed_pools=[pool], guide_version=guide_version)
    specs = []
    for ordinal in range(2):
        crop = image_store(data=_png((30, 30, 30 + ordinal), (60, 80)), kind=ImageKind.CROP)
        scene = image_store(data=_png((120, 140, 160 + ordinal), (128, 128)), kind=ImageKind.SCENE)
        products = [image_store(data=_png((40 * slot, 90, ordinal), (64, 64)), kind=ImageKind.PRODUCT)
                    for slot in range(5)]
        specs.append(TaskSpec(source_key=f"query-object-{ordinal}", payload={
            "query_object": {"id": ordinal, "crop_url": crop.file.url, "scene_url": scene.file.url,
                             "box": [10.0, 10.0, 90.0, 110.0], "category": "dresses"},
            "candidates": [{"product_id": 100 * ordinal + slot, "category": "dresses", "image_url": product.file.url}
                           for slot, product in enumerate(products)]}))
    tasks_create(queue=queue, specs=specs)
    return queue


@pytest.fixture
def generating_run(users):
    """A run still generating, so its page polls for progress; model versions are hand-made rows."""
    scene = Image.objects.create(sha256="c" * 64, file="images/csp-scene.png", width=64, height=64,
                                 kind=ImageKind.SCENE)
    scene_set = SceneSet.objects.create(name="CSP scenes")
    scene_set.scenes.add(scene)
    detector = ModelVersion.objects.create(kind=ModelKind.DETECTOR, name="frcnn-small", version_tag="V1",
                                           checkpoint="checkpoints/detector.pt", config={"arch": "small"})
    embedder = ModelVersion.objects.create(kind=ModelKind.EMBEDDER, name="multitask", version_tag="V1.1",
                                           checkpoint="checkpoints/embedder.pt", config={"arch": "resnet18"})
    return EvalRun.objects.create(name="CSP run", scene_set=scene_set, detector=detector, embedder=embedder,
                                  status=EvalRunStatus.GENERATING, scenes_total=2, created_by=users[Role.ENGINEER])


def test_a_labeler_grades_under_the_policy_with_nothing_blocked(watched_browser, users, relevance_queue):
    watched_browser.sign_in(users[Role.LABELER].username)
    watched_browser.visit("/queues/", f"[data-testid=queue-{relevance_queue.pk}]")
    watched_browser.visit(f"/queues/{relevance_queue.pk}/grade/", "#grader[data-mode=task]")
    # Every image of the claimed task has loaded (media is same-origin, img-src 'self').
    watched_browser.page.wait_for_function("""() => {
        const shown = [document.querySelector('#query-crop'),
                       ...document.querySelectorAll('#candidates .cand .img img')];
        return shown.length === 6 && shown.every(img => img.complete && img.naturalWidth > 0);
    }""")
    watched_browser.page.keyboard.press("?")
    watched_browser.page.get_by_test_id("guide-body").wait_for()
    watched_browser.assert_clean()


def test_an_engineer_opens_runs_models_and_a_new_run_with_nothing_blocked(watched_browser, users, generating_run):
    watched_browser.sign_in(users[Role.ENGINEER].username)
    watched_browser.visit("/runs/", f"[data-testid=run-{generating_run.pk}]")
    watched_browser.visit(f"/runs/{generating_run.pk}/", "[data-testid=scene-count]")
    # run_detail.js polls the API (connect-src 'self') and moves the progress bar.
    EvalRun.objects.filter(pk=generating_run.pk).update(scenes_done=1)
    watched_browser.page.get_by_test_id("scene-count").filter(has_text="1 / 2").wait_for()
    watched_browser.visit("/runs/new/", "form")
    watched_browser.visit("/models/", f"[data-testid=model-version-{generating_run.detector_id}]")
    watched_browser.assert_clean()


def test_an_expert_opens_the_overview_and_a_queue_with_nothing_blocked(watched_browser, users, relevance_queue):
    watched_browser.sign_in(users[Role.EXPERT].username)
    watched_browser.visit("/overview/", f"a[href='/overview/queues/{relevance_queue.pk}/']")
    watched_browser.visit(f"/overview/queues/{relevance_queue.pk}/", ".guide-body")
    watched_browser.assert_clean()


def test_an_admin_uses_the_django_admin_with_nothing_blocked(watched_browser, users):
    admin = users[Role.ADMIN]
    admin.is_superuser = True
    admin.save(update_fields=["is_superuser"])
    watched_browser.sign_in(admin.username)
    watched_browser.visit("/", "a[href='/admin/']")
    watched_browser.visit("/admin/", "#content-main")
    watched_browser.visit("/admin/labeling/user/", "#result_list")
    # The change form runs the admin's widget scripts (the permission pickers' SelectFilter).
    watched_browser.visit(f"/admin/labeling/user/{admin.pk}/change/", "#id_user_permissions_from")
    watched_browser.assert_clean()


def test_anyone_gets_swagger_ui_from_local_assets_with_nothing_blocked(watched_browser):
    watched_browser.visit("/api/docs/", ".swagger-ui .information-container .title")
    watched_browser.page.locator(".swagger-ui .opblock").first.wait_for()
    assert "Shop-the-look" in watched_browser.page.locator(".swagger-ui .information-container .title").inner_text()
    watched_browser.assert_clean()


@pytest.fixture
def box_queue_preannotating(users, media):
    """A box queue whose detector job is still running, so its page polls for progress."""
    from evaluation.box_queues import box_queue_create
    from labeling.taxonomy import taxonomy_seed

    taxonomy_seed()
    scene = image_store(data=_png((90, 120, 150), (160, 120)), kind=ImageKind.SCENE)
    scene_set = SceneSet.objects.create(name="CSP box scenes")
    scene_set.scenes.add(scene)
    detector = ModelVersion.objects.create(kind=ModelKind.DETECTOR, name="frcnn-small", version_tag="V1",
                                           checkpoint="checkpoints/detector.pt", config={"arch": "small"})
    job = box_queue_create(name="Boxes: CSP check", scene_set=scene_set, created_by=users[Role.EXPERT],
                           detector=detector, start_preannotation=False)
    BoxQueueJob.objects.filter(pk=job.pk).update(status=BoxQueueJobStatus.PREANNOTATING)
    return job


def test_an_expert_uses_the_box_queue_review_and_golden_pages_with_nothing_blocked(
        watched_browser, users, box_queue_preannotating, monkeypatch):
    from evaluation import box_queues

    job = box_queue_preannotating
    watched_browser.sign_in(users[Role.EXPERT].username)
    watched_browser.visit("/overview/box-queues/new/", "form")
    watched_browser.visit("/overview/golden-sets/", "[data-testid=golden-sets]")
    watched_browser.visit(f"/overview/queues/{job.queue_id}/", "[data-testid=box-job][data-status=preannotating]")
    # box_job.js polls the API (connect-src 'self') and reloads the page once the job is ready.
    # The hand-made detector row has no checkpoint to run: the job finishes with no proposals.
    monkeypatch.setattr(box_queues, "_proposals", lambda *, detector, scenes, batch_size=None: {scene.pk: [] for scene in scenes})
    box_queues.box_queue_preannotate_scenes(job_id=job.pk,
                                            scene_ids=list(job.scene_set.scenes.values_list("pk", flat=True)))
    watched_browser.page.locator("[data-testid=box-job][data-status=ready]").wait_for()
    task = job.queue.tasks.get()
    watched_browser.visit(f"/overview/tasks/{task.pk}/", "[data-testid=box-review]")
    watched_browser.visit(f"/overview/tasks/{task.pk}/golden/", ".bx-editor[data-image-state=loaded]")
    watched_browser.assert_clean()
