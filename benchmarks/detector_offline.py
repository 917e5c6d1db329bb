"""Offline evaluation of a detector checkpoint on the synthetic world (no humans needed).

Test: the demo world's test split (seed 0, 2,000 products, 400 scenes -> 80 scenes). The score
threshold is the one that maximises F1 on the validation split of the same seed's 3,000-scene
world (300 scenes, never trained on: splits depend only on seed and scene id). Prints COCO mAP
(pycocotools), precision and recall at that threshold, fine and rolled up to coarse categories,
and CPU inference time per scene at batch 1 and 8 for 1 and 2 threads.

    python benchmarks/detector_offline.py [--checkpoint fixtures/models/detector_default.pt]
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from models_runtime.detector import Detector  # noqa: E402
from models_runtime.metrics.detection import coco_map, precision_recall_at_f1_optimal  # noqa: E402
from models_runtime.training.detector import evaluate_detector, load_coco_detection  # noqa: E402
from models_runtime.world import build_world, export_coco  # noqa: E402


def ms_per_scene(detector: Detector, images: list[Image.Image], threshold: float, batch_size: int,
                 repeats: int = 3) -> float:
    detector.detect(images[:batch_size], score_threshold=threshold, batch_size=batch_size)  # warm-up
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        detector.detect(images, score_threshold=threshold, batch_size=batch_size)
        best = min(best, (time.perf_counter() - started) / len(images))
    return 1000 * best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default="fixtures/models/detector_default.pt")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    detector = Detector.from_checkpoint(args.checkpoint, device="cpu")
    with tempfile.TemporaryDirectory() as scratch:
        started = time.perf_counter()
        val_json = export_coco(build_world(seed=args.seed, n_scenes=3000), Path(scratch) / "val", "val")
        test_json = export_coco(build_world(seed=args.seed), Path(scratch) / "test", "test")
        print(f"exported val and test scenes in {time.perf_counter() - started:.1f} s", file=sys.stderr)
        val = load_coco_detection(val_json, keep_empty=True)
        test = load_coco_detection(test_json, keep_empty=True)
        val_detections, val_truth = evaluate_detector(detector, val, score_threshold=0.05)
        test_detections, test_truth = evaluate_detector(detector, test, score_threshold=0.05)
        report = {"checkpoint": args.checkpoint, "val_scenes": len(val), "test_scenes": len(test),
                  "test_boxes": int(sum(len(e.boxes) for e in test))}
        for rollup in (False, True):
            point = precision_recall_at_f1_optimal(val_detections, val_truth, test_detections, test_truth,
                                                   rollup=rollup)
            report["coarse" if rollup else "fine"] = {
                **coco_map(test_detections, test_truth, rollup=rollup),
                **{key: point[key] for key in ("threshold", "precision", "recall", "f1")}}
        images = [Image.open(e.image_path).convert("RGB") for e in test[:64]]
        threshold = report["fine"]["threshold"]
        speed = {}
        for threads in (1, 2):
            torch.set_num_threads(threads)
            for batch_size in (1, 8):
                speed[f"threads_{threads}_batch_{batch_size}_ms_per_scene"] = round(
                    ms_per_scene(detector, images, threshold, batch_size), 1)
        report["cpu_speed"] = speed
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
