"""The relevance oracle: the ground-truth grade of a candidate product for a query object.

Grades follow docs/METRICS.md, section 5: the same instance is ``extremely_similar``; the same category,
colour and pattern is ``similar``; the same category otherwise is ``marginally_similar``; another
category is ``not_similar``.
"""
from __future__ import annotations

from models_runtime.world.catalog import Product

EXTREMELY_SIMILAR = "extremely_similar"
SIMILAR = "similar"
MARGINALLY_SIMILAR = "marginally_similar"
NOT_SIMILAR = "not_similar"
GRADES: tuple[str, ...] = (EXTREMELY_SIMILAR, SIMILAR, MARGINALLY_SIMILAR, NOT_SIMILAR)
RELEVANT_GRADES: frozenset[str] = frozenset({EXTREMELY_SIMILAR, SIMILAR})


def grade(true_product: Product, candidate_product: Product) -> str:
    if candidate_product.id == true_product.id:
        return EXTREMELY_SIMILAR
    if candidate_product.category != true_product.category:
        return NOT_SIMILAR
    if candidate_product.color == true_product.color and candidate_product.pattern == true_product.pattern:
        return SIMILAR
    return MARGINALLY_SIMILAR
