"""``World``: the catalogue, scenes and renderer bound to one seed and size."""
from __future__ import annotations

from functools import cached_property

from PIL import Image

from models_runtime.world.catalog import Product, generate_product
from models_runtime.world.render import product_box_on_white, render_product
from models_runtime.world.scenes import Scene, build_scene, render_scene_image

PRODUCT_OUT_OF_RANGE = "product id {product_id} is outside this world's catalogue of {n_products} products"
SCENE_OUT_OF_RANGE = "scene id {scene_id} is outside this world's {n_scenes} scenes"
WORLD_SIZE_INVALID = "a world needs n_products >= 1, n_scenes >= 0 and image_size >= 64"


class World:
    """A deterministic synthetic shop-the-look world.

    Products and scenes are computed on first use and cached: ``build_world`` itself is instant even
    for a 100,000-product benchmark catalogue.
    """

    def __init__(self, seed: int = 0, n_products: int = 2000, n_scenes: int = 400, image_size: int = 256):
        if n_products < 1 or n_scenes < 0 or image_size < 64:
            raise ValueError(WORLD_SIZE_INVALID)
        self.seed = seed
        self.n_products = n_products
        self.n_scenes = n_scenes
        self.image_size = image_size
        self._scenes: dict[int, Scene] = {}

    def __repr__(self) -> str:
        return (f"World(seed={self.seed}, n_products={self.n_products}, n_scenes={self.n_scenes}, "
                f"image_size={self.image_size})")

    def product(self, product_id: int) -> Product:
        if not 0 <= product_id < self.n_products:
            raise IndexError(PRODUCT_OUT_OF_RANGE.format(product_id=product_id, n_products=self.n_products))
        return generate_product(self.seed, int(product_id))

    @cached_property
    def products(self) -> list[Product]:
        return [self.product(i) for i in range(self.n_products)]

    def scene(self, scene_id: int) -> Scene:
        if not 0 <= scene_id < self.n_scenes:
            raise IndexError(SCENE_OUT_OF_RANGE.format(scene_id=scene_id, n_scenes=self.n_scenes))
        scene = self._scenes.get(scene_id)
        if scene is None:
            scene = build_scene(self.seed, scene_id, self.n_products, self.image_size, self.product)
            self._scenes[scene_id] = scene
        return scene

    @cached_property
    def scenes(self) -> list[Scene]:
        return [self.scene(i) for i in range(self.n_scenes)]

    def scenes_in(self, split: str | None) -> list[Scene]:
        """Scenes of one split (``train``/``val``/``test``), or all of them for ``None``/``"all"``."""
        if split in (None, "all"):
            return self.scenes
        return [s for s in self.scenes if s.split == split]

    def _as_product(self, product_or_id: Product | int) -> Product:
        return product_or_id if isinstance(product_or_id, Product) else self.product(int(product_or_id))

    def render_product(self, product_or_id: Product | int, size: int = 128, background: str = "white") -> Image.Image:
        return render_product(self._as_product(product_or_id), size=size, background=background, seed=self.seed)

    def product_box_on_white(self, product_or_id: Product | int, size: int = 128) -> list[float]:
        return product_box_on_white(self._as_product(product_or_id), size)

    def render_scene(self, scene_or_id: Scene | int) -> Image.Image:
        scene = scene_or_id if isinstance(scene_or_id, Scene) else self.scene(int(scene_or_id))
        return render_scene_image(scene, self.image_size, self.seed, self.product)


def build_world(seed: int = 0, n_products: int = 2000, n_scenes: int = 400, image_size: int = 256) -> World:
    return World(seed=seed, n_products=n_products, n_scenes=n_scenes, image_size=image_size)
