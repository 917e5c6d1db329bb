"""The exports pages in a real browser: an engineer starts a COCO export from the form, watches its
progress bar move while the job runs, and downloads the finished file."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from labeling import tasks
from labeling.exports.jobs import export_job_path, export_job_run
from labeling.models import ExportJob, JobStatus
from tests.frontend.conftest import PASSWORD
from tests.frontend.frontend_pages import LoginPage
from tests.labeling.test_labeling_export_formats import box_world

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def held_exports(monkeypatch):
    """Stands in for the worker: keeps the ids of enqueued exports, for the test to run them."""
    sent = []
    monkeypatch.setattr(tasks.export_job_run, "apply_async", lambda **options: sent.append(options["kwargs"]["job_id"]))
    return sent


def test_engineer_starts_an_export_follows_its_progress_and_downloads_it(
        live_server, browser_page, engineer, pool, settings, tmp_path, held_exports):
    from labeling.models import Role
    from labeling.services.users import user_create
    from labeling.services.world_import import taxonomy_import

    # A transactional test starts from a flushed database: the taxonomy the boxes name comes back.
    taxonomy_import()
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.PRIVATE_ROOT = tmp_path / "private"
    labelers = [user_create(username=f"boxer-{n}", password=PASSWORD, role=Role.LABELER, pool=pool) for n in range(3)]
    queue, _ = box_world(labelers, scenes=2)
    page = browser_page
    LoginPage(page, live_server.url).sign_in("erik", PASSWORD)
    page.get_by_role("link", name="Exports").click()
    expect(page).to_have_url(f"{live_server.url}/exports/")

    page.get_by_label("Format").select_option("coco_detection")
    page.get_by_label("Name", exact=True).fill("Boxes for the detector")
    page.get_by_label("Queues").select_option(str(queue.pk))
    page.get_by_role("button", name="Start export").click()
    expect(page).to_have_url(re.compile(r"/exports/\d+/$"))
    [job_id] = held_exports
    expect(page.get_by_test_id("export-status")).to_have_text("Pending")
    expect(page.get_by_test_id("export-total")).to_have_text("2")
    expect(page.get_by_test_id("export-download")).to_have_count(0)

    # The worker is half way: the bar follows the job's saved progress without a reload.
    ExportJob.objects.filter(pk=job_id).update(status=JobStatus.RUNNING, items_done=1, step="writing images and boxes")
    expect(page.get_by_test_id("export-done")).to_have_text("1")
    expect(page.get_by_test_id("export-bar")).to_have_attribute("style", re.compile(r"width: ?50%"))

    job = export_job_run(job_id=job_id)
    expect(page.get_by_test_id("export-status")).to_have_text("Done")
    expect(page.get_by_test_id("export-sha256")).to_have_text(job.sha256)
    expect(page.get_by_test_id("export-report")).to_contain_text('"annotations": 4')
    with page.expect_download() as download:
        page.get_by_test_id("export-download").click()
    assert Path(download.value.path()).read_bytes() == export_job_path(job).read_bytes()
