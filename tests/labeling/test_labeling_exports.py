"""Export jobs: enqueued on commit on the format's queue, written to a temporary file and renamed
into place, never offering half a file; a killed job restarts cleanly; a rebuild gives the same
bytes; the API refuses bad parameters naming the field and a download before the file exists."""
from __future__ import annotations

import dataclasses
import os

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from labeling.exports import registry
from labeling.exports.jobs import (EXPORT_STALLED, ExportNotDone, export_job_create, export_job_path,
                                   export_job_rebuild, export_job_run, export_jobs_stalled_resume)
from labeling.exports.selectors import QUEUES_MISSING
from labeling.models import ExportJob, JobStatus, Role
from labeling.services.queue_engine import assignment_claim, label_submit
from labeling.storage import private_storage
from tests.labeling.test_labeling_export_formats import box_world, export_media, staff, three_labelers  # noqa: F401

pytestmark = pytest.mark.django_db

CRASH = "the worker died"


def part_files() -> list:
    folder = private_storage.path("exports/tmp")
    return sorted(os.listdir(folder)) if os.path.isdir(folder) else []


def final_files() -> list:
    folder = private_storage.path("exports")
    return sorted(name for name in os.listdir(folder) if name != "tmp") if os.path.isdir(folder) else []


@pytest.fixture
def crashing_coco(monkeypatch):
    """The COCO format, made to die after writing its first chunk."""
    real = registry.export_formats()["coco_detection"]

    def write(ctx):
        ctx.out.write(b'{"categories":[')
        ctx.advance(1, "first chunk")
        raise RuntimeError(CRASH)

    monkeypatch.setitem(registry._FORMATS, "coco_detection", dataclasses.replace(real, write=write))
    return real


def test_create_enqueues_the_task_on_the_formats_queue_after_commit(export_media, staff, three_labelers, monkeypatch,
                                                                     django_capture_on_commit_callbacks):
    from labeling import tasks

    queue, _ = box_world(three_labelers, scenes=1)
    sent = []
    monkeypatch.setattr(tasks.export_job_run, "apply_async", lambda **options: sent.append(options))
    with django_capture_on_commit_callbacks(execute=True):
        job = export_job_create(format="coco_detection", name="boxes", params={"queues": [queue.pk]}, created_by=staff)
        assert sent == []  # nothing leaves before the job's row is committed
    assert sent == [{"kwargs": {"job_id": job.pk}, "queue": "default"}]
    assert job.status == JobStatus.PENDING and job.items_total == 1
    assert job.provenance["last_label_id"] > 0 and job.provenance["aggregation"] == ["majority"]


def test_a_job_that_dies_mid_way_offers_no_file_and_a_rerun_completes(export_media, staff, three_labelers,
                                                                       crashing_coco, monkeypatch):
    queue, _ = box_world(three_labelers, scenes=1)
    job = export_job_create(format="coco_detection", name="boxes", params={"queues": [queue.pk]}, created_by=staff)
    with pytest.raises(RuntimeError, match=CRASH):
        export_job_run(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED and CRASH in job.error
    assert not job.file and job.sha256 == "" and part_files() == [] and final_files() == []
    with pytest.raises(ExportNotDone):
        export_job_path(job)
    monkeypatch.setitem(registry._FORMATS, "coco_detection", crashing_coco)
    job = export_job_run(job_id=job.pk)
    assert job.status == JobStatus.DONE and job.attempts == 2 and export_job_path(job).is_file()
    assert part_files() == []


def test_a_stale_running_job_and_its_part_file_are_swept_and_the_retry_completes(
        export_media, staff, three_labelers, django_capture_on_commit_callbacks, monkeypatch):
    from labeling import tasks

    queue, _ = box_world(three_labelers, scenes=1)
    job = export_job_create(format="coco_detection", name="boxes", params={"queues": [queue.pk]}, created_by=staff)
    # A worker took the job, wrote half a file and was killed: the job says running, a .part is left.
    ExportJob.objects.filter(pk=job.pk).update(status=JobStatus.RUNNING, attempts=1,
                                               started_at=timezone.now() - timezone.timedelta(hours=3))
    os.makedirs(private_storage.path("exports/tmp"), exist_ok=True)
    for name in (f"{job.pk}-dead.part", "999999-orphan.part"):
        with open(private_storage.path(f"exports/tmp/{name}"), "wb") as half:
            half.write(b'{"categories":[')
    sent = []
    monkeypatch.setattr(tasks.export_job_run, "apply_async", lambda **options: sent.append(options))
    with django_capture_on_commit_callbacks(execute=True):
        result = export_jobs_stalled_resume()
    assert result == {"resumed": [job.pk], "orphan_files_removed": 1} and part_files() == []
    assert sent == [{"kwargs": {"job_id": job.pk}, "queue": "default"}]
    job.refresh_from_db()
    assert job.status == JobStatus.PENDING and job.error == EXPORT_STALLED
    with pytest.raises(ExportNotDone):
        export_job_path(job)
    job = export_job_run(job_id=job.pk)
    assert job.status == JobStatus.DONE and job.attempts == 2 and job.error == ""


def test_a_redelivered_running_job_restarts_from_scratch_and_a_done_job_is_left_alone(export_media, staff,
                                                                                      three_labelers):
    queue, _ = box_world(three_labelers, scenes=1)
    job = export_job_create(format="coco_detection", name="boxes", params={"queues": [queue.pk]}, created_by=staff)
    ExportJob.objects.filter(pk=job.pk).update(status=JobStatus.RUNNING, started_at=timezone.now())
    os.makedirs(private_storage.path("exports/tmp"), exist_ok=True)
    open(private_storage.path(f"exports/tmp/{job.pk}-killed.part"), "wb").close()
    done = export_job_run(job_id=job.pk)
    assert done.status == JobStatus.DONE and part_files() == []
    again = export_job_run(job_id=job.pk)
    assert (again.finished_at, again.attempts, again.sha256) == (done.finished_at, done.attempts, done.sha256)
    # orphan sweep: a .part of no running job goes
    open(private_storage.path("exports/tmp/424242-orphan.part"), "wb").close()
    assert export_jobs_stalled_resume()["orphan_files_removed"] == 1


def test_a_rebuild_reads_the_same_labels_and_gives_the_same_sha256(export_media, staff, three_labelers, make_user):
    queue, _ = box_world(three_labelers, scenes=2)
    first = export_job_run(job_id=export_job_create(format="coco_detection", name="boxes",
                                                    params={"queues": [queue.pk]}, created_by=staff).pk)
    # More labels arrive after the first export; the rebuild still reads only the pinned ones.
    queue.replication = 4
    queue.save(update_fields=["replication"])
    queue.tasks.update(labels_wanted=4)
    late = make_user(Role.LABELER)
    lease = assignment_claim(queue=queue, labeler=late)
    label_submit(assignment_id=lease.pk, labeler=late, answer={"boxes": [{"box": [0, 0, 100, 70], "category": "pants"}]})
    rebuilt = export_job_run(job_id=export_job_rebuild(job=first, created_by=staff).pk)
    assert rebuilt.pk != first.pk and rebuilt.provenance == first.provenance
    assert rebuilt.sha256 == first.sha256 and len(first.sha256) == 64
    assert export_job_path(rebuilt).read_bytes() == export_job_path(first).read_bytes()
    fresh = export_job_run(job_id=export_job_create(format="coco_detection", name="boxes",
                                                    params={"queues": [queue.pk]}, created_by=staff).pk)
    assert fresh.sha256 != first.sha256  # a new export does see the new label


def api_client(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_the_api_refuses_bad_params_naming_the_field(export_media, staff, three_labelers):
    client = api_client(staff)
    answer = client.post("/api/v1/exports", {"format": "coco_detection", "name": "x", "params": {}}, format="json")
    assert answer.status_code == 400
    assert answer.json()["error"]["fields"] == {"params.queues": [QUEUES_MISSING]}
    answer = client.post("/api/v1/exports", {"format": "coco_detection", "name": "x",
                                             "params": {"queues": [1], "colour": "red"}}, format="json")
    assert answer.status_code == 400 and list(answer.json()["error"]["fields"]) == ["params"]
    answer = client.post("/api/v1/exports", {"format": "attributes", "name": "x", "params": {"seed": -1}}, format="json")
    assert answer.status_code == 400 and answer.json()["error"]["fields"] == {"params.queues": [QUEUES_MISSING]}
    answer = client.post("/api/v1/exports", {"format": "nope", "name": "x"}, format="json")
    assert answer.status_code == 400 and "format" in answer.json()["error"]["fields"]


def test_the_api_starts_follows_downloads_and_rebuilds_an_export(export_media, staff, three_labelers, make_user):
    queue, _ = box_world(three_labelers, scenes=1)
    client = api_client(staff)
    created = client.post("/api/v1/exports", {"format": "coco_detection", "name": "Boxes v1",
                                              "params": {"queues": [queue.pk]}}, format="json")
    assert created.status_code == 201
    job_id = created.json()["id"]
    assert created.json()["download_url"] is None and created.json()["progress"] == 0.0
    refused = client.get(f"/api/v1/exports/{job_id}/download")
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "export_not_done"
    export_job_run(job_id=job_id)
    detail = client.get(f"/api/v1/exports/{job_id}").json()
    assert detail["status"] == "done" and detail["progress"] == 1.0 and detail["report"]["images"] == 1
    download = client.get(detail["download_url"])
    assert download.status_code == 200 and download["Content-Type"] == "application/json"
    assert b"".join(download.streaming_content) == export_job_path(ExportJob.objects.get(pk=job_id)).read_bytes()
    rebuilt = client.post(f"/api/v1/exports/{job_id}/rebuild")
    assert rebuilt.status_code == 201 and rebuilt.json()["provenance"] == detail["provenance"]
    listed = client.get("/api/v1/exports").json()
    assert [row["id"] for row in listed["results"]] == [rebuilt.json()["id"], job_id]
    formats = {row["name"] for row in client.get("/api/v1/export-formats").json()}
    assert {"coco_detection", "matching", "attributes", "trec_qrels"} <= formats
    assert api_client(make_user(Role.LABELER)).get("/api/v1/exports").status_code == 403
    assert client.get("/api/v1/exports/999999").status_code == 404


def test_progress_is_saved_while_the_job_writes(export_media, staff, three_labelers, monkeypatch):
    queue, _ = box_world(three_labelers, scenes=1)
    real = registry.export_formats()["coco_detection"]
    seen = []

    def write(ctx):
        ctx.advance(1, "first")
        seen.append(ExportJob.objects.values_list("items_done", "step", "status").get(pk=ctx.job_id))
        return real.write(ctx)

    monkeypatch.setitem(registry._FORMATS, "coco_detection", dataclasses.replace(real, write=write))
    job = export_job_create(format="coco_detection", name="boxes", params={"queues": [queue.pk]}, created_by=staff)
    export_job_run(job_id=job.pk)
    assert seen == [(1, "first", JobStatus.RUNNING)]


def test_the_exports_resume_command_removes_orphan_part_files(export_media):
    from io import StringIO

    from django.core.management import call_command

    os.makedirs(private_storage.path("exports/tmp"), exist_ok=True)
    open(private_storage.path("exports/tmp/31337-orphan.part"), "wb").close()
    out = StringIO()
    call_command("exports_resume", stdout=out)
    assert part_files() == [] and "orphan temporary files removed: 1" in out.getvalue()
