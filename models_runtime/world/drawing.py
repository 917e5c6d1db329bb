"""Category silhouettes as drawing operations in a unit box.

Each ``draw_<category>`` returns a list of ``Op`` in unit coordinates (x right, y down). The renderer
rescales the ops so that they span the target box exactly; that makes the tight box of a rendered
product the box it was asked to fill, which the scene layout and the white-background images rely on.

Identity cues (why products of the same category, colour and pattern look different): sub-type
silhouette (``variant``), neckline/lens/pendant shape, sleeve length, hem curve, width/taper, button
count, pocket count and height, trims in an accent colour, heel height, strap, handle height, and an
emblem whose shape, colour, size and position vary per instance.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from models_runtime.world.catalog import Product, ProductShape


@dataclass(frozen=True, slots=True)
class Op:
    kind: str  # polygon | ellipse | line | arc
    geometry: tuple  # polygon/line: points; ellipse: (x0, y0, x1, y1); arc: (x0, y0, x1, y1, start, end)
    paint: str | None  # "main" (textured fabric), "flat", "dark", "light", "accent", "accent2", "ink", "lens", "metal"
    outline: str | None = "dark"
    width: float = 0.0  # stroke width as a fraction of the box's short side (lines, arcs, outlines)


def _poly(points, paint="main", outline="dark", width=0.0) -> Op:
    return Op("polygon", tuple((float(x), float(y)) for x, y in points), paint, outline, width)


def _ellipse(cx, cy, rx, ry, paint="main", outline="dark", width=0.0) -> Op:
    return Op("ellipse", (cx - rx, cy - ry, cx + rx, cy + ry), paint, outline, width)


def _line(points, paint="dark", width=0.02) -> Op:
    return Op("line", tuple((float(x), float(y)) for x, y in points), paint, None, width)


def _arc(cx, cy, rx, ry, start, end, paint="dark", width=0.04) -> Op:
    return Op("arc", (cx - rx, cy - ry, cx + rx, cy + ry, start, end), paint, None, width)


def _rect(x0, y0, x1, y1, paint="main", outline="dark", width=0.0) -> Op:
    return _poly([(x0, y0), (x1, y0), (x1, y1), (x0, y1)], paint, outline, width)


def emblem(shape: str, cx: float, cy: float, r: float, paint="accent", outline="ink") -> Op:
    if shape == "circle":
        return _ellipse(cx, cy, r, r, paint, outline)
    if shape == "square":
        return _rect(cx - r, cy - r, cx + r, cy + r, paint, outline)
    if shape == "triangle":
        return _poly([(cx, cy - r), (cx + r, cy + r * 0.85), (cx - r, cy + r * 0.85)], paint, outline)
    if shape == "diamond":
        return _poly([(cx, cy - r * 1.2), (cx + r, cy), (cx, cy + r * 1.2), (cx - r, cy)], paint, outline)
    if shape == "star":
        points = []
        for k in range(10):
            radius = r * 1.15 if k % 2 == 0 else r * 0.5
            angle = -math.pi / 2 + k * math.pi / 5
            points.append((cx + radius * math.cos(angle), cy + radius * math.sin(angle)))
        return _poly(points, paint, outline)
    return _rect(cx - r * 1.3, cy - r * 0.45, cx + r * 1.3, cy + r * 0.45, paint, outline)


def _emblem_in(s: ProductShape, x0, y0, x1, y1, r_min=0.05, r_max=0.09) -> Op:
    r = r_min + (r_max - r_min) * s.emblem_size
    cx = x0 + r + (x1 - x0 - 2 * r) * s.emblem_x
    cy = y0 + r + (y1 - y0 - 2 * r) * s.emblem_y
    return emblem(s.emblem_shape, cx, cy, r)


def _buttons(n, x, y0, y1, r=0.022, paint="accent2") -> list[Op]:
    if n <= 0:
        return []
    step = (y1 - y0) / max(n, 1)
    return [_ellipse(x, y0 + step * (k + 0.5), r, r, paint, "ink") for k in range(n)]


def _neckline(kind: int, cx: float, top: float, half: float, depth: float) -> list[Op]:
    if kind == 0:  # crew: the inside of the back shows above the front
        return [Op("ellipse", (cx - half, top - depth * 0.35, cx + half, top + depth * 0.6), "dark", "dark")]
    if kind == 1:  # v-neck
        return [_poly([(cx - half, top), (cx + half, top), (cx, top + depth * 1.6)], "dark")]
    if kind == 2:  # shirt collar: two flaps in a light shade
        return [
            _poly([(cx - half * 1.3, top), (cx, top + depth * 0.35), (cx - half * 0.3, top + depth * 1.2)], "light"),
            _poly([(cx + half * 1.3, top), (cx, top + depth * 0.35), (cx + half * 0.3, top + depth * 1.2)], "light"),
        ]
    return [_rect(cx - half, top - 0.01, cx + half, top + depth * 0.8, "dark")]  # square neck


def _sleeve(shoulder, armpit, length, outward, cuff_paint) -> list[Op]:
    """A sleeve from the shoulder seam, ``length`` in 0..1 of a full arm, ``outward`` = -1 left / +1 right."""
    sx, sy = shoulder
    ax, ay = armpit
    dx, dy = outward * 0.45, 0.85
    norm = math.hypot(dx, dy)
    dx, dy = dx / norm, dy / norm
    reach = 0.22 + 0.68 * length
    half = 0.085 - 0.02 * length
    ex, ey = (sx + ax) / 2 + dx * reach, (sy + ay) / 2 + dy * reach
    nx, ny = -dy * outward, dx * outward
    points = [(sx, sy), (ax, ay), (ex - nx * half, ey - ny * half), (ex + nx * half, ey + ny * half)]
    ops = [_poly(points)]
    if cuff_paint:
        cx0, cy0 = ex - nx * half, ey - ny * half
        cx1, cy1 = ex + nx * half, ey + ny * half
        back = 0.05
        ops.append(_poly([
            (cx0 - dx * back, cy0 - dy * back), (cx1 - dx * back, cy1 - dy * back), (cx1, cy1), (cx0, cy0),
        ], cuff_paint))
    return ops


def draw_tops(p: Product) -> list[Op]:
    s = p.shape
    variant = s.variant  # 0 tee, 1 shirt, 2 sweater, 3 tank
    bx0 = 0.27 - 0.06 * s.width
    bx1 = 1.0 - bx0
    top, hem = 0.08, 1.0
    curve = 0.06 * s.hem_curve
    ops: list[Op] = []
    cuff = "accent" if s.trim else None
    if variant != 3:
        length = 1.0 if variant == 2 else (0.15 + 0.85 * s.sleeve if variant == 1 else 0.05 + 0.5 * s.sleeve)
        ops += _sleeve((bx0 + 0.06, top), (bx0, top + 0.27), length, -1, cuff)
        ops += _sleeve((bx1 - 0.06, top), (bx1, top + 0.27), length, +1, cuff)
    shoulder_in = 0.08 if variant != 3 else 0.13
    body = [
        (bx0 + shoulder_in, top), (0.5 - 0.1, top), (0.5 + 0.1, top), (bx1 - shoulder_in, top),
        (bx1, top + 0.2), (bx1 + 0.02 * s.width, hem - 0.04), (0.5, hem - 0.04 + curve),
        (bx0 - 0.02 * s.width, hem - 0.04),
        (bx0, top + 0.2),
    ]
    ops.append(_poly(body))
    if s.panel == 1:  # shoulder yoke
        ops.append(_poly([(bx0 + shoulder_in, top), (bx1 - shoulder_in, top), (bx1, top + 0.13), (bx0, top + 0.13)], "accent2"))
    elif s.panel == 2:  # chest band
        y = top + 0.3 + 0.15 * s.pocket_y
        ops.append(_rect(bx0, y, bx1, y + 0.07, "accent2"))
    if s.trim or variant == 2:
        band = 0.04 + 0.05 * s.trim_width
        ops.append(_poly([
            (bx0 - 0.02 * s.width, hem - 0.04 - band), (bx1 + 0.02 * s.width, hem - 0.04 - band),
            (bx1 + 0.02 * s.width, hem - 0.04), (0.5, hem - 0.04 + curve), (bx0 - 0.02 * s.width, hem - 0.04),
        ], "accent" if s.trim else "dark"))
    ops += _neckline(2 if variant == 1 else s.neckline, 0.5, top, 0.09 + 0.03 * s.detail, 0.09)
    if variant == 1 or s.buttons >= 4:
        ops += _buttons(max(s.buttons, 3), 0.5, top + 0.2, hem - 0.1)
    if s.pockets:
        px = 0.30 if s.pockets == 1 else 0.56
        py = top + 0.16 + 0.12 * s.pocket_y
        ops.append(_rect(px, py, px + 0.14, py + 0.13, "main", "ink", 0.012))
    ops.append(_emblem_in(s, 0.34, top + 0.22, 0.66, hem - 0.18, 0.05, 0.1))
    return ops


def draw_coats(p: Product) -> list[Op]:
    s = p.shape
    variant = s.variant  # 0 trench, 1 parka (hood), 2 blazer, 3 puffer
    bx0 = 0.25 - 0.05 * s.width
    bx1 = 1.0 - bx0
    top, hem = 0.1, 1.0
    flare = 0.03 + 0.05 * s.width
    ops: list[Op] = []
    if variant == 1:
        ops.append(_ellipse(0.5, top + 0.02, 0.17, 0.11, "main"))
    cuff = "accent" if s.trim else "dark"
    length = 0.8 + 0.2 * s.sleeve
    ops += _sleeve((bx0 + 0.06, top), (bx0, top + 0.26), length, -1, cuff)
    ops += _sleeve((bx1 - 0.06, top), (bx1, top + 0.26), length, +1, cuff)
    curve = 0.04 * s.hem_curve
    ops.append(_poly([
        (bx0 + 0.07, top), (bx1 - 0.07, top), (bx1, top + 0.18), (bx1 + flare, hem),
        (0.5, hem + curve), (bx0 - flare, hem), (bx0, top + 0.18),
    ]))
    if s.panel == 1:  # contrast yoke
        ops.append(_poly([(bx0 + 0.07, top), (bx1 - 0.07, top), (bx1, top + 0.12), (bx0, top + 0.12)], "accent2"))
    elif s.panel == 2:  # contrast side panels
        ops.append(_poly([(bx0, top + 0.3), (bx0 + 0.07, top + 0.3), (bx0 + 0.07 - flare, hem), (bx0 - flare, hem)], "accent2"))
        ops.append(_poly([(bx1, top + 0.3), (bx1 - 0.07, top + 0.3), (bx1 - 0.07 + flare, hem), (bx1 + flare, hem)], "accent2"))
    ops.append(_line([(0.5, top + 0.1), (0.5, hem + curve)], "dark", 0.014))
    if variant in (0, 2):  # lapels
        depth = 0.22 + 0.12 * s.detail
        ops.append(_poly([(0.5 - 0.12, top), (0.5, top + depth), (0.5 - 0.04, top + depth * 0.45), (0.5 - 0.16, top + 0.05)], "light"))
        ops.append(_poly([(0.5 + 0.12, top), (0.5, top + depth), (0.5 + 0.04, top + depth * 0.45), (0.5 + 0.16, top + 0.05)], "light"))
    if variant == 3:  # quilting
        rows = 3 + s.buttons % 3
        for k in range(1, rows + 1):
            y = top + (hem - top) * k / (rows + 1)
            ops.append(_line([(bx0 - flare * (y - top) / (hem - top), y), (bx1 + flare * (y - top) / (hem - top), y)], "dark", 0.012))
    if variant == 0 or s.strap:  # belt with buckle
        by = top + 0.36 + 0.08 * s.pocket_y
        ops.append(_rect(bx0 - flare * 0.4, by, bx1 + flare * 0.4, by + 0.055, "dark" if not s.trim else "accent"))
        ops.append(_rect(0.5 - 0.04, by - 0.01, 0.5 + 0.04, by + 0.065, "metal", "ink", 0.01))
    n_buttons = max(2, s.buttons)
    ops += _buttons(n_buttons, 0.5 + 0.04, top + 0.3, hem - 0.12, 0.02)
    if variant == 0 or s.buttons % 2:
        ops += _buttons(n_buttons, 0.5 - 0.04, top + 0.3, hem - 0.12, 0.02)
    if s.pockets:
        py = 0.62 + 0.1 * s.pocket_y
        ops.append(_rect(bx0 + 0.02, py, bx0 + 0.17, py + 0.045, "dark", "ink", 0.01))
        if s.pockets == 2:
            ops.append(_rect(bx1 - 0.17, py, bx1 - 0.02, py + 0.045, "dark", "ink", 0.01))
    ops.append(_emblem_in(s, bx0 + 0.03, top + 0.14, bx1 - 0.03, top + 0.34, 0.04, 0.075))
    return ops


WAIST_OF_LENGTH = {"mini": 0.45, "knee": 0.36, "midi": 0.3, "maxi": 0.25}


def draw_dresses(p: Product) -> list[Op]:
    s = p.shape
    style = p.dress_style or "sheath"
    waist = WAIST_OF_LENGTH.get(p.length or "knee", 0.36)
    top, hem = 0.06, 1.0
    bx0, bx1 = 0.34 - 0.04 * s.width, 0.66 + 0.04 * s.width
    hem_half = {"a_line": 0.42, "sheath": 0.2, "wrap": 0.32, "shirt": 0.27}[style] + 0.06 * s.width
    curve = 0.05 * s.hem_curve
    ops: list[Op] = []
    sleeves = s.variant  # 0 straps, 1 cap, 2 short, 3 long
    if sleeves == 0:
        ops.append(_line([(bx0 + 0.04, 0.0), (bx0 + 0.04, top + 0.04)], "dark", 0.02))
        ops.append(_line([(bx1 - 0.04, 0.0), (bx1 - 0.04, top + 0.04)], "dark", 0.02))
    else:
        length = {1: 0.0, 2: 0.25 + 0.2 * s.sleeve, 3: 0.8 + 0.2 * s.sleeve}[sleeves]
        ops += _sleeve((bx0 + 0.05, top), (bx0, top + 0.17), length * 0.9, -1, "accent" if s.trim else None)
        ops += _sleeve((bx1 - 0.05, top), (bx1, top + 0.17), length * 0.9, +1, "accent" if s.trim else None)
    ops.append(_poly([
        (bx0, top), (bx1, top), (bx1 - 0.03, waist), (0.5 + hem_half, hem), (0.5, hem + curve),
        (0.5 - hem_half, hem), (bx0 + 0.03, waist),
    ]))
    if s.panel == 1:  # contrast bodice band
        ops.append(_rect(bx0, top, bx1, top + 0.06, "accent2"))
    elif s.panel == 2:  # contrast hem band
        ops.append(_poly([(0.5 - hem_half * 0.93, hem - 0.08), (0.5 + hem_half * 0.93, hem - 0.08),
                          (0.5 + hem_half, hem), (0.5, hem + curve), (0.5 - hem_half, hem)], "accent2"))
    if sleeves != 0:
        ops += _neckline(s.neckline if style != "shirt" else 2, 0.5, top, 0.07 + 0.02 * s.detail, 0.07)
    if style == "wrap":
        ops.append(_line([(bx0 + 0.02, top + 0.02), (0.5 + hem_half * 0.6, hem)], "dark", 0.016))
        ops.append(_line([(bx1 - 0.05, waist), (bx1 + 0.06, waist + 0.12)], "accent", 0.03))
    if style == "shirt":
        ops += _buttons(max(3, s.buttons), 0.5, top + 0.08, waist + 0.25, 0.018)
    sash = s.trim or style in ("a_line", "shirt")
    ops.append(_rect(bx0 + 0.03, waist - 0.03, bx1 - 0.03, waist + 0.02, "accent" if sash else "dark", "dark", 0.008))
    if s.pockets and style != "sheath":
        py = waist + 0.08 + 0.08 * s.pocket_y
        ops.append(_line([(0.5 - hem_half * 0.45, py), (0.5 - hem_half * 0.35, py + 0.1)], "ink", 0.012))
        ops.append(_line([(0.5 + hem_half * 0.45, py), (0.5 + hem_half * 0.35, py + 0.1)], "ink", 0.012))
    ops.append(_emblem_in(s, 0.5 - hem_half * 0.55, waist + 0.06, 0.5 + hem_half * 0.55, hem - 0.1, 0.04, 0.075))
    return ops


SKIRT_WAISTBAND = {"mini": 0.17, "knee": 0.11, "midi": 0.08, "maxi": 0.06}


def draw_skirts(p: Product) -> list[Op]:
    s = p.shape
    band = SKIRT_WAISTBAND.get(p.length or "knee", 0.11)
    variant = s.variant  # 0 a-line, 1 pencil, 2 pleated, 3 tiered
    waist_half = 0.3 + 0.04 * s.width
    hem_half = {0: 0.5, 1: 0.34, 2: 0.47, 3: 0.5}[variant] - 0.03 * (1 - s.width)
    curve = 0.05 * s.hem_curve
    ops = [
        _poly([(0.5 - waist_half, band), (0.5 + waist_half, band), (0.5 + hem_half, 1.0),
               (0.5, 1.0 + curve), (0.5 - hem_half, 1.0)]),
        _rect(0.5 - waist_half, 0.0, 0.5 + waist_half, band, "accent" if s.trim else "dark"),
    ]
    if s.panel == 1:  # contrast hem band
        ops.append(_poly([(0.5 - hem_half * 0.9, 0.88), (0.5 + hem_half * 0.9, 0.88), (0.5 + hem_half, 1.0),
                          (0.5, 1.0 + curve), (0.5 - hem_half, 1.0)], "accent2"))
    elif s.panel == 2:  # contrast front panel
        ops.append(_poly([(0.44, band), (0.56, band), (0.6, 1.0), (0.4, 1.0)], "accent2"))
    if variant == 2:
        pleats = 4 + s.buttons
        for k in range(1, pleats):
            t = k / pleats
            ops.append(_line([(0.5 - waist_half + 2 * waist_half * t, band), (0.5 - hem_half + 2 * hem_half * t, 1.0)], "dark", 0.01))
    if variant == 3:
        for t in (0.4, 0.7):
            y = band + (1 - band) * t
            half = waist_half + (hem_half - waist_half) * t
            ops.append(_line([(0.5 - half, y), (0.5 + half, y)], "dark", 0.014))
    if variant == 1 and s.strap:  # slit
        ops.append(_line([(0.5 + 0.08, 1.0), (0.5 + 0.08, 0.7)], "dark", 0.014))
    if s.buttons >= 3 and variant != 2:
        ops += _buttons(s.buttons, 0.5, band + 0.05, 0.9, 0.025)
    if s.pockets:
        ops.append(_line([(0.5 - waist_half + 0.04, band + 0.02), (0.5 - waist_half + 0.1, band + 0.22)], "ink", 0.014))
        if s.pockets == 2:
            ops.append(_line([(0.5 + waist_half - 0.04, band + 0.02), (0.5 + waist_half - 0.1, band + 0.22)], "ink", 0.014))
    ops.append(_emblem_in(s, 0.5 - waist_half * 0.8, band + 0.1, 0.5 + waist_half * 0.8, 0.85, 0.05, 0.09))
    return ops


CROTCH_OF_LENGTH = {
    "pants": {"maxi": 0.3, "midi": 0.36, "knee": 0.45, "mini": 0.55},
    "shorts": {"mini": 0.62, "knee": 0.5, "midi": 0.44, "maxi": 0.4},
}


def draw_pants(p: Product) -> list[Op]:
    s = p.shape
    crotch = CROTCH_OF_LENGTH[p.category].get(p.length or "maxi", 0.4)
    band = 0.07 if p.category == "pants" else 0.1
    variant = s.variant  # 0 straight, 1 skinny, 2 wide, 3 flare/track
    hem_leg = {0: 0.2, 1: 0.15, 2: 0.27, 3: 0.24}[variant] + 0.04 * s.width
    if p.category == "shorts":
        hem_leg = max(hem_leg, 0.3)
    gap = 0.03
    left = [(0.0, band), (0.5, band), (0.5, crotch), (0.5 - gap, 1.0), (0.5 - gap - hem_leg, 1.0)]
    if variant == 1:
        left[-1] = (0.5 - gap - hem_leg + 0.02, 1.0)
    right = [(1.0 - x, y) for x, y in left]
    ops = [_poly(left), _poly(right), _rect(0.0, 0.0, 1.0, band, "accent" if s.trim else "dark")]
    if s.panel == 1:  # knee or hip patches
        py = crotch + (1.0 - crotch) * 0.35 if p.category == "pants" else band + 0.08
        ph = 0.12 if p.category == "pants" else 0.16
        ops.append(_rect(0.5 - gap - hem_leg * 0.8, py, 0.5 - gap - hem_leg * 0.15, py + ph, "accent2"))
        ops.append(_rect(0.5 + gap + hem_leg * 0.15, py, 0.5 + gap + hem_leg * 0.8, py + ph, "accent2"))
    elif s.panel == 2:  # outer side panels
        ops.append(_poly([(0.0, band), (0.08, band), (0.5 - gap - hem_leg + 0.08, 1.0), (0.5 - gap - hem_leg, 1.0)], "accent2"))
        ops.append(_poly([(1.0, band), (0.92, band), (0.5 + gap + hem_leg - 0.08, 1.0), (0.5 + gap + hem_leg, 1.0)], "accent2"))
    ops.append(_line([(0.5, band), (0.5, crotch)], "dark", 0.014))
    if s.trim and variant == 3:  # side stripe
        ops.append(_line([(0.03, band), (0.5 - gap - hem_leg + 0.02, 0.98)], "accent", 0.03))
        ops.append(_line([(0.97, band), (0.5 + gap + hem_leg - 0.02, 0.98)], "accent", 0.03))
    elif s.trim:  # cuffs
        cuff = 0.05 + 0.04 * s.trim_width
        ops.append(_rect(0.5 - gap - hem_leg, 1.0 - cuff, 0.5 - gap, 1.0, "accent"))
        ops.append(_rect(0.5 + gap, 1.0 - cuff, 0.5 + gap + hem_leg, 1.0, "accent"))
    loops = s.buttons
    for k in range(loops):
        x = 0.08 + 0.84 * (k + 0.5) / max(loops, 1)
        ops.append(_rect(x - 0.015, 0.0, x + 0.015, band + 0.015, "dark", "ink", 0.006))
    if s.pockets:
        ops.append(_line([(0.1, band + 0.005), (0.02 + 0.02, band + 0.12 + 0.08 * s.pocket_y)], "ink", 0.014))
        ops.append(_line([(0.9, band + 0.005), (0.98 - 0.02, band + 0.12 + 0.08 * s.pocket_y)], "ink", 0.014))
    if s.pockets == 2:  # cargo pocket on a leg
        py = crotch + 0.05
        ops.append(_rect(0.5 - gap - hem_leg * 0.85, py, 0.5 - gap - 0.02, py + min(0.18, 0.9 - py), "main", "ink", 0.012))
    right_leg = s.emblem_x > 0.5
    ex0 = 0.56 if right_leg else 0.1
    ops.append(_emblem_in(s, ex0, band + 0.04, ex0 + 0.34, max(crotch + 0.05, band + 0.3), 0.06, 0.1))
    return ops


def _shoe_panel(s: ProductShape, toe_cap, heel_counter) -> list[Op]:
    if s.panel == 1:
        return [_poly(toe_cap, "accent2")]
    if s.panel == 2:
        return [_poly(heel_counter, "accent2")]
    return []


def draw_shoes(p: Product) -> list[Op]:
    s = p.shape
    variant = s.variant  # 0 sneaker, 1 boot, 2 pump, 3 loafer
    ops: list[Op] = []
    sole = "accent" if s.trim else ("light" if variant == 0 else "ink")
    if variant == 0:
        upper = [(0.02, 0.82), (0.02, 0.3 - 0.08 * s.heel), (0.22, 0.22), (0.33, 0.34), (0.6, 0.45), (0.86, 0.55),
                 (1.0, 0.7), (1.0, 0.82)]
        ops.append(_poly(upper))
        ops.append(Op("ellipse", (0.05, 0.16, 0.3, 0.36), "dark", "dark"))
        ops += _shoe_panel(s, [(0.78, 0.52), (0.86, 0.55), (1.0, 0.7), (1.0, 0.82), (0.74, 0.82)],
                           [(0.02, 0.45), (0.16, 0.5), (0.18, 0.82), (0.02, 0.82)])
        ops.append(_rect(0.0, 0.8, 1.0, 1.0, sole, "ink"))
        laces = 3 + s.buttons % 3
        for k in range(laces):
            t = (k + 0.5) / laces
            x = 0.36 + 0.3 * t
            y = 0.36 + 0.18 * t
            ops.append(_line([(x - 0.04, y - 0.04), (x + 0.05, y + 0.02)], "accent2", 0.03))
        ops.append(_emblem_in(s, 0.12, 0.45, 0.62, 0.78, 0.06, 0.1))
    elif variant == 1:
        shaft_top = 0.0
        ops.append(_poly([(0.05, shaft_top), (0.45, shaft_top), (0.48, 0.5), (0.8, 0.6), (1.0, 0.74),
                          (1.0, 0.9), (0.05, 0.9)]))
        ops.append(_rect(0.0, 0.88, 1.0, 1.0, sole, "ink"))
        ops.append(_rect(0.05, 0.9, 0.25, 1.0, "ink", "ink"))
        ops.append(_rect(0.05, 0.0, 0.45, 0.06 + 0.06 * s.trim_width, "accent" if s.trim else "dark"))
        ops += _shoe_panel(s, [(0.84, 0.62), (1.0, 0.74), (1.0, 0.88), (0.8, 0.88)],
                           [(0.05, 0.55), (0.2, 0.55), (0.22, 0.88), (0.05, 0.88)])
        if s.strap:
            y = 0.3 + 0.15 * s.pocket_y
            ops.append(_rect(0.04, y, 0.47, y + 0.07, "dark", "ink"))
            ops.append(_rect(0.3, y - 0.01, 0.38, y + 0.08, "metal", "ink"))
        ops.append(_emblem_in(s, 0.1, 0.1, 0.42, 0.8, 0.05, 0.09))
    elif variant == 2:
        heel = 0.25 + 0.45 * s.heel
        yh = 1.0 - heel
        ops.append(_poly([(0.06, yh - 0.04), (0.14, yh + 0.02), (0.12, 1.0), (0.08, 1.0)], "ink", "ink"))
        vamp = 0.4 + 0.2 * s.detail
        ops.append(_poly([(0.02, max(0.0, yh - 0.38)), (0.2, max(0.0, yh - 0.34)), (vamp, yh + 0.02 + 0.3 * heel * 0.5),
                          (0.88, 0.72), (1.0, 0.86), (0.96, 0.95), (0.55, 0.94), (0.2, yh + 0.1),
                          (0.03, yh + 0.04)]))
        ops.append(_line([(0.04, yh + 0.05), (0.2, yh + 0.11), (0.55, 0.95), (0.97, 0.96)], sole, 0.035))
        if s.strap:
            ops.append(_line([(0.02, max(0.0, yh - 0.3)), (0.26, max(0.0, yh - 0.26))], "accent", 0.04))
        ops.append(_emblem_in(s, 0.62, 0.72, 0.92, 0.92, 0.035, 0.06))
    else:
        ops.append(_poly([(0.02, 0.85), (0.02, 0.42), (0.3, 0.3 - 0.1 * s.heel), (0.6, 0.4), (0.88, 0.55),
                          (1.0, 0.72), (1.0, 0.85)]))
        ops.append(Op("ellipse", (0.08, 0.3, 0.4, 0.5), "dark", "dark"))
        ops += _shoe_panel(s, [(0.8, 0.58), (0.88, 0.55), (1.0, 0.72), (1.0, 0.85), (0.76, 0.85)],
                           [(0.02, 0.5), (0.16, 0.52), (0.18, 0.85), (0.02, 0.85)])
        ops.append(_rect(0.0, 0.84, 1.0, 1.0, sole, "ink"))
        ops.append(_poly([(0.45, 0.38), (0.75, 0.48), (0.72, 0.6), (0.42, 0.52)], "accent" if s.trim else "dark"))
        ops.append(_emblem_in(s, 0.12, 0.5, 0.42, 0.8, 0.05, 0.08))
    return ops


def draw_handbags(p: Product) -> list[Op]:
    s = p.shape
    variant = s.variant  # 0 tote, 1 satchel, 2 clutch, 3 bucket
    handle = 0.2 + 0.2 * s.detail
    ops: list[Op] = []
    strap_paint = "accent" if s.trim else "dark"
    if variant == 0:
        body_top = handle
        ops.append(_arc(0.33, body_top + 0.02, 0.14, handle, 180, 360, strap_paint, 0.045))
        ops.append(_arc(0.67, body_top + 0.02, 0.14, handle, 180, 360, strap_paint, 0.045))
        ops.append(_poly([(0.02, body_top), (0.98, body_top), (0.88, 1.0), (0.12, 1.0)]))
    elif variant == 1:
        body_top = handle
        ops.append(_arc(0.5, body_top + 0.02, 0.2 + 0.08 * s.width, handle, 180, 360, strap_paint, 0.05))
        ops.append(_poly([(0.0, body_top + 0.08), (0.08, body_top), (0.92, body_top), (1.0, body_top + 0.08),
                          (1.0, 0.94), (0.94, 1.0), (0.06, 1.0), (0.0, 0.94)]))
        flap = body_top + 0.25 + 0.15 * s.pocket_y
        ops.append(_poly([(0.0, body_top + 0.08), (1.0, body_top + 0.08), (1.0, flap), (0.0, flap)], "main", "ink", 0.012))
    elif variant == 2:
        body_top = 0.0
        ops.append(_rect(0.0, 0.0, 1.0, 1.0))
        ops.append(_poly([(0.0, 0.0), (1.0, 0.0), (0.5, 0.45 + 0.2 * s.pocket_y)], "main", "ink", 0.012))
        if s.strap:
            ops.append(_arc(0.1, 0.35, 0.1, 0.3, 90, 270, strap_paint, 0.04))
    else:
        body_top = handle * 0.6
        ops.append(_line([(0.12, body_top + 0.05), (0.5, 0.0), (0.88, body_top + 0.05)], strap_paint, 0.035))
        ops.append(_poly([(0.08, body_top), (0.92, body_top), (1.0, 0.7), (0.9, 0.94), (0.5, 1.0), (0.1, 0.94), (0.0, 0.7)]))
        ops.append(_line([(0.08, body_top + 0.06), (0.92, body_top + 0.06)], "dark", 0.02))
    if s.panel == 1:  # contrast base
        ops.append(_rect(0.14 if variant == 0 else 0.04, 0.86, 0.86 if variant == 0 else 0.96, 0.97, "accent2", "dark", 0.006))
    elif s.panel == 2:  # contrast vertical band
        ops.append(_rect(0.42, max(body_top, 0.45 if variant == 2 else body_top), 0.58, 0.97, "accent2", "dark", 0.006))
    if s.trim and variant != 2:
        ops.append(_rect(0.05, body_top + 0.0, 0.95, body_top + 0.05 + 0.04 * s.trim_width, "accent", "dark", 0.006))
    clasp_y = {0: body_top + 0.12, 1: body_top + 0.25 + 0.15 * s.pocket_y, 2: 0.45 + 0.2 * s.pocket_y, 3: body_top + 0.06}[variant]
    ops.append(emblem(("circle", "square", "diamond")[s.buttons % 3], 0.5, clasp_y, 0.035, "metal", "ink"))
    if s.pockets and variant in (0, 3):
        ops.append(_rect(0.3, 0.62, 0.7, 0.86, "main", "ink", 0.012))
    ops.append(_emblem_in(s, 0.18, max(clasp_y + 0.08, 0.55), 0.82, 0.95, 0.04, 0.07))
    return ops


def _lens(variant: int, cx: float, cy: float, rx: float, ry: float, side: int) -> Op:
    if variant == 0:
        return _ellipse(cx, cy, rx, ry, "lens", "flat", 0.09)
    if variant == 1:
        return _poly([(cx - rx, cy - ry), (cx + rx, cy - ry), (cx + rx * 0.85, cy + ry), (cx - rx * 0.85, cy + ry)], "lens", "flat", 0.09)
    if variant == 2:  # aviator teardrop
        inner = cx - rx * side
        outer = cx + rx * side
        return _poly([(inner, cy - ry), (outer, cy - ry), (outer + 0.05 * rx * side, cy + ry * 0.2),
                      (cx + rx * 0.3 * side, cy + ry), (cx - rx * 0.5 * side, cy + ry * 0.8), (inner, cy + ry * 0.1)],
                     "lens", "flat", 0.07)
    outer = cx + rx * side
    inner = cx - rx * side
    return _poly([(inner, cy - ry * 0.6), (outer + 0.06 * side, cy - ry * 1.1), (outer, cy + ry * 0.3),
                  (cx + rx * 0.2 * side, cy + ry), (inner, cy + ry * 0.6)], "lens", "flat", 0.09)


def draw_sunglasses(p: Product) -> list[Op]:
    s = p.shape
    rx = 0.17 + 0.04 * s.detail
    ry = 0.3 + 0.12 * s.width
    cy = 0.55
    ops = [
        _line([(0.0, 0.28), (0.12, 0.34)], "flat", 0.09),
        _line([(1.0, 0.28), (0.88, 0.34)], "flat", 0.09),
    ]
    left = 0.3
    right = 0.7
    ops.append(_lens(s.variant, left, cy, rx, ry, -1))
    ops.append(_lens(s.variant, right, cy, rx, ry, +1))
    ops.append(_arc(0.5, cy - ry * 0.2, 0.07, 0.12, 200, 340, "flat", 0.07))
    if s.strap:  # brow bar
        ops.append(_line([(left - rx * 0.6, cy - ry - 0.02), (right + rx * 0.6, cy - ry - 0.02)], "flat", 0.08))
    hx = left - rx * 0.3 + (right - left + rx * 0.6) * s.emblem_x
    ops.append(_line([(hx - 0.03, cy - ry * 0.2), (hx + 0.03, cy + ry * 0.3)], "light", 0.03))
    ops.append(emblem(s.emblem_shape, 0.1 if s.emblem_y < 0.5 else 0.9, cy - ry * 0.75, 0.035, "accent", None))
    return ops


def _one_earring(s: ProductShape, cx: float) -> list[Op]:
    w = 0.15 + 0.05 * s.width
    variant = s.variant  # 0 hoop, 1 drop, 2 stud cluster, 3 tassel
    if variant == 0:
        ry = 0.32 + 0.16 * s.detail
        return [
            _ellipse(cx, 0.05, 0.04, 0.05, "metal", "ink"),
            Op("ellipse", (cx - w, 0.1, cx + w, 0.1 + 2 * ry), None, "flat", 0.06 + 0.05 * s.trim_width),
            emblem(s.emblem_shape, cx, 0.1 + 2 * ry, 0.05 + 0.03 * s.emblem_size, "accent", "ink"),
        ]
    if variant == 1:
        drop = 0.35 + 0.25 * s.detail
        r = 0.07 + 0.06 * s.emblem_size
        return [
            _ellipse(cx, 0.06, 0.05, 0.06, "metal", "ink"),
            _line([(cx, 0.1), (cx, drop)], "metal", 0.025),
            emblem(s.emblem_shape, cx, min(drop + r, 1.0 - r * 1.2), r * 1.2, "flat", "dark"),
            _ellipse(cx, min(drop + r, 1.0 - r * 1.2), r * 0.4, r * 0.4, "accent", None),
        ]
    if variant == 2:
        n = 3 + s.buttons % 3
        ops = []
        for k in range(n):
            y = 0.1 + 0.8 * k / max(n - 1, 1)
            r = 0.06 + 0.03 * ((k + s.pockets) % 2)
            ops.append(_ellipse(cx + (0.03 if k % 2 else -0.03), y, r, r * 0.9, "flat", "dark"))
        ops.append(_ellipse(cx, 0.1, 0.035, 0.035, "accent", None))
        return ops
    fringe = 5 + s.buttons
    ops = [_rect(cx - 0.05, 0.0, cx + 0.05, 0.22, "metal", "ink")]
    for k in range(fringe):
        t = k / max(fringe - 1, 1)
        ops.append(_line([(cx, 0.2), (cx - w + 2 * w * t, 0.97)], "flat", 0.03))
    ops.append(emblem(s.emblem_shape, cx, 0.11, 0.04, "accent", None))
    return ops


def draw_earrings(p: Product) -> list[Op]:
    s = p.shape
    return _one_earring(s, 0.2) + _one_earring(s, 0.8)


def draw_necklaces(p: Product) -> list[Op]:
    s = p.shape
    variant = s.variant  # 0 chain + pendant, 1 beaded, 2 choker, 3 layered
    depth = {0: 0.7, 1: 0.75, 2: 0.4, 3: 0.62}[variant]
    chain_paint = "metal" if variant in (0, 3) and s.trim else "flat"

    def curve(d, n=24):
        return [(0.02 + 0.96 * k / n, d * (1 - (2 * k / n - 1) ** 2)) for k in range(n + 1)]

    chain = 0.04 + 0.02 * s.trim_width
    ops = [_line(curve(depth), chain_paint, chain if variant != 2 else 0.1)]
    if variant == 3:
        ops.append(_line(curve(min(depth + 0.22, 0.85)), chain_paint, chain))
    if variant == 1:
        beads = 7 + int(s.detail * 8)
        for k in range(beads):
            x = 0.1 + 0.8 * k / (beads - 1)
            y = depth * (1 - (2 * (x - 0.02) / 0.96 - 1) ** 2)
            r = 0.035 + 0.02 * s.width
            ops.append(_ellipse(x, y, r, r, "flat" if k % 2 == 0 or not s.trim else "accent", "dark"))
    if variant != 1:
        r = 0.09 + 0.07 * s.emblem_size
        py = (min(depth + 0.22, 0.85) if variant == 3 else depth) + r
        ops.append(emblem(s.emblem_shape, 0.5, min(py, 1.0 - r * 1.2), r * 1.1, "flat", "dark"))
        ops.append(_ellipse(0.5, min(py, 1.0 - r * 1.2), r * 0.4, r * 0.4, "accent", None))
    return ops


DRAWERS = {
    "tops": draw_tops, "coats": draw_coats, "dresses": draw_dresses, "skirts": draw_skirts,
    "pants": draw_pants, "shorts": draw_pants, "shoes": draw_shoes, "handbags": draw_handbags,
    "sunglasses": draw_sunglasses, "earrings": draw_earrings, "necklaces": draw_necklaces,
}


def natural_aspect(p: Product) -> float:
    """Width / height of the product as it appears in a scene."""
    s = p.shape
    c = p.category
    if c == "tops":
        return 1.0 + 0.15 * s.sleeve
    if c == "coats":
        return 0.85
    if c == "dresses":
        return {"mini": 0.8, "knee": 0.65, "midi": 0.55, "maxi": 0.45}.get(p.length or "knee", 0.65)
    if c == "skirts":
        return {"mini": 1.4, "knee": 1.0, "midi": 0.8, "maxi": 0.6}.get(p.length or "knee", 1.0)
    if c == "pants":
        return {"maxi": 0.5, "midi": 0.6, "knee": 0.75, "mini": 0.85}.get(p.length or "maxi", 0.5)
    if c == "shorts":
        return {"mini": 1.35, "knee": 1.05, "midi": 0.95, "maxi": 0.9}.get(p.length or "mini", 1.2)
    if c == "shoes":
        return (2.2, 1.1, 1.6, 2.4)[s.variant]
    if c == "handbags":
        return (0.95, 1.1, 1.8, 0.85)[s.variant]
    if c == "sunglasses":
        return 2.4
    if c == "earrings":
        return 1.5
    return 1.1
