"""Fixtures of the evaluation tests: a tiny imported world, untrained model versions, users."""
from __future__ import annotations

import pytest
import torch

from evaluation import runtime_cache
from evaluation.services import model_version_register
from labeling.models import PoolKind, Role
from labeling.services.users import user_create
from labeling.services.world_import import world_import
from models_runtime.checkpoints import save_checkpoint
from models_runtime.detector import Detector
from models_runtime.embedder import Embedder

TINY_PRODUCTS = 40
TINY_SCENES = 6
# An untrained detector's scores sit near 1/12; three boxes per scene at threshold 0 keep runs small.
TINY_DETECTOR_CONFIG = {"arch": "small", "box_detections_per_img": 3}
TINY_EMBEDDER_CONFIG = {"embedding_dim": 64, "small_widths": [8, 16, 32, 64]}
PASSWORD = "correct horse battery"


@pytest.fixture(scope="session")
def untrained_checkpoints(tmp_path_factory):
    folder = tmp_path_factory.mktemp("checkpoints")
    torch.manual_seed(0)
    detector = Detector.from_config(TINY_DETECTOR_CONFIG, device="cpu")
    embedder = Embedder.from_config(TINY_EMBEDDER_CONFIG, device="cpu")
    return {
        "detector": save_checkpoint(folder / "detector.pt", kind="detector", config=detector.config,
                                    state_dict=detector.model.state_dict(), meta={"score_threshold": 0.0}),
        "embedder": save_checkpoint(folder / "embedder.pt", kind="embedder", config=embedder.config,
                                    state_dict=embedder.model.state_dict()),
    }


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.VAR_DIR = tmp_path / "var"
    settings.PRIVATE_ROOT = tmp_path / "private"
    runtime_cache.runtime_cache_clear()
    yield settings.MEDIA_ROOT
    runtime_cache.runtime_cache_clear()


@pytest.fixture
def tiny_world(db, media):
    return world_import(seed=0, n_products=TINY_PRODUCTS, n_scenes=TINY_SCENES, scene_split="all")


@pytest.fixture
def model_versions(db, media, untrained_checkpoints):
    detector = model_version_register(kind="detector", name="untrained", version_tag="V0",
                                      checkpoint_path=untrained_checkpoints["detector"], notes="random weights")
    embedder = model_version_register(kind="embedder", name="untrained", version_tag="V0",
                                      checkpoint_path=untrained_checkpoints["embedder"], notes="random weights")
    return detector, embedder


@pytest.fixture
def engineer(db):
    return user_create(username="engineer", password=PASSWORD, role=Role.ENGINEER)


@pytest.fixture
def labeler(db):
    from labeling.models import Pool

    pool = Pool.objects.create(name="in-house", kind=PoolKind.IN_HOUSE)
    return user_create(username="labeler", password=PASSWORD, role=Role.LABELER, pool=pool)
