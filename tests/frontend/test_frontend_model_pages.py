"""The model registry in the browser: an engineer uploads a checkpoint through the page, opens the
version page, starts an offline evaluation and watches it finish, then compares two embedders and
reads their top-K curve. A stand-in worker thread runs the job through the real service when the
test lets it (no Celery worker here), so the progress bar is seen before the results."""
from __future__ import annotations

import re
import threading

import pytest
import torch
from django.conf import settings as django_settings
from django.db import connection
from playwright.sync_api import Page, expect

from conftest import PASSWORD
from evaluation import offline, runtime_cache, tasks
from evaluation.models import ModelVersion, OfflineEvaluationStatus
from evaluation.services import MODEL_CHECKPOINT_INVALID, model_version_register
from frontend_pages import RECORD_VIOLATIONS, LoginPage, csp_violations
from models_runtime.checkpoints import save_checkpoint
from models_runtime.embedder import Embedder

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SCREENSHOT = "/tmp/model_page.png"
TINY_EMBEDDER_CONFIG = {"embedding_dim": 64, "small_widths": [8, 16, 32, 64]}
# Small test sets of a 40-product world, so the job takes a second or two on a CPU.
SMALL_TEST_SETS = {"Catalogue products": "40", "Query scenes": "3", "Distractor products": "25", "Longest top-K": "6"}
JOB_TIMEOUT_MS = 120_000


@pytest.fixture
def storage(settings, tmp_path):
    from labeling.taxonomy import taxonomy_seed

    taxonomy_seed()  # a transactional test may start from flushed tables; registration maps categories
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.VAR_DIR = tmp_path / "var"
    runtime_cache.runtime_cache_clear()
    yield tmp_path
    runtime_cache.runtime_cache_clear()


@pytest.fixture
def embedder_checkpoints(tmp_path):
    """An untrained embedder, the shipped trained one, and a file that is no checkpoint."""
    torch.manual_seed(0)
    embedder = Embedder.from_config(TINY_EMBEDDER_CONFIG, device="cpu")
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(b"\x80\x02 not a checkpoint")
    return {"untrained": save_checkpoint(tmp_path / "embedder.pt", kind="embedder", config=embedder.config,
                                         state_dict=embedder.model.state_dict()),
            "trained": django_settings.MODELS_FIXTURES_DIR / "embedder_default.pt", "corrupt": corrupt}


class StandInWorker:
    """Collects what the page enqueues; ``release()`` runs those jobs, each in a thread with its own
    database connection, as a GPU worker would."""

    def __init__(self):
        self.sent: list[int] = []
        self.threads: list[threading.Thread] = []

    def delay(self, evaluation_id: int) -> None:
        self.sent.append(evaluation_id)

    def _run(self, evaluation_id: int) -> None:
        try:
            offline.offline_evaluation_execute(evaluation_id=evaluation_id)
        finally:
            connection.close()

    def release(self) -> None:
        for evaluation_id in self.sent[len(self.threads):]:
            thread = threading.Thread(target=self._run, args=(evaluation_id,), daemon=True)
            thread.start()
            self.threads.append(thread)

    def join(self) -> None:
        for thread in self.threads:
            thread.join(timeout=120)


@pytest.fixture
def stand_in_worker(monkeypatch):
    monkeypatch.setenv("MODELS_DEVICE", "cpu")
    worker = StandInWorker()
    monkeypatch.setattr(tasks.offline_evaluation_run, "delay", worker.delay)
    yield worker
    worker.join()


class RegisterPage:
    def __init__(self, page: Page):
        self.page = page

    def register(self, *, kind: str, name: str, version_tag: str, checkpoint, notes: str = "") -> None:
        self.page.get_by_label("Kind").select_option(kind)
        self.page.get_by_label("Name", exact=True).fill(name)
        self.page.get_by_label("Version tag").fill(version_tag)
        self.page.get_by_label("Checkpoint").set_input_files(str(checkpoint))
        self.page.get_by_label("Notes").fill(notes)
        self.page.get_by_role("button", name="Register").click()


class VersionPage:
    def __init__(self, page: Page):
        self.page = page

    def run_offline_evaluation(self, test_sets: dict[str, str]) -> None:
        self.page.locator("summary", has_text="Test sets").click()
        for label, value in test_sets.items():
            self.page.get_by_label(label, exact=True).fill(value)
        self.page.get_by_test_id("offline-run").click()

    def expect_progress(self, status: str) -> None:
        expect(self.page.get_by_test_id("offline-progress")).to_be_visible()
        expect(self.page.get_by_test_id("offline-status")).to_have_text(status)

    def expect_results(self, evaluation_id: int) -> None:
        expect(self.page.get_by_test_id(f"offline-retrieval-{evaluation_id}")).to_be_visible(timeout=JOB_TIMEOUT_MS)
        expect(self.page.get_by_test_id("offline-progress")).to_have_count(0)


def test_engineer_registers_an_embedder_runs_an_offline_evaluation_and_compares_versions(
        live_server, browser_page, engineer, storage, embedder_checkpoints, stand_in_worker):
    page = browser_page
    page.add_init_script(RECORD_VIOLATIONS)
    LoginPage(page, live_server.url).sign_in("erik", PASSWORD)
    page.goto(f"{live_server.url}/models/")
    page.get_by_test_id("register-version").click()
    expect(page).to_have_url(f"{live_server.url}/models/new/")

    # A file that is no checkpoint: the service's reason on the form, nothing stored.
    register = RegisterPage(page)
    register.register(kind="embedder", name="multitask", version_tag="V1", checkpoint=embedder_checkpoints["corrupt"])
    expect(page.locator(".errorlist")).to_contain_text(MODEL_CHECKPOINT_INVALID.format(kind="embedder", reason=""))
    assert not ModelVersion.objects.exists()

    register.register(kind="embedder", name="multitask", version_tag="V1", checkpoint=embedder_checkpoints["untrained"],
                      notes="untrained, seed 0")
    expect(page).to_have_url(re.compile(r"/models/\d+/$"))
    version = ModelVersion.objects.get()
    assert page.url == f"{live_server.url}/models/{version.pk}/"
    expect(page.get_by_test_id("version-notes")).to_have_text("untrained, seed 0")
    expect(page.get_by_test_id("offline-none")).to_be_visible()

    versions = VersionPage(page)
    versions.run_offline_evaluation(SMALL_TEST_SETS)
    versions.expect_progress("Pending")
    [evaluation_id] = stand_in_worker.sent
    stand_in_worker.release()
    versions.expect_results(evaluation_id)
    expect(page.get_by_test_id("top-k-chart").locator("svg.plot g.series")).to_have_count(2)
    expect(page.get_by_test_id(f"offline-evaluation-{evaluation_id}")).to_contain_text("Done")
    page.screenshot(path=SCREENSHOT, full_page=True)

    # A second version (the trained default), evaluated on the same test sets, then both compared from the list.
    other = model_version_register(kind="embedder", name="multitask", version_tag="V2", created_by=engineer,
                                   checkpoint_path=embedder_checkpoints["trained"], notes="the shipped default")
    evaluation = offline.offline_evaluation_request(model_version=other, created_by=engineer, parameters={
        "n_products": 40, "query_scenes": 3, "distractors": 25, "k_max": 6})
    stand_in_worker.release()
    stand_in_worker.join()
    evaluation.refresh_from_db()
    assert evaluation.status == OfflineEvaluationStatus.DONE, evaluation.error
    page.goto(f"{live_server.url}/models/")
    page.get_by_test_id(f"compare-version-{version.pk}").check()
    page.get_by_test_id(f"compare-version-{other.pk}").check()
    page.get_by_test_id("compare-versions").click()
    expect(page).to_have_url(re.compile(r"/models/compare/\?versions="))
    chart = page.get_by_test_id("compare-top-k-chart")
    expect(chart.locator("svg.plot g.series")).to_have_count(2)
    expect(chart.locator("svg.plot g.series").first.locator("circle.dot")).to_have_count(6)
    expect(chart.locator(".chart-legend")).to_contain_text("multitask V1")
    expect(chart.locator(".chart-legend")).to_contain_text("multitask V2")
    expect(page.get_by_test_id("compare-table")).to_contain_text("Retrieval P@1 (binary codes)")
    expect(page.get_by_test_id("compare-different-sets")).to_have_count(0)
    page.screenshot(path="/tmp/model_compare.png", full_page=True)
    assert csp_violations(page) == []
