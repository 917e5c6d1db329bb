"""The catalogue and COCO import page in a real browser: an expert opens it from the overview,
uploads the example COCO file into a box queue, watches the row while it is checked, and sees what
was stored; a catalogue with a bad row shows the row's line and reason. The test stands in for the
worker: it runs the enqueued job itself."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from labeling import tasks
from labeling.imports.data_jobs import data_import_run
from labeling.models import DataImport, JobStatus
from labeling.services.queues import queue_create
from labeling.services.world_import import taxonomy_import
from tests.frontend.conftest import PASSWORD
from tests.frontend.frontend_pages import LoginPage

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

EXAMPLES = Path(__file__).resolve().parents[2] / "fixtures" / "imports"


@pytest.fixture
def held_imports(monkeypatch):
    """Stands in for the worker: keeps the ids of enqueued imports, for the test to run them."""
    sent = []
    monkeypatch.setattr(tasks.data_import_run, "delay", lambda job_id: sent.append(job_id))
    return sent


def test_expert_imports_a_coco_file_into_a_box_queue_and_follows_it_to_done(
        live_server, browser_page, expert, settings, tmp_path, held_imports):
    taxonomy_import()  # a transactional test starts from a flushed database
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.PRIVATE_ROOT = tmp_path / "private"
    queue = queue_create(name="Imported scenes", task_kind="bounding_boxes", replication=1)
    page = browser_page
    LoginPage(page, live_server.url).sign_in(expert.username, PASSWORD)
    page.goto(f"{live_server.url}/overview/")
    page.get_by_role("link", name="Catalogue and COCO imports").click()
    expect(page).to_have_url(f"{live_server.url}/overview/data-imports/")

    form = page.get_by_test_id("data-import-form")
    form.get_by_label("Kind").select_option("coco_detection")
    form.get_by_label("Name", exact=True).fill("Three world scenes")
    form.locator("input[type=file]").set_input_files(str(EXAMPLES / "coco-example.json"))
    form.get_by_label("Image source").fill("world")
    form.get_by_label("COCO target").select_option("tasks")
    form.get_by_label("Box queue").select_option(str(queue.pk))
    form.get_by_role("button", name="Import").click()

    expect(page.locator(".alert, .messages").first).to_contain_text("Import “Three world scenes” started")
    job = DataImport.objects.get()
    assert held_imports == [job.pk]
    row = page.get_by_test_id(f"data-import-{job.pk}")
    expect(row).to_have_attribute("data-status", "pending")
    DataImport.objects.filter(pk=job.pk).update(status=JobStatus.RUNNING, lines_done=1)
    expect(row.get_by_test_id("data-import-done")).to_have_text("1")
    expect(row.get_by_test_id("data-import-bar")).to_have_attribute("style", re.compile(r"width: 33\.3"))
    DataImport.objects.filter(pk=job.pk).update(status=JobStatus.PENDING, lines_done=0)

    data_import_run(job_id=job.pk)
    # Done: the page reloads, and the row comes from the server, no longer followed.
    page.locator(f'[data-testid="data-import-{job.pk}"][data-status="done"]:not([data-status-url])').wait_for()
    expect(row.get_by_test_id("data-import-result")).to_contain_text("3 images")
    expect(row.get_by_test_id("data-import-result")).to_contain_text("10 boxes")
    expect(row.get_by_test_id("data-import-result")).to_contain_text("3 tasks created")
    assert queue.tasks.count() == 3
    page.screenshot(path=str(tmp_path / "data-imports.png"), full_page=True)


def test_a_catalogue_with_a_bad_row_shows_its_line_and_reason_and_stores_nothing(
        live_server, browser_page, engineer, settings, tmp_path, held_imports):
    taxonomy_import()
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.PRIVATE_ROOT = tmp_path / "private"
    bad = tmp_path / "catalogue.csv"
    bad.write_text((EXAMPLES / "catalogue-example.csv").read_text().replace("pants,men", "hats,men"))
    page = browser_page
    LoginPage(page, live_server.url).sign_in(engineer.username, PASSWORD)
    page.goto(f"{live_server.url}/overview/data-imports/")
    form = page.get_by_test_id("data-import-form")
    form.get_by_label("Name", exact=True).fill("Spring catalogue")
    form.locator("input[type=file]").set_input_files(str(bad))
    form.get_by_label("Image source").fill("world")
    form.get_by_role("button", name="Import").click()

    job = DataImport.objects.get()
    data_import_run(job_id=job.pk)
    row = page.locator(f'[data-testid="data-import-{job.pk}"][data-status="failed"]')
    row.wait_for()
    expect(row.get_by_test_id("data-import-error")).to_have_text("1 of 5 rows are refused; nothing was imported.")
    row.get_by_text("Refused rows").click()
    expect(row.get_by_test_id("data-import-errors")).to_contain_text("line 6: Unknown category 'hats'")
