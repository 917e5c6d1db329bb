"""The one-command demo: the world, the default models, one account per role, the relevance guide
and a generated evaluation run. Every step finds what an earlier run made and keeps it, so running
``demo_setup`` twice changes nothing and prints the same accounts."""
from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from pathlib import Path

import torch
from django.conf import settings
from django.db import transaction

from evaluation.models import EvalRun, EvalRunStatus, ModelKind, ModelVersion
from evaluation.services import model_version_register
from labeling.models import Guide, GuideVersion, Pool, PoolKind, Role, SceneSet, TaskKind, User
from labeling.services.users import user_create
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

DEMO_POOLS = (("In-house team", PoolKind.IN_HOUSE), ("Fixed outside pool", PoolKind.FIXED_OUTSIDE),
              ("Crowd", PoolKind.CROWD))
DEMO_RUN_NAME = "Demo: {detector} detector + {embedder} embedder"

RELEVANCE_GUIDE_TITLE = "Relevance at 5: grading retrieved products"
RELEVANCE_GUIDE_BODY = """\
# Relevance at 5

You see a **query object** (a crop of a scene photo, with the scene beside it) and up to five
**products** the system retrieved for it. Give every product one grade. Judge the product against
the query object only, never against the other products. Keys 1-5 pick the grade of the current
product; the next product is selected automatically.

## The grades

1. **Extremely similar**: almost the same item. Same kind of product, same colour, same pattern,
   same shape and details (trims, emblem, buttons); a shopper would believe it is the item in the photo.
   *Example:* the query is a navy striped top with a small gold star on the chest; the product is a
   navy striped top with the gold star in the same place.
2. **Similar**: the same kind of product with minor differences, such as a slightly different
   shade or shape, while colour and pattern match.
   *Example:* the query is a red dotted skirt at knee length; the product is a red dotted skirt cut a
   little shorter, without the pocket.
3. **Marginally similar**: the same kind of product, but clearly different in colour or pattern.
   *Example:* the query is a black leather handbag; the product is a brown striped handbag.
4. **Not similar**: a different kind of product.
   *Example:* the query is a pair of sunglasses; the product is a necklace.
5. **Did not load**: the product image is blank, broken or does not show a product. Use it only for
   that; never for a product you are unsure about.

## When in doubt

- Between two grades, pick the **lower** one. Results are counted conservatively, and an honest
  "similar" is worth more than a generous "extremely similar".
- Colour beats shape: a product of the right colour and pattern with a different silhouette is
  *similar*; the right silhouette in the wrong colour is *marginally similar*.
- If the crop shows two items, grade against the one that fills most of the crop.
- Ignore the background, the model wearing the item and the lighting.
"""


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


def relevance_guide_ensure(*, author: User | None) -> GuideVersion:
    with transaction.atomic():
        guide, _ = Guide.objects.get_or_create(task_kind=TaskKind.RELEVANCE, title=RELEVANCE_GUIDE_TITLE)
        version, _ = GuideVersion.objects.get_or_create(
            guide=guide, version=1, defaults={"body": RELEVANCE_GUIDE_BODY, "created_by": author})
    return version


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
