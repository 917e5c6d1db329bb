"""Training jobs (evaluation/TRAINING.md): from exports to exactly one new model version, with the
loss curve, cancellation, clear refusals and the offline evaluation requested."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.core.files.base import ContentFile

from evaluation import training
from evaluation.models import ModelVersion, OfflineEvaluation, TrainingJob, TrainingJobStatus
from evaluation.training import (TRAINING_EXPORT_FORMAT, TRAINING_EXPORT_NOT_DONE, TRAINING_PARAM_INVALID,
                                 TRAINING_PARENT_KIND, TRAINING_VERSION_TAG_TAKEN, TrainingJobError,
                                 training_job_cancel, training_job_create, training_job_run, version_tag_next)
from labeling.models import ExportJob, JobStatus
from models_runtime.world.exports import export_coco, export_matching_manifest
from models_runtime.world.world import build_world

pytestmark = pytest.mark.django_db


@pytest.fixture
def no_enqueue(monkeypatch):
    """Jobs created here are run by the test itself; the messages are kept to check them."""
    from evaluation import tasks

    sent = []
    monkeypatch.setattr(tasks.training_job_run, "apply_async", lambda args, **options: sent.append(args))
    monkeypatch.setattr(tasks.offline_evaluation_run, "delay", lambda evaluation_id: sent.append([evaluation_id]))
    return sent


def _export(*, format: str, name: str, data: str, status: str = JobStatus.DONE) -> ExportJob:
    job = ExportJob.objects.create(format=format, name=name, status=status)
    if status == JobStatus.DONE:
        job.file.save(f"{job.pk}-{name}.json", ContentFile(data.encode()), save=True)
    return job


@pytest.fixture
def exports(media):
    """A COCO export and a matching export of a tiny world, images under MEDIA_ROOT as the
    platform's exports write them."""
    world = build_world(seed=0, n_products=12, n_scenes=4)
    coco = export_coco(world, media, split=None)
    manifest = export_matching_manifest(world, media, split=None, include_product_images=True, product_size=64)
    return {"coco": _export(format="coco_detection", name="boxes", data=coco.read_text()),
            "matching": _export(format="matching", name="pairs", data=manifest.read_text())}


def test_a_detector_job_trains_from_an_export_and_registers_exactly_one_version_when_run_twice(
        model_versions, exports, engineer, no_enqueue, django_capture_on_commit_callbacks):
    detector, _ = model_versions
    with django_capture_on_commit_callbacks(execute=True):
        job = training_job_create(kind="detector", name="boxes v2", parent=detector, exports=[exports["coco"]],
                                  version_tag=None, params={"steps": 3, "batch_size": 2}, created_by=engineer)
    assert no_enqueue == [[job.pk]] and job.version_tag == "V0.1"
    with django_capture_on_commit_callbacks(execute=True):
        job = training_job_run(job_id=job.pk)
    assert job.status == TrainingJobStatus.DONE, job.error
    assert [point["step"] for point in job.loss_curve][-1] == 3
    assert all(point["loss"] > 0 for point in job.loss_curve)
    version = job.model_version
    assert (version.kind, version.name, version.version_tag) == ("detector", "untrained", "V0.1")
    assert job.record["init"]["loaded"] > 0 and job.record["init_checkpoint"]
    assert job.offline_evaluation is not None and job.offline_evaluation.model_version == version
    # A duplicated or retried message finds the job done: no second version, no second evaluation.
    again = training_job_run(job_id=job.pk)
    assert again.model_version_id == version.pk
    assert ModelVersion.objects.filter(kind="detector").count() == 2
    assert OfflineEvaluation.objects.filter(model_version=version).count() == 1


def test_a_retry_after_the_worker_died_mid_training_starts_again_and_still_registers_one_version(
        model_versions, exports, engineer, no_enqueue):
    _, embedder = model_versions
    job = training_job_create(kind="embedder", name="pairs v2", parent=embedder, exports=[exports["matching"]],
                              version_tag="V0.5", params={"steps": 2, "batch_size": 4}, created_by=engineer)
    # The first attempt died while training: the row says running with a partial curve.
    TrainingJob.objects.filter(pk=job.pk).update(status=TrainingJobStatus.RUNNING, attempts=1,
                                                 loss_curve=[{"step": 1, "loss": 9.0}])
    job = training_job_run(job_id=job.pk)
    assert job.status == TrainingJobStatus.DONE, job.error
    assert job.attempts == 2 and job.loss_curve[0]["loss"] != 9.0
    assert ModelVersion.objects.filter(kind="embedder", version_tag="V0.5").count() == 1
    assert job.model_version.checkpoint.name


def test_a_cancelled_job_stops_and_registers_nothing(model_versions, exports, engineer, no_enqueue, monkeypatch):
    _, embedder = model_versions
    job = training_job_create(kind="embedder", name="to cancel", parent=embedder, exports=[exports["matching"]],
                              version_tag=None, params={"steps": 50, "batch_size": 4}, created_by=engineer)
    # Cancel while it runs: the progress callback asks the engineer's button after the first step.
    original = training._Progress.__call__

    def progress_then_cancel(self, event):
        original(self, event)
        if not TrainingJob.objects.get(pk=job.pk).cancel_requested:
            training_job_cancel(job=TrainingJob.objects.get(pk=job.pk))
            self.checked_at = 0.0

    monkeypatch.setattr(training._Progress, "__call__", progress_then_cancel)
    job = training_job_run(job_id=job.pk)
    assert job.status == TrainingJobStatus.CANCELLED
    assert job.model_version is None and job.steps_done < 50
    assert not ModelVersion.objects.filter(kind="embedder", version_tag=job.version_tag).exists()
    # A pending job is cancelled at once.
    pending = training_job_create(kind="embedder", name="pending", parent=embedder, exports=[exports["matching"]],
                                  version_tag="V0.9", params={"steps": 2}, created_by=engineer)
    assert training_job_cancel(job=pending).status == TrainingJobStatus.CANCELLED
    assert training_job_run(job_id=pending.pk).model_version is None


def test_bad_requests_are_refused_naming_the_field(model_versions, exports, engineer, no_enqueue):
    detector, embedder = model_versions
    cases = [
        (dict(kind="detector", parent=embedder, exports=[exports["coco"]]), "parent",
         TRAINING_PARENT_KIND.format(found="embedder", kind="detector")),
        (dict(kind="detector", parent=detector, exports=[exports["matching"]]), "exports",
         TRAINING_EXPORT_FORMAT.format(id=exports["matching"].pk, format="matching", kind="detector",
                                       formats="coco_detection or single_product")),
        (dict(kind="detector", parent=detector, exports=[_export(format="coco_detection", name="p", data="",
                                                                  status=JobStatus.RUNNING)]), "exports", None),
        (dict(kind="detector", parent=detector, exports=[exports["coco"]], params={"steps": 0}), "params",
         TRAINING_PARAM_INVALID.format(key="steps", type="whole number", minimum=1, maximum=100000)),
        (dict(kind="detector", parent=detector, exports=[exports["coco"]], version_tag="V0"), "version_tag",
         TRAINING_VERSION_TAG_TAKEN.format(name="untrained", tag="V0")),
    ]
    for arguments, field, message in cases:
        with pytest.raises(TrainingJobError) as refused:
            training_job_create(name="x", created_by=engineer, **{"version_tag": None, "params": None, **arguments})
        assert refused.value.field == field
        if message is not None:
            assert str(refused.value) == message
        else:
            assert str(refused.value).startswith(TRAINING_EXPORT_NOT_DONE.split("{")[0])
    assert not TrainingJob.objects.exists()


def test_version_tags_count_up_from_the_parent(model_versions):
    detector, _ = model_versions
    assert version_tag_next(parent=detector) == "V0.1"
    ModelVersion.objects.create(kind="detector", name=detector.name, version_tag="V0.1", checkpoint="x.pt")
    assert version_tag_next(parent=detector) == "V0.2"


def test_merged_inputs_renumber_coco_files_and_leave_out_the_evaluation_split(tmp_path):
    first = {"images": [{"id": 7, "file_name": "a.png", "width": 4, "height": 4}],
             "annotations": [{"id": 1, "image_id": 7, "category_id": 3, "bbox": [0, 0, 2, 2]}],
             "categories": [{"id": 3, "name": "dress"}]}
    second = {"images": [{"id": 7, "file_name": "b.png", "width": 4, "height": 4}],
              "annotations": [{"id": 1, "image_id": 7, "category_id": 1, "bbox": [1, 1, 2, 2]}],
              "categories": [{"id": 1, "name": "shoe"}]}
    paths = []
    for index, document in enumerate((first, second)):
        paths.append(tmp_path / f"{index}.json")
        paths[-1].write_text(json.dumps(document))
    merged = json.loads(training.coco_files_merge(paths, tmp_path / "m.json").read_text())
    assert [image["file_name"] for image in merged["images"]] == ["a.png", "b.png"]
    assert [a["image_id"] for a in merged["annotations"]] == [1, 2]
    names = {c["id"]: c["name"] for c in merged["categories"]}
    assert [names[a["category_id"]] for a in merged["annotations"]] == ["dress", "shoe"]
    manifest = tmp_path / "a.jsonl"
    manifest.write_text('{"split": "train", "n": 1}\n{"split": "eval", "n": 2}\n{"n": 3}\n')
    out, kept = training.manifests_merge([manifest], tmp_path / "out.jsonl")
    assert kept == 2 and [json.loads(line)["n"] for line in Path(out).read_text().splitlines()] == [1, 3]
