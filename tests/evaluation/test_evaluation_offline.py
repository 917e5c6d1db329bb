"""Offline evaluations: the job stores the figures the benchmark scripts print for the same model and
test sets (they share models_runtime.offline), records its progress and its failures, refuses bad
parameters with 400, and runs on a real Celery worker from the gpu queue."""
from __future__ import annotations

import importlib.util
import time
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from rest_framework.test import APIClient

from config.celery import app as celery_app
from config.queues import QUEUE_GPU
from evaluation import offline, tasks
from evaluation.models import OfflineEvaluation, OfflineEvaluationStatus
from models_runtime.offline import ATTRIBUTES
from test_evaluation_worker import celery_worker_process  # noqa: F401 - the real-worker fixture

REPO_ROOT = Path(__file__).resolve().parents[2]
# Small test sets of a 40-product world: seconds on a CPU for the untrained models of conftest.py.
DETECTOR_PARAMETERS = {"n_products": 40, "val_scenes": 3, "test_scenes": 4, "single_products": 0}
EMBEDDER_PARAMETERS = {"n_products": 40, "query_scenes": 3, "distractors": 25, "k_max": 5}
WORKER_TIMEOUT_SECONDS = 300


def benchmark(name: str):
    """A script of benchmarks/ as a module (the folder is not a package)."""
    spec = importlib.util.spec_from_file_location(f"benchmark_{name}", REPO_ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def client_for(user):
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.fixture
def taxonomy(db):
    """The taxonomy rows (registration maps a model's categories onto them); a transactional test may
    start from flushed tables."""
    from labeling.taxonomy import taxonomy_seed

    taxonomy_seed()


@pytest.fixture
def on_cpu(monkeypatch):
    # The benchmark scripts measure on the CPU; the job takes pick_device(), so pin it for equality.
    monkeypatch.setenv("MODELS_DEVICE", "cpu")


@pytest.fixture
def no_worker(monkeypatch):
    """Offline evaluations enqueued on commit are recorded, not sent: the tests run the job themselves."""
    sent = []
    monkeypatch.setattr(tasks.offline_evaluation_run, "delay", sent.append)
    return sent


def requested_and_run(*, version, engineer, parameters, django_capture_on_commit_callbacks, no_worker):
    with django_capture_on_commit_callbacks(execute=True):
        evaluation = offline.offline_evaluation_request(model_version=version, created_by=engineer,
                                                        parameters=parameters)
    assert no_worker == [evaluation.pk]
    assert offline.offline_evaluation_execute(evaluation_id=evaluation.pk) == OfflineEvaluationStatus.DONE
    evaluation.refresh_from_db()
    return evaluation


def test_the_job_stores_the_figures_the_detector_benchmark_prints_for_the_same_test_sets(
        engineer, model_versions, on_cpu, no_worker, django_capture_on_commit_callbacks, capsys):
    detector, _ = model_versions
    evaluation = requested_and_run(version=detector, engineer=engineer, parameters=DETECTOR_PARAMETERS,
                                   django_capture_on_commit_callbacks=django_capture_on_commit_callbacks,
                                   no_worker=no_worker)
    printed = benchmark("detector_offline").main([
        "--checkpoint", detector.checkpoint.path, "--products", "40", "--val-scenes", "3", "--test-scenes", "4",
        "--no-speed"])
    assert '"fine"' in capsys.readouterr().out  # the script still prints its JSON report
    figures = evaluation.results["figures"]
    assert figures == {key: value for key, value in printed.items() if key != "checkpoint"}
    assert (figures["val_scenes"], figures["test_scenes"]) == (3, 4) and figures["test_boxes"] > 0
    assert set(figures["fine"]) == {"map", "map50", "map75", "threshold", "precision", "recall", "f1"}
    assert evaluation.parameters == {"seed": 0, **DETECTOR_PARAMETERS}
    assert evaluation.results["device"] == "cpu"
    # Progress ends complete: every scene detected and both scales scored.
    assert evaluation.steps_done == evaluation.steps_total == 3 + 4 + 2
    assert evaluation.step == offline.OFFLINE_STEP_DONE
    assert evaluation.started_at <= evaluation.finished_at


def test_the_job_stores_the_figures_the_embedder_benchmark_prints_for_the_same_test_sets(
        engineer, model_versions, on_cpu, no_worker, django_capture_on_commit_callbacks, tmp_path):
    _, embedder = model_versions
    evaluation = requested_and_run(version=embedder, engineer=engineer, parameters=EMBEDDER_PARAMETERS,
                                   django_capture_on_commit_callbacks=django_capture_on_commit_callbacks,
                                   no_worker=no_worker)
    printed = benchmark("embedder_offline").main([
        "--checkpoint", embedder.checkpoint.path, "--products", "40", "--query-scenes", "3", "--distractors", "25",
        "--k-max", "5", "--no-speed", "--threads", str(__import__("torch").get_num_threads()),
        "--cache-dir", str(tmp_path / "corpus")])
    figures = evaluation.results["figures"]
    assert figures == {key: printed[key] for key in figures}
    assert figures["corpus_size"] == 40 + 25 and figures["split"] == "test"
    assert len(figures["top_k_binary"]) == len(figures["top_k_float"]) == 5
    assert figures["top_k_binary"] == sorted(figures["top_k_binary"])  # top-K accuracy never falls with K
    assert set(figures["attribute_p1"]) <= set(ATTRIBUTES)
    assert evaluation.steps_done == evaluation.steps_total == 2 * 65 + 3 + 1


def test_progress_is_written_to_the_row_as_the_job_goes(engineer, model_versions, on_cpu, no_worker,
                                                        django_capture_on_commit_callbacks, monkeypatch):
    detector, _ = model_versions
    monkeypatch.setattr(offline, "PROGRESS_WRITE_SECONDS", 0.0)
    seen = []
    write = offline._ProgressWriter.__call__

    def watched(self, done, total, step):
        write(self, done, total, step)
        row = OfflineEvaluation.objects.get(pk=self.evaluation_id)
        seen.append((row.status, row.steps_done, row.steps_total, row.step))

    monkeypatch.setattr(offline._ProgressWriter, "__call__", watched)
    requested_and_run(version=detector, engineer=engineer, parameters={**DETECTOR_PARAMETERS, "val_scenes": 40},
                      django_capture_on_commit_callbacks=django_capture_on_commit_callbacks, no_worker=no_worker)
    assert {status for status, *_ in seen} == {OfflineEvaluationStatus.RUNNING}
    assert [done for _, done, _, _ in seen] == [32, 40, 44, 45, 46]  # scenes in steps of 32, then two scores
    assert {total for _, _, total, _ in seen} == {46}
    assert seen[0][3] == "Detecting validation scenes (32 of 40)" and seen[-1][3] == "Scoring coarse categories"


def test_a_failing_job_records_the_error_and_status_failed(engineer, model_versions, no_worker,
                                                           django_capture_on_commit_callbacks):
    detector, _ = model_versions
    with django_capture_on_commit_callbacks(execute=True):
        evaluation = offline.offline_evaluation_request(model_version=detector, created_by=engineer,
                                                        parameters=DETECTOR_PARAMETERS)
    Path(detector.checkpoint.path).write_bytes(b"not a checkpoint any more")
    assert offline.offline_evaluation_execute(evaluation_id=evaluation.pk) == OfflineEvaluationStatus.FAILED
    evaluation.refresh_from_db()
    assert evaluation.status == OfflineEvaluationStatus.FAILED
    assert evaluation.error.startswith("CheckpointError: ")
    assert evaluation.results == {} and evaluation.finished_at is not None
    # Delivered again (acks_late), the failed evaluation stays as it is.
    assert offline.offline_evaluation_execute(evaluation_id=evaluation.pk) == OfflineEvaluationStatus.FAILED
    evaluation.refresh_from_db()
    assert evaluation.error.startswith("CheckpointError: ")


def test_a_finished_evaluation_delivered_again_is_not_run_again(engineer, model_versions, on_cpu, no_worker,
                                                                 django_capture_on_commit_callbacks, monkeypatch):
    detector, _ = model_versions
    evaluation = requested_and_run(version=detector, engineer=engineer, parameters=DETECTOR_PARAMETERS,
                                   django_capture_on_commit_callbacks=django_capture_on_commit_callbacks,
                                   no_worker=no_worker)
    monkeypatch.setattr(offline, "_evaluate", lambda *args: pytest.fail("a done evaluation ran again"))
    assert offline.offline_evaluation_execute(evaluation_id=evaluation.pk) == OfflineEvaluationStatus.DONE
    assert OfflineEvaluation.objects.get(pk=evaluation.pk).results == evaluation.results


def test_an_engineer_starts_an_offline_evaluation_and_gets_202_with_the_pending_row(
        engineer, model_versions, no_worker, django_capture_on_commit_callbacks):
    detector, _ = model_versions
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(engineer).post(f"/api/v1/model-versions/{detector.pk}/offline-evaluations",
                                             {"parameters": {"val_scenes": 40}}, format="json")
    assert response.status_code == 202, response.json()
    body = response.json()
    assert body["status"] == "pending" and body["step"] == offline.OFFLINE_STEP_QUEUED
    assert body["parameters"] == {"seed": 0, "n_products": 2000, "val_scenes": 40, "test_scenes": 80,
                                  "single_products": 100}
    assert body["model_version"]["id"] == detector.pk and body["created_by"] == engineer.username
    assert no_worker == [body["id"]]
    progress = client_for(engineer).get(f"/api/v1/offline-evaluations/{body['id']}").json()
    assert (progress["status"], progress["steps_done"], progress["results"]) == ("pending", 0, {})


@pytest.mark.parametrize("parameters, message", [
    ({"query_scenes": 10}, offline.OFFLINE_PARAMETER_UNKNOWN.format(
        keys="'query_scenes'", kind="detector", accepted="seed, n_products, val_scenes, test_scenes, single_products")),
    ({"val_scenes": 0}, offline.OFFLINE_PARAMETER_INVALID.format(key="val_scenes", minimum=1, maximum=3000)),
    ({"test_scenes": 2.5}, offline.OFFLINE_PARAMETER_INVALID.format(key="test_scenes", minimum=1, maximum=3000)),
    ({"seed": True}, offline.OFFLINE_PARAMETER_INVALID.format(key="seed", minimum=0, maximum=2**31 - 1)),
    ({"n_products": "2000"}, offline.OFFLINE_PARAMETER_INVALID.format(key="n_products", minimum=40, maximum=20000)),
    ([1, 2], offline.OFFLINE_PARAMETERS_NOT_OBJECT),
])
def test_bad_parameters_are_a_400_naming_the_problem_and_store_nothing(engineer, model_versions, no_worker,
                                                                        parameters, message):
    detector, _ = model_versions
    response = client_for(engineer).post(f"/api/v1/model-versions/{detector.pk}/offline-evaluations",
                                         {"parameters": parameters}, format="json")
    assert response.status_code == 400
    fields = response.json()["error"]["fields"]
    assert fields == {"parameters": [message]}
    assert not OfflineEvaluation.objects.exists() and no_worker == []


def test_an_embedder_parameter_is_refused_for_an_embedder_only_if_it_is_not_one(engineer, model_versions, no_worker):
    _, embedder = model_versions
    client = client_for(engineer)
    url = f"/api/v1/model-versions/{embedder.pk}/offline-evaluations"
    refused = client.post(url, {"parameters": {"val_scenes": 10}}, format="json")
    assert refused.json()["error"]["fields"]["parameters"] == [offline.OFFLINE_PARAMETER_UNKNOWN.format(
        keys="'val_scenes'", kind="embedder", accepted="seed, n_products, query_scenes, distractors, k_max")]
    accepted = client.post(url, {"parameters": {"k_max": 20, "distractors": 0}}, format="json")
    assert accepted.status_code == 202
    assert accepted.json()["parameters"] == {"seed": 0, "n_products": 2000, "query_scenes": 80, "distractors": 0,
                                             "k_max": 20}


def test_only_engineers_start_offline_evaluations_and_staff_read_them(engineer, labeler, model_versions, no_worker,
                                                                       django_capture_on_commit_callbacks):
    from labeling.models import Role
    from labeling.services.users import user_create

    expert = user_create(username="expert", password="a long expert password", role=Role.EXPERT)
    detector, _ = model_versions
    url = f"/api/v1/model-versions/{detector.pk}/offline-evaluations"
    assert client_for(labeler).post(url, {}, format="json").status_code == 403
    assert client_for(expert).post(url, {}, format="json").status_code == 403
    assert APIClient().post(url, {}, format="json").status_code == 401
    with django_capture_on_commit_callbacks(execute=True):
        created = client_for(engineer).post(url, {}, format="json")
    assert created.status_code == 202
    detail = f"/api/v1/offline-evaluations/{created.json()['id']}"
    assert client_for(expert).get(detail).status_code == 200
    assert client_for(labeler).get(detail).status_code == 403
    assert client_for(engineer).get("/api/v1/offline-evaluations/999999").status_code == 404
    assert client_for(engineer).post("/api/v1/model-versions/999999/offline-evaluations", {},
                                     format="json").status_code == 404


def wait_for_offline_evaluation(evaluation_id: int, log_path: Path) -> OfflineEvaluation:
    deadline = time.monotonic() + WORKER_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        evaluation = OfflineEvaluation.objects.get(pk=evaluation_id)
        if evaluation.status in (OfflineEvaluationStatus.DONE, OfflineEvaluationStatus.FAILED):
            return evaluation
        time.sleep(0.5)
    pytest.fail(f"offline evaluation {evaluation_id} not finished within {WORKER_TIMEOUT_SECONDS} s; worker log:\n"
                + log_path.read_text()[-4000:])


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_celery_worker_runs_an_offline_evaluation_from_the_gpu_queue(taxonomy, engineer, model_versions,
                                                                     celery_worker_process, monkeypatch):  # noqa: F811
    assert django_settings.CELERY_TASK_ROUTES["evaluation.tasks.offline_evaluation_run"] == {"queue": QUEUE_GPU}
    uses_filesystem_broker = django_settings.CELERY_BROKER_URL.startswith("filesystem")
    publish = celery_app.connection_for_write(
        transport_options=celery_worker_process["transport_options"] if uses_filesystem_broker else None)
    monkeypatch.setattr(tasks.offline_evaluation_run, "delay", lambda evaluation_id: (
        tasks.offline_evaluation_run.apply_async((evaluation_id,), connection=publish)))
    _, embedder = model_versions
    try:
        evaluation = offline.offline_evaluation_request(model_version=embedder, created_by=engineer,
                                                        parameters=EMBEDDER_PARAMETERS)
        evaluation = wait_for_offline_evaluation(evaluation.pk, celery_worker_process["log"])
    finally:
        publish.release()
    assert evaluation.status == OfflineEvaluationStatus.DONE, evaluation.error
    assert evaluation.results["figures"]["n_queries"] > 0 and evaluation.results["device"] == "cpu"
    assert evaluation.steps_done == evaluation.steps_total > 0
    assert "offline_evaluation_run" in celery_worker_process["log"].read_text()


def test_a_detector_evaluation_measures_single_product_map_on_held_out_products_with_its_progress(
        engineer, model_versions, on_cpu, no_worker, django_capture_on_commit_callbacks):
    detector, _ = model_versions
    evaluation = requested_and_run(version=detector, engineer=engineer,
                                   parameters={**DETECTOR_PARAMETERS, "single_products": 3},
                                   django_capture_on_commit_callbacks=django_capture_on_commit_callbacks,
                                   no_worker=no_worker)
    single = evaluation.results["figures"]["single_product"]
    assert single["images"] == 6 and set(single["by_background"]) == {"white", "busy"}
    assert all(0.0 <= single[key] <= 1.0 for key in ("map", "map50", "map75"))
    # Progress counts the scenes, both scales and each single-product image, and ends complete.
    assert evaluation.steps_done == evaluation.steps_total == 3 + 4 + 2 + 6
