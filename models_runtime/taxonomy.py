"""Fashion categories and the attribute schema, loaded from the project's fixtures.

Category ids are stable: index in ``CATEGORIES`` (0-based) for classifiers; detectors use
``index + 1`` because torchvision reserves label 0 for the background.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

FIXTURES_DIR = Path(__file__).resolve().parent.parent / "fixtures"


@dataclass(frozen=True)
class Category:
    slug: str
    path: str  # Google Product Taxonomy path, levels joined with "|"
    stl_count: int

    @property
    def coarse(self) -> str:
        """The coarse category: the taxonomy path's second level (Clothing, Shoes, Jewelry, ...)."""
        levels = self.path.split("|")
        return levels[1] if len(levels) > 1 else levels[0]


@dataclass(frozen=True)
class Attribute:
    name: str
    label: str
    values: tuple[str, ...]
    categories: tuple[str, ...]


@lru_cache(maxsize=1)
def categories() -> tuple[Category, ...]:
    raw = json.loads((FIXTURES_DIR / "stl_fashion_categories.json").read_text())
    return tuple(Category(c["slug"], c["path"], int(c["stl_count"])) for c in raw["categories"])


@lru_cache(maxsize=1)
def attributes() -> tuple[Attribute, ...]:
    raw = json.loads((FIXTURES_DIR / "attribute_schema.json").read_text())
    return tuple(
        Attribute(a["name"], a["label"], tuple(a["values"]), tuple(a["categories"]))
        for a in raw["attributes"]
    )


CATEGORIES: tuple[str, ...] = tuple(c.slug for c in categories())
CATEGORY_INDEX: dict[str, int] = {slug: i for i, slug in enumerate(CATEGORIES)}
COARSE_OF: dict[str, str] = {c.slug: c.coarse for c in categories()}
COARSE_CATEGORIES: tuple[str, ...] = tuple(dict.fromkeys(COARSE_OF.values()))
ATTRIBUTES: dict[str, Attribute] = {a.name: a for a in attributes()}


def attributes_for(category: str) -> list[Attribute]:
    """Attributes that apply to a category, in schema order."""
    return [a for a in attributes() if category in a.categories]


def detector_label(category: str) -> int:
    return CATEGORY_INDEX[category] + 1


def category_of_detector_label(label: int) -> str:
    return CATEGORIES[label - 1]
