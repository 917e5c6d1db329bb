"""Procedural product renderer: silhouettes from ``drawing``, filled with colour, pattern and fabric.

A product is rendered into any ``(width, height)`` box: the drawing is stretched to fill it, so a
scene crop resized to a square looks like the product image on white. Shapes are drawn at
``SUPERSAMPLE`` times the size and downsampled, for clean edges at small scene sizes. The alpha
channel depends only on geometry, never on texture, so the scene layout computes exact visible
boxes from a cheap mask-only render (``render_alpha``) and the textured render draws the same pixels.
"""
from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageDraw

from models_runtime.world.catalog import ACCENT_RGB, COLOR_RGB, Product
from models_runtime.world.drawing import DRAWERS, Op, natural_aspect

SUPERSAMPLE = 2
OUTLINE_WIDTH = 0.02  # fraction of the short side
ALPHA_THRESHOLD = 32  # alpha above which a pixel belongs to the object (boxes, visibility)
WHITE_MARGIN = 0.02  # fraction of the image left white around a product on white
WIDE_CATEGORIES = ("sunglasses", "earrings")  # drawn at their natural aspect even on white

BACKGROUNDS = ("white", "busy")
BACKGROUND_UNKNOWN = "background must be one of {allowed}, got {background!r}"
WHITE_LEVEL = 235  # a border pixel is white when all channels are at least this
WHITE_BORDER_SHARE = 0.9


def _mix(a, b, t):
    return tuple(int(round(x + (y - x) * t)) for x, y in zip(a, b))


def _scale(c, k):
    return tuple(int(max(0, min(255, round(x * k)))) for x in c)


def product_palette(p: Product) -> dict[str, tuple[int, int, int]]:
    base = COLOR_RGB[p.color or "grey"]
    main = tuple(int(max(0, min(255, x + d))) for x, d in zip(base, p.shape.shade))
    accent = ACCENT_RGB[p.shape.accent]
    accent2 = ACCENT_RGB[p.shape.second_accent]
    # An accent that matches the main colour would hide the emblem and stripes.
    if sum(abs(a - b) for a, b in zip(accent, main)) < 120:
        accent = ACCENT_RGB["ivory"] if sum(main) < 380 else ACCENT_RGB["charcoal"]
    if sum(abs(a - b) for a, b in zip(accent2, main)) < 120:
        accent2 = ACCENT_RGB["charcoal"] if sum(main) > 380 else ACCENT_RGB["ivory"]
    lens = _scale(ACCENT_RGB[p.shape.second_accent], 0.35)
    return {
        "main": main,
        "flat": main,
        "dark": _scale(main, 0.55) if sum(main) > 150 else _mix(main, (255, 255, 255), 0.25),
        "light": _mix(main, (255, 255, 255), 0.35) if sum(main) < 600 else _scale(main, 0.85),
        "accent": accent,
        "accent2": accent2,
        "ink": (40, 40, 44),
        "lens": lens,
        "metal": ACCENT_RGB["gold"] if p.shape.detail < 0.5 else ACCENT_RGB["silver"],
    }


def _fabric_modulation(p: Product, u: np.ndarray, v: np.ndarray, width: int, height: int) -> np.ndarray:
    """Multiplicative brightness map that makes the fabric readable (twill, ribs, sheen, gloss).

    ``u`` is a ``(1, width)`` row and ``v`` a ``(height, 1)`` column of normalised coordinates.
    """
    short = min(width, height)
    x = u * width
    y = v * height
    fabric = p.fabric
    if fabric == "denim":
        rng = np.random.default_rng([p.id, width, height])
        period = max(2.5, short / 22.0)
        m = 1.0 + 0.13 * np.sin((2 * math.pi / period) * (x + y))
        m += rng.standard_normal(m.shape, dtype=np.float32) * 0.035
        return m * 0.95
    if fabric == "knit":
        period = max(2.5, short / 14.0)
        phase = np.abs(((y / period) % 2.0) - 1.0) * 0.6
        return 1.0 - 0.2 * (0.5 + 0.5 * np.cos(2 * math.pi * (x / period + phase)))
    if fabric == "leather":
        rng = np.random.default_rng([p.id, width, height])
        gloss = np.exp(-((u - 0.3) ** 2) / 0.04) * np.exp(-((v - 0.25) ** 2) / 0.06)
        return 0.86 + 0.38 * gloss + rng.standard_normal(gloss.shape, dtype=np.float32) * 0.02
    if fabric == "silk":
        return 0.9 + 0.16 * np.sin(2 * math.pi * (1.2 * u + 0.8 * v) + 6.28 * p.shape.pattern_phase)
    return 0.88 + 0.22 * (1.0 - v) * (0.6 + 0.4 * u)  # jewellery and frames: a metallic gradient


def _staggered_cells(u, v, repeats: float, phase: float):
    gv = v * repeats + phase
    gu = u * repeats + 0.5 * (np.floor(gv) % 2) + phase
    return (gu % 1.0) - 0.5, (gv % 1.0) - 0.5


def _pattern_layers(p: Product, u: np.ndarray, v: np.ndarray):
    """(accent mask, shade map, heart mask) of the product's pattern; None where not used."""
    s = p.shape
    pattern = p.pattern
    if pattern in (None, "solid"):
        return None, None, None
    if pattern == "striped":
        angle = math.radians(s.stripe_angle)
        repeats = 4.0 + 5.0 * s.pattern_scale
        t = (u * math.cos(angle) + v * math.sin(angle)) * repeats + s.pattern_phase
        return (t % 1.0) < 0.22 + 0.2 * s.stripe_width, None, None
    if pattern == "dotted":
        du, dv = _staggered_cells(u, v, 4.0 + 4.0 * s.pattern_scale, s.pattern_phase)
        radius = 0.17 + 0.13 * s.dot_size
        return du * du + dv * dv < radius * radius, None, None
    if pattern == "plaid":
        repeats = 3.0 + 3.0 * s.pattern_scale
        band = 0.22 + 0.14 * s.stripe_width
        fu = (u * repeats + s.pattern_phase) % 1.0
        fv = (v * repeats + s.pattern_phase) % 1.0
        shade = 1.0 - 0.28 * (fu < band) - 0.28 * (fv < band)
        return (np.abs(fu - 0.62) < 0.04) | (np.abs(fv - 0.62) < 0.04), shade, None
    # floral: five-petal flowers on a staggered grid, petals in the accent colour, yellow hearts
    du, dv = _staggered_cells(u, v, 3.0 + 2.5 * s.pattern_scale, s.pattern_phase)
    r = np.sqrt(du * du + dv * dv)
    theta = np.arctan2(dv, du)
    r0 = 0.3 + 0.1 * s.dot_size
    petals = r < r0 * (0.55 + 0.45 * np.cos(5 * theta + 6.28 * s.pattern_phase))
    return petals, None, r < r0 * 0.28


FLORAL_HEART = np.array((245, 200, 40), dtype=np.float32)


def product_texture(p: Product, width: int, height: int) -> Image.Image:
    """Colour, pattern and fabric of the product over a ``width`` x ``height`` box."""
    palette = product_palette(p)
    u = (np.arange(width, dtype=np.float32) / max(width - 1, 1))[None, :]
    v = (np.arange(height, dtype=np.float32) / max(height - 1, 1))[:, None]
    main = np.array(palette["main"], dtype=np.float32)
    accent = np.array(palette["accent"], dtype=np.float32)
    accent_mask, shade, heart = _pattern_layers(p, u, v)
    brightness = np.broadcast_to(_fabric_modulation(p, u, v, width, height), (height, width))
    if shade is not None:
        brightness = brightness * shade
    image = brightness[..., None] * main
    if accent_mask is not None:
        accent_mask = np.broadcast_to(accent_mask, (height, width))
        image = np.where(accent_mask[..., None], brightness[..., None] * accent, image)
    if heart is not None:
        image = np.where(heart[..., None], brightness[..., None] * FLORAL_HEART, image)
    return Image.fromarray(np.clip(image, 0, 255).astype(np.uint8), "RGB")


def _normalised(ops: list[Op]) -> tuple[list[Op], float, float, float, float]:
    xs: list[float] = []
    ys: list[float] = []
    for op in ops:
        if op.kind in ("polygon", "line"):
            xs.extend(x for x, _ in op.geometry)
            ys.extend(y for _, y in op.geometry)
        else:
            x0, y0, x1, y1 = op.geometry[:4]
            xs += [x0, x1]
            ys += [y0, y1]
    return ops, min(xs), min(ys), max(xs), max(ys)


class _Canvas:
    """Executes unit-box ops on a supersampled canvas: alpha always, colour when ``textured``."""

    def __init__(self, p: Product, width: int, height: int, textured: bool):
        self.product = p
        self.width = max(1, width) * SUPERSAMPLE
        self.height = max(1, height) * SUPERSAMPLE
        self.short = min(self.width, self.height)
        self.textured = textured
        self.alpha = Image.new("L", (self.width, self.height), 0)
        self.alpha_draw = ImageDraw.Draw(self.alpha)
        if textured:
            self.palette = product_palette(p)
            self.rgb = Image.new("RGB", (self.width, self.height), self.palette["dark"])
            self.rgb_draw = ImageDraw.Draw(self.rgb)
            # Texture at the output size, then upsampled: a quarter of the numpy work, and the fine
            # fabric detail is lost at the output size anyway.
            self.texture = product_texture(p, max(1, width), max(1, height)).resize(
                (self.width, self.height), Image.Resampling.NEAREST)

    def stroke(self, width: float) -> int:
        return max(1, int(round(width * self.short)))

    def run(self, ops: list[Op]) -> None:
        ops, x_min, y_min, x_max, y_max = _normalised(ops)
        outline_px = self.stroke(OUTLINE_WIDTH)
        widest = max([self.stroke(op.width) for op in ops if op.kind in ("line", "arc")] + [outline_px])
        pad = widest / 2.0 + 1.0
        sx = (self.width - 1 - 2 * pad) / max(x_max - x_min, 1e-6)
        sy = (self.height - 1 - 2 * pad) / max(y_max - y_min, 1e-6)

        def point(x, y):
            return (pad + (x - x_min) * sx, pad + (y - y_min) * sy)

        for op in ops:
            if op.kind in ("polygon", "line"):
                geometry = [point(x, y) for x, y in op.geometry]
            else:
                x0, y0 = point(*op.geometry[:2])
                x1, y1 = point(*op.geometry[2:4])
                geometry = [x0, y0, max(x1, x0 + 1), max(y1, y0 + 1)]
            stroke = self.stroke(op.width) if op.width else outline_px
            self._draw(op, geometry, stroke)

    def _paint(self, draw_fn, paint: str) -> None:
        if paint == "main":
            layer = Image.new("L", (self.width, self.height), 0)
            draw_fn(ImageDraw.Draw(layer), 255)
            self.rgb.paste(self.texture, (0, 0), layer)
        else:
            draw_fn(self.rgb_draw, self.palette[paint])

    def _draw(self, op: Op, geometry, stroke: int) -> None:
        kind = op.kind
        if kind == "line":
            self.alpha_draw.line(geometry, fill=255, width=stroke, joint="curve")
            if self.textured:
                self._paint(lambda d, c: d.line(geometry, fill=c, width=stroke, joint="curve"), op.paint)
            return
        if kind == "arc":
            start, end = op.geometry[4:6]
            self.alpha_draw.arc(geometry, start, end, fill=255, width=stroke)
            if self.textured:
                self._paint(lambda d, c: d.arc(geometry, start, end, fill=c, width=stroke), op.paint)
            return
        shape = ImageDraw.ImageDraw.polygon if kind == "polygon" else ImageDraw.ImageDraw.ellipse
        if op.paint is not None:
            shape(self.alpha_draw, geometry, fill=255)
        if op.outline is not None:
            shape(self.alpha_draw, geometry, outline=255, width=stroke)
        if not self.textured:
            return
        if op.paint is not None:
            self._paint(lambda d, c: shape(d, geometry, fill=c), op.paint)
        if op.outline is not None:
            self._paint(lambda d, c: shape(d, geometry, outline=c, width=stroke), op.outline)

    def result(self, width: int, height: int) -> tuple[Image.Image | None, Image.Image]:
        alpha = self.alpha.reduce(SUPERSAMPLE)
        rgb = self.rgb.reduce(SUPERSAMPLE) if self.textured else None
        return rgb, alpha


def render_rgba(p: Product, width: int, height: int) -> tuple[Image.Image, Image.Image]:
    """The product filling a ``width`` x ``height`` box: (RGB image, alpha mask)."""
    canvas = _Canvas(p, width, height, textured=True)
    canvas.run(DRAWERS[p.category](p))
    rgb, alpha = canvas.result(width, height)
    return rgb, alpha  # type: ignore[return-value]


def render_alpha(p: Product, width: int, height: int) -> Image.Image:
    """Only the alpha mask of ``render_rgba`` (identical pixels, no texture work)."""
    canvas = _Canvas(p, width, height, textured=False)
    canvas.run(DRAWERS[p.category](p))
    return canvas.result(width, height)[1]


def mask_box(mask: np.ndarray, x_offset: float = 0.0, y_offset: float = 0.0) -> list[float] | None:
    """Tight ``[x0, y0, x1, y1]`` of the True pixels (x1, y1 exclusive), or None when empty."""
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        return None
    return [float(cols[0] + x_offset), float(rows[0] + y_offset), float(cols[-1] + 1 + x_offset), float(rows[-1] + 1 + y_offset)]


def white_frame(p: Product, size: int) -> tuple[int, int, int, int]:
    """Where a product sits in a ``size`` x ``size`` image on white: (x, y, width, height)."""
    inner = max(4, int(round(size * (1 - 2 * WHITE_MARGIN))))
    if p.category in WIDE_CATEGORIES:
        width, height = inner, max(4, int(round(inner / natural_aspect(p))))
    else:
        width = height = inner
    return (size - width) // 2, (size - height) // 2, width, height


def product_box_on_white(p: Product, size: int = 128) -> list[float]:
    """Tight box of the product in ``render_product(p, size)`` (either background)."""
    x, y, width, height = white_frame(p, size)
    alpha = np.asarray(render_alpha(p, width, height)) > ALPHA_THRESHOLD
    box = mask_box(alpha, x, y)
    return box if box is not None else [float(x), float(y), float(x + width), float(y + height)]


def busy_background(size: int, rng: np.random.Generator) -> Image.Image:
    """Colourful clutter: a low-frequency colour field, blobs and grain; never white at the border."""
    coarse = rng.integers(30, 220, size=(5, 5, 3)).astype(np.uint8)
    field = np.asarray(Image.fromarray(coarse, "RGB").resize((size, size), Image.Resampling.BICUBIC), dtype=np.float32)
    image = Image.fromarray(np.clip(field, 0, 255).astype(np.uint8), "RGB")
    draw = ImageDraw.Draw(image)
    for _ in range(int(rng.integers(6, 14))):
        cx, cy = rng.uniform(0, size, 2)
        r = rng.uniform(0.05, 0.2) * size
        colour = tuple(int(c) for c in rng.integers(0, 220, 3))
        if rng.random() < 0.5:
            draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=colour)
        else:
            draw.rectangle([cx - r, cy - r * 0.5, cx + r, cy + r * 0.5], fill=colour)
    grain = rng.normal(0.0, 12.0, size=(size, size, 1)).astype(np.float32)
    array = np.asarray(image, dtype=np.float32) + grain
    return Image.fromarray(np.clip(array, 0, 225).astype(np.uint8), "RGB")


def render_product(p: Product, size: int = 128, background: str = "white", seed: int = 0) -> Image.Image:
    if background not in BACKGROUNDS:
        raise ValueError(BACKGROUND_UNKNOWN.format(allowed=", ".join(BACKGROUNDS), background=background))
    x, y, width, height = white_frame(p, size)
    rgb, alpha = render_rgba(p, width, height)
    if background == "white":
        image = Image.new("RGB", (size, size), (255, 255, 255))
    else:
        image = busy_background(size, np.random.default_rng([seed, 0xB05, p.id, size]))
    image.paste(rgb, (x, y), alpha)
    return image


def is_on_white_background(image: Image.Image, border: int = 3) -> bool:
    """True when the image's border is (almost) all white: a product photographed on white."""
    array = np.asarray(image.convert("RGB"))
    b = max(1, min(border, min(array.shape[:2]) // 4))
    ring = np.concatenate([
        array[:b].reshape(-1, 3), array[-b:].reshape(-1, 3),
        array[b:-b, :b].reshape(-1, 3), array[b:-b, -b:].reshape(-1, 3),
    ])
    white = (ring >= WHITE_LEVEL).all(axis=1)
    return bool(white.mean() >= WHITE_BORDER_SHARE)
