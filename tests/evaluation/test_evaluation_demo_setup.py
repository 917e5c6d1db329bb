"""The demo set-up command and default model registration."""
import shutil

from django.core.management import call_command

from evaluation import demo
from evaluation.demo import demo_password
from evaluation.models import BoxQueueJob, BoxQueueJobStatus, EvalRun, EvalRunStatus, ModelVersion, QueryObject
from labeling.models import GuideVersion, Product, Queue, Role, Task, TaskKind, User


def run_demo_setup(*extra):
    from io import StringIO

    out = StringIO()
    call_command("demo_setup", "--products", "40", "--scenes", "10", *extra, stdout=out)
    return out.getvalue()


def accounts_printed(output):
    return output[output.index("Demo ready."):]


def test_demo_setup_builds_a_generated_run_and_is_idempotent(db, media, settings, tmp_path, untrained_checkpoints):
    fixtures = tmp_path / "fixtures-models"
    fixtures.mkdir()
    shutil.copy(untrained_checkpoints["detector"], fixtures / "detector_default.pt")
    shutil.copy(untrained_checkpoints["embedder"], fixtures / "embedder_default.pt")
    settings.MODELS_FIXTURES_DIR = fixtures
    first = run_demo_setup()
    assert ModelVersion.objects.filter(name="default", version_tag="V1").count() == 2
    run = EvalRun.objects.get()
    assert run.status == EvalRunStatus.LABELING
    assert (run.scenes_done, run.scenes_total) == (2, 2)
    # The checkpoint's meta carries threshold 0, so the untrained detector's three boxes per scene count.
    assert ModelVersion.objects.get(kind="detector").config["score_threshold"] == 0.0
    assert QueryObject.objects.filter(run=run).count() == 6
    assert Task.objects.filter(queue=run.queue).exists()
    assert run.queue.guide_version == GuideVersion.objects.get(guide__task_kind=TaskKind.RELEVANCE, version=1)
    relevance_guide = GuideVersion.objects.get(guide__task_kind=TaskKind.RELEVANCE)
    assert "extremely_similar" not in relevance_guide.body  # the guide speaks to people
    assert "Extremely similar" in relevance_guide.body
    # Every task kind gets its guide; the box queue covers the demo scenes, pre-annotated.
    assert set(GuideVersion.objects.values_list("guide__task_kind", flat=True)) == set(TaskKind.values)
    box_job = BoxQueueJob.objects.get()
    assert box_job.status == BoxQueueJobStatus.READY and box_job.detector.kind == "detector"
    assert box_job.queue.tasks.filter(is_golden=False).count() == box_job.scenes_total == 2
    assert box_job.queue.guide_version.guide.task_kind == TaskKind.BOUNDING_BOXES
    assert all(task.payload["proposals"] for task in box_job.queue.tasks.filter(is_golden=False))
    # The attribute queue crops the detector's boxes: 2 scenes x 3 boxes of the untrained detector.
    attribute_queue = Queue.objects.get(task_kind=TaskKind.ATTRIBUTES)
    assert attribute_queue.tasks.filter(is_golden=False).count() == 6
    # The cleanup queue: synthetic creator pairs, most queued, the rest golden with their truth.
    cleanup = Queue.objects.get(task_kind=TaskKind.MATCHING_PAIR)
    assert cleanup.tasks.filter(is_golden=False).count() == demo.DEMO_PAIRS - demo.DEMO_GOLDEN_PAIRS
    assert cleanup.tasks.filter(is_golden=True).count() == demo.DEMO_GOLDEN_PAIRS
    assert {queue.task_kind for queue in Queue.objects.all()} == set(TaskKind.values)
    admin = User.objects.get(username="admin1")
    assert admin.is_superuser and admin.role == Role.ADMIN
    labeler = User.objects.get(username="labeler2")
    assert labeler.pool.kind == "fixed_outside"
    assert labeler.check_password(demo_password("labeler2"))
    assert f"labeler2   {demo_password('labeler2')}" in first

    counts = (Product.objects.count(), User.objects.count(), Task.objects.count(), QueryObject.objects.count(),
              EvalRun.objects.count(), ModelVersion.objects.count(), GuideVersion.objects.count())
    second = run_demo_setup()
    assert accounts_printed(second) == accounts_printed(first)
    assert (Product.objects.count(), User.objects.count(), Task.objects.count(), QueryObject.objects.count(),
            EvalRun.objects.count(), ModelVersion.objects.count(), GuideVersion.objects.count()) == counts


def test_register_default_models_without_checkpoints_registers_nothing(db, media, settings, tmp_path):
    from io import StringIO

    settings.MODELS_FIXTURES_DIR = tmp_path
    out = StringIO()
    call_command("register_default_models", stdout=out)
    assert ModelVersion.objects.count() == 0
    assert "detector_default.pt not found" in out.getvalue()
