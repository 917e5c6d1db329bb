"""Offline evaluation of one checkpoint on the synthetic world (no people): the figures of the
seed's Table 2 (detector) and Tables 5 and 6 (embedder).

One implementation for the benchmark scripts (``benchmarks/detector_offline.py``,
``benchmarks/embedder_offline.py``) and the platform's offline-evaluation job
(``evaluation/offline.py``), so that both report the same figures for the same model and test
sets. The caller loads the model, and so chooses the device; the metrics are
``models_runtime.metrics``. Plain Python and PyTorch: never Django.

Test sets are a pure function of ``(seed, n_products, split, count)``: a split's first ``count``
scenes of the world with that seed and catalogue. Scene ids keep their split in every world size
(``world.scenes.scene_split``), so the 80 test scenes of the 400-scene demo world are the first 80
test scenes of any larger world of the same seed and catalogue, and the default models, trained
on the train split, never saw them.

``progress(done, total, step)`` is called after every unit of work, ``total`` fixed from the start
(scenes detected, products rendered and embedded, figures computed), so a caller can draw a bar.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Mapping

import numpy as np
from PIL import Image

from models_runtime.metrics.detection import coco_map, precision_recall_at_f1_optimal
from models_runtime.metrics.retrieval import attribute_precision_at_1, retrieval_ranks, top_k_accuracy_from_ranks
from models_runtime.world import SPLITS, Scene, World, build_world

if TYPE_CHECKING:
    from models_runtime.detector import Detector
    from models_runtime.embedder import Embedder

ProgressCallback = Callable[[int, int, str], None]

# Scenes of each split in every block of ten consecutive scene ids (world.scenes.scene_split).
SPLIT_SCENES_PER_TEN = {"train": 7, "val": 1, "test": 2}
# mAP ranks every detection down to this score; the P/R threshold is chosen among them.
DETECTION_SCORE_FLOOR = 0.05
DETECTION_BATCH = 8
# Scenes rendered and detected between two progress calls: a bar that moves, few callbacks.
SCENES_PER_STEP = 32
CORPUS_RENDER_SIZE = 128
CORPUS_BATCH = 256
# A multiple of CORPUS_BATCH, so embedding step by step makes the same batches as all at once.
CORPUS_PER_STEP = 4 * CORPUS_BATCH
QUERY_BATCH = 64
ATTRIBUTES = ("color", "pattern", "fabric", "length", "dress_style", "gender")
FIGURE_DIGITS = 4

SPLIT_UNKNOWN = "split must be one of " + ", ".join(SPLITS) + ", got {split!r}"
COUNT_INVALID = "{name} must be at least {minimum}, got {value}"


@dataclass(frozen=True)
class DetectorTestSets:
    """Validation scenes choose the F1-optimal score threshold; test scenes are measured."""

    seed: int = 0
    n_products: int = 2000
    val_scenes: int = 300
    test_scenes: int = 80

    def __post_init__(self) -> None:
        _at_least("n_products", self.n_products, 1)
        _at_least("val_scenes", self.val_scenes, 1)
        _at_least("test_scenes", self.test_scenes, 1)


@dataclass(frozen=True)
class EmbedderTestSets:
    """Queries: the ground-truth crops of ``query_scenes`` scenes of ``split``. Corpus: the
    catalogue (products ``0..n_products-1``, the ones the scenes show) plus ``distractors`` more
    products of the same seed. Top-K accuracy is measured for K = 1..``k_max``."""

    seed: int = 0
    n_products: int = 2000
    split: str = "test"
    query_scenes: int = 80
    distractors: int = 10000
    k_max: int = 10

    def __post_init__(self) -> None:
        if self.split not in SPLITS:
            raise ValueError(SPLIT_UNKNOWN.format(split=self.split))
        _at_least("n_products", self.n_products, 1)
        _at_least("query_scenes", self.query_scenes, 1)
        _at_least("distractors", self.distractors, 0)
        _at_least("k_max", self.k_max, 1)

    @property
    def corpus_size(self) -> int:
        return self.n_products + self.distractors


@dataclass
class OfflineReport:
    """``figures`` depend only on the model and the test sets; ``seconds`` is how long each stage took."""

    figures: dict
    seconds: dict[str, float] = field(default_factory=dict)


def _at_least(name: str, value: int, minimum: int) -> None:
    if value < minimum:
        raise ValueError(COUNT_INVALID.format(name=name, minimum=minimum, value=value))


class _Progress:
    def __init__(self, total: int, callback: ProgressCallback | None) -> None:
        self.total, self.done, self.callback = total, 0, callback

    def advance(self, units: int, step: str) -> None:
        self.done += units
        if self.callback is not None:
            self.callback(self.done, self.total, step)


class _Stopwatch:
    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._started = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.seconds[name] = round(self.seconds.get(name, 0.0) + now - self._started, 2)
        self._started = now


def split_scenes(*, seed: int, n_products: int, split: str, count: int) -> tuple[World, list[Scene]]:
    """The first ``count`` scenes of ``split`` in the world of ``seed`` and ``n_products``."""
    if split not in SPLITS:
        raise ValueError(SPLIT_UNKNOWN.format(split=split))
    _at_least("count", count, 1)
    n_scenes = math.ceil(count / SPLIT_SCENES_PER_TEN[split]) * 10
    world = build_world(seed=seed, n_products=n_products, n_scenes=n_scenes)
    return world, world.scenes_in(split)[:count]


def scene_truth(scene: Scene) -> dict:
    """A scene's true boxes in the form the detection metrics take."""
    return {"boxes": np.asarray([obj.box for obj in scene.objects], dtype=np.float32).reshape(-1, 4),
            "categories": [obj.category for obj in scene.objects]}


# -- detector ---------------------------------------------------------------------------------------

def _renamed(detections, category_map: Mapping[str, str] | None) -> dict:
    """A model's own class names replaced by the taxonomy slugs they map to (a model version's
    ``category_map``), so that a model with other names is scored against the same truth."""
    categories = list(detections.categories)
    if category_map:
        categories = [category_map.get(category, category) for category in categories]
    return {"boxes": detections.boxes, "categories": categories, "scores": detections.scores}


def _detect_split(detector: Detector, test_sets: DetectorTestSets, split: str, count: int, label: str,
                  category_map: Mapping[str, str] | None, progress: _Progress) -> tuple[list, list]:
    world, scenes = split_scenes(seed=test_sets.seed, n_products=test_sets.n_products, split=split, count=count)
    detections, truth = [], []
    for start in range(0, len(scenes), SCENES_PER_STEP):
        chunk = scenes[start:start + SCENES_PER_STEP]
        images = [world.render_scene(scene).convert("RGB") for scene in chunk]
        found = detector.detect(images, score_threshold=DETECTION_SCORE_FLOOR, batch_size=DETECTION_BATCH)
        detections.extend(_renamed(item, category_map) for item in found)
        truth.extend(scene_truth(scene) for scene in chunk)
        progress.advance(len(chunk), f"Detecting {label} scenes ({start + len(chunk)} of {len(scenes)})")
    return detections, truth


def detector_offline_evaluate(detector: Detector, test_sets: DetectorTestSets, *,
                              category_map: Mapping[str, str] | None = None,
                              progress: ProgressCallback | None = None) -> OfflineReport:
    """Seed Table 2 for one detector: test mAP (pycocotools) and precision/recall at the score
    threshold that maximises F1 on the validation scenes, on the fine categories and rolled up to
    coarse ones.

    ``figures``: ``{"val_scenes", "test_scenes", "test_boxes", "fine": {...}, "coarse": {...}}``
    where each scale holds ``map``, ``map50``, ``map75``, ``threshold``, ``precision``,
    ``recall`` and ``f1``.
    """
    tracker = _Progress(test_sets.val_scenes + test_sets.test_scenes + 2, progress)
    clock = _Stopwatch()
    val_detections, val_truth = _detect_split(detector, test_sets, "val", test_sets.val_scenes, "validation",
                                              category_map, tracker)
    test_detections, test_truth = _detect_split(detector, test_sets, "test", test_sets.test_scenes, "test",
                                                category_map, tracker)
    clock.lap("detect")
    figures: dict = {"val_scenes": len(val_truth), "test_scenes": len(test_truth),
                     "test_boxes": int(sum(len(truth["boxes"]) for truth in test_truth))}
    for rollup, scale in ((False, "fine"), (True, "coarse")):
        point = precision_recall_at_f1_optimal(val_detections, val_truth, test_detections, test_truth, rollup=rollup)
        figures[scale] = {**coco_map(test_detections, test_truth, rollup=rollup),
                          **{key: point[key] for key in ("threshold", "precision", "recall", "f1")}}
        tracker.advance(1, f"Scoring {scale} categories")
    clock.lap("score")
    return OfflineReport(figures=figures, seconds=clock.seconds)


# -- single products (seed Table 3's single-product mAP) ---------------------------------------------

SINGLE_PRODUCT_IMAGE_SIZE = 128


@dataclass(frozen=True)
class SingleProductTestSets:
    """Products photographed alone: ``count`` products of the world of ``seed`` that come after its
    ``n_products`` catalogue products, so none of them is in the catalogue a single-product dataset
    is built from, each rendered on every background in ``backgrounds`` (the seed's single-product
    images include busy ones). Truth: the product's tight box and its category."""

    seed: int = 0
    n_products: int = 2000
    count: int = 100
    backgrounds: tuple[str, ...] = ("white", "busy")

    def __post_init__(self) -> None:
        _at_least("n_products", self.n_products, 1)
        _at_least("count", self.count, 1)


def single_product_offline_evaluate(detector: Detector, test_sets: SingleProductTestSets, *,
                                    category_map: Mapping[str, str] | None = None,
                                    progress: ProgressCallback | None = None) -> OfflineReport:
    """Single-product mAP: pycocotools mAP on the held-out products alone, fine categories, overall
    and per background. ``figures``: ``{"images", "map", "map50", "map75", "by_background": {...}}``."""
    world = build_world(seed=test_sets.seed, n_products=test_sets.n_products + test_sets.count)
    products = [world.product(test_sets.n_products + index) for index in range(test_sets.count)]
    tracker = _Progress(len(products) * len(test_sets.backgrounds), progress)
    clock = _Stopwatch()
    figures: dict = {"images": 0, "by_background": {}}
    all_detections, all_truth = [], []
    for background in test_sets.backgrounds:
        detections, truth = [], []
        for start in range(0, len(products), SCENES_PER_STEP):
            chunk = products[start:start + SCENES_PER_STEP]
            images = [world.render_product(product, size=SINGLE_PRODUCT_IMAGE_SIZE, background=background).convert("RGB")
                      for product in chunk]
            found = detector.detect(images, score_threshold=DETECTION_SCORE_FLOOR, batch_size=DETECTION_BATCH)
            detections.extend(_renamed(item, category_map) for item in found)
            truth.extend({"boxes": np.asarray([world.product_box_on_white(product, SINGLE_PRODUCT_IMAGE_SIZE)],
                                              dtype=np.float32),
                          "categories": [product.category]} for product in chunk)
            tracker.advance(len(chunk), f"Detecting single products on {background} ({start + len(chunk)} of "
                                        f"{len(products)})")
        figures["by_background"][background] = coco_map(detections, truth)
        all_detections += detections
        all_truth += truth
    figures.update(coco_map(all_detections, all_truth))
    figures["images"] = len(all_truth)
    clock.lap("detect")
    return OfflineReport(figures=figures, seconds=clock.seconds)


# -- embedder ---------------------------------------------------------------------------------------

@dataclass
class EmbedderQueries:
    crops: list[Image.Image]
    product_ids: list[int]
    categories: list[str]
    truth: dict[str, list]  # attribute -> true value per crop (None where it does not apply)


def embedder_queries(test_sets: EmbedderTestSets, *, progress: ProgressCallback | None = None) -> EmbedderQueries:
    """The query crops: every ground-truth box of the chosen scenes, cut from the rendered scene."""
    world, scenes = split_scenes(seed=test_sets.seed, n_products=test_sets.n_products, split=test_sets.split,
                                 count=test_sets.query_scenes)
    queries = EmbedderQueries([], [], [], {name: [] for name in ATTRIBUTES})
    for number, scene in enumerate(scenes, start=1):
        image = world.render_scene(scene)
        for obj in scene.objects:
            queries.crops.append(image.crop(tuple(int(round(v)) for v in obj.box)))
            queries.product_ids.append(obj.product_id)
            queries.categories.append(obj.category)
            product = world.product(obj.product_id)
            for name in ATTRIBUTES:
                queries.truth[name].append(getattr(product, name))
        if progress is not None:
            progress(number, len(scenes), f"Cutting query crops ({number} of {len(scenes)} scenes)")
    return queries


def corpus_pixels(*, seed: int, n_corpus: int, size: int, cache_dir: Path | None = None,
                  progress: ProgressCallback | None = None) -> np.ndarray:
    """``uint8 [n, size, size, 3]``: products ``0..n_corpus-1`` of ``seed`` on white, rendered at
    128 px and resized to the model's input size; kept in ``cache_dir`` when one is given."""
    cache = cache_dir / f"corpus_seed{seed}_{n_corpus}_{size}.npy" if cache_dir is not None else None
    if cache is not None and cache.exists():
        pixels = np.load(cache)
        if progress is not None:
            progress(n_corpus, n_corpus, "Rendered corpus read from the cache")
        return pixels
    world = build_world(seed=seed, n_products=n_corpus)
    pixels = np.zeros((n_corpus, size, size, 3), dtype=np.uint8)
    for start in range(0, n_corpus, CORPUS_PER_STEP):
        stop = min(n_corpus, start + CORPUS_PER_STEP)
        for index in range(start, stop):
            pixels[index] = np.asarray(world.render_product(index, size=CORPUS_RENDER_SIZE)
                                       .resize((size, size), Image.BILINEAR))
        if progress is not None:
            progress(stop, n_corpus, f"Rendering the corpus ({stop} of {n_corpus} products)")
    if cache is not None:
        cache_dir.mkdir(parents=True, exist_ok=True)
        partial = cache.with_suffix(".partial.npy")
        np.save(partial, pixels)
        partial.replace(cache)  # a reader never sees half a file
    return pixels


def _share_equal(predicted: list[str], true: list[str]) -> float:
    return float(np.mean([p == t for p, t in zip(predicted, true)])) if true else 0.0


def _mapped(categories: list[str], category_map: Mapping[str, str] | None) -> list[str]:
    return [category_map.get(c, c) for c in categories] if category_map else list(categories)


def embedder_offline_evaluate(embedder: Embedder, test_sets: EmbedderTestSets, *,
                              category_map: Mapping[str, str] | None = None, corpus_cache_dir: Path | None = None,
                              progress: ProgressCallback | None = None) -> OfflineReport:
    """Seed Tables 5 and 6 for one embedder: retrieval P@1 and the top-K accuracy curve of the
    query crops against their true product hidden among the corpus (binary codes by exact
    Hamming distance, as the platform serves; float embeddings by cosine for comparison), and
    attribute P@1 of the attributes ``Embedder.embed`` predicts for the query crops.

    ``figures``: ``input_size``, ``split``, ``n_queries``, ``corpus_size``,
    ``retrieval_p1_binary``, ``top_k_binary`` (K = 1..k_max), ``retrieval_p1_float``,
    ``top_k_float``, ``retrieval_p1_binary_catalogue_only`` (distractors left out),
    ``attribute_p1`` (per attribute), ``category_accuracy_queries``, ``category_accuracy_corpus``
    and ``bit_balance_mean`` (share of 1 bits in the corpus codes; 0.5 uses the code best).
    """
    n_corpus, k_max = test_sets.corpus_size, test_sets.k_max
    size = int(embedder.config["input_size"])
    tracker = _Progress(2 * n_corpus + test_sets.query_scenes + 1, progress)
    clock = _Stopwatch()
    rendered = 0

    def render_step(done: int, total: int, step: str) -> None:
        nonlocal rendered
        tracker.advance(done - rendered, step)
        rendered = done

    pixels = corpus_pixels(seed=test_sets.seed, n_corpus=n_corpus, size=size, cache_dir=corpus_cache_dir,
                           progress=render_step)
    clock.lap("render_corpus")
    codes, embeddings, corpus_categories = [], [], []
    for start in range(0, n_corpus, CORPUS_PER_STEP):
        chunk = [Image.fromarray(p) for p in pixels[start:start + CORPUS_PER_STEP]]
        result = embedder.embed(chunk, batch_size=CORPUS_BATCH)
        codes.append(result.codes)
        embeddings.append(result.embeddings)
        corpus_categories.extend(result.categories)
        tracker.advance(len(chunk), f"Embedding the corpus ({start + len(chunk)} of {n_corpus} products)")
    corpus_codes, corpus_embeddings = np.concatenate(codes), np.concatenate(embeddings)
    clock.lap("embed_corpus")
    scenes_done = 0

    def query_step(done: int, total: int, step: str) -> None:
        nonlocal scenes_done
        tracker.advance(done - scenes_done, step)
        scenes_done = done

    queries = embedder_queries(test_sets, progress=query_step)
    result = embedder.embed(queries.crops, batch_size=QUERY_BATCH)
    clock.lap("embed_queries")

    corpus_ids = np.arange(n_corpus)
    catalogue = test_sets.n_products
    ranks = retrieval_ranks(result.codes, queries.product_ids, corpus_codes, corpus_ids, k_max=k_max)
    curve = top_k_accuracy_from_ranks(ranks, k_max)
    float_ranks = retrieval_ranks(result.embeddings, queries.product_ids, corpus_embeddings, corpus_ids, k_max=k_max)
    float_curve = top_k_accuracy_from_ranks(float_ranks, k_max)
    catalogue_ranks = retrieval_ranks(result.codes, queries.product_ids, corpus_codes[:catalogue],
                                      corpus_ids[:catalogue], k_max=k_max)
    predicted = {name: [attrs.get(name) for attrs in result.attributes] for name in ATTRIBUTES}
    predicted["gender"] = result.genders
    attribute_p1 = attribute_precision_at_1(predicted, queries.truth)
    corpus_world = build_world(seed=test_sets.seed, n_products=n_corpus)
    figures = {
        "input_size": size,
        "split": test_sets.split,
        "n_queries": len(queries.crops),
        "corpus_size": n_corpus,
        "retrieval_p1_binary": float(curve[0]),
        "top_k_binary": [round(float(v), FIGURE_DIGITS) for v in curve],
        "retrieval_p1_float": float(float_curve[0]),
        "top_k_float": [round(float(v), FIGURE_DIGITS) for v in float_curve],
        "retrieval_p1_binary_catalogue_only": float(top_k_accuracy_from_ranks(catalogue_ranks, 1)[0]),
        "attribute_p1": {name: round(value, FIGURE_DIGITS) for name, value in attribute_p1.items()},
        "category_accuracy_queries": _share_equal(_mapped(result.categories, category_map), queries.categories),
        "category_accuracy_corpus": _share_equal(_mapped(corpus_categories, category_map),
                                                 [corpus_world.product(i).category for i in range(n_corpus)]),
        "bit_balance_mean": float(np.unpackbits(corpus_codes, axis=1).mean()),
    }
    tracker.advance(1, "Scoring retrieval and attributes")
    clock.lap("score")
    return OfflineReport(figures=figures, seconds=clock.seconds)
