"""Exports of the world in the formats the trainers and the platform read.

* ``export_coco``: scene images + COCO detection JSON (category ids = ``taxonomy.detector_label``);
* ``export_matching_manifest``: JSON lines, one record per scene object (and per product on white);
* ``export_catalog``: product images + a JSON lines catalogue.

Image paths in the JSON files are relative to ``out_dir``. Scene images are PNG (lossless, so the
exported pixels are the rendered pixels) and are not rewritten when already present.
"""
from __future__ import annotations

import json
from pathlib import Path

from models_runtime import taxonomy
from models_runtime.world.scenes import SPLITS, Scene
from models_runtime.world.world import World

SPLIT_UNKNOWN = "split must be one of train, val, test or all, got {split!r}"
SCENE_IMAGE_DIR = "images"
PRODUCT_IMAGE_DIR = "products"
CATALOG_IMAGE_DIR = "catalog"
PRODUCT_IMAGE_SIZE = 128


def _check_split(split: str | None) -> None:
    if split not in SPLITS and split not in (None, "all"):
        raise ValueError(SPLIT_UNKNOWN.format(split=split))


def scene_image_path(scene: Scene) -> str:
    return f"{SCENE_IMAGE_DIR}/scene_{scene.id:06d}.png"


def _write_scene_images(world: World, out_dir: Path, scenes: list[Scene]) -> None:
    (out_dir / SCENE_IMAGE_DIR).mkdir(parents=True, exist_ok=True)
    for scene in scenes:
        path = out_dir / scene_image_path(scene)
        if not path.exists():
            world.render_scene(scene).save(path)


def _box_list(box) -> list[float]:
    return [round(float(v), 2) for v in box]


def export_coco(world: World, out_dir: str | Path, split: str | None = "train") -> Path:
    _check_split(split)
    out_dir = Path(out_dir)
    scenes = world.scenes_in(split)
    _write_scene_images(world, out_dir, scenes)
    images, annotations = [], []
    for scene in scenes:
        images.append({
            "id": scene.id, "file_name": scene_image_path(scene),
            "width": world.image_size, "height": world.image_size,
        })
        for obj in scene.objects:
            x0, y0, x1, y1 = obj.box
            annotations.append({
                "id": len(annotations) + 1,
                "image_id": scene.id,
                "category_id": taxonomy.detector_label(obj.category),
                "bbox": _box_list((x0, y0, x1 - x0, y1 - y0)),
                "area": round(float((x1 - x0) * (y1 - y0)), 2),
                "iscrowd": 0,
                "product_id": obj.product_id,
            })
    categories = [
        {"id": taxonomy.detector_label(c.slug), "name": c.slug, "supercategory": c.coarse}
        for c in taxonomy.categories()
    ]
    document = {
        "info": {"description": f"synthetic shop-the-look world {world!r}, split {split or 'all'}"},
        "images": images, "annotations": annotations, "categories": categories,
    }
    path = out_dir / f"coco_{split or 'all'}.json"
    path.write_text(json.dumps(document))
    return path


def _attribute_fields(product) -> dict:
    return {
        "color": product.color, "pattern": product.pattern, "fabric": product.fabric,
        "length": product.length, "dress_style": product.dress_style, "gender": product.gender,
    }


def export_matching_manifest(
    world: World, out_dir: str | Path, split: str | None = "train", include_product_images: bool = True,
    product_size: int = PRODUCT_IMAGE_SIZE,
) -> Path:
    """One record per scene object, plus (optionally) one per catalogue product on white.

    Product records carry ``"source": "product"`` and the product's tight box in its image (the
    rendered product fills most of the image, as in the seed's single-product dataset).
    """
    _check_split(split)
    out_dir = Path(out_dir)
    scenes = world.scenes_in(split)
    _write_scene_images(world, out_dir, scenes)
    records = []
    for scene in scenes:
        for obj in scene.objects:
            product = world.product(obj.product_id)
            records.append({
                "image": scene_image_path(scene), "box": _box_list(obj.box), "product_id": obj.product_id,
                "category": obj.category, **_attribute_fields(product), "source": "scene", "scene_id": scene.id,
            })
    if include_product_images:
        (out_dir / PRODUCT_IMAGE_DIR).mkdir(parents=True, exist_ok=True)
        for product in world.products:
            relative = f"{PRODUCT_IMAGE_DIR}/product_{product.id:06d}.png"
            if not (out_dir / relative).exists():
                world.render_product(product, size=product_size).save(out_dir / relative)
            records.append({
                "image": relative, "box": _box_list(world.product_box_on_white(product, product_size)),
                "product_id": product.id, "category": product.category, **_attribute_fields(product),
                "source": "product",
            })
    path = out_dir / f"matching_{split or 'all'}.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def export_catalog(
    world: World, out_dir: str | Path, ids=None, background: str = "white", size: int = PRODUCT_IMAGE_SIZE,
) -> Path:
    """Product images and ``catalog.jsonl`` (image, id, category, gender, price, merchant, ...)."""
    out_dir = Path(out_dir)
    (out_dir / CATALOG_IMAGE_DIR).mkdir(parents=True, exist_ok=True)
    product_ids = range(world.n_products) if ids is None else ids
    lines = []
    for product_id in product_ids:
        product = world.product(int(product_id))
        relative = f"{CATALOG_IMAGE_DIR}/product_{product.id:06d}_{background}.png"
        world.render_product(product, size=size, background=background).save(out_dir / relative)
        lines.append(json.dumps({
            "image": relative, "id": product.id, "category": product.category, "gender": product.gender,
            "price": product.price, "merchant": product.merchant,
            "merchant_provided_category": product.merchant_provided_category,
            "attributes": product.attributes, "box": _box_list(world.product_box_on_white(product, size)),
        }) + "\n")
    path = out_dir / "catalog.jsonl"
    path.write_text("".join(lines))
    return path


def main(argv: list[str] | None = None) -> None:
    """Write one export of a synthetic world, for the trainers: ``coco`` or ``matching``."""
    import argparse

    from models_runtime.world.world import build_world

    parser = argparse.ArgumentParser(description="Export the synthetic world for the trainers.")
    parser.add_argument("what", choices=["coco", "matching"], help="COCO detection JSON or the matching/attribute manifest")
    parser.add_argument("--out", required=True, help="directory for the images and the JSON file")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--products", type=int, default=2000)
    parser.add_argument("--scenes", type=int, default=400)
    parser.add_argument("--split", default="train", help="train, val, test or all")
    args = parser.parse_args(argv)
    world = build_world(seed=args.seed, n_products=args.products, n_scenes=args.scenes)
    split = None if args.split == "all" else args.split
    path = (export_coco(world, args.out, split) if args.what == "coco"
            else export_matching_manifest(world, args.out, split))
    print(path)


if __name__ == "__main__":
    main()
