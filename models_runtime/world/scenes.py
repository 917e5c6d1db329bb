"""Scenes: several products composed on a mannequin-like figure or laid flat, with known boxes.

A scene is a pure function of ``(seed, scene_id, n_products, image_size)``. Three kinds:

* ``full_body``: a standing figure wearing a top or coat (or a dress) over pants, shorts or a skirt,
  shoes on both feet (two objects of the same product) and sometimes a handbag beside the hip;
* ``portrait``: head and shoulders at a larger scale: top or coat, necklace, earrings, sunglasses
  (small accessories only appear here, so that they are never tiny);
* ``flat_lay``: 2-5 random products on a grid, each at its natural aspect.

The figure is a plain mannequin (not a product) so that only catalogue items are annotated. Later
objects occlude earlier ones; ``SceneObject.box`` is the tight box of the visible pixels, and an
object that would be mostly hidden or too small is left out of the scene altogether.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

from models_runtime.world.catalog import Product
from models_runtime.world.drawing import natural_aspect
from models_runtime.world.render import ALPHA_THRESHOLD, mask_box, render_alpha, render_rgba

SPLITS = ("train", "val", "test")
SCENE_KINDS = ("full_body", "portrait", "flat_lay")
KIND_WEIGHTS = (0.45, 0.25, 0.30)
MIN_VISIBLE_SHARE = 0.6
MIN_SIDE_AT_256 = 20.0  # shortest box side at image_size 256, scaled with the image size
MAX_ROTATION_DEGREES = 4.0
CATEGORY_SEARCH_LIMIT = 4000


@dataclass(frozen=True, slots=True)
class SceneObject:
    product_id: int
    category: str
    box: tuple[float, float, float, float]  # visible pixels, [x0, y0, x1, y1]
    visible_share: float = 1.0


@dataclass(frozen=True, slots=True)
class Placement:
    """How one product is drawn: the box it fills before rotation, the rotation, a horizontal flip."""

    product_id: int
    box: tuple[float, float, float, float]
    angle: float


@dataclass(frozen=True, slots=True)
class Scene:
    id: int
    split: str
    objects: tuple[SceneObject, ...]
    kind: str = "flat_lay"
    placements: tuple[Placement, ...] = ()
    figure: tuple = ()  # (skin rgb, hair rgb, figure geometry numbers) for the mannequin
    background: tuple = ()  # (style, colour a, colour b, parameter)
    lighting: tuple[float, float] = (1.0, 1.0)  # (brightness, contrast)


def scene_split(seed: int, scene_id: int) -> str:
    """Exactly 7/1/2 of every block of ten consecutive scene ids, shuffled per block."""
    order = np.random.default_rng([seed, 0x5B17, scene_id // 10]).permutation(10)
    slot = int(order[scene_id % 10])
    return "train" if slot < 7 else ("val" if slot < 8 else "test")


class _ProductPicker:
    """Draws random products of a wanted category among ids < n_products (deterministic per rng)."""

    def __init__(self, product_of, n_products: int, rng: np.random.Generator):
        self.product_of = product_of
        self.n_products = n_products
        self.rng = rng

    def any(self) -> Product:
        return self.product_of(int(self.rng.integers(self.n_products)))

    def of(self, *categories: str) -> Product | None:
        for _ in range(CATEGORY_SEARCH_LIMIT):
            p = self.product_of(int(self.rng.integers(self.n_products)))
            if p.category in categories:
                return p
        return None


def _full_body_layout(picker: _ProductPicker, rng: np.random.Generator, size: int):
    height = size * rng.uniform(0.86, 0.97)
    cx = size / 2 + rng.uniform(-0.05, 0.05) * size
    top = rng.uniform(0.0, 1.0) * (size - height)
    bag_side = 1 if rng.random() < 0.5 else -1

    def box(x0, y0, x1, y1):
        return (cx + x0 * height, top + y0 * height, cx + x1 * height, top + y1 * height)

    placements: list[tuple[Product, tuple]] = []
    shoes = picker.of("shoes") if rng.random() < 0.7 else None
    if rng.random() < 0.25:
        dress = picker.of("dresses")
        if dress is not None:
            hem = {"mini": 0.6, "knee": 0.7, "midi": 0.8, "maxi": 0.9}[dress.length or "knee"]
            placements.append((dress, box(-0.21, 0.15, 0.21, hem)))
    else:
        lower = picker.of(("pants", "pants", "pants", "shorts", "skirts")[int(rng.integers(5))])
        if lower is not None:
            if lower.category == "pants":
                hem = {"maxi": 0.94, "midi": 0.86, "knee": 0.74, "mini": 0.66}[lower.length or "maxi"]
                placements.append((lower, box(-0.13, 0.45, 0.13, hem)))
            elif lower.category == "shorts":
                hem = {"mini": 0.6, "knee": 0.68, "midi": 0.72, "maxi": 0.74}[lower.length or "mini"]
                placements.append((lower, box(-0.135, 0.45, 0.135, hem)))
            else:
                hem = {"mini": 0.6, "knee": 0.7, "midi": 0.8, "maxi": 0.92}[lower.length or "knee"]
                half = 0.13 + 0.05 * (hem - 0.6) / 0.32
                placements.append((lower, box(-half, 0.45, half, hem)))
        upper = picker.of("coats") if rng.random() < 0.3 else picker.of("tops")
        if upper is not None:
            # A top ends just over the waistband, so the trousers keep most of their silhouette.
            hem = 0.62 if upper.category == "coats" else 0.475
            placements.append((upper, box(-0.215, 0.15, 0.215, hem)))
    if shoes is not None:  # over the trouser hems, as worn
        placements.append((shoes, box(-0.19, 0.89, -0.005, 1.0)))
        placements.append((shoes, box(0.005, 0.89, 0.19, 1.0)))
    if rng.random() < 0.5:
        bag = picker.of("handbags")
        if bag is not None:
            h = 0.22
            w = min(0.3, h * natural_aspect(bag))
            # Sometimes held in front of the hip, partly covering the garments.
            reach = rng.uniform(0.1, 0.17)
            x0 = reach if bag_side > 0 else -reach - w
            placements.append((bag, box(x0, 0.42, x0 + w, 0.42 + h)))
    figure = ("full_body", cx, top, height)
    return placements, figure


def _portrait_layout(picker: _ProductPicker, rng: np.random.Generator, size: int):
    k = rng.uniform(0.9, 1.05) * size
    cx = size / 2 + rng.uniform(-0.05, 0.05) * size
    head_y = rng.uniform(0.22, 0.28) * size

    def box(x0, y0, x1, y1):
        return (cx + x0 * k, head_y + y0 * k, cx + x1 * k, head_y + y1 * k)

    placements: list[tuple[Product, tuple]] = []
    wanted = {name: rng.random() < share for name, share in (("upper", 0.85), ("necklace", 0.5), ("earrings", 0.5), ("sunglasses", 0.55))}
    if sum(wanted.values()) < 2:
        wanted["upper"] = wanted["sunglasses"] = True
    if wanted["upper"]:
        upper = picker.of("coats") if rng.random() < 0.3 else picker.of("tops")
        if upper is not None:
            bottom = (size * 0.995 - head_y) / k  # the garment ends inside the image
            placements.append((upper, box(-0.4, 0.21, 0.4, bottom)))
    if wanted["necklace"]:
        necklace = picker.of("necklaces")
        if necklace is not None:
            placements.append((necklace, box(-0.12, 0.2, 0.12, 0.37)))
    if wanted["earrings"]:
        earrings = picker.of("earrings")
        if earrings is not None:
            placements.append((earrings, box(-0.16, 0.05, 0.16, 0.21)))
    if wanted["sunglasses"]:
        glasses = picker.of("sunglasses")
        if glasses is not None:
            placements.append((glasses, box(-0.155, -0.06, 0.155, 0.065)))
    figure = ("portrait", cx, head_y, k)
    return placements, figure


def _flat_lay_layout(picker: _ProductPicker, rng: np.random.Generator, size: int):
    rows, cols = ((1, 2), (2, 2), (2, 3), (3, 2))[int(rng.integers(4))]
    n_items = int(rng.integers(2, min(5, rows * cols) + 1))
    cells = rng.permutation(rows * cols)[:n_items]
    margin = 0.04 * size
    cell_w = (size - 2 * margin) / cols
    cell_h = (size - 2 * margin) / rows
    placements: list[tuple[Product, tuple]] = []
    for cell in cells:
        p = picker.any()
        r, c = divmod(int(cell), cols)
        aspect = natural_aspect(p)
        # Items may spill a little over their cell, so neighbours sometimes overlap.
        fill = rng.uniform(0.8, 1.08)
        w = cell_w * fill
        h = w / aspect
        if h > cell_h * fill:
            h = cell_h * fill
            w = h * aspect
        x0 = margin + c * cell_w + (cell_w - w) * rng.uniform(0.0, 1.0)
        y0 = margin + r * cell_h + (cell_h - h) * rng.uniform(0.0, 1.0)
        x0 = min(max(x0, 0.0), size - w)
        y0 = min(max(y0, 0.0), size - h)
        placements.append((p, (x0, y0, x0 + w, y0 + h)))
    return placements, ("flat_lay",)


def _object_alpha(p: Product, box: tuple, angle: float) -> tuple[Image.Image, int, int]:
    """The product's alpha rotated by ``angle`` and where its top-left corner lands in the scene."""
    width = max(2, int(round(box[2] - box[0])))
    height = max(2, int(round(box[3] - box[1])))
    alpha = render_alpha(p, width, height)
    if angle:
        alpha = alpha.rotate(angle, resample=Image.Resampling.BILINEAR, expand=True)
    cx = (box[0] + box[2]) / 2
    cy = (box[1] + box[3]) / 2
    return alpha, int(round(cx - alpha.width / 2)), int(round(cy - alpha.height / 2))


def _paste_mask(alpha: Image.Image, x: int, y: int, size: int) -> np.ndarray:
    canvas = np.zeros((size, size), dtype=bool)
    a = np.asarray(alpha) > ALPHA_THRESHOLD
    x0, y0 = max(0, x), max(0, y)
    x1, y1 = min(size, x + a.shape[1]), min(size, y + a.shape[0])
    if x1 > x0 and y1 > y0:
        canvas[y0:y1, x0:x1] = a[y0 - y:y1 - y, x0 - x:x1 - x]
    return canvas


def _visible_objects(candidates: list[Placement], image_size: int, product_of):
    min_side = MIN_SIDE_AT_256 * image_size / 256.0
    occluders = np.zeros((image_size, image_size), dtype=bool)
    kept: list[tuple[Placement, SceneObject]] = []
    # Later placements are drawn on top, so decide from the top down: dropping an object only ever
    # uncovers the ones below it, which have not been decided yet.
    for placement in reversed(candidates):
        p = product_of(placement.product_id)
        alpha, x, y = _object_alpha(p, placement.box, placement.angle)
        own = _paste_mask(alpha, x, y, image_size)
        total = int((np.asarray(alpha) > ALPHA_THRESHOLD).sum())
        visible = own & ~occluders
        share = float(visible.sum()) / max(total, 1)
        box = mask_box(visible)
        if box is None or share < MIN_VISIBLE_SHARE or min(box[2] - box[0], box[3] - box[1]) < min_side:
            continue
        occluders |= own
        kept.append((placement, SceneObject(p.id, p.category, tuple(box), round(share, 4))))
    kept.reverse()
    return kept


LAYOUTS = {"full_body": _full_body_layout, "portrait": _portrait_layout, "flat_lay": _flat_lay_layout}
LAYOUT_ATTEMPTS = 6
MIN_PRODUCTS_PER_SCENE = 2


def build_scene(seed: int, scene_id: int, n_products: int, image_size: int, product_of) -> Scene:
    rng = np.random.default_rng([seed, 0x5CE7E, scene_id])
    kind = SCENE_KINDS[int(np.searchsorted(np.cumsum(KIND_WEIGHTS), rng.random(), side="right"))]
    picker = _ProductPicker(product_of, n_products, rng)
    # A layout can lose objects to occlusion or come out with a single product (a dress and nothing
    # else); draw again from the same generator, so the result stays a function of the scene id.
    for _ in range(LAYOUT_ATTEMPTS):
        chosen, figure_geometry = LAYOUTS[kind](picker, rng, image_size)
        candidates = [
            Placement(p.id, tuple(float(v) for v in box), float(rng.uniform(-MAX_ROTATION_DEGREES, MAX_ROTATION_DEGREES)))
            for p, box in chosen
        ]
        kept = _visible_objects(candidates, image_size, product_of)
        if len({obj.product_id for _, obj in kept}) >= MIN_PRODUCTS_PER_SCENE:
            break
    skin = tuple(int(c) for c in (rng.integers(150, 235), rng.integers(130, 210), rng.integers(110, 190)))
    hair = tuple(int(c) for c in rng.integers(20, 120, 3))
    style = ("solid", "gradient", "wall_floor", "stripes", "noise")[int(rng.integers(5))]
    colour_a = tuple(int(c) for c in rng.integers(40, 245, 3))
    colour_b = tuple(int(c) for c in rng.integers(40, 245, 3))
    background = (style, colour_a, colour_b, float(rng.uniform(0, 1)))
    lighting = (float(rng.uniform(0.88, 1.12)), float(rng.uniform(0.88, 1.12)))
    return Scene(
        id=scene_id,
        split=scene_split(seed, scene_id),
        objects=tuple(obj for _, obj in kept),
        kind=kind,
        placements=tuple(pl for pl, _ in kept),
        figure=(skin, hair) + tuple(figure_geometry),
        background=background,
        lighting=lighting,
    )


def _background(scene: Scene, size: int, seed: int) -> Image.Image:
    style, a, b, t = scene.background
    if style == "solid":
        return Image.new("RGB", (size, size), a)
    v = np.linspace(0.0, 1.0, size, dtype=np.float32)[:, None, None]
    ca = np.array(a, dtype=np.float32)
    cb = np.array(b, dtype=np.float32)
    if style == "gradient":
        array = np.broadcast_to(ca * (1 - v) + cb * v, (size, size, 3))
    elif style == "wall_floor":
        split = 0.62 + 0.2 * t
        array = np.broadcast_to(np.where(v < split, ca, cb * 0.85), (size, size, 3))
    elif style == "stripes":
        u = np.linspace(0.0, 1.0, size, dtype=np.float32)[None, :, None]
        stripes = ((u * (6 + 10 * t)) % 1.0) < 0.5
        array = np.where(stripes, ca, ca * 0.8 + cb * 0.2)
        array = np.broadcast_to(array, (size, size, 3))
    else:
        rng = np.random.default_rng([seed, 0xBA6, scene.id])
        coarse = rng.normal(0.0, 1.0, size=(8, 8)).astype(np.float32)
        field = np.asarray(Image.fromarray(coarse).resize((size, size), Image.Resampling.BICUBIC))[..., None]
        mix = np.clip(0.5 + 0.25 * field, 0, 1)
        array = ca * (1 - mix) + cb * mix + rng.normal(0.0, 6.0, size=(size, size, 1))
    return Image.fromarray(np.clip(array, 0, 255).astype(np.uint8), "RGB")


def _draw_figure(image: Image.Image, scene: Scene) -> None:
    skin, hair, kind = scene.figure[0], scene.figure[1], scene.figure[2]
    draw = ImageDraw.Draw(image)
    if kind == "full_body":
        cx, top, h = scene.figure[3:6]

        def pt(x, y):
            return (cx + x * h, top + y * h)

        draw.ellipse([pt(-0.062, -0.005), pt(0.062, 0.075)], fill=hair)
        draw.ellipse([pt(-0.055, 0.005), pt(0.055, 0.145)], fill=skin)
        draw.rectangle([pt(-0.022, 0.125), pt(0.022, 0.18)], fill=skin)
        draw.polygon([pt(-0.13, 0.17), pt(0.13, 0.17), pt(0.1, 0.42), pt(0.12, 0.52), pt(-0.12, 0.52), pt(-0.1, 0.42)], fill=skin)
        for side in (-1, 1):
            draw.polygon([pt(0.13 * side, 0.17), pt(0.09 * side, 0.2), pt(0.15 * side, 0.5), pt(0.19 * side, 0.49)], fill=skin)
            draw.ellipse([pt(0.17 * side - 0.025, 0.49), pt(0.17 * side + 0.025, 0.55)], fill=skin)
            draw.polygon([pt(0.115 * side, 0.5), pt(0.01 * side, 0.5), pt(0.03 * side, 0.94), pt(0.08 * side, 0.94)], fill=skin)
            draw.ellipse([pt(0.055 * side - 0.05, 0.93), pt(0.055 * side + 0.05, 0.985)], fill=skin)
        return
    if kind == "portrait":
        cx, head_y, k = scene.figure[3:6]

        def pt(x, y):
            return (cx + x * k, head_y + y * k)

        draw.polygon([pt(-0.08, 0.12), pt(0.08, 0.12), pt(0.1, 0.26), pt(0.42, 0.32), pt(0.46, 1.2),
                      pt(-0.46, 1.2), pt(-0.42, 0.32), pt(-0.1, 0.26)], fill=skin)
        draw.ellipse([pt(-0.14, -0.18), pt(0.14, 0.08)], fill=hair)
        draw.ellipse([pt(-0.125, -0.15), pt(0.125, 0.17)], fill=skin)
        for side in (-1, 1):
            draw.ellipse([pt(0.125 * side - 0.02, 0.0), pt(0.125 * side + 0.02, 0.07)], fill=skin)


def render_scene_image(scene: Scene, image_size: int, seed: int, product_of) -> Image.Image:
    image = _background(scene, image_size, seed)
    _draw_figure(image, scene)
    for placement in scene.placements:
        p = product_of(placement.product_id)
        width = max(2, int(round(placement.box[2] - placement.box[0])))
        height = max(2, int(round(placement.box[3] - placement.box[1])))
        rgb, alpha = render_rgba(p, width, height)
        if placement.angle:
            rgb = rgb.rotate(placement.angle, resample=Image.Resampling.BILINEAR, expand=True)
            alpha = alpha.rotate(placement.angle, resample=Image.Resampling.BILINEAR, expand=True)
        cx = (placement.box[0] + placement.box[2]) / 2
        cy = (placement.box[1] + placement.box[3]) / 2
        image.paste(rgb, (int(round(cx - alpha.width / 2)), int(round(cy - alpha.height / 2))), alpha)
    brightness, contrast = scene.lighting
    array = np.asarray(image, dtype=np.float32)
    array = ((array - 128.0) * contrast + 128.0) * brightness
    return Image.fromarray(np.clip(array, 0, 255).astype(np.uint8), "RGB")
