"""Offline evaluation of an embedder checkpoint on the demo world (seed 0, 2000 products, 400 scenes).

Queries: ground-truth-box crops of the chosen split's scenes. Corpus: the 2000 catalogue products
plus ``--distractors`` more products of the same seed (products 2000..), all rendered on white at
128 px and resized to the model's input size. Retrieval ranks the binarised codes by exact Hamming
distance (and, for comparison, the float embeddings by cosine) through
``models_runtime.metrics.retrieval``; attribute precision is measured on the attributes
``Embedder.embed`` returns, so a wrong category counts as a wrong attribute.

The figures come from ``models_runtime.offline.embedder_offline_evaluate``, the function the
platform's offline-evaluation job runs (evaluation/OFFLINE.md), so both give the same numbers for
the same test sets; this script adds the throughput of ``embed`` and keeps rendered corpora in
``--cache-dir``.

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

import torch

REPOSITORY = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPOSITORY))

from models_runtime.embedder import Embedder  # noqa: E402
from models_runtime.offline import (  # noqa: E402
    SPLIT_SCENES_PER_TEN,
    EmbedderTestSets,
    embedder_offline_evaluate,
    embedder_queries,
)
from models_runtime.world import build_world, export_matching_manifest  # noqa: E402

DEMO_PRODUCTS = 2000
DEMO_SCENES = 400
TRAINING_SCENES = 3000
SPEED_CROPS = 1024
DEFAULT_CHECKPOINT = REPOSITORY / "fixtures" / "models" / "embedder_default.pt"
DEFAULT_CACHE = REPOSITORY / "benchmarks" / "out" / "embedder_offline"


def export_training_data(out_dir: Path) -> Path:
    """The default embedder's training manifest: train split, scene crops plus products on white."""
    world = build_world(seed=0, n_products=DEMO_PRODUCTS, n_scenes=TRAINING_SCENES)
    return export_matching_manifest(world, out_dir, split="train", include_product_images=True)


def print_progress(done: int, total: int, step: str) -> None:
    print(f"[{done}/{total}] {step}", file=sys.stderr, flush=True)


def crops_per_second(embedder: Embedder, crops: list) -> float:
    """Throughput of embed() on raw scene crops of varying size (resize + network), warm start."""
    speed_crops = (crops * (1 + SPEED_CROPS // max(1, len(crops))))[:SPEED_CROPS]
    embedder.embed(speed_crops[:64])
    timings = []
    for _ in range(3):
        started = time.perf_counter()
        embedder.embed(speed_crops, batch_size=64)
        timings.append(time.perf_counter() - started)
    return len(speed_crops) / min(timings)


def evaluate(checkpoint: Path, test_sets: EmbedderTestSets, cache_dir: Path, *, speed: bool = True) -> dict:
    embedder = Embedder.from_checkpoint(checkpoint, device="cpu")
    evaluated = embedder_offline_evaluate(embedder, test_sets, corpus_cache_dir=cache_dir, progress=print_progress)
    report = {"checkpoint": str(checkpoint), **evaluated.figures}
    if speed:
        report["embed_crops_per_second"] = round(crops_per_second(embedder, embedder_queries(test_sets).crops), 1)
    report["torch_threads"] = torch.get_num_threads()
    report["corpus_embed_seconds"] = round(evaluated.seconds["embed_corpus"], 1)
    return report


def main(argv: list[str] | None = None) -> dict | None:
    defaults = EmbedderTestSets()
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--checkpoint", type=Path, default=DEFAULT_CHECKPOINT)
    parser.add_argument("--split", default="test", choices=("train", "val", "test"))
    parser.add_argument("--distractors", type=int, default=defaults.distractors)
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--products", type=int, default=defaults.n_products, help="the catalogue the scenes show")
    parser.add_argument("--query-scenes", type=int, default=None,
                        help="scenes whose true boxes are the queries (default: the split's scenes of the "
                             f"{DEMO_SCENES}-scene demo world)")
    parser.add_argument("--k-max", type=int, default=defaults.k_max, help="longest top-K of the accuracy curve")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE,
                        help="where rendered corpus images are kept between runs")
    parser.add_argument("--no-speed", action="store_true", help="leave out the throughput measurement")
    parser.add_argument("--out", type=Path, default=None, help="also write the JSON report here")
    parser.add_argument("--export", type=Path, default=None, metavar="DIR",
                        help="instead of evaluating, write the default embedder's training manifest to DIR")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.export is not None:
        print(export_training_data(args.export))
        return None
    query_scenes = args.query_scenes or DEMO_SCENES * SPLIT_SCENES_PER_TEN[args.split] // 10
    test_sets = EmbedderTestSets(seed=args.seed, n_products=args.products, split=args.split,
                                 query_scenes=query_scenes, distractors=args.distractors, k_max=args.k_max)
    report = evaluate(args.checkpoint, test_sets, args.cache_dir, speed=not args.no_speed)
    text = json.dumps(report, indent=2)
    print(text)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")
    return report


if __name__ == "__main__":
    main()
