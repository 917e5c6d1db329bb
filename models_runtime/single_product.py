"""The single-product dataset (seed appendix A.2, Algorithm 1) and single-product mAP.

Algorithm 1 turns a product catalogue into detection training data: a product photographed alone
is a scene with one box. A product is kept when, in this order:

1. its merchant provided its category (``no_merchant_category`` removes it otherwise);
2. its image is a product on a white background (``not_on_white``);
3. the detector finds something in it (``no_detection``);
4. the largest detected box covers at least ``cover`` (0.8) of the image (``box_too_small``);

and then, going through the survivors in product order, while its category

5. is in the scene detection dataset (``category_not_in_scenes``);
6. has fewer kept products than that dataset has boxes of it (``category_cap_reached``).

Each kept product is ``(image, merchant category, largest detected box)``. The cap keeps the
single-product data in the scenes' category proportions, so it adds examples without skewing the
detector's prior. Plain Python + PyTorch: the platform's export format
(labeling/exports/format_single_product.py) feeds it the catalogue and a detector.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Callable, Iterable, Mapping, Sequence

import numpy as np
from PIL import Image

RULES = ("no_merchant_category", "not_on_white", "no_detection", "box_too_small", "category_not_in_scenes",
         "category_cap_reached")
DEFAULT_COVER = 0.8
COVER_INVALID = "cover must be a share in (0, 1], got {cover!r}"

Detect = Callable[[list[Image.Image]], list[np.ndarray]]  # images -> boxes [n, 4] x0 y0 x1 y1 per image


@dataclass(frozen=True)
class ProductRecord:
    product_id: int | str
    category: str
    merchant_provided_category: bool
    load_image: Callable[[], Image.Image]
    extra: dict = field(default_factory=dict)  # carried to the output (the platform's image name)


@dataclass(frozen=True)
class SingleProduct:
    record: ProductRecord
    box: tuple[float, float, float, float]  # x0 y0 x1 y1 pixels
    width: int
    height: int
    cover: float


@dataclass
class SingleProductResult:
    kept: list[SingleProduct]
    removed: dict[str, int]
    kept_per_category: dict[str, int]
    products_seen: int

    def report(self) -> dict:
        return {"products_seen": self.products_seen, "kept": len(self.kept), "removed": dict(self.removed),
                "kept_per_category": dict(sorted(self.kept_per_category.items()))}


def largest_box(boxes: np.ndarray) -> tuple[np.ndarray | None, float]:
    """The box of largest area and that area, or (None, 0) when there is none."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    if not len(boxes):
        return None, 0.0
    areas = np.clip(boxes[:, 2] - boxes[:, 0], 0, None) * np.clip(boxes[:, 3] - boxes[:, 1], 0, None)
    index = int(np.argmax(areas))
    return boxes[index], float(areas[index])


def single_product_dataset(products: Iterable[ProductRecord], *, detect: Detect,
                           scene_distribution: Mapping[str, int], cover: float = DEFAULT_COVER,
                           is_on_white: Callable[[Image.Image], bool] | None = None, batch_size: int = 16,
                           progress: Callable[[int, str], None] | None = None) -> SingleProductResult:
    """Algorithm 1 over ``products`` (taken in the order given; sort them for a stable result).

    ``progress(n, step)`` is told after each batch of ``n`` products is decided (rules 1-4).
    """
    if not (isinstance(cover, (int, float)) and 0 < cover <= 1):
        raise ValueError(COVER_INVALID.format(cover=cover))
    if is_on_white is None:
        from models_runtime.world.render import is_on_white_background as is_on_white
    removed = Counter({rule: 0 for rule in RULES})
    raw: list[SingleProduct] = []
    seen = 0
    batch: list[tuple[ProductRecord, Image.Image]] = []

    def flush(done: int) -> None:
        if batch:
            found = detect([image for _, image in batch])
            for (record, image), boxes in zip(batch, found):
                box, area = largest_box(boxes)
                if box is None:
                    removed["no_detection"] += 1
                    continue
                share = area / float(image.width * image.height)
                if share < cover:
                    removed["box_too_small"] += 1
                    continue
                raw.append(SingleProduct(record=record, box=tuple(round(float(v), 2) for v in box),
                                         width=image.width, height=image.height, cover=round(share, 4)))
            batch.clear()
        if progress is not None and done:
            progress(done, "Detecting products")

    pending = 0
    for record in products:
        seen += 1
        pending += 1
        if not record.merchant_provided_category:
            removed["no_merchant_category"] += 1
        else:
            image = record.load_image().convert("RGB")
            if not is_on_white(image):
                removed["not_on_white"] += 1
            else:
                batch.append((record, image))
        if len(batch) >= batch_size:
            flush(pending)
            pending = 0
    flush(pending)

    kept: list[SingleProduct] = []
    taken: Counter = Counter()
    for item in raw:
        category = item.record.category
        if category not in scene_distribution or scene_distribution[category] <= 0:
            removed["category_not_in_scenes"] += 1
            continue
        if taken[category] >= scene_distribution[category]:
            removed["category_cap_reached"] += 1
            continue
        taken[category] += 1
        kept.append(item)
    return SingleProductResult(kept=kept, removed=dict(removed), kept_per_category=dict(taken), products_seen=seen)


def detector_boxes(detector, *, score_threshold: float, batch_size: int = 8) -> Detect:
    """A ``Detect`` from a ``models_runtime.detector.Detector``: its boxes above the threshold."""
    def detect(images: list[Image.Image]) -> list[np.ndarray]:
        return [found.boxes for found in detector.detect(images, score_threshold=score_threshold,
                                                         batch_size=batch_size)]
    return detect


def coco_document(items: Sequence[SingleProduct], *, file_name: Callable[[SingleProduct], str],
                  categories: Sequence[str], description: str) -> dict:
    """The kept products as COCO detection JSON: one image and one box each, category names the
    taxonomy slugs (what ``models_runtime.training.detector.load_coco_detection`` reads)."""
    category_id = {name: index + 1 for index, name in enumerate(categories)}
    images, annotations = [], []
    for number, item in enumerate(items, start=1):
        x0, y0, x1, y1 = item.box
        images.append({"id": number, "file_name": file_name(item), "width": item.width, "height": item.height,
                       "product_id": item.record.product_id})
        annotations.append({"id": number, "image_id": number, "category_id": category_id[item.record.category],
                            "bbox": [round(x0, 2), round(y0, 2), round(x1 - x0, 2), round(y1 - y0, 2)],
                            "area": round((x1 - x0) * (y1 - y0), 2), "iscrowd": 0})
    return {"info": {"description": description}, "images": images, "annotations": annotations,
            "categories": [{"id": category_id[name], "name": name} for name in categories]}
