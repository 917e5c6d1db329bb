"""Synthetic creator pairs: the world's (scene, box, product) tags in the Shop The Look pair format,
with the noise the Shop The Look paper cleaned out of creator-annotated pairs, and the truth.

The file is JSON lines, ``{"product": "<id>", "scene": "<id>", "bbox": [left, top, right, bottom]}``
with the box normalised to [0, 1] ((0, 0) the top-left corner), plus a category file mapping each
product id to a Google Product Taxonomy path (the format of fixtures/stl_pairs/README.md).

World ids. A product is ``synthetic:<seed>:<product id>``, the external id the platform gives the
world's catalogue products (labeling.services.world_import.synthetic_external_id: a product is a
pure function of (seed, id)). A scene is ``synthetic-scene:<seed>:<n_products>:<scene id>``: a scene
is a pure function of (seed, scene id, n_products) at the world's default image size, so the id says
everything needed to render it again. ``world_key_parse`` reads both.

Noise (each pair's truth lists what it got; ``rates`` give each kind's share of all pairs):

* ``loose_box``: every side pushed out by 20-45 % of the box's width or height (clipped to the image);
* ``shifted_box``: the box moved by 25-45 % of its size along each axis, size kept (inside the image);
* ``wrong_category``: the category file gives the product another category. The file has one category
  per product, so this noise belongs to a product and to every pair listing it; products are picked
  until their pairs make up the share;
* ``similar_product``: the product is another one of the same category, colour and pattern (the
  oracle's ``similar``), match ``similar``;
* ``not_match_product``: another product of the same category with another colour or pattern (the
  oracle's ``marginally_similar``), match ``not_match``;
* ``spam``: a product of a category the scene does not hold, boxed on the background. A spam pair has
  no other noise; its ``true_box`` is the box given and its ``true_category`` the product's own (there
  is no object to fix: the cleanup flags it).

Pairs come from scenes in id order, one per distinct product of a scene (a product worn twice, like a
pair of shoes, is one pair whose true box spans both). Exact counts (``round(rate * n_pairs)``) are
drawn for each kind, so a file honours its rates however small it is (wrong categories: at most the
count, usually exactly). Everything is a function of the world and ``seed``.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np

from models_runtime import taxonomy
from models_runtime.world.catalog import Product, generate_product
from models_runtime.world.oracle import MARGINALLY_SIMILAR, SIMILAR, grade

NOISE_LOOSE_BOX = "loose_box"
NOISE_SHIFTED_BOX = "shifted_box"
NOISE_WRONG_CATEGORY = "wrong_category"
NOISE_SIMILAR_PRODUCT = "similar_product"
NOISE_NOT_MATCH_PRODUCT = "not_match_product"
NOISE_SPAM = "spam"
NOISE_KINDS: tuple[str, ...] = (NOISE_LOOSE_BOX, NOISE_SHIFTED_BOX, NOISE_WRONG_CATEGORY, NOISE_SIMILAR_PRODUCT,
                                NOISE_NOT_MATCH_PRODUCT, NOISE_SPAM)

MATCH_SAME = "same"
MATCH_SIMILAR = "similar"
MATCH_NOT_MATCH = "not_match"

PRODUCT_KEY_PREFIX = "synthetic"
SCENE_KEY_PREFIX = "synthetic-scene"
# The world's default image size: scene ids do not carry a size, so scenes are always this size.
WORLD_IMAGE_SIZE = 256
# Bounds on the numbers of a world id, so a hostile id cannot ask for an absurd world.
WORLD_KEY_MAX = 10_000_000
NORMALISED_DECIMALS = 6

LOOSE_MARGIN = (0.2, 0.45)
SHIFT_SHARE = (0.25, 0.45)
SPAM_BOX_SIDE = (0.14, 0.26)  # share of the image side
SPAM_BOX_TRIES = 60
# Products beyond the catalogue are searched when the catalogue has no product of the wanted kind
# (products are a pure function of (seed, id), so any id resolves).
EXTENDED_SEARCH = 50_000
REPLACEMENT_TRIES = 400

RATES_UNKNOWN = "Unknown noise kind(s) {kinds}; the kinds are {allowed}."
RATE_INVALID = "The rate of '{kind}' must be a number from 0 to 1; got {value!r}."
RATES_PRODUCT_SUM = ("similar_product + not_match_product + spam must be at most 1 (a pair has one product); "
                     "they add up to {total}.")
RATES_WITH_SPAM = "{kind} + spam must be at most 1 (a spam pair has no other noise); they add up to {total}."
PAIRS_COUNT_INVALID = "n_pairs must be a whole number from 1 up; got {value!r}."
WORLD_TOO_SMALL = "The world's {n_scenes} scenes hold {found} creator pairs; {wanted} were asked for."
WORLD_IMAGE_SIZE_UNSUPPORTED = ("Creator pairs use worlds of the default image size {size} (scene ids do not carry a "
                                "size); this world's is {got}.")
SEED_INVALID = "The seed must be a whole number from 0 up; got {value!r}."
NO_REPLACEMENT = "No product of the kind '{kind}' exists for product {product_id} (category {category})."


@dataclass(frozen=True)
class WorldImageKey:
    kind: str  # "scene" or "product"
    seed: int
    object_id: int
    n_products: int | None = None  # scenes only


def world_product_key(*, seed: int, product_id: int) -> str:
    return f"{PRODUCT_KEY_PREFIX}:{seed}:{product_id}"


def world_scene_key(*, seed: int, n_products: int, scene_id: int) -> str:
    return f"{SCENE_KEY_PREFIX}:{seed}:{n_products}:{scene_id}"


def _bounded_int(text: str) -> int | None:
    # Digits only: int() would also take "+3", " 3" or "3_000", which are other spellings of an id.
    if not text.isascii() or not text.isdigit() or len(text) > len(str(WORLD_KEY_MAX)):
        return None
    value = int(text)
    return value if value < WORLD_KEY_MAX else None


def world_key_parse(key: str) -> WorldImageKey | None:
    """What a world id names, or None when it is not one (or names something out of bounds)."""
    if not isinstance(key, str):
        return None
    parts = key.split(":")
    numbers = [_bounded_int(part) for part in parts[1:]]
    if None in numbers or not numbers:
        return None
    if parts[0] == PRODUCT_KEY_PREFIX and len(numbers) == 2:
        return WorldImageKey("product", numbers[0], numbers[1])
    if parts[0] == SCENE_KEY_PREFIX and len(numbers) == 3 and numbers[1] >= 1:
        return WorldImageKey("scene", numbers[0], numbers[2], n_products=numbers[1])
    return None


@dataclass(frozen=True)
class CreatorPairRecord:
    scene_key: str
    product_key: str
    bbox: tuple[float, float, float, float]  # normalised [left, top, right, bottom]
    truth: dict

    def line(self) -> dict:
        return {"product": self.product_key, "scene": self.scene_key, "bbox": list(self.bbox)}


@dataclass
class CreatorPairsFile:
    pairs: list[CreatorPairRecord]
    categories: dict[str, str] = field(default_factory=dict)  # product key -> taxonomy path

    def jsonl(self) -> str:
        return "".join(json.dumps(pair.line()) + "\n" for pair in self.pairs)

    def categories_json(self) -> str:
        return json.dumps(self.categories, sort_keys=True)

    def truth_rows(self) -> list[dict]:
        return [{"scene": pair.scene_key, "product": pair.product_key, "truth": pair.truth} for pair in self.pairs]


def rates_check(rates: dict) -> dict[str, float]:
    """The rates with every kind present (0 when not given); ValueError naming what is wrong."""
    if not isinstance(rates, dict):
        raise ValueError(RATES_UNKNOWN.format(kinds=repr(rates), allowed=", ".join(NOISE_KINDS)))
    unknown = sorted(str(kind) for kind in rates if kind not in NOISE_KINDS)
    if unknown:
        raise ValueError(RATES_UNKNOWN.format(kinds=", ".join(unknown), allowed=", ".join(NOISE_KINDS)))
    checked = {}
    for kind in NOISE_KINDS:
        value = rates.get(kind, 0.0)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
            raise ValueError(RATE_INVALID.format(kind=kind, value=value))
        checked[kind] = float(value)
    product_total = checked[NOISE_SIMILAR_PRODUCT] + checked[NOISE_NOT_MATCH_PRODUCT] + checked[NOISE_SPAM]
    if product_total > 1.0 + 1e-9:
        raise ValueError(RATES_PRODUCT_SUM.format(total=round(product_total, 6)))
    for kind in (NOISE_LOOSE_BOX, NOISE_SHIFTED_BOX, NOISE_WRONG_CATEGORY):
        total = checked[kind] + checked[NOISE_SPAM]
        if total > 1.0 + 1e-9:
            raise ValueError(RATES_WITH_SPAM.format(kind=kind, total=round(total, 6)))
    return checked


# -- geometry ------------------------------------------------------------------------------------

Box = tuple[float, float, float, float]


def box_iou(a, b) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def _covered_share(box, other) -> float:
    """How much of ``box`` ``other`` covers."""
    ix = max(0.0, min(box[2], other[2]) - max(box[0], other[0]))
    iy = max(0.0, min(box[3], other[3]) - max(box[1], other[1]))
    area = (box[2] - box[0]) * (box[3] - box[1])
    return ix * iy / area if area > 0 else 1.0


def _loose_box(box: Box, size: int, rng: np.random.Generator) -> Box:
    width, height = box[2] - box[0], box[3] - box[1]
    left, top, right, bottom = rng.uniform(*LOOSE_MARGIN, size=4)
    return (max(0.0, box[0] - left * width), max(0.0, box[1] - top * height),
            min(float(size), box[2] + right * width), min(float(size), box[3] + bottom * height))


def _shifted_box(box: Box, size: int, rng: np.random.Generator) -> Box:
    width, height = box[2] - box[0], box[3] - box[1]
    shares = rng.uniform(*SHIFT_SHARE, size=2)
    signs = np.where(rng.random(2) < 0.5, -1.0, 1.0)
    moved = []
    for axis, (low, extent) in enumerate(((box[0], width), (box[1], height))):
        shift = signs[axis] * shares[axis] * extent
        # Towards the side with room when the box would leave the image; then kept inside.
        if not 0.0 <= low + shift <= size - extent:
            shift = -shift
        moved.append(min(max(low + shift, 0.0), size - extent))
    return (moved[0], moved[1], moved[0] + width, moved[1] + height)


def _background_box(objects: list[Box], size: int, rng: np.random.Generator) -> Box:
    """A box that covers as little of the scene's objects as the tries find (none, usually)."""
    best, best_overlap = None, None
    for _ in range(SPAM_BOX_TRIES):
        width, height = rng.uniform(*SPAM_BOX_SIDE, size=2) * size
        x0, y0 = rng.uniform(0, size - width), rng.uniform(0, size - height)
        candidate = (float(x0), float(y0), float(x0 + width), float(y0 + height))
        overlap = max((_covered_share(candidate, box) for box in objects), default=0.0)
        if best_overlap is None or overlap < best_overlap:
            best, best_overlap = candidate, overlap
        if overlap == 0.0:
            break
    return best


def _normalised(box: Box, size: int) -> tuple[float, float, float, float]:
    return tuple(round(min(max(v / size, 0.0), 1.0), NORMALISED_DECIMALS) for v in box)


# -- products ------------------------------------------------------------------------------------

class _Catalogue:
    """The world's products by category and by (category, colour, pattern), searched past the
    catalogue when it has no product of the kind wanted."""

    def __init__(self, world):
        self.world = world
        self.by_category: dict[str, list[int]] = {}
        self.by_look: dict[tuple, list[int]] = {}
        for product in world.products:
            self.by_category.setdefault(product.category, []).append(product.id)
            self.by_look.setdefault((product.category, product.color, product.pattern), []).append(product.id)

    def product(self, product_id: int) -> Product:
        if product_id < self.world.n_products:
            return self.world.product(product_id)
        return generate_product(self.world.seed, product_id)

    def replacement(self, true: Product, *, wanted_grade: str, taken: set[int], rng: np.random.Generator) -> int | None:
        pool = (self.by_look.get((true.category, true.color, true.pattern), []) if wanted_grade == SIMILAR
                else self.by_category.get(true.category, []))
        options = [pid for pid in pool if pid != true.id and pid not in taken]
        rng.shuffle(options)
        for product_id in options[:REPLACEMENT_TRIES]:
            if grade(true, self.product(product_id)) == wanted_grade:
                return product_id
        for product_id in range(self.world.n_products, self.world.n_products + EXTENDED_SEARCH):
            if product_id not in taken and grade(true, self.product(product_id)) == wanted_grade:
                return product_id
        return None

    def unrelated(self, categories: set[str], *, taken: set[int], rng: np.random.Generator) -> int:
        allowed = [slug for slug in taxonomy.CATEGORIES if slug not in categories and self.by_category.get(slug)]
        for _ in range(REPLACEMENT_TRIES):
            pool = self.by_category[allowed[int(rng.integers(len(allowed)))]]
            product_id = pool[int(rng.integers(len(pool)))]
            if product_id not in taken:
                return product_id
        return next(pid for slug in allowed for pid in self.by_category[slug] if pid not in taken)


@dataclass
class _Candidate:
    scene_id: int
    product_id: int  # the listed product (the true one until noise replaces it)
    true_product_id: int | None
    box: Box  # the listed box, in pixels
    true_box: Box
    true_category: str
    scene_categories: set[str]
    scene_boxes: list[Box]
    noise: set[str] = field(default_factory=set)


def _candidates(world, n_pairs: int) -> list[_Candidate]:
    found: list[_Candidate] = []
    for scene_id in range(world.n_scenes):
        scene = world.scene(scene_id)
        boxes: dict[int, Box] = {}
        for obj in scene.objects:
            box = boxes.get(obj.product_id)
            boxes[obj.product_id] = obj.box if box is None else (
                min(box[0], obj.box[0]), min(box[1], obj.box[1]), max(box[2], obj.box[2]), max(box[3], obj.box[3]))
        categories = {obj.category for obj in scene.objects}
        scene_boxes = [tuple(float(v) for v in obj.box) for obj in scene.objects]
        for product_id, box in boxes.items():
            box = tuple(float(v) for v in box)
            found.append(_Candidate(scene_id, product_id, product_id, box, box, world.product(product_id).category,
                                    categories, scene_boxes))
            if len(found) == n_pairs:
                return found
    raise ValueError(WORLD_TOO_SMALL.format(n_scenes=world.n_scenes, found=len(found), wanted=n_pairs))


def creator_pairs_generate(world, *, n_pairs: int, rates: dict, seed: int | None = None) -> CreatorPairsFile:
    """``n_pairs`` creator pairs of ``world`` with noise at ``rates`` (kind -> share of the pairs),
    each with its truth; deterministic for (world, n_pairs, rates, seed), ``seed`` the world's by
    default."""
    if isinstance(n_pairs, bool) or not isinstance(n_pairs, int) or n_pairs < 1:
        raise ValueError(PAIRS_COUNT_INVALID.format(value=n_pairs))
    seed = world.seed if seed is None else seed
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(SEED_INVALID.format(value=seed))
    if world.image_size != WORLD_IMAGE_SIZE:
        raise ValueError(WORLD_IMAGE_SIZE_UNSUPPORTED.format(size=WORLD_IMAGE_SIZE, got=world.image_size))
    rates = rates_check(rates)
    rng = np.random.default_rng([seed, 0xC4EA7, n_pairs])
    size = world.image_size
    catalogue = _Catalogue(world)
    pairs = _candidates(world, n_pairs)
    counts = {kind: int(round(rates[kind] * n_pairs)) for kind in NOISE_KINDS}
    # Which (scene, product) pairs the file holds: a replacement must not repeat one.
    listed: dict[int, set[int]] = {}
    for pair in pairs:
        listed.setdefault(pair.scene_id, set()).add(pair.product_id)

    def relist(pair: _Candidate, product_id: int) -> None:
        listed[pair.scene_id].discard(pair.product_id)
        listed[pair.scene_id].add(product_id)
        pair.product_id = product_id

    order = [int(i) for i in rng.permutation(n_pairs)]
    spam = order[:counts[NOISE_SPAM]]
    for index in spam:
        pair = pairs[index]
        relist(pair, catalogue.unrelated(pair.scene_categories, taken=listed[pair.scene_id], rng=rng))
        pair.true_product_id = None
        pair.box = pair.true_box = _background_box(pair.scene_boxes, size, rng)
        pair.true_category = catalogue.product(pair.product_id).category
        pair.noise.add(NOISE_SPAM)
    clean = order[counts[NOISE_SPAM]:]

    # Similar products first, from the pairs whose look the catalogue holds twice; then the rest.
    rank = {index: position for position, index in enumerate(order)}
    remaining = sorted(clean, key=lambda i: (len(catalogue.by_look.get(_look(catalogue.product(pairs[i].product_id)),
                                                                        ())) < 2, rank[i]))
    for kind, wanted_grade in ((NOISE_SIMILAR_PRODUCT, SIMILAR), (NOISE_NOT_MATCH_PRODUCT, MARGINALLY_SIMILAR)):
        for index in remaining[:counts[kind]]:
            pair = pairs[index]
            true = catalogue.product(pair.product_id)
            replacement = catalogue.replacement(true, wanted_grade=wanted_grade, taken=listed[pair.scene_id], rng=rng)
            if replacement is None:
                raise ValueError(NO_REPLACEMENT.format(kind=kind, product_id=true.id, category=true.category))
            relist(pair, replacement)
            pair.noise.add(kind)
        remaining = sorted(remaining[counts[kind]:], key=rank.__getitem__)

    for kind, move in ((NOISE_LOOSE_BOX, _loose_box), (NOISE_SHIFTED_BOX, _shifted_box)):
        for index in sorted(int(i) for i in rng.permutation(clean)[:counts[kind]]):
            pair = pairs[index]
            pair.box = move(pair.box, size, rng)
            pair.noise.add(kind)

    wrong_category = _wrong_categories(pairs, clean, counts[NOISE_WRONG_CATEGORY], rng)
    for index in clean:
        if pairs[index].product_id in wrong_category:
            pairs[index].noise.add(NOISE_WRONG_CATEGORY)
    path_of = {c.slug: c.path for c in taxonomy.categories()}
    categories = {}
    records = []
    for pair in pairs:
        product_key = world_product_key(seed=world.seed, product_id=pair.product_id)
        listed_category = wrong_category.get(pair.product_id) or catalogue.product(pair.product_id).category
        categories[product_key] = path_of[listed_category]
        match = (MATCH_SIMILAR if NOISE_SIMILAR_PRODUCT in pair.noise
                 else MATCH_NOT_MATCH if pair.noise & {NOISE_NOT_MATCH_PRODUCT, NOISE_SPAM} else MATCH_SAME)
        truth = {
            "noise": [kind for kind in NOISE_KINDS if kind in pair.noise],
            "true_box": list(_normalised(pair.true_box, size)),
            "true_category": pair.true_category,
            "match": match,
            "is_spam": NOISE_SPAM in pair.noise,
            "true_product": (world_product_key(seed=world.seed, product_id=pair.true_product_id)
                             if pair.true_product_id is not None else None),
        }
        records.append(CreatorPairRecord(
            scene_key=world_scene_key(seed=world.seed, n_products=world.n_products, scene_id=pair.scene_id),
            product_key=product_key, bbox=_normalised(pair.box, size), truth=truth))
    return CreatorPairsFile(pairs=records, categories=categories)


def _look(product: Product) -> tuple:
    return (product.category, product.color, product.pattern)


def _wrong_categories(pairs: list[_Candidate], clean: list[int], wanted: int, rng: np.random.Generator) -> dict[int, str]:
    """Products whose listed category is wrong (product id -> the category listed), chosen until
    their pairs make up ``wanted`` pairs. A product a spam pair lists keeps its category: spam has no
    other noise."""
    if not wanted:
        return {}
    clean_set = set(clean)
    spam_products = {pair.product_id for index, pair in enumerate(pairs) if index not in clean_set}
    pairs_of: dict[int, int] = {}
    category_of: dict[int, str] = {}
    for index in clean:
        product_id = pairs[index].product_id
        pairs_of[product_id] = pairs_of.get(product_id, 0) + 1
        category_of[product_id] = pairs[index].true_category  # the product's own: replacements keep the category
    products = [pid for pid in sorted(pairs_of) if pid not in spam_products]
    chosen: dict[int, str] = {}
    covered = 0
    for position in rng.permutation(len(products)):
        product_id = products[int(position)]
        if covered + pairs_of[product_id] > wanted:
            continue
        others = [slug for slug in taxonomy.CATEGORIES if slug != category_of[product_id]]
        chosen[product_id] = others[int(rng.integers(len(others)))]
        covered += pairs_of[product_id]
        if covered == wanted:
            break
    return chosen
