"""A real Celery worker generates a run: a real broker (Redis when CELERY_BROKER_URL names one, as
in CI; otherwise kombu's filesystem transport in a private folder), real serialization, the
coordinator on ``default`` fanning out to ``gpu``."""
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.db import connection

from config.celery import app as celery_app
from config.queues import QUEUE_DEFAULT, QUEUE_GPU
from evaluation import services, tasks
from evaluation.models import EvalRun, EvalRunStatus, QueryObject
from labeling.models import SceneSet, Task

REPO_ROOT = Path(__file__).resolve().parents[2]
GENERATION_TIMEOUT_SECONDS = 300
POLL_SECONDS = 0.5


def database_url_of_test_database() -> str:
    db = connection.settings_dict
    credentials = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    return f"postgres://{credentials}@{db['HOST']}:{db['PORT']}/{db['NAME']}"


def broker_folders(var_dir: Path) -> dict:
    folder = var_dir / "celery-broker"
    for sub in ("in", "processed"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    return {"data_folder_in": str(folder / "in"), "data_folder_out": str(folder / "in"),
            "processed_folder": str(folder / "processed"), "store_processed": False}


@pytest.fixture
def celery_worker_process(media, tmp_path):
    """A worker on both queues, reading the test database, the test media and a private broker."""
    var_dir = Path(django_settings.VAR_DIR)
    environment = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATABASE_URL": database_url_of_test_database(),
        "VAR_DIR": str(var_dir),
        "MEDIA_ROOT": str(django_settings.MEDIA_ROOT),
        "PRIVATE_ROOT": str(django_settings.PRIVATE_ROOT),
        "CELERY_BROKER_URL": django_settings.CELERY_BROKER_URL,
        "SECRET_KEY": django_settings.SECRET_KEY,
        "MODELS_DEVICE": "cpu",
    }
    log_path = tmp_path / "worker.log"
    with open(log_path, "wb") as log:
        worker = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "config", "worker", "-Q", f"{QUEUE_DEFAULT},{QUEUE_GPU}", "-P", "solo",
             "--loglevel", "INFO", "--without-gossip", "--without-mingle", "--without-heartbeat"],
            cwd=REPO_ROOT, env=environment, stdout=log, stderr=subprocess.STDOUT)
    try:
        yield {"transport_options": broker_folders(var_dir), "log": log_path}
    finally:
        worker.terminate()
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()


def wait_for_generation(run_id: int, log_path: Path) -> EvalRun:
    deadline = time.monotonic() + GENERATION_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        run = EvalRun.objects.get(pk=run_id)
        if run.status in (EvalRunStatus.LABELING, EvalRunStatus.FAILED):
            return run
        time.sleep(POLL_SECONDS)
    pytest.fail(f"run {run_id} not generated within {GENERATION_TIMEOUT_SECONDS} s; worker log:\n"
                + log_path.read_text()[-4000:])


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_celery_worker_generates_a_run_end_to_end(engineer, tiny_world, model_versions, celery_worker_process,
                                                  monkeypatch):
    # With the filesystem broker, this process's Celery app was configured at import with the
    # repository's broker folder; publish into the worker's private one instead, through the same
    # task and serializer. A Redis broker is shared as it is.
    uses_filesystem_broker = django_settings.CELERY_BROKER_URL.startswith("filesystem")
    publish = celery_app.connection_for_write(
        transport_options=celery_worker_process["transport_options"] if uses_filesystem_broker else None)
    monkeypatch.setattr(tasks.eval_run_generate, "delay",
                        lambda run_id: tasks.eval_run_generate.apply_async((run_id,), connection=publish))
    detector, embedder = model_versions
    try:
        run = services.eval_run_create(created_by=engineer, name="worker run", detector=detector, embedder=embedder,
                                       scene_set=SceneSet.objects.get(pk=tiny_world.scene_set_id), replication=2)
        run = wait_for_generation(run.pk, celery_worker_process["log"])
    finally:
        publish.release()
    assert run.status == EvalRunStatus.LABELING, run.error
    assert (run.scenes_done, run.scenes_total) == (6, 6)
    query_objects = QueryObject.objects.filter(run=run)
    assert query_objects.count() == 6 * 3
    with_candidates = query_objects.filter(candidates__isnull=False).distinct()
    assert Task.objects.filter(queue=run.queue, is_golden=False).count() == with_candidates.count() > 0
    # The worker built the catalogue index once and cached it on disk for the next run.
    assert len(list((Path(django_settings.VAR_DIR) / "index_cache").glob(f"embedder-{embedder.pk}-*.npz"))) == 1


def wait_for_box_job(job_id: int, log_path: Path):
    from evaluation.models import BoxQueueJob, BoxQueueJobStatus

    deadline = time.monotonic() + GENERATION_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        job = BoxQueueJob.objects.get(pk=job_id)
        if job.status in (BoxQueueJobStatus.READY, BoxQueueJobStatus.FAILED):
            return job
        time.sleep(POLL_SECONDS)
    pytest.fail(f"box job {job_id} not done within {GENERATION_TIMEOUT_SECONDS} s; worker log:\n"
                + log_path.read_text()[-4000:])


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_celery_worker_pre_annotates_a_box_queue_on_the_gpu_queue(engineer, tiny_world, model_versions,
                                                                  celery_worker_process, monkeypatch):
    from evaluation.box_queues import box_queue_create
    from evaluation.models import BoxQueueJobStatus
    from labeling.taxonomy import taxonomy_seed

    taxonomy_seed()  # a transactional test starts from flushed tables
    uses_filesystem_broker = django_settings.CELERY_BROKER_URL.startswith("filesystem")
    publish = celery_app.connection_for_write(
        transport_options=celery_worker_process["transport_options"] if uses_filesystem_broker else None)
    monkeypatch.setattr(tasks.box_queue_preannotate, "delay",
                        lambda job_id: tasks.box_queue_preannotate.apply_async((job_id,), connection=publish))
    detector, _ = model_versions
    try:
        job = box_queue_create(name="worker boxes", scene_set=SceneSet.objects.get(pk=tiny_world.scene_set_id),
                               created_by=engineer, detector=detector, replication=2)
        job = wait_for_box_job(job.pk, celery_worker_process["log"])
    finally:
        publish.release()
    assert job.status == BoxQueueJobStatus.READY, job.error
    assert (job.scenes_done, job.scenes_total) == (6, 6)
    tasks_made = list(Task.objects.filter(queue=job.queue))
    assert len(tasks_made) == 6
    # The untrained detector keeps three boxes per scene at threshold 0 (its checkpoint's meta).
    assert all(len(task.payload["proposals"]) == 3 for task in tasks_made)
