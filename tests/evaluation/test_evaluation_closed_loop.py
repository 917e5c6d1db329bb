"""The closed loop (evaluation/CLOSED_LOOP.md) on a tiny demo world with untrained models: every
step runs through the platform's services and leaves what it measured in the stored jobs, and the
figures it prints are those stored ones."""
from __future__ import annotations

import shutil
from io import StringIO

import pytest
from django.core.management import call_command

from evaluation.closed_loop import LoopOptions, closed_loop_run, relative_gain
from evaluation.models import EvalRun, ModelVersion, OfflineEvaluation, TrainingJob, TrainingJobStatus
from labeling.models import ExportJob, JobStatus, Label

pytestmark = pytest.mark.django_db(transaction=True)

TINY = LoopOptions(embedder_steps=3, detector_steps=2, batch_size=4, labels_per_labeler=120, offline_query_scenes=3,
                   offline_distractors=10, offline_test_scenes=3, offline_val_scenes=3, offline_single_products=4)


def test_the_closed_loop_cleans_exports_trains_and_compares_with_stored_figures(
        media, settings, tmp_path, untrained_checkpoints, monkeypatch):
    from labeling.taxonomy import taxonomy_seed

    taxonomy_seed()
    monkeypatch.setenv("MODELS_DEVICE", "cpu")
    fixtures = tmp_path / "fixtures-models"
    fixtures.mkdir()
    # The shipped detector: an untrained one finds no box that Algorithm 1 keeps.
    shutil.copy(settings.BASE_DIR / "fixtures" / "models" / "detector_default.pt", fixtures / "detector_default.pt")
    shutil.copy(untrained_checkpoints["embedder"], fixtures / "embedder_default.pt")
    settings.MODELS_FIXTURES_DIR = fixtures
    call_command("demo_setup", "--products", "40", "--scenes", "10", stdout=StringIO())
    lines = []
    report = closed_loop_run(say=lines.append, options=TINY)
    steps = {step["step"]: step for step in report.steps}
    assert list(steps) == ["1.", "2.", "3.", "4.", "5.", "6.", "D1.", "D2.", "D3."]

    # 1-2: the in-house pool's labels are the simulated accounts', and the export counts what it left out.
    assert steps["1."]["labels"] > 0
    assert not Label.objects.exclude(labeler__is_simulated=True).exists()
    matching = ExportJob.objects.get(format="matching")
    assert matching.status == JobStatus.DONE and steps["2."]["pairs_written"] == matching.report["pairs_written"] > 0

    # 3: one new embedder version from one training job, its parent the default.
    jobs = TrainingJob.objects.order_by("pk")
    assert [job.status for job in jobs] == [TrainingJobStatus.DONE, TrainingJobStatus.DONE]
    embedder_job, detector_job = jobs
    assert embedder_job.parent.version_tag == "V1" and embedder_job.model_version.version_tag == "V1.1"
    assert list(embedder_job.exports.all()) == [matching]
    assert ModelVersion.objects.filter(kind="embedder").count() == 2

    # 4: the printed P@1 figures are the stored offline evaluations'.
    stored = {evaluation.model_version_id: evaluation.results["figures"]["retrieval_p1_binary"]
              for evaluation in OfflineEvaluation.objects.filter(parameters__query_scenes=3)}
    assert steps["4."]["parent"] == stored[embedder_job.parent_id]
    assert steps["4."]["new"] == stored[embedder_job.model_version_id]
    assert steps["4."]["relative_gain"] == relative_gain(baseline=steps["4."]["parent"], candidate=steps["4."]["new"])

    # 5-6: a run of the new embedder with the demo run as its baseline, and its gains over it.
    run = EvalRun.objects.get(embedder=embedder_job.model_version)
    assert run.baseline.name.startswith("Demo:") and run.reuse_judgements
    assert steps["5."]["slots_asked"] + steps["5."]["slots_reused"] > 0
    assert set(steps["6."]) >= {"similar_p_at_5", "extremely_similar_p_at_5", "bad_rate"}

    # D1-D3: Algorithm 1's report, a detector trained on it, single-product mAP of both.
    single = ExportJob.objects.get(format="single_product")
    assert steps["D1."]["kept"] == single.report["kept"] > 0
    assert set(single.report["removed"]) >= {"no_merchant_category", "box_too_small", "category_cap_reached"}
    assert list(detector_job.exports.all()) == [single] and detector_job.model_version.kind == "detector"
    assert steps["D3."]["single_product_parent"] is not None and steps["D3."]["single_product_new"] is not None
    assert any("Closed loop done" in line for line in lines)
