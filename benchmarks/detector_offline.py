"""Offline evaluation of a detector checkpoint on the synthetic world (no humans needed).

Test: the demo world's test split (seed 0, 2,000 products, the 80 test scenes of the 400-scene
world). The score threshold is the one that maximises F1 on 300 validation scenes of the same
seed (the val split of its 3,000-scene world, never trained on: splits depend only on seed and
scene id). Prints COCO mAP (pycocotools), precision and recall at that threshold, fine and rolled
up to coarse categories, and CPU inference time per scene at batch 1 and 8 for 1 and 2 threads.

The figures come from ``models_runtime.offline.detector_offline_evaluate``, the function the
platform's offline-evaluation job runs (evaluation/OFFLINE.md), so both give the same numbers for
the same test sets.

    python benchmarks/detector_offline.py [--checkpoint fixtures/models/detector_default.pt]
        [--seed 0] [--products 2000] [--val-scenes 300] [--test-scenes 80] [--no-speed]
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from models_runtime.detector import Detector  # noqa: E402
from models_runtime.offline import DetectorTestSets, detector_offline_evaluate, split_scenes  # noqa: E402

SPEED_SCENES = 64


def ms_per_scene(detector: Detector, images: list[Image.Image], threshold: float, batch_size: int,
                 repeats: int = 3) -> float:
    detector.detect(images[:batch_size], score_threshold=threshold, batch_size=batch_size)  # warm-up
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        detector.detect(images, score_threshold=threshold, batch_size=batch_size)
        best = min(best, (time.perf_counter() - started) / len(images))
    return 1000 * best


def print_progress(done: int, total: int, step: str) -> None:
    print(f"[{done}/{total}] {step}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> dict:
    defaults = DetectorTestSets()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default="fixtures/models/detector_default.pt")
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--products", type=int, default=defaults.n_products, help="catalogue the scenes draw from")
    parser.add_argument("--val-scenes", type=int, default=defaults.val_scenes,
                        help="validation scenes that choose the F1-optimal threshold")
    parser.add_argument("--test-scenes", type=int, default=defaults.test_scenes)
    parser.add_argument("--no-speed", action="store_true", help="leave out the CPU timing")
    args = parser.parse_args(argv)
    detector = Detector.from_checkpoint(args.checkpoint, device="cpu")
    test_sets = DetectorTestSets(seed=args.seed, n_products=args.products, val_scenes=args.val_scenes,
                                 test_scenes=args.test_scenes)
    evaluated = detector_offline_evaluate(detector, test_sets, progress=print_progress)
    print(f"detected and scored in {sum(evaluated.seconds.values()):.1f} s", file=sys.stderr)
    report = {"checkpoint": args.checkpoint, **evaluated.figures}
    if not args.no_speed:
        world, scenes = split_scenes(seed=args.seed, n_products=args.products, split="test", count=args.test_scenes)
        images = [world.render_scene(scene).convert("RGB") for scene in scenes[:SPEED_SCENES]]
        threshold = report["fine"]["threshold"]
        speed = {}
        for threads in (1, 2):
            torch.set_num_threads(threads)
            for batch_size in (1, 8):
                speed[f"threads_{threads}_batch_{batch_size}_ms_per_scene"] = round(
                    ms_per_scene(detector, images, threshold, batch_size), 1)
        report["cpu_speed"] = speed
    print(json.dumps(report, indent=1))
    return report


if __name__ == "__main__":
    main()
