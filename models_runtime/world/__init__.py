"""The deterministic synthetic shop-the-look world: catalogue, renderer, scenes, oracle, exports.

See ``models_runtime/README.md`` (``world`` contract) and docs/METRICS.md, section 5.
"""
from models_runtime.world.catalog import Product, ProductShape, generate_product
from models_runtime.world.exports import export_catalog, export_coco, export_matching_manifest
from models_runtime.world.oracle import (
    EXTREMELY_SIMILAR,
    GRADES,
    MARGINALLY_SIMILAR,
    NOT_SIMILAR,
    SIMILAR,
    grade,
)
from models_runtime.world.render import is_on_white_background, product_box_on_white
from models_runtime.world.scenes import SPLITS, Scene, SceneObject
from models_runtime.world.world import World, build_world

__all__ = [
    "EXTREMELY_SIMILAR", "GRADES", "MARGINALLY_SIMILAR", "NOT_SIMILAR", "SIMILAR", "SPLITS",
    "Product", "ProductShape", "Scene", "SceneObject", "World",
    "build_world", "export_catalog", "export_coco", "export_matching_manifest", "generate_product",
    "grade", "is_on_white_background", "product_box_on_white",
]
