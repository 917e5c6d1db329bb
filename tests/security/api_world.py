"""A small world for the tests that walk the whole API (the permission matrix, the schemathesis
run) and for benchmarks/api_fuzz.py, built with the real services: one user per role, a relevance
queue with normal and golden tasks, a labeler's submitted label and live lease, an imported tiny
world, two model versions and a generated evaluation run whose tasks show real stored images.

Needs media storage (``MEDIA_ROOT``) and the database; torch builds two untrained models.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

WORLD_PASSWORD = "a world of hostile input"
ROLES = ("labeler", "expert", "engineer", "admin")


@dataclass
class ApiWorld:
    usernames: dict[str, str]  # role -> username
    queue_id: int  # a relevance queue open to everyone, with synthetic payloads
    normal_task_id: int
    golden_task_id: int  # has a golden answer
    golden_set_id: int  # the set golden_task_id's item is in
    golden_item_id: int
    submitted_assignment_id: int  # the labeler's, with a label
    live_assignment_id: int  # the labeler's live lease in the queue
    run_id: int  # generated, so its tasks show stored images
    run_queue_id: int
    detector_id: int
    embedder_id: int
    scene_set_id: int
    labeler_image_name: str  # an image on a task the labeler holds a lease on
    other_image_name: str  # an image on no task of the labeler
    checkpoint_name: str  # the detector version's stored checkpoint
    pair_import_id: int  # a finished creator-pair import of the tiny world
    labeler_id: int  # the labeler's user id (a labeler's quality page)
    offline_evaluation_id: int  # a pending offline evaluation of the detector version
    feedback_id: int = 0  # an item of the labeler's feed (only they may mark it read)
    calibration_session_id: int = 0  # an open calibration session, the labeler its one participant
    export_id: int = 0  # a pending training-data export (qrels of the run): its download is a 409
    data_import_id: int = 0  # a pending catalogue import
    training_job_id: int = 0  # a cancelled training job of the detector version: cancelling it again is a 409

    def path_ids(self) -> dict[str, list[int]]:
        """Real ids for each path parameter of the API."""
        return {
            "queue_id": [self.queue_id, self.run_queue_id],
            "task_id": [self.normal_task_id, self.golden_task_id],
            "assignment_id": [self.submitted_assignment_id, self.live_assignment_id],
            "run_id": [self.run_id],
            "set_id": [self.golden_set_id],
            "item_id": [self.golden_item_id],
            "import_id": [self.pair_import_id],
            "data_import_id": [self.data_import_id],
            "version_id": [self.detector_id, self.embedder_id],
            "evaluation_id": [self.offline_evaluation_id],
            "feedback_id": [self.feedback_id],
            "export_id": [self.export_id],
            "job_id": [self.training_job_id],
        }

    def body_ids(self) -> dict[str, list[int]]:
        """Real ids for the id fields of request bodies (an evaluation run's)."""
        return {"scene_set": [self.scene_set_id], "detector": [self.detector_id, self.embedder_id],
                "embedder": [self.embedder_id, self.detector_id], "baseline": [self.run_id]}


def relevance_payload(number: int) -> dict:
    return {
        "query_object": {"id": number, "crop_url": f"/media/crops/{number}.jpg",
                         "scene_url": f"/media/scenes/{number}.jpg", "box": [10, 20, 110, 220], "category": "shoes"},
        "candidates": [{"product_id": f"p{number}-{k}", "image_url": f"/media/products/{number}-{k}.jpg",
                        "category": "shoes"} for k in range(5)],
    }


def api_world_build(*, checkpoint_folder: Path) -> ApiWorld:
    import torch

    from evaluation.models import TrainingJob, TrainingJobStatus
    from evaluation.offline import offline_evaluation_request
    from evaluation.services import eval_run_create, eval_run_generate_all, model_version_register
    from labeling.golden.services import GoldenItemInput, golden_items_put, golden_set_create, queue_golden_sets_add
    from labeling.models import Image, Pool, PoolKind, Role, SceneSet, Task, TaskImage
    from labeling.models import LabelerFeedback
    from labeling.models import DataImport, ExportJob
    from labeling.services.queue_engine import assignment_claim, label_submit
    from labeling.services.queues import queue_create
    from labeling.services.tasks import TaskSpec, tasks_create
    from labeling.services.users import user_create
    from labeling.services.world_import import world_import
    from models_runtime.checkpoints import save_checkpoint
    from models_runtime.detector import Detector
    from models_runtime.embedder import Embedder

    pool = Pool.objects.create(name="world pool", kind=PoolKind.IN_HOUSE)
    users = {role: user_create(username=f"world-{role}", password=WORLD_PASSWORD, role=role,
                               pool=pool if role == Role.LABELER else None) for role in ROLES}
    labeler = users[Role.LABELER]

    queue = queue_create(name="world relevance", task_kind="relevance", replication=2)
    specs = [TaskSpec(source_key=f"world-{number}", payload=relevance_payload(number)) for number in range(6)]
    tasks = tasks_create(queue=queue, specs=specs)
    golden_set = golden_set_create(name="world golden", task_kind="relevance")
    queue_golden_sets_add(queue=queue, golden_sets=[golden_set])
    [golden_item], _, _ = golden_items_put(golden_set=golden_set, items=[GoldenItemInput(
        key="world-golden", payload=relevance_payload(99), answer={"grades": ["similar"] * 5})])
    tasks.append(Task.objects.get(queue=queue, is_golden=True))
    submitted = assignment_claim(queue=queue, labeler=labeler)
    label_submit(assignment_id=submitted.pk, labeler=labeler, answer={"grades": ["similar"] * 5},
                 idempotency_key="world-first-submit")
    live = assignment_claim(queue=queue, labeler=labeler)

    tiny_world = world_import(seed=0, n_products=40, n_scenes=4, scene_split="all")
    torch.manual_seed(0)
    detector = Detector.from_config({"arch": "small", "box_detections_per_img": 2}, device="cpu")
    embedder = Embedder.from_config({"embedding_dim": 64, "small_widths": [8, 16, 32, 64]}, device="cpu")
    detector_version = model_version_register(
        kind="detector", name="world", version_tag="V0",
        checkpoint_path=save_checkpoint(checkpoint_folder / "detector.pt", kind="detector", config=detector.config,
                                        state_dict=detector.model.state_dict(), meta={"score_threshold": 0.0}))
    embedder_version = model_version_register(
        kind="embedder", name="world", version_tag="V0",
        checkpoint_path=save_checkpoint(checkpoint_folder / "embedder.pt", kind="embedder", config=embedder.config,
                                        state_dict=embedder.model.state_dict()))
    run = eval_run_create(created_by=users[Role.ENGINEER], name="world run", detector=detector_version,
                          embedder=embedder_version, scene_set=SceneSet.objects.get(pk=tiny_world.scene_set_id),
                          replication=1, start_generation=False)
    run = eval_run_generate_all(run_id=run.pk)
    offline_evaluation = offline_evaluation_request(model_version=detector_version, created_by=users[Role.ENGINEER])
    run_lease = assignment_claim(queue=run.queue, labeler=labeler)
    assert run_lease is not None, "the generated run has no task for the labeler"
    seen = set(TaskImage.objects.filter(task__assignments__labeler=labeler).values_list("image__file", flat=True))
    other = Image.objects.exclude(file__in=seen).order_by("pk").first()
    from labeling.imports.stl_pairs import synthetic_pairs_import

    pair_import = synthetic_pairs_import(name="world pairs", seed=0, n_pairs=2, rates={}, created_by=users[Role.EXPERT],
                                         n_products=40)
    from labeling.calibration.sessions import calibration_session_open

    calibration_session = calibration_session_open(name="world calibration", task_kind="relevance",
                                                   created_by=users[Role.EXPERT], golden_items=[golden_item],
                                                   labelers=[labeler])
    return ApiWorld(
        usernames={role: user.username for role, user in users.items()},
        queue_id=queue.pk, normal_task_id=tasks[0].pk, golden_task_id=tasks[-1].pk, golden_set_id=golden_set.pk,
        golden_item_id=golden_item.pk,
        submitted_assignment_id=submitted.pk, live_assignment_id=live.pk,
        run_id=run.pk, run_queue_id=run.queue_id, detector_id=detector_version.pk, embedder_id=embedder_version.pk,
        scene_set_id=tiny_world.scene_set_id, labeler_image_name=sorted(seen)[0], other_image_name=other.file.name,
        checkpoint_name=detector_version.checkpoint.name, pair_import_id=pair_import.pk, labeler_id=labeler.pk,
        offline_evaluation_id=offline_evaluation.pk,
        calibration_session_id=calibration_session.pk,
        feedback_id=LabelerFeedback.objects.create(labeler=labeler, author=users[Role.EXPERT], body="world note").pk,
        training_job_id=TrainingJob.objects.create(
            kind="detector", name="world training", parent=detector_version, version_tag="V0.1",
            status=TrainingJobStatus.CANCELLED, created_by=users[Role.ENGINEER]).pk,
        data_import_id=DataImport.objects.create(kind="catalogue", name="world catalogue",
                                                 options={"image_source": "world", "file_format": "csv"},
                                                 created_by=users[Role.ENGINEER]).pk,
        export_id=ExportJob.objects.create(format="trec_qrels", name="world export", params={"eval_run": run.pk},
                                           created_by=users[Role.ENGINEER]).pk,
    )
