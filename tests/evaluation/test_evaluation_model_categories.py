"""A model version's categories: its own class names, each mapped onto the platform's taxonomy."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image as PILImage

from evaluation.models import ModelVersion
from evaluation.services import MODEL_CHECKPOINT_INVALID, MODEL_CONFIG_CHANGES_ARCHITECTURE, ModelVersionError, \
    model_version_register
from labeling.models import Category
from labeling.taxonomy import CATEGORY_LIST_UNMAPPED, CATEGORY_LIST_WRONG_COUNT
from models_runtime import taxonomy as fixture_taxonomy
from models_runtime.checkpoints import save_checkpoint
from models_runtime.detector import CATEGORIES_COUNT_ERROR, Detector
from tests.evaluation.conftest import TINY_DETECTOR_CONFIG

pytestmark = pytest.mark.django_db

CLOTHING = "apparel-accessories-clothing"
JEWELRY = "apparel-accessories-jewelry"


def detector_checkpoint(path, *, categories: list[str] | None = None, saved_config: dict | None = None, **config):
    torch.manual_seed(0)
    full = {**TINY_DETECTOR_CONFIG, **config} | ({"categories": categories} if categories is not None else {})
    detector = Detector.from_config(full, device="cpu")
    return save_checkpoint(path, kind="detector", config={**detector.config, **(saved_config or {})},
                           state_dict=detector.model.state_dict(), meta={"score_threshold": 0.0})


def register_detector(path, *, version_tag: str = "V1", config: dict | None = None) -> ModelVersion:
    return model_version_register(kind="detector", name="frcnn", version_tag=version_tag, checkpoint_path=path,
                                  config=config)


def refusal(path, **kwargs) -> ModelVersionError:
    with pytest.raises(ModelVersionError) as refused:
        register_detector(path, **kwargs)
    return refused.value


def stored_checkpoints(media) -> list:
    return sorted(media.rglob("*.pt")) if media.exists() else []


@pytest.mark.parametrize("kind", ["detector", "embedder"])
def test_a_checkpoint_without_categories_registers_with_the_fixture_list_mapped_onto_itself(
        kind, media, untrained_checkpoints):
    version = model_version_register(kind=kind, name="untrained", version_tag="V0",
                                     checkpoint_path=untrained_checkpoints[kind])
    assert version.config["categories"] == list(fixture_taxonomy.CATEGORIES)
    assert version.config["category_map"] == {slug: slug for slug in fixture_taxonomy.CATEGORIES}


def test_a_detector_whose_categories_do_not_map_is_refused_naming_exactly_those(media, tmp_path):
    path = detector_checkpoint(tmp_path / "d.pt", categories=[
        "Tops", "Hats", "Apparel & Accessories|Jewelry|Earrings", "socks", "Handbags, Wallets & Bags"])
    error = refusal(path)
    assert error.field == "config"
    assert str(error) == CATEGORY_LIST_UNMAPPED.format(categories="'Hats', 'socks', 'Handbags, Wallets & Bags'")
    assert ModelVersion.objects.count() == 0
    assert stored_checkpoints(media) == []


def test_a_coarse_and_fine_mix_is_accepted_its_map_stored_and_detections_named_by_it(media, tmp_path):
    categories = ["Clothing", "Shoes", "apparel & accessories|jewelry|earrings", "Handbags, Wallets & Cases",
                  "Apparel & Accessories > Jewelry", "dresses"]
    version = register_detector(detector_checkpoint(tmp_path / "d.pt", categories=categories))
    assert version.config["categories"] == categories
    assert version.config["num_classes"] == len(categories) + 1
    assert version.config["category_map"] == {
        "Clothing": CLOTHING, "Shoes": "shoes", "apparel & accessories|jewelry|earrings": "earrings",
        "Handbags, Wallets & Cases": "handbags", "Apparel & Accessories > Jewelry": JEWELRY, "dresses": "dresses"}

    detector = Detector.from_checkpoint(version.checkpoint.path, device="cpu")
    pixels = np.random.default_rng(1).integers(0, 256, size=(128, 128, 3), dtype=np.uint8)
    found = detector.detect([PILImage.fromarray(pixels, "RGB")], score_threshold=0.0)[0]
    assert len(found) > 0
    assert set(found.categories) <= set(categories)


def test_a_detector_whose_class_count_the_fixture_list_does_not_fit_is_refused(media, tmp_path):
    error = refusal(detector_checkpoint(tmp_path / "d.pt", num_classes=5))
    assert error.field == "config"
    n = len(fixture_taxonomy.CATEGORIES)
    assert str(error) == CATEGORY_LIST_WRONG_COUNT.format(count=n, num_classes=5, expected=4)
    assert stored_checkpoints(media) == []


def test_a_checkpoint_whose_categories_do_not_fit_its_class_count_does_not_build(media, tmp_path):
    error = refusal(detector_checkpoint(tmp_path / "d.pt", saved_config={"categories": ["tops", "shoes", "dresses"]}))
    assert error.field == "checkpoint"
    assert str(error).startswith(MODEL_CHECKPOINT_INVALID.format(kind="detector", reason=""))
    assert CATEGORIES_COUNT_ERROR.format(count=3, num_classes=len(fixture_taxonomy.CATEGORIES) + 1) in str(error)


def test_a_category_added_to_the_taxonomy_maps_at_once(media, tmp_path):
    path = detector_checkpoint(tmp_path / "d.pt", categories=["Hats", "shoes"])
    assert str(refusal(path)) == CATEGORY_LIST_UNMAPPED.format(categories="'Hats'")
    Category.objects.create(slug="hats", name="Hats", level=3,
                            path="Apparel & Accessories|Clothing Accessories|Hats",
                            parent=Category.objects.get(path="Apparel & Accessories|Clothing Accessories"))
    assert register_detector(path).config["category_map"] == {"Hats": "hats", "shoes": "shoes"}


def test_the_upload_config_cannot_rename_the_checkpoints_categories(media, untrained_checkpoints):
    error = refusal(untrained_checkpoints["detector"], config={"categories": ["Clothing"] * 11})
    assert (error.field, str(error)) == ("config", MODEL_CONFIG_CHANGES_ARCHITECTURE.format(keys="categories"))
    # Restating them is no change.
    same = register_detector(untrained_checkpoints["detector"],
                             config={"categories": list(fixture_taxonomy.CATEGORIES)})
    assert same.config["categories"] == list(fixture_taxonomy.CATEGORIES)
