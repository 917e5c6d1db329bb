"""Training jobs in the browser: an engineer starts a job from an export on the page, watches its
progress and loss curve while a stand-in GPU worker trains it through the real service, and reaches
the new version and the end-to-end run form prefilled against the parent."""
from __future__ import annotations

import threading

import pytest
import torch
from django.core.files.base import ContentFile
from django.db import connection
from playwright.sync_api import expect

from conftest import PASSWORD
from evaluation import runtime_cache, tasks, training
from evaluation.models import TrainingJob, TrainingJobStatus
from evaluation.services import model_version_register
from frontend_pages import RECORD_VIOLATIONS, LoginPage, csp_violations
from labeling.models import ExportJob, JobStatus
from models_runtime.checkpoints import save_checkpoint
from models_runtime.embedder import Embedder
from models_runtime.world.exports import export_matching_manifest
from models_runtime.world.world import build_world

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SCREENSHOT = "/tmp/training_page.png"
JOB_TIMEOUT_MS = 120_000


@pytest.fixture
def storage(settings, tmp_path):
    from labeling.taxonomy import taxonomy_seed

    taxonomy_seed()
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.PRIVATE_ROOT = tmp_path / "private"
    settings.VAR_DIR = tmp_path / "var"
    runtime_cache.runtime_cache_clear()
    yield tmp_path
    runtime_cache.runtime_cache_clear()


class StandInGpuWorker:
    """Holds what the page enqueues until ``release()``, then trains each job in a thread with its
    own database connection, as a GPU worker would."""

    def __init__(self):
        self.sent: list[int] = []
        self.threads: list[threading.Thread] = []

    def apply_async(self, args, **options) -> None:
        self.sent.append(args[0])

    def _run(self, job_id: int) -> None:
        try:
            training.training_job_run(job_id=job_id)
        finally:
            connection.close()

    def release(self) -> None:
        for job_id in self.sent[len(self.threads):]:
            thread = threading.Thread(target=self._run, args=(job_id,), daemon=True)
            thread.start()
            self.threads.append(thread)

    def join(self) -> None:
        for thread in self.threads:
            thread.join(timeout=120)


@pytest.fixture
def gpu_worker(monkeypatch):
    monkeypatch.setenv("MODELS_DEVICE", "cpu")
    worker = StandInGpuWorker()
    monkeypatch.setattr(tasks.training_job_run, "apply_async", worker.apply_async)
    monkeypatch.setattr(tasks.offline_evaluation_run, "delay", lambda evaluation_id: None)
    yield worker
    worker.join()


@pytest.fixture
def parent_and_export(storage, engineer):
    torch.manual_seed(0)
    embedder = Embedder.from_config({"embedding_dim": 64, "small_widths": [8, 16, 32, 64]}, device="cpu")
    parent = model_version_register(
        kind="embedder", name="multitask", version_tag="V1", created_by=engineer,
        checkpoint_path=save_checkpoint(storage / "embedder.pt", kind="embedder", config=embedder.config,
                                        state_dict=embedder.model.state_dict()))
    world = build_world(seed=0, n_products=12, n_scenes=4)
    manifest = export_matching_manifest(world, storage / "media", split=None, product_size=64)
    export = ExportJob.objects.create(format="matching", name="cleaned pairs", status=JobStatus.DONE)
    export.file.save(f"{export.pk}-pairs.jsonl", ContentFile(manifest.read_bytes()), save=True)
    return parent, export


def test_an_engineer_starts_a_training_job_watches_the_loss_curve_and_reaches_the_new_version(
        live_server, browser_page, engineer, parent_and_export, gpu_worker):
    parent, export = parent_and_export
    page = browser_page
    page.add_init_script(RECORD_VIOLATIONS)
    LoginPage(page, live_server.url).sign_in(engineer.username, PASSWORD)
    page.goto(f"{live_server.url}/training/")
    form = page.get_by_test_id("training-form")
    # A detector job is offered no embedder parent and no embedder export.
    form.get_by_label("Kind").select_option("detector")
    expect(form.locator(f"#id_parent option[value='{parent.pk}']")).to_be_disabled()
    expect(form.get_by_label(f"#{export.pk} cleaned pairs (matching)")).to_be_hidden()
    form.get_by_label("Kind").select_option("embedder")
    expect(form.locator(f"#id_parent option[value='{parent.pk}']")).to_be_enabled()
    expect(form.get_by_label("Parent")).to_have_value(str(parent.pk))
    form.get_by_label("Name").fill("cleaned pairs")
    form.get_by_label("Parent").select_option(label="Embedder: multitask V1")
    form.get_by_label(f"#{export.pk} cleaned pairs (matching)").check()
    form.get_by_label("Steps").fill("6")
    form.get_by_label("Batch size").fill("4")
    page.get_by_test_id("training-start").click()

    job = TrainingJob.objects.get()
    expect(page).to_have_url(f"{live_server.url}/training/{job.pk}/")
    expect(page.get_by_test_id("training-status")).to_have_text("Pending")
    assert job.version_tag == "V1.1" and list(job.exports.all()) == [export]

    gpu_worker.release()
    expect(page.get_by_test_id("new-version-link")).to_have_text("multitask V1.1", timeout=JOB_TIMEOUT_MS)
    job.refresh_from_db()
    assert job.status == TrainingJobStatus.DONE, job.error
    expect(page.get_by_test_id("training-status")).to_have_text("Done")
    expect(page.get_by_test_id("training-count")).to_have_text("6 / 6")
    # The loss curve: one point per logged step, each with its loss in its title and the table.
    chart = page.get_by_test_id("loss-chart")
    expect(chart.locator("circle")).to_have_count(len(job.loss_curve))
    page.locator("summary", has_text="The numbers").click()
    expect(chart.locator("tbody tr").first).to_contain_text(f"{job.loss_curve[0]['loss']:.3f}")
    page.screenshot(path=SCREENSHOT, full_page=True)

    e2e = page.get_by_test_id("e2e-link")
    assert f"embedder={job.model_version_id}" in e2e.get_attribute("href")
    page.get_by_test_id("new-version-link").click()
    expect(page).to_have_url(f"{live_server.url}/models/{job.model_version_id}/")
    assert csp_violations(page) == []
