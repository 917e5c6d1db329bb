"""Import the synthetic shop-the-look world (models_runtime.world) into the platform's tables.

What lands: the taxonomy tree (every prefix of every Google Product Taxonomy path is a Category
node), the attribute schema, the catalogue (one Product per world product, its image rendered on
white) and a SceneSet of scene images. Scenes carry their ground truth in a sidecar
(``scene_truth/ab/<sha>.json``: world seed, scene id, objects with product ids and boxes) so the
evaluation pipeline can make golden relevance tasks from the world's oracle without any model change
and without rebuilding the world. The sidecar is the golden answer key, and its name follows from the
scene's file name that every task payload shows, so it lives in private storage
(``labeling.storage``, under ``PRIVATE_ROOT``), never under a served path.

Idempotent: rows are keyed by slug / name / external_id / sha256 and inserted with
``ignore_conflicts``; products already imported are not rendered again. Atomic: the rows of one
import commit together.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from decimal import Decimal
from typing import Callable

from django.core.files.base import ContentFile
from django.db import transaction
from django.utils.text import slugify

from labeling.models import Attribute, Category, ImageKind, Product, SceneSet
from labeling.services.images import image_png_bytes, images_store
from labeling.storage import private_storage
from models_runtime import taxonomy
from models_runtime.world import build_world

SCENE_SPLITS = ("test", "all")
UNKNOWN_SPLIT_ERROR = "scene split must be one of " + ", ".join(SCENE_SPLITS) + "; got {split!r}"
PRODUCT_IMAGE_SIZE = 128
RENDER_CHUNK = 250
SYNTHETIC_PREFIX = "synthetic"

Progress = Callable[[str, int, int], None]


def synthetic_external_id(*, seed: int, product_id: int) -> str:
    return f"{SYNTHETIC_PREFIX}:{seed}:{product_id}"


def parse_synthetic_external_id(external_id: str) -> tuple[int, int] | None:
    """``(seed, product_id)`` of a synthetic product, or None for a product from anywhere else."""
    parts = external_id.split(":")
    if len(parts) != 3 or parts[0] != SYNTHETIC_PREFIX:
        return None
    try:
        return int(parts[1]), int(parts[2])
    except ValueError:
        return None


def scene_set_name(*, seed: int, split: str) -> str:
    name = "synthetic demo test scenes" if split == "test" else "synthetic demo scenes"
    return name if seed == 0 else f"{name} (seed {seed})"


def scene_truth_name(sha256: str) -> str:
    return f"scene_truth/{sha256[:2]}/{sha256}.json"


def scene_truth_read(*, sha256: str) -> dict | None:
    """The ground truth of a synthetic scene image, or None when the scene is not synthetic."""
    name = scene_truth_name(sha256)
    if not private_storage.exists(name):
        return None
    with private_storage.open(name, "rb") as handle:
        return json.loads(handle.read())


@dataclass(frozen=True)
class WorldImportResult:
    categories_created: int
    attributes_created: int
    products_created: int
    products_total: int
    scenes_in_set: int
    scene_set_id: int
    seconds: float


def _category_nodes() -> list[tuple[str, str, str, int, str | None]]:
    """(slug, name, path, level, parent path) for every node of the taxonomy tree, parents first."""
    leaf_slug = {c.path: c.slug for c in taxonomy.categories()}
    nodes: dict[str, tuple[str, str, str, int, str | None]] = {}
    for category in taxonomy.categories():
        levels = category.path.split("|")
        for depth in range(1, len(levels) + 1):
            path = "|".join(levels[:depth])
            if path in nodes:
                continue
            slug = leaf_slug.get(path) or slugify(path.replace("|", " "))
            nodes[path] = (slug, levels[depth - 1], path, depth, "|".join(levels[:depth - 1]) or None)
    return sorted(nodes.values(), key=lambda node: (node[3], node[2]))


def taxonomy_import() -> tuple[int, int]:
    """Create the Category tree and the Attribute schema; returns how many rows were created."""
    from labeling.taxonomy import taxonomy_seed

    return taxonomy_seed()


def world_import(*, seed: int = 0, n_products: int = 2000, n_scenes: int = 400, scene_split: str = "test",
                 progress: Progress | None = None) -> WorldImportResult:
    """Import (or complete the import of) the synthetic world ``(seed, n_products, n_scenes)``."""
    if scene_split not in SCENE_SPLITS:
        raise ValueError(UNKNOWN_SPLIT_ERROR.format(split=scene_split))
    started = time.perf_counter()
    report = progress or (lambda stage, done, total: None)
    world = build_world(seed=seed, n_products=n_products, n_scenes=n_scenes)
    with transaction.atomic():
        categories_created, attributes_created = taxonomy_import()
        category_by_slug = {c.slug: c for c in Category.objects.filter(slug__in=taxonomy.CATEGORIES)}

        external_ids = [synthetic_external_id(seed=seed, product_id=p.id) for p in world.products]
        existing = set(Product.objects.filter(external_id__in=external_ids).values_list("external_id", flat=True))
        missing = [p for p, external_id in zip(world.products, external_ids) if external_id not in existing]
        products_created = 0
        for start in range(0, len(missing), RENDER_CHUNK):
            chunk = missing[start:start + RENDER_CHUNK]
            pictures = images_store(items=[
                (image_png_bytes(world.render_product(p, size=PRODUCT_IMAGE_SIZE, background="white")),
                 ImageKind.PRODUCT) for p in chunk])
            rows = [Product(
                external_id=synthetic_external_id(seed=seed, product_id=p.id), image=picture,
                category=category_by_slug[p.category], gender=p.gender, price=Decimal(f"{p.price:.2f}"),
                merchant=p.merchant, merchant_provided_category=p.merchant_provided_category,
                attributes=dict(p.attributes)) for p, picture in zip(chunk, pictures)]
            products_created += len(Product.objects.bulk_create(rows, ignore_conflicts=True))
            report("products", min(start + RENDER_CHUNK, len(missing)), len(missing))

        scenes = [s for s in world.scenes if scene_split == "all" or s.split == "test"]
        scene_set, _ = SceneSet.objects.get_or_create(
            name=scene_set_name(seed=seed, split=scene_split),
            defaults={"description": f"Scenes of the synthetic shop-the-look world (seed {seed}, "
                                     f"{n_products} products, {n_scenes} scenes, split {scene_split})."})
        for start in range(0, len(scenes), RENDER_CHUNK):
            chunk = scenes[start:start + RENDER_CHUNK]
            pictures = images_store(items=[(image_png_bytes(world.render_scene(s)), ImageKind.SCENE) for s in chunk])
            for scene, picture in zip(chunk, pictures):
                _scene_truth_write(sha256=picture.sha256, seed=seed, scene=scene)
            scene_set.scenes.add(*pictures)
            report("scenes", min(start + RENDER_CHUNK, len(scenes)), len(scenes))
    return WorldImportResult(
        categories_created=categories_created, attributes_created=attributes_created,
        products_created=products_created, products_total=len(external_ids),
        scenes_in_set=scene_set.scenes.count(), scene_set_id=scene_set.pk,
        seconds=time.perf_counter() - started)


def _scene_truth_write(*, sha256: str, seed: int, scene) -> None:
    name = scene_truth_name(sha256)
    if private_storage.exists(name):
        return
    truth = {
        "world_seed": seed,
        "scene_id": scene.id,
        "split": scene.split,
        "objects": [{"product_id": o.product_id,
                     "external_id": synthetic_external_id(seed=seed, product_id=o.product_id),
                     "category": o.category, "box": [float(v) for v in o.box]} for o in scene.objects],
    }
    private_storage.save(name, ContentFile(json.dumps(truth).encode()))
