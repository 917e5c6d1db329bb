"""How evaluation tasks fail (evaluation/task_policy.py): which errors are retried, an out-of-memory
chunk retried with half the batch down to the pipeline, everything else failing the run at once,
and the worker processes' database connections (config/celery.py).

The task tests run the tasks through Celery's tracer with ``apply()``, which runs retries at once
and in order; a real worker and broker are in test_evaluation_worker*.py."""
from __future__ import annotations

import amqp.exceptions
import kombu.exceptions
import pytest
import redis.exceptions
import torch
from celery.exceptions import SoftTimeLimitExceeded
from django.db import InterfaceError, OperationalError, connections

from config import celery as celery_config
from config.celery import app as celery_app
from evaluation import box_queues, services, task_policy, tasks
from evaluation.models import BoxQueueJobStatus, EvalRun, EvalRunScene, EvalRunStatus, QueryObject
from labeling.models import SceneSet
from models_runtime.detector import Detector
from models_runtime.pipeline import PipelineSettings


def cuda_out_of_memory() -> torch.cuda.OutOfMemoryError:
    return torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")


# -- classification -------------------------------------------------------------------------------

@pytest.mark.parametrize("error", [
    OperationalError("server closed the connection unexpectedly"),
    InterfaceError("connection already closed"),
    kombu.exceptions.OperationalError("Error 111 connecting to localhost:6379. Connection refused."),
    amqp.exceptions.RecoverableConnectionError("connection lost"),
    redis.exceptions.ConnectionError("Connection reset by peer"),
    ConnectionResetError("reset"),
    SoftTimeLimitExceeded(),
])
def test_transient_errors_are_retried_with_the_same_batch(error):
    assert task_policy.failure_decide(error=error, batch_size=None) == task_policy.FailureDecision(retry=True)
    assert task_policy.failure_decide(error=error, batch_size=2) == task_policy.FailureDecision(retry=True)


@pytest.mark.parametrize("error", [KeyError("scene"), ValueError("the catalogue has no products"),
                                   TypeError("bad argument"), RuntimeError("shape mismatch"), ZeroDivisionError()])
def test_other_errors_fail_at_once(error):
    assert task_policy.failure_decide(error=error, batch_size=None) == task_policy.FailureDecision(retry=False)


def test_a_gpu_out_of_memory_is_retried_with_half_the_batch_down_to_one():
    oom = cuda_out_of_memory()
    assert task_policy.failure_decide(error=oom, batch_size=None).batch_size == task_policy.DEFAULT_BATCH_SIZE // 2
    assert task_policy.failure_decide(error=oom, batch_size=4) == task_policy.FailureDecision(retry=True, batch_size=2)
    assert task_policy.failure_decide(error=oom, batch_size=2) == task_policy.FailureDecision(retry=True, batch_size=1)
    assert task_policy.failure_decide(error=oom, batch_size=1) == task_policy.FailureDecision(retry=False)
    # Older torch and the MPS backend say it in a bare RuntimeError.
    assert task_policy.failure_decide(error=RuntimeError("CUDA error: out of memory"), batch_size=8).batch_size == 4
    assert task_policy.failure_decide(error=RuntimeError("MPS backend out of memory"), batch_size=8).batch_size == 4


def test_the_default_batch_the_policy_halves_is_the_pipelines():
    assert PipelineSettings().detector_batch_size == task_policy.DEFAULT_BATCH_SIZE


def test_a_failure_is_recorded_as_type_and_message():
    assert task_policy.error_describe(KeyError("scene")) == "KeyError: 'scene'"
    assert task_policy.error_describe(SoftTimeLimitExceeded(), soft_time_limit=1200, attempts=4) == (
        task_policy.SOFT_TIME_LIMIT_ERROR.format(limit=1200, attempts=4))


def test_every_evaluation_task_follows_the_policy_with_time_limits():
    evaluation_tasks = [task for name, task in celery_app.tasks.items() if name.startswith("evaluation.tasks.")]
    assert {tasks.eval_run_generate_scenes, tasks.stalled_generations_resume} <= set(evaluation_tasks)
    for task in evaluation_tasks:
        assert isinstance(task, task_policy.PipelineTask), task.name
        assert task.acks_late and task.reject_on_worker_lost, task.name
        assert getattr(task, "autoretry_for", ()) == (), task.name
        assert 0 < task.soft_time_limit < task.time_limit, task.name


# -- the tasks, through Celery's tracer -------------------------------------------------------------

@pytest.fixture
def pending_run(engineer, tiny_world, model_versions):
    detector, embedder = model_versions
    return services.eval_run_create(created_by=engineer, name="policy run", detector=detector, embedder=embedder,
                                    scene_set=SceneSet.objects.get(pk=tiny_world.scene_set_id), replication=1,
                                    start_generation=False)


def scene_ids_of(run: EvalRun) -> list[int]:
    return list(run.scene_set.scenes.order_by("pk").values_list("pk", flat=True))


def service_raising(errors: list[BaseException], calls: list[int | None]):
    def generate(*, run_id, scene_ids, batch_size=None):
        calls.append(batch_size)
        if errors:
            raise errors.pop(0)
        return len(scene_ids)
    return generate


@pytest.mark.django_db
def test_a_chunk_out_of_gpu_memory_runs_again_with_half_the_batch_each_time(pending_run, monkeypatch):
    calls: list[int | None] = []
    monkeypatch.setattr(services, "eval_run_generate_scenes", service_raising([cuda_out_of_memory()] * 2, calls))
    result = tasks.eval_run_generate_scenes.apply((pending_run.pk, scene_ids_of(pending_run)))
    assert result.successful() and result.get() == 6
    assert calls == [None, 4, 2]


@pytest.mark.django_db
def test_a_lost_database_connection_is_retried_then_fails_the_run_once_retries_are_spent(pending_run, monkeypatch):
    calls: list[int | None] = []
    monkeypatch.setattr(services, "eval_run_generate_scenes",
                        service_raising([OperationalError("server closed the connection")], calls))
    assert tasks.eval_run_generate_scenes.apply((pending_run.pk, scene_ids_of(pending_run))).successful()
    assert len(calls) == 2

    calls.clear()
    always = [OperationalError("server closed the connection")] * (task_policy.MAX_RETRIES + 1)
    monkeypatch.setattr(services, "eval_run_generate_scenes", service_raising(always, calls))
    assert tasks.eval_run_generate_scenes.apply((pending_run.pk, scene_ids_of(pending_run))).failed()
    assert len(calls) == task_policy.MAX_RETRIES + 1
    pending_run.refresh_from_db()
    assert (pending_run.status, pending_run.error) == (EvalRunStatus.FAILED,
                                                       "OperationalError: server closed the connection")


@pytest.mark.django_db
def test_a_key_error_fails_the_run_at_once_without_a_retry(pending_run, monkeypatch):
    calls: list[int | None] = []
    monkeypatch.setattr(services, "eval_run_generate_scenes", service_raising([KeyError("scene 7")], calls))
    assert tasks.eval_run_generate_scenes.apply((pending_run.pk, scene_ids_of(pending_run))).failed()
    assert calls == [None]
    pending_run.refresh_from_db()
    assert (pending_run.status, pending_run.error) == (EvalRunStatus.FAILED, "KeyError: 'scene 7'")


@pytest.mark.django_db
def test_an_out_of_memory_at_batch_one_fails_the_run(pending_run, monkeypatch):
    calls: list[int | None] = []
    monkeypatch.setattr(services, "eval_run_generate_scenes", service_raising([cuda_out_of_memory()] * 10, calls))
    assert tasks.eval_run_generate_scenes.apply((pending_run.pk, scene_ids_of(pending_run))).failed()
    assert calls == [None, 4, 2, 1]
    pending_run.refresh_from_db()
    assert pending_run.status == EvalRunStatus.FAILED
    assert pending_run.error.startswith("OutOfMemoryError: CUDA out of memory")


@pytest.mark.django_db
def test_a_chunk_past_its_soft_time_limit_keeps_its_written_scenes_and_the_retry_does_the_rest(
        pending_run, monkeypatch):
    real_write = services._scene_write
    writes = []

    def scene_write_then_time_out(**kwargs):
        # The soft limit strikes after two scenes were written, while the third is being written.
        if len(writes) == 2:
            writes.append("timed out")
            raise SoftTimeLimitExceeded()
        writes.append(kwargs["scene"].pk)
        return real_write(**kwargs)

    monkeypatch.setattr(services, "_scene_write", scene_write_then_time_out)
    services.eval_run_generation_start(run_id=pending_run.pk)
    assert tasks.eval_run_generate_scenes.apply((pending_run.pk, scene_ids_of(pending_run))).successful()
    run = EvalRun.objects.get(pk=pending_run.pk)
    assert run.status == EvalRunStatus.LABELING and run.scenes_done == 6
    assert writes.count("timed out") == 1 and len(writes) == 7
    assert sorted(EvalRunScene.objects.filter(run=run).values_list("scene_id", flat=True)) == scene_ids_of(run)
    assert QueryObject.objects.filter(run=run).count() == 6 * 3


def detect_refusing_batches_over(limit: int, seen: list[int]):
    real_detect = Detector.detect

    def detect(self, images, score_threshold=0.5, batch_size=8):
        seen.append(batch_size)
        if batch_size > limit:
            raise cuda_out_of_memory()
        return real_detect(self, images, score_threshold=score_threshold, batch_size=batch_size)
    return detect


@pytest.mark.django_db
def test_the_halved_batch_reaches_the_detector_and_the_run_completes(pending_run, monkeypatch):
    seen: list[int] = []
    monkeypatch.setattr(Detector, "detect", detect_refusing_batches_over(2, seen))
    services.eval_run_generation_start(run_id=pending_run.pk)
    assert tasks.eval_run_generate_scenes.apply((pending_run.pk, scene_ids_of(pending_run))).successful()
    assert seen == [8, 4, 2]
    run = EvalRun.objects.get(pk=pending_run.pk)
    assert run.status == EvalRunStatus.LABELING and run.scenes_done == 6


@pytest.mark.django_db
def test_box_pre_annotation_out_of_memory_retries_with_half_the_batch(engineer, tiny_world, model_versions,
                                                                      monkeypatch):
    from labeling.taxonomy import taxonomy_seed

    taxonomy_seed()
    seen: list[int] = []
    monkeypatch.setattr(Detector, "detect", detect_refusing_batches_over(4, seen))
    job = box_queues.box_queue_create(name="policy boxes", scene_set=SceneSet.objects.get(pk=tiny_world.scene_set_id),
                                      created_by=engineer, detector=model_versions[0], start_preannotation=False)
    remaining = box_queues.box_queue_preannotation_start(job_id=job.pk)
    job.refresh_from_db()
    started_at = job.progress_at
    assert started_at is not None
    assert tasks.box_queue_preannotate_scenes.apply((job.pk, remaining)).successful()
    assert seen == [8, 4]
    job.refresh_from_db()
    assert (job.status, job.scenes_done) == (BoxQueueJobStatus.READY, 6)
    assert job.progress_at > started_at


# -- worker database connections --------------------------------------------------------------------

def test_a_worker_process_keeps_no_database_connection_between_tasks(settings, monkeypatch):
    # A production-like setting for web processes; the worker start signal overrides it.
    monkeypatch.setitem(settings.DATABASES["default"], "CONN_MAX_AGE", 600)
    monkeypatch.setitem(connections.settings["default"], "CONN_MAX_AGE", 600)
    celery_config.database_connections_per_task(sender="celery@test")
    assert settings.DATABASES["default"]["CONN_MAX_AGE"] == 0
    assert connections["default"].settings_dict["CONN_MAX_AGE"] == 0
