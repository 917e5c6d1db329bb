"""Offline evaluation of an embedder checkpoint on the demo world (seed 0, 2000 products, 400 scenes).

Queries: ground-truth-box crops of the chosen split's scenes. Corpus: the 2000 catalogue products
plus ``--distractors`` more products of the same seed (products 2000..), all rendered on white at
128 px and resized to the model's input size. Retrieval ranks the binarised codes by exact Hamming
distance (and, for comparison, the float embeddings by cosine) through
``models_runtime.metrics.retrieval``; attribute precision is measured on the attributes
``Embedder.embed`` returns, so a wrong category counts as a wrong attribute.

Evaluate (prints a JSON report)::

    PYTHONPATH=. .venv/bin/python benchmarks/embedder_offline.py \\
        --checkpoint fixtures/models/embedder_default.pt --threads 1 --out benchmarks/out/eval.json

Reproduce the training data of the default embedder from a fresh clone (about 4 minutes; the
train split of a 3000-scene world whose first 400 scenes are the demo world's, so the demo
world's val/test scenes stay unseen)::

    PYTHONPATH=. .venv/bin/python benchmarks/embedder_offline.py --export benchmarks/out/embedder_data

then train with ``python -m models_runtime.training.embedder --manifest
benchmarks/out/embedder_data/matching_train.jsonl --images benchmarks/out/embedder_data ...``
(the full command is in ``benchmarks/RESULTS_runtime_embedder.md``).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

REPOSITORY = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPOSITORY))

from models_runtime.embedder import Embedder  # noqa: E402
from models_runtime.metrics.retrieval import (  # noqa: E402
    attribute_precision_at_1,
    retrieval_ranks,
    top_k_accuracy_from_ranks,
)
from models_runtime.world import build_world, export_matching_manifest  # noqa: E402

DEMO_PRODUCTS = 2000
TRAINING_SCENES = 3000
CORPUS_RENDER_SIZE = 128
SPEED_CROPS = 1024
K_MAX = 10
ATTRIBUTES = ("color", "pattern", "fabric", "length", "dress_style", "gender")
DEFAULT_CHECKPOINT = REPOSITORY / "fixtures" / "models" / "embedder_default.pt"
DEFAULT_CACHE = REPOSITORY / "benchmarks" / "out" / "embedder_offline"


def export_training_data(out_dir: Path) -> Path:
    """The default embedder's training manifest: train split, scene crops plus products on white."""
    world = build_world(seed=0, n_products=DEMO_PRODUCTS, n_scenes=TRAINING_SCENES)
    return export_matching_manifest(world, out_dir, split="train", include_product_images=True)


def corpus_pixels(n_corpus: int, size: int, cache_dir: Path) -> np.ndarray:
    """``uint8 [n, size, size, 3]`` corpus images, rendered once per (corpus size, input size)."""
    cache = cache_dir / f"corpus_{n_corpus}_{size}.npy"
    if cache.exists():
        return np.load(cache)
    started = time.perf_counter()
    world = build_world(seed=0, n_products=n_corpus)
    pixels = np.stack([
        np.asarray(world.render_product(i, size=CORPUS_RENDER_SIZE).resize((size, size), Image.BILINEAR))
        for i in range(n_corpus)
    ])
    cache_dir.mkdir(parents=True, exist_ok=True)
    np.save(cache, pixels)
    print(f"rendered corpus of {n_corpus} at {size} px in {time.perf_counter() - started:.1f} s",
          file=sys.stderr, flush=True)
    return pixels


def evaluate(checkpoint: Path, split: str, distractors: int, cache_dir: Path) -> dict:
    embedder = Embedder.from_checkpoint(checkpoint, device="cpu")
    size = int(embedder.config["input_size"])
    world = build_world(seed=0)
    n_corpus = DEMO_PRODUCTS + distractors
    # The first DEMO_PRODUCTS products of a larger world of the same seed are the demo catalogue.
    corpus_world = build_world(seed=0, n_products=n_corpus)
    corpus_images = [Image.fromarray(p) for p in corpus_pixels(n_corpus, size, cache_dir)]

    queries, query_ids, query_categories = [], [], []
    truth: dict[str, list] = {name: [] for name in ATTRIBUTES}
    for scene in world.scenes_in(split):
        image = world.render_scene(scene)
        for obj in scene.objects:
            queries.append(image.crop(tuple(int(round(v)) for v in obj.box)))
            query_ids.append(obj.product_id)
            query_categories.append(obj.category)
            product = world.product(obj.product_id)
            for name in ATTRIBUTES:
                truth[name].append(getattr(product, name))

    started = time.perf_counter()
    corpus = embedder.embed(corpus_images, batch_size=256)
    corpus_seconds = time.perf_counter() - started
    result = embedder.embed(queries, batch_size=64)

    # Throughput of embed() on raw scene crops of varying size (resize + network), warm start.
    speed_crops = (queries * (1 + SPEED_CROPS // max(1, len(queries))))[:SPEED_CROPS]
    embedder.embed(speed_crops[:64])
    timings = []
    for _ in range(3):
        started = time.perf_counter()
        embedder.embed(speed_crops, batch_size=64)
        timings.append(time.perf_counter() - started)
    crops_per_second = len(speed_crops) / min(timings)

    corpus_ids = np.arange(n_corpus)
    ranks = retrieval_ranks(result.codes, query_ids, corpus.codes, corpus_ids, k_max=K_MAX)
    curve = top_k_accuracy_from_ranks(ranks, K_MAX)
    float_ranks = retrieval_ranks(result.embeddings, query_ids, corpus.embeddings, corpus_ids, k_max=K_MAX)
    catalogue_ranks = retrieval_ranks(result.codes, query_ids, corpus.codes[:DEMO_PRODUCTS],
                                      corpus_ids[:DEMO_PRODUCTS], k_max=K_MAX)
    predicted = {name: [attrs.get(name) for attrs in result.attributes] for name in ATTRIBUTES}
    predicted["gender"] = result.genders
    attribute_p1 = attribute_precision_at_1(predicted, truth)
    category_queries = float(np.mean([p == t for p, t in zip(result.categories, query_categories)]))
    category_corpus = float(np.mean([p == corpus_world.product(i).category
                                     for i, p in enumerate(corpus.categories)]))
    return {
        "checkpoint": str(checkpoint),
        "input_size": size,
        "split": split,
        "n_queries": len(queries),
        "corpus_size": n_corpus,
        "retrieval_p1_binary": float(curve[0]),
        "top_k_binary": [round(float(v), 4) for v in curve],
        "retrieval_p1_float": float(top_k_accuracy_from_ranks(float_ranks, 1)[0]),
        "retrieval_p1_binary_catalogue_only": float(top_k_accuracy_from_ranks(catalogue_ranks, 1)[0]),
        "attribute_p1": {name: round(value, 4) for name, value in attribute_p1.items()},
        "category_accuracy_queries": category_queries,
        "category_accuracy_corpus": category_corpus,
        "embed_crops_per_second": round(crops_per_second, 1),
        "torch_threads": torch.get_num_threads(),
        "corpus_embed_seconds": round(corpus_seconds, 1),
        "bit_balance_mean": float(np.unpackbits(corpus.codes, axis=1).mean()),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--checkpoint", type=Path, default=DEFAULT_CHECKPOINT)
    parser.add_argument("--split", default="test", choices=("train", "val", "test"))
    parser.add_argument("--distractors", type=int, default=10000)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE,
                        help="where rendered corpus images are kept between runs")
    parser.add_argument("--out", type=Path, default=None, help="also write the JSON report here")
    parser.add_argument("--export", type=Path, default=None, metavar="DIR",
                        help="instead of evaluating, write the default embedder's training manifest to DIR")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.export is not None:
        print(export_training_data(args.export))
        return
    report = evaluate(args.checkpoint, args.split, args.distractors, args.cache_dir)
    text = json.dumps(report, indent=2)
    print(text)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
