"""Stalled generations are found and resumed without a person (evaluation/recovery.py).

The sweep's rules are tested in-process; then a real worker is SIGKILLed in the middle of a chunk
(held at a known scene by a row lock the test takes) and a new worker, with embedded beat as
./scripts/run starts it, finishes the run with every scene exactly once."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest
from django.conf import settings as django_settings
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import timezone

from config.celery import WORKER_READY_MESSAGE
from config.celery import app as celery_app
from config.queues import WORKER_QUEUES_ALL
from evaluation import box_queues, recovery, services, tasks
from evaluation.models import (BoxQueueJob, BoxQueueJobStatus, Candidate, EvalRun, EvalRunScene, EvalRunStatus,
                               QueryObject)
from labeling.models import SceneSet, Task
from labeling.services.world_import import world_import
from tests.evaluation.test_evaluation_worker import broker_folders, database_url_of_test_database

REPO_ROOT = Path(__file__).resolve().parents[2]
LONG_AGO = timedelta(hours=2)
STALE_AFTER = timedelta(minutes=30)
MAX_RESUMES = 3
DEADLINE_SECONDS = 300
POLL_SECONDS = 0.2


@pytest.fixture
def sent(monkeypatch):
    """The coordinators the sweep sends, instead of publishing them."""
    messages = {"runs": [], "box_jobs": []}
    monkeypatch.setattr(tasks.eval_run_generate, "delay", lambda run_id: messages["runs"].append(run_id))
    monkeypatch.setattr(tasks.box_queue_preannotate, "delay", lambda job_id: messages["box_jobs"].append(job_id))
    monkeypatch.setattr(recovery, "gpu_queue_backlog", lambda: 0)
    return messages


@pytest.fixture
def run_factory(engineer, tiny_world, model_versions):
    detector, embedder = model_versions
    scene_set = SceneSet.objects.get(pk=tiny_world.scene_set_id)

    def make(name: str, *, status: str, last_moved: timedelta | None) -> EvalRun:
        run = services.eval_run_create(created_by=engineer, name=name, detector=detector, embedder=embedder,
                                       scene_set=scene_set, replication=1, start_generation=False)
        moved_at = None if last_moved is None else timezone.now() - last_moved
        EvalRun.objects.filter(pk=run.pk).update(status=status, progress_at=moved_at,
                                                 created_at=moved_at or timezone.now() - LONG_AGO)
        return EvalRun.objects.get(pk=run.pk)
    return make


def sweep(django_capture_on_commit_callbacks) -> recovery.SweepReport:
    with django_capture_on_commit_callbacks(execute=True):
        return recovery.stalled_generations_resume(stale_after=STALE_AFTER, max_resumes=MAX_RESUMES)


@pytest.mark.django_db
def test_the_sweep_resumes_stalled_runs_only(run_factory, sent, django_capture_on_commit_callbacks):
    stalled = run_factory("stalled", status=EvalRunStatus.GENERATING, last_moved=LONG_AGO)
    never_started = run_factory("enqueue lost", status=EvalRunStatus.PENDING, last_moved=None)
    moving = run_factory("moving", status=EvalRunStatus.GENERATING, last_moved=timedelta(minutes=1))
    labeling = run_factory("labeling", status=EvalRunStatus.LABELING, last_moved=LONG_AGO)
    failed = run_factory("failed", status=EvalRunStatus.FAILED, last_moved=LONG_AGO)
    report = sweep(django_capture_on_commit_callbacks)
    assert report.runs.resumed == sent["runs"] == [stalled.pk, never_started.pk]
    assert report.runs.failed == []
    for run, resumes in ((stalled, 1), (never_started, 1), (moving, 0), (labeling, 0), (failed, 0)):
        run.refresh_from_db()
        assert run.resumes == resumes, run.name
    # A resumed run has a whole window before it counts as stalled again.
    assert timezone.now() - stalled.progress_at < timedelta(minutes=1)
    assert sweep(django_capture_on_commit_callbacks).runs.resumed == []


@pytest.mark.django_db
def test_a_run_that_keeps_stalling_is_failed_after_the_last_resume(run_factory, sent,
                                                                   django_capture_on_commit_callbacks):
    run = run_factory("poison chunk", status=EvalRunStatus.GENERATING, last_moved=LONG_AGO)
    for resumes in range(1, MAX_RESUMES + 1):
        assert sweep(django_capture_on_commit_callbacks).runs.resumed == [run.pk]
        EvalRun.objects.filter(pk=run.pk).update(progress_at=timezone.now() - LONG_AGO)
        assert EvalRun.objects.get(pk=run.pk).resumes == resumes
    report = sweep(django_capture_on_commit_callbacks)
    assert (report.runs.resumed, report.runs.failed) == ([], [run.pk])
    assert sent["runs"] == [run.pk] * MAX_RESUMES
    run.refresh_from_db()
    assert run.status == EvalRunStatus.FAILED
    assert run.error == recovery.RUN_STALLED.format(seconds=int(STALE_AFTER.total_seconds()), resumes=MAX_RESUMES)


@pytest.mark.django_db
def test_the_sweep_resumes_and_then_fails_a_stalled_box_queue_job(engineer, tiny_world, model_versions, sent,
                                                                 django_capture_on_commit_callbacks):
    job = box_queues.box_queue_create(name="stalled boxes", scene_set=SceneSet.objects.get(pk=tiny_world.scene_set_id),
                                      created_by=engineer, detector=model_versions[0], start_preannotation=False)
    box_queues.box_queue_preannotation_start(job_id=job.pk)
    for _ in range(MAX_RESUMES):
        BoxQueueJob.objects.filter(pk=job.pk).update(progress_at=timezone.now() - LONG_AGO)
        assert sweep(django_capture_on_commit_callbacks).box_jobs.resumed == [job.pk]
    BoxQueueJob.objects.filter(pk=job.pk).update(progress_at=timezone.now() - LONG_AGO)
    assert sweep(django_capture_on_commit_callbacks).box_jobs.failed == [job.pk]
    assert sent["box_jobs"] == [job.pk] * MAX_RESUMES
    job.refresh_from_db()
    assert (job.status, job.resumes) == (BoxQueueJobStatus.FAILED, MAX_RESUMES)
    assert job.error == recovery.BOX_JOB_STALLED.format(seconds=int(STALE_AFTER.total_seconds()), resumes=MAX_RESUMES)


def broker_folders_with_control(var_dir: Path) -> dict:
    # kombu keeps the filesystem exchanges' bindings in the control folder; by default, in the
    # working directory (the repository).
    control = var_dir / "celery-broker" / "control"
    control.mkdir(parents=True, exist_ok=True)
    return {**broker_folders(var_dir), "control_folder": str(control)}


@pytest.fixture
def private_filesystem_broker(tmp_path):
    """The app reads from a broker folder of this test's own, whatever broker the suite runs with."""
    folders = broker_folders_with_control(tmp_path)
    saved = {key: celery_app.conf[key] for key in ("broker_read_url", "broker_transport_options")}
    celery_app.conf.update(broker_read_url="filesystem://", broker_transport_options=folders)
    yield folders
    celery_app.conf.update(saved)


@pytest.mark.django_db
def test_the_sweep_resumes_nothing_while_chunks_wait_on_the_gpu_queue(run_factory, private_filesystem_broker,
                                                                      django_capture_on_commit_callbacks):
    folders = private_filesystem_broker
    run = run_factory("queued behind others", status=EvalRunStatus.GENERATING, last_moved=LONG_AGO)
    with celery_app.connection_for_write("filesystem://", transport_options=folders) as publish:
        for chunk in ([1], [2]):
            tasks.eval_run_generate_scenes.apply_async((run.pk, chunk), connection=publish)
    report = sweep(django_capture_on_commit_callbacks)
    assert report.gpu_backlog == 2 and report.runs.resumed == []
    run.refresh_from_db()
    assert run.resumes == 0


@pytest.mark.django_db
def test_operators_resume_stalled_runs_with_a_management_command(run_factory, sent, capsys):
    run = run_factory("stalled", status=EvalRunStatus.GENERATING, last_moved=timedelta(minutes=5))
    call_command("eval_runs_resume", "--stale-after", "60", "--ignore-backlog")
    run.refresh_from_db()
    assert run.resumes == 1
    assert f"runs: resumed #{run.pk}; failed as stalled none" in capsys.readouterr().out
    with pytest.raises(CommandError, match="--stale-after"):
        call_command("eval_runs_resume", "--stale-after", "-1")


# -- a real worker killed mid-chunk ------------------------------------------------------------------

SCENES = 20  # two chunks: 16 + 4
GATE_SCENE_INDEX = 2  # the worker writes the scenes before this one, then waits on the test's lock


def worker_start(log_path: Path, *, extra_env: dict, beat: bool) -> subprocess.Popen:
    environment = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATABASE_URL": database_url_of_test_database(),
        "VAR_DIR": str(django_settings.VAR_DIR),
        "MEDIA_ROOT": str(django_settings.MEDIA_ROOT),
        "PRIVATE_ROOT": str(django_settings.PRIVATE_ROOT),
        "CELERY_BROKER_URL": django_settings.CELERY_BROKER_URL,
        "SECRET_KEY": django_settings.SECRET_KEY,
        "MODELS_DEVICE": "cpu",
        **extra_env,
    }
    command = [sys.executable, "-m", "celery", "-A", "config", "worker", *(["-B"] if beat else []),
               "-Q", WORKER_QUEUES_ALL, "-P", "solo", "--loglevel", "INFO",
               "--without-gossip", "--without-mingle", "--without-heartbeat"]
    with open(log_path, "ab") as log:
        # A session of its own, so the worker and its beat process can be killed together.
        return subprocess.Popen(command, cwd=REPO_ROOT, env=environment, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)


def worker_stop(worker: subprocess.Popen, sig: int = signal.SIGTERM) -> None:
    if worker.poll() is None:
        os.killpg(worker.pid, sig)
    try:
        worker.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait()


def wait_until(condition, what: str, log_path: Path):
    deadline = time.monotonic() + DEADLINE_SECONDS
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(POLL_SECONDS)
    pytest.fail(f"{what} not within {DEADLINE_SECONDS} s; worker log:\n" + log_path.read_text()[-4000:])


def lock_waiters() -> int:
    """Backends of this database waiting for a row lock (the worker on the gate scene)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
                       "WHERE NOT l.granted AND a.datname = current_database()")
        return cursor.fetchone()[0]


def other_backends_terminate() -> None:
    """End what the killed worker left connected (a backend notices a dead client only when it next talks)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                       "WHERE datname = current_database() AND pid <> pg_backend_pid()")


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_run_whose_worker_was_killed_mid_chunk_completes_on_a_new_worker_with_every_scene_once(
        engineer, media, untrained_checkpoints, tmp_path):
    # The world first: it brings the taxonomy that registering the models checks their categories
    # against (an earlier transactional test may have flushed the migrated one).
    world = world_import(seed=0, n_products=40, n_scenes=SCENES, scene_split="all")
    detector = services.model_version_register(kind="detector", name="untrained", version_tag="V0",
                                               checkpoint_path=untrained_checkpoints["detector"])
    embedder = services.model_version_register(kind="embedder", name="untrained", version_tag="V0",
                                               checkpoint_path=untrained_checkpoints["embedder"])
    run = services.eval_run_create(created_by=engineer, name="killed worker run", detector=detector,
                                   embedder=embedder, scene_set=SceneSet.objects.get(pk=world.scene_set_id),
                                   replication=1, start_generation=False)
    scene_ids = list(run.scene_set.scenes.order_by("pk").values_list("pk", flat=True))
    assert len(scene_ids) == SCENES
    log_path = tmp_path / "worker.log"
    uses_filesystem_broker = django_settings.CELERY_BROKER_URL.startswith("filesystem")
    folders = broker_folders_with_control(Path(django_settings.VAR_DIR))
    publish = celery_app.connection_for_write(transport_options=folders if uses_filesystem_broker else None)
    # The gate: the test's own uncommitted done mark of one scene. The worker's insert of that mark
    # waits on its unique key, so the worker stops there, with the scenes before it committed.
    gate = psycopg.connect(database_url_of_test_database(), autocommit=False)
    first = second = None
    try:
        with gate.cursor() as cursor:
            cursor.execute(f"INSERT INTO {EvalRunScene._meta.db_table} (run_id, scene_id, objects_found, created_at) "
                           "VALUES (%s, %s, 0, now())", (run.pk, scene_ids[GATE_SCENE_INDEX]))
        first = worker_start(log_path, extra_env={}, beat=False)
        tasks.eval_run_generate.apply_async((run.pk,), connection=publish)
        wait_until(lock_waiters, "the first worker reaching the gate scene", log_path)
        done_before_kill = EvalRun.objects.get(pk=run.pk).scenes_done
        assert 1 <= done_before_kill < SCENES
        worker_stop(first, signal.SIGKILL)
        gate.rollback()
        gate.close()
        other_backends_terminate()
        # What the killed worker committed is all there is: its scene in progress rolled back.
        assert EvalRunScene.objects.filter(run=run).count() == done_before_kill

        # The second worker runs as ./scripts/run starts one (embedded beat), with a short stale
        # limit. The killed worker's message is gone (the filesystem broker deletes a message when a
        # worker takes it; Redis would give it back only after an hour), so the sweep resumes the run.
        second = worker_start(log_path, beat=True, extra_env={
            "EVAL_STALE_AFTER_SECONDS": "2", "EVAL_SWEEP_INTERVAL_SECONDS": "1", "EVAL_MAX_RESUMES": "100",
            "DB_CONN_MAX_AGE": "600"})
        finished = EvalRun.objects.filter(pk=run.pk, status__in=[EvalRunStatus.LABELING, EvalRunStatus.FAILED])
        run = wait_until(finished.first, "the run finishing", log_path)
    finally:
        publish.release()
        if not gate.closed:
            gate.close()
        for worker in (first, second):
            if worker is not None:
                worker_stop(worker)

    assert run.status == EvalRunStatus.LABELING, run.error
    assert run.resumes >= 1
    assert (run.scenes_done, run.scenes_total) == (SCENES, SCENES)
    assert sorted(EvalRunScene.objects.filter(run=run).values_list("scene_id", flat=True)) == scene_ids
    # The untrained detector keeps three boxes per scene: every scene's objects exactly once.
    query_objects = QueryObject.objects.filter(run=run)
    assert sorted(query_objects.values_list("scene_id", flat=True)) == sorted(scene_ids * 3)
    with_candidates = query_objects.filter(candidates__isnull=False).distinct()
    assert with_candidates.count() > 0
    assert (Candidate.objects.filter(query_object__run=run).count()
            == Candidate.objects.filter(query_object__run=run).values("query_object", "product").distinct().count())
    normal_tasks = Task.objects.filter(queue=run.queue, is_golden=False)
    assert normal_tasks.count() == with_candidates.count()
    assert set(normal_tasks.values_list("pk", flat=True)) == set(with_candidates.values_list("task_id", flat=True))
    # The worker was started with DB_CONN_MAX_AGE=600 and says it keeps no connection between tasks.
    assert WORKER_READY_MESSAGE % 0 in log_path.read_text()
