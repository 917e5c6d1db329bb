"""The synthetic catalogue: products generated lazily and deterministically from (seed, id).

Every product is a pure function of ``(seed, product_id)``: no product depends on how many others
were generated, so a benchmark world of 100,000+ products costs nothing until a product is used and
``product(i)`` is the same whether the world was built with 10 or 10 million products.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from models_runtime import taxonomy

COLOR_RGB: dict[str, tuple[int, int, int]] = {
    "black": (34, 34, 38),
    "white": (236, 236, 230),
    "grey": (138, 138, 140),
    "red": (204, 34, 40),
    "orange": (240, 128, 24),
    "yellow": (240, 208, 44),
    "green": (44, 142, 62),
    "blue": (48, 112, 224),
    "navy": (26, 38, 100),
    "purple": (124, 52, 164),
    "pink": (242, 142, 184),
    "brown": (122, 76, 40),
}

# Accents are small: trims, emblems, soles, stripes and dots. Their colours are chosen so that the
# product's main colour stays dominant and recognisable.
ACCENT_RGB: dict[str, tuple[int, int, int]] = {
    "ivory": (250, 246, 232),
    "charcoal": (52, 52, 56),
    "gold": (222, 178, 60),
    "silver": (196, 200, 208),
    "scarlet": (220, 30, 60),
    "teal": (20, 150, 150),
    "tan": (206, 164, 112),
    "lime": (160, 220, 40),
    "sky": (120, 190, 250),
    "magenta": (210, 40, 170),
}
ACCENTS: tuple[str, ...] = tuple(ACCENT_RGB)

PATTERN_WEIGHTS: dict[str, float] = {
    "solid": 0.40, "striped": 0.15, "dotted": 0.15, "plaid": 0.15, "floral": 0.15,
}

# Which genders a category is sold for, with weights: skirts and dresses are women's, jewellery and
# handbags mostly women's, sunglasses mostly unisex.
GENDER_WEIGHTS: dict[str, dict[str, float]] = {
    "shoes": {"men": 0.4, "women": 0.5, "unisex": 0.1},
    "tops": {"men": 0.4, "women": 0.5, "unisex": 0.1},
    "pants": {"men": 0.45, "women": 0.45, "unisex": 0.1},
    "handbags": {"men": 0.05, "women": 0.85, "unisex": 0.1},
    "coats": {"men": 0.45, "women": 0.45, "unisex": 0.1},
    "sunglasses": {"men": 0.25, "women": 0.25, "unisex": 0.5},
    "shorts": {"men": 0.45, "women": 0.45, "unisex": 0.1},
    "skirts": {"women": 1.0},
    "earrings": {"women": 0.9, "unisex": 0.1},
    "necklaces": {"men": 0.05, "women": 0.85, "unisex": 0.1},
    "dresses": {"women": 1.0},
}

LENGTH_WEIGHTS: dict[str, dict[str, float]] = {
    "pants": {"mini": 0.05, "knee": 0.1, "midi": 0.25, "maxi": 0.6},
    "shorts": {"mini": 0.55, "knee": 0.35, "midi": 0.1},
    "skirts": {"mini": 0.3, "knee": 0.3, "midi": 0.25, "maxi": 0.15},
    "dresses": {"mini": 0.25, "knee": 0.3, "midi": 0.25, "maxi": 0.2},
}

# Median price in dollars per category; prices are log-normal around it.
MEDIAN_PRICE: dict[str, float] = {
    "shoes": 85.0, "tops": 38.0, "pants": 60.0, "handbags": 140.0, "coats": 160.0,
    "sunglasses": 95.0, "shorts": 34.0, "skirts": 52.0, "earrings": 45.0, "necklaces": 65.0,
    "dresses": 90.0,
}
PRICE_LOG_SIGMA = 0.55
MERCHANT_PROVIDED_CATEGORY_RATE = 0.7

_MERCHANT_STEMS = (
    "Northwind", "Maple", "Harbor", "Juniper", "Copper", "Atlas", "Willow", "Saffron", "Granite",
    "Lumen",
)
_MERCHANT_KINDS = ("Apparel", "Outfitters", "Boutique", "Supply Co.", "Atelier")
MERCHANTS: tuple[str, ...] = tuple(f"{s} {k}" for k in _MERCHANT_KINDS for s in _MERCHANT_STEMS)

# Emblem shapes drawn on the product: a small logo that, with its position, colour and size, is a
# strong per-instance identity cue that survives downscaling to ~64 px crops.
EMBLEM_SHAPES: tuple[str, ...] = ("circle", "square", "triangle", "diamond", "star", "bar")

PRODUCT_ID_NEGATIVE = "product ids are non-negative integers, got {product_id}"


@dataclass(frozen=True, slots=True)
class ProductShape:
    """Per-instance drawing parameters: products that share category, colour and pattern differ here.

    Every field is interpreted by the category's drawing routine (a top reads ``sleeve`` as sleeve
    length, a shoe reads ``heel`` as heel height, sunglasses read ``variant`` as lens shape).
    """

    variant: int  # 0..3: sub-type (crew/v-neck/collar/square neckline, sneaker/boot/pump/loafer, ...)
    neckline: int  # 0..3
    accent: str  # name in ACCENT_RGB: trims, emblem, soles, stripes, dots
    second_accent: str
    shade: tuple[int, int, int]  # per-channel jitter of the main colour
    emblem_shape: str
    emblem_x: float  # 0..1 inside the category's emblem region
    emblem_y: float
    emblem_size: float  # 0..1
    sleeve: float  # 0..1
    hem_curve: float  # -1..1
    width: float  # 0..1 silhouette width / taper
    buttons: int  # 0..5
    pockets: int  # 0..2
    pocket_y: float  # 0..1
    trim: bool
    trim_width: float  # 0..1
    heel: float  # 0..1
    strap: int  # 0..2
    detail: float  # 0..1, category specific (lens size, bead count, handle height, ...)
    stripe_width: float  # 0..1
    stripe_angle: float  # degrees
    dot_size: float  # 0..1
    pattern_scale: float  # 0..1: pattern repeats across the product
    pattern_phase: float  # 0..1
    panel: int  # 0 none, 1/2: a colour-block panel in the second accent (yoke, toe cap, knee patch, ...)


@dataclass(frozen=True, slots=True)
class Product:
    id: int
    category: str
    color: str | None
    pattern: str | None
    fabric: str | None
    length: str | None
    dress_style: str | None
    gender: str
    price: float
    merchant: str
    merchant_provided_category: bool
    shape: ProductShape

    @property
    def attributes(self) -> dict[str, str]:
        """The schema attributes that apply to this product's category (gender excluded)."""
        values = {
            "color": self.color, "pattern": self.pattern, "fabric": self.fabric,
            "length": self.length, "dress_style": self.dress_style,
        }
        return {name: value for name, value in values.items() if value is not None}


def _weighted_choice(options: dict[str, float] | tuple[str, ...], u: float) -> str:
    if isinstance(options, tuple):
        return options[min(int(u * len(options)), len(options) - 1)]
    total = sum(options.values())
    acc = 0.0
    for name, weight in options.items():
        acc += weight / total
        if u < acc:
            return name
    return next(reversed(options))


@lru_cache(maxsize=1)
def _category_cdf() -> tuple[tuple[str, ...], np.ndarray]:
    cats = taxonomy.categories()
    counts = np.array([c.stl_count for c in cats], dtype=np.float64)
    return tuple(c.slug for c in cats), np.cumsum(counts / counts.sum())


def _applies(attribute: str, category: str) -> bool:
    return category in taxonomy.ATTRIBUTES[attribute].categories


@lru_cache(maxsize=65_536)
def generate_product(seed: int, product_id: int) -> Product:
    if product_id < 0:
        raise ValueError(PRODUCT_ID_NEGATIVE.format(product_id=product_id))
    rng = np.random.default_rng([seed, 0x5EED, product_id])
    u = rng.random(40).tolist()
    price_normal = float(rng.standard_normal())
    slugs, cdf = _category_cdf()
    category = slugs[min(int(np.searchsorted(cdf, u[0], side="right")), len(slugs) - 1)]

    color = _weighted_choice(taxonomy.ATTRIBUTES["color"].values, u[1])
    pattern = _weighted_choice(PATTERN_WEIGHTS, u[2]) if _applies("pattern", category) else None
    fabric = (
        _weighted_choice(taxonomy.ATTRIBUTES["fabric"].values, u[3])
        if _applies("fabric", category) else None
    )
    length = _weighted_choice(LENGTH_WEIGHTS[category], u[4]) if _applies("length", category) else None
    dress_style = (
        _weighted_choice(taxonomy.ATTRIBUTES["dress_style"].values, u[5])
        if _applies("dress_style", category) else None
    )
    gender = _weighted_choice(GENDER_WEIGHTS[category], u[6])
    price = round(MEDIAN_PRICE[category] * float(np.exp(PRICE_LOG_SIGMA * price_normal)), 2)
    merchant = _weighted_choice(MERCHANTS, u[7])
    merchant_provided_category = u[8] < MERCHANT_PROVIDED_CATEGORY_RATE

    accent = _weighted_choice(ACCENTS, u[9])
    second_accent = ACCENTS[(ACCENTS.index(accent) + 1 + int(u[10] * (len(ACCENTS) - 1))) % len(ACCENTS)]
    shade = tuple(int(round((x - 0.5) * 36)) for x in u[11:14])
    shape = ProductShape(
        variant=int(u[14] * 4),
        neckline=int(u[15] * 4),
        accent=accent,
        second_accent=second_accent,
        shade=shade,  # type: ignore[arg-type]
        emblem_shape=_weighted_choice(EMBLEM_SHAPES, u[16]),
        emblem_x=u[17],
        emblem_y=u[18],
        emblem_size=u[19],
        sleeve=u[20],
        hem_curve=u[21] * 2.0 - 1.0,
        width=u[22],
        buttons=int(u[23] * 6),
        pockets=int(u[24] * 3),
        pocket_y=u[25],
        trim=u[26] < 0.5,
        trim_width=u[27],
        heel=u[28],
        strap=int(u[29] * 3),
        detail=u[30],
        stripe_width=u[31],
        stripe_angle=(0.0, 90.0, 45.0, -45.0)[int(u[32] * 4)] + (u[33] - 0.5) * 20.0,
        dot_size=u[34],
        pattern_scale=u[35],
        pattern_phase=u[36],
        panel=int(u[37] * 3),
    )
    return Product(
        id=product_id,
        category=category,
        color=color,
        pattern=pattern,
        fabric=fabric,
        length=length,
        dress_style=dress_style,
        gender=gender,
        price=price,
        merchant=merchant,
        merchant_provided_category=merchant_provided_category,
        shape=shape,
    )
