"""The one-command demo: the world, the default models, one account per role, simulated labelers
(programs, marked as such) in the three pools for ``simulate_labelers``, a guide per task kind, a
generated evaluation run, a pre-annotated box queue, an attribute queue and a cleanup queue of
synthetic creator pairs, each with golden items the world answered. Every step finds what an
earlier run made and keeps it, so running ``demo_setup`` twice changes nothing and prints the same
accounts."""
from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from pathlib import Path

import torch
from django.conf import settings
from django.db import transaction

from evaluation.attribute_queues import attribute_golden_set_from_world, attribute_queue_create, crops_from_box_queue
from evaluation.box_queues import box_golden_set_from_world, box_queue_create, box_queue_preannotate_all
from evaluation.cleanup_queues import cleanup_golden_set_from_truth, cleanup_queue_create
from evaluation.models import BoxQueueJob, BoxQueueJobStatus, EvalRun, EvalRunStatus, ModelKind, ModelVersion
from evaluation.services import model_version_register
from evaluation.simulation import simulated_labelers_ensure
from labeling.imports.stl_pairs import synthetic_pairs_import
from labeling.models import (Guide, GuideVersion, PairImport, PairImportStatus, Pool, PoolKind, Queue, Role, SceneSet,
                             TaskKind, User)
from labeling.quality.simulation import DEMO_LABELERS_PER_POOL, DEMO_POOL_PROFILES, DEMO_SEED, LabelerProfile
from labeling.services.users import user_create
from labeling.task_kinds import task_kind_specs
from models_runtime.checkpoints import save_checkpoint
from models_runtime.detector import Detector
from models_runtime.embedder import Embedder

DEFAULT_MODEL_NAME = "default"
DEFAULT_VERSION_TAG = "V1"
DEFAULT_CHECKPOINTS = {ModelKind.DETECTOR: "detector_default.pt", ModelKind.EMBEDDER: "embedder_default.pt"}
UNTRAINED_NAME = "untrained"
UNTRAINED_VERSION_TAG = "V0"
UNTRAINED_NOTES = ("Random weights, not trained: a stand-in registered because no trained default checkpoint "
                   "was found in fixtures/models. Its relevance numbers are meaningless.")
# An untrained detector scores every box near 1/12, so it keeps four boxes per scene at threshold 0.
UNTRAINED_DETECTOR_CONFIG = {"arch": "small", "box_detections_per_img": 4}
UNTRAINED_DETECTOR_SETTINGS = {"score_threshold": 0.0}

# The simulated labelers' presets name the pools, so the people and the programs share them.
DEMO_POOLS = tuple((profile.pool_name, PoolKind(profile.pool_kind)) for profile in DEMO_POOL_PROFILES)
DEMO_RUN_NAME = "Demo: {detector} detector + {embedder} embedder"

DEMO_BOX_SCENES = 60
DEMO_BOX_SCENE_SET = "Demo scenes: first {n} (boxes)"
DEMO_BOX_GOLDEN_SCENES = 12
DEMO_BOX_GOLDEN_SET = "Demo scenes: boxes answered by the world's oracle"
DEMO_BOX_QUEUE = "Demo: box the products in {n} scenes"
DEMO_ATTRIBUTE_QUEUE = "Demo: attributes of the detected products"
DEMO_PAIRS_IMPORT = "Demo: synthetic creator pairs"
DEMO_PAIRS = 72
DEMO_GOLDEN_PAIRS = 12
# The kinds of noise the seed's cleanup removed, at rates a creator-tagged dataset might have.
DEMO_PAIR_NOISE = {"loose_box": 0.15, "shifted_box": 0.1, "wrong_category": 0.1, "similar_product": 0.15,
                   "not_match_product": 0.1, "spam": 0.05}
DEMO_CLEANUP_QUEUE = "Demo: clean the creators' pairs"
DEMO_CLEANUP_GOLDEN_SET = "Demo pairs: answered with the noise the world put in"
DEMO_ATTRIBUTE_GOLDEN_SET = "Demo scenes: attributes answered by the world's oracle"


@dataclass(frozen=True)
class DemoAccount:
    username: str
    password: str
    role: str
    pool: str | None


def demo_password(username: str) -> str:
    """Derived from the installation's SECRET_KEY: stable across runs, different per installation."""
    digest = hmac.new(settings.SECRET_KEY.encode(), f"demo-account:{username}".encode(), hashlib.sha256)
    return digest.hexdigest()[:14]


def demo_accounts_ensure() -> list[DemoAccount]:
    """labeler1..3 (one per pool), expert1, engineer1 and admin1 (a superuser)."""
    pools = {}
    for name, kind in DEMO_POOLS:
        pools[kind], _ = Pool.objects.get_or_create(name=name, defaults={"kind": kind})
    wanted = [
        ("labeler1", Role.LABELER, pools[PoolKind.IN_HOUSE]),
        ("labeler2", Role.LABELER, pools[PoolKind.FIXED_OUTSIDE]),
        ("labeler3", Role.LABELER, pools[PoolKind.CROWD]),
        ("expert1", Role.EXPERT, None),
        ("engineer1", Role.ENGINEER, None),
        ("admin1", Role.ADMIN, None),
    ]
    accounts = []
    for username, role, pool in wanted:
        password = demo_password(username)
        if not User.objects.filter(username=username).exists():
            user = user_create(username=username, password=password, role=role, pool=pool)
            if role == Role.ADMIN:
                User.objects.filter(pk=user.pk).update(is_superuser=True, is_staff=True)
        accounts.append(DemoAccount(username, password, role, pool.name if pool else None))
    return accounts


def demo_simulated_labelers_ensure() -> list[tuple[User, LabelerProfile]]:
    """The simulated labelers (``sim-inhouse-01`` ...) in the demo's three pools, the pools labeler1..3
    are in, so ``simulate_labelers`` finds its accounts before the server starts."""
    return simulated_labelers_ensure(pools=DEMO_POOL_PROFILES, per_pool=DEMO_LABELERS_PER_POOL, seed=DEMO_SEED)


def guides_ensure(*, author: User | None) -> list[GuideVersion]:
    """Version 1 of every task kind's default guide (the kind's module holds the text)."""
    versions = []
    with transaction.atomic():
        for spec in task_kind_specs().values():
            guide, _ = Guide.objects.get_or_create(task_kind=spec.kind, title=spec.default_guide_title)
            version, _ = GuideVersion.objects.get_or_create(
                guide=guide, version=1, defaults={"body": spec.default_guide_body, "created_by": author})
            versions.append(version)
    return versions


def demo_box_queue_ensure(*, scene_set: SceneSet, detector: ModelVersion | None, engineer: User,
                          progress=None) -> BoxQueueJob:
    """A box queue over the first scenes of the demo set, pre-annotated by ``detector``, drawing golden
    items from a set the world's oracle answered for some of the other scenes."""
    scenes = list(scene_set.scenes.order_by("pk")[:DEMO_BOX_SCENES + DEMO_BOX_GOLDEN_SCENES])
    box_scenes, golden_scenes = scenes[:DEMO_BOX_SCENES], scenes[DEMO_BOX_SCENES:]
    name = DEMO_BOX_QUEUE.format(n=len(box_scenes))
    job = BoxQueueJob.objects.filter(queue__name=name).exclude(status=BoxQueueJobStatus.FAILED).order_by("pk").first()
    if job is None:
        subset, _ = SceneSet.objects.get_or_create(
            name=DEMO_BOX_SCENE_SET.format(n=len(box_scenes)),
            defaults={"description": "The demo's box queue scenes, taken from the demo scene set."})
        subset.scenes.set(box_scenes)
        golden_set, _ = box_golden_set_from_world(
            name=DEMO_BOX_GOLDEN_SET, scenes=golden_scenes, created_by=engineer,
            description="Scenes of the demo world answered with the world's own boxes (the demo's oracle).")
        job = box_queue_create(name=name, scene_set=subset, created_by=engineer, detector=detector, replication=3,
                               golden_rate=0.15, golden_sets=[golden_set], show_preannotations=True,
                               start_preannotation=False)
    if job.status != BoxQueueJobStatus.READY:
        job = box_queue_preannotate_all(job_id=job.pk, progress=progress)
    return job


def demo_attribute_queue_ensure(*, box_job: BoxQueueJob, scene_set: SceneSet, engineer: User) -> Queue | None:
    """An attribute queue over the detector's proposals in the demo box queue (a detector run over
    the demo scenes: the job kept the boxes above the detector's threshold), with golden items the
    world's products answered for other scenes; None when the detector found nothing."""
    queue = Queue.objects.filter(name=DEMO_ATTRIBUTE_QUEUE, task_kind=TaskKind.ATTRIBUTES).first()
    if queue is not None:
        return queue
    crops = crops_from_box_queue(queue=box_job.queue, source="proposals", min_score=0.0)
    if not crops:
        return None
    first_golden = DEMO_BOX_SCENES
    golden_scenes = list(scene_set.scenes.order_by("pk")[first_golden:first_golden + DEMO_BOX_GOLDEN_SCENES])
    golden_set, _ = attribute_golden_set_from_world(name=DEMO_ATTRIBUTE_GOLDEN_SET, scenes=golden_scenes,
                                                    created_by=engineer)
    return attribute_queue_create(name=DEMO_ATTRIBUTE_QUEUE, crops=crops, created_by=engineer, replication=3,
                                  golden_rate=0.15, golden_sets=[golden_set])


def demo_cleanup_queue_ensure(*, seed: int, n_products: int, engineer: User) -> Queue:
    """Synthetic creator pairs (with recorded noise) imported through the real import; most become
    cleanup tasks, the rest golden items answered with their truth (kept apart, so no pair is both)."""
    queue = Queue.objects.filter(name=DEMO_CLEANUP_QUEUE, task_kind=TaskKind.MATCHING_PAIR).first()
    if queue is not None:
        return queue
    pair_import = PairImport.objects.filter(name=DEMO_PAIRS_IMPORT, status=PairImportStatus.DONE).first()
    if pair_import is None:
        pair_import = synthetic_pairs_import(name=DEMO_PAIRS_IMPORT, seed=seed, n_pairs=DEMO_PAIRS,
                                             rates=DEMO_PAIR_NOISE, created_by=engineer, n_products=n_products)
    pairs = list(pair_import.pairs.order_by("pk"))
    golden_set, _ = cleanup_golden_set_from_truth(name=DEMO_CLEANUP_GOLDEN_SET, pairs=pairs[-DEMO_GOLDEN_PAIRS:],
                                                  created_by=engineer)
    return cleanup_queue_create(name=DEMO_CLEANUP_QUEUE, pairs=pairs[:-DEMO_GOLDEN_PAIRS], created_by=engineer,
                                replication=3, golden_rate=0.15, golden_sets=[golden_set])


def default_models_register(*, created_by: User | None = None,
                            fixtures_dir: Path | None = None) -> dict[str, tuple[ModelVersion, bool]]:
    """Register fixtures/models/<kind>_default.pt as version V1 of each kind where present.

    Returns kind -> (version, created); a kind whose checkpoint is missing is left out.
    """
    folder = Path(fixtures_dir or settings.MODELS_FIXTURES_DIR)
    registered = {}
    for kind, filename in DEFAULT_CHECKPOINTS.items():
        existing = ModelVersion.objects.filter(kind=kind, name=DEFAULT_MODEL_NAME, version_tag=DEFAULT_VERSION_TAG).first()
        if existing is not None:
            registered[kind] = (existing, False)
            continue
        path = folder / filename
        if not path.exists():
            continue
        registered[kind] = (model_version_register(
            kind=kind, name=DEFAULT_MODEL_NAME, version_tag=DEFAULT_VERSION_TAG, checkpoint_path=path,
            notes=f"Trained default shipped as fixtures/models/{filename}.", created_by=created_by), True)
    return registered


def untrained_models_register(*, created_by: User | None = None,
                              scratch_dir: Path | None = None) -> dict[str, tuple[ModelVersion, bool]]:
    """Random-weight V0 models, clearly named, so the demo works before trained defaults exist."""
    registered = {}
    scratch = Path(scratch_dir or Path(settings.VAR_DIR) / "untrained")
    for kind in (ModelKind.DETECTOR, ModelKind.EMBEDDER):
        existing = ModelVersion.objects.filter(kind=kind, name=UNTRAINED_NAME, version_tag=UNTRAINED_VERSION_TAG).first()
        if existing is not None:
            registered[kind] = (existing, False)
            continue
        torch.manual_seed(0)
        if kind == ModelKind.DETECTOR:
            model = Detector.from_config(UNTRAINED_DETECTOR_CONFIG, device="cpu")
            state, config, inference = model.model.state_dict(), model.config, UNTRAINED_DETECTOR_SETTINGS
        else:
            model = Embedder.from_config({}, device="cpu")
            state, config, inference = model.model.state_dict(), model.config, {}
        path = save_checkpoint(scratch / f"{kind}_untrained.pt", kind=kind, config=config, state_dict=state)
        registered[kind] = (model_version_register(
            kind=kind, name=UNTRAINED_NAME, version_tag=UNTRAINED_VERSION_TAG, checkpoint_path=path,
            config=inference, notes=UNTRAINED_NOTES, created_by=created_by), True)
    return registered


def demo_run_name(*, detector: ModelVersion, embedder: ModelVersion) -> str:
    return DEMO_RUN_NAME.format(detector=f"{detector.name} {detector.version_tag}",
                                embedder=f"{embedder.name} {embedder.version_tag}")


def demo_run_get(*, name: str, scene_set: SceneSet) -> EvalRun | None:
    """The demo run made earlier, unless it failed (then the demo starts a fresh one)."""
    return (EvalRun.objects.filter(name=name, scene_set=scene_set).exclude(status=EvalRunStatus.FAILED)
            .order_by("pk").first())
