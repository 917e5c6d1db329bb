"""Detector trainer: COCO detection JSON + image folder in, a detector checkpoint and a JSON record out.

The input is the platform's detection export (``models_runtime.world.export_coco`` writes the same
format): category names are taxonomy slugs, so labels map by name and survive id renumbering.
Augmentation follows the seed (section 5.1.3): multi-scale training, the scene and its boxes
resized to a random size within a range while keeping the aspect ratio, plus horizontal flips.

CLI::

    python -m models_runtime.training.detector --coco train.json --images dir --out ckpt.pt \
        --arch small --steps 2000 --batch-size 8 --seed 0 [--val-coco val.json --val-images dir]
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from PIL import Image
from torchvision.transforms.functional import pil_to_tensor

from models_runtime import taxonomy
from models_runtime.checkpoints import save_checkpoint
from models_runtime.detector import Detector, build_detector, resolve_config
from models_runtime.device import pick_device
from models_runtime.checkpoints import load_checkpoint
from models_runtime.training.common import (TRAINING_CANCELLED, ProgressCallback, StepTimer, StopCheck,
                                          TrainingCancelled, init_summary, init_weights_load, print_progress,
                                          seed_everything)

OPTIMIZERS = ("sgd", "adamw")
SCHEDULES = ("cosine", "step")

UNKNOWN_COCO_CATEGORY_ERROR = "COCO category {name!r} (id {id}) is not a taxonomy category"
EMPTY_DATASET_ERROR = "{path} holds no image with a usable box"
UNKNOWN_OPTIMIZER_ERROR = "optimizer must be one of " + ", ".join(OPTIMIZERS) + ", got {name!r}"
UNKNOWN_SCHEDULE_ERROR = "schedule must be one of " + ", ".join(SCHEDULES) + ", got {name!r}"
SCALE_RANGE_ERROR = "scale range must satisfy 0 < low <= high, got {scale_range}"
NON_FINITE_LOSS_ERROR = "training loss became {loss} at step {step}; lower the learning rate"

# Sizes of a multi-scale batch are multiples of this, the small backbone's largest stride.
SIZE_MULTIPLE = 32


@dataclass(frozen=True)
class DetectionExample:
    image_path: Path
    boxes: np.ndarray  # float32 [n, 4] x0 y0 x1 y1 pixels
    labels: np.ndarray  # int64 [n], detector labels (taxonomy index + 1)

    @property
    def categories(self) -> list[str]:
        return [taxonomy.category_of_detector_label(int(label)) for label in self.labels]


def load_coco_detection(coco_path: str | Path, images_dir: str | Path | None = None,
                        *, keep_empty: bool = False) -> list[DetectionExample]:
    """Examples from a COCO detection JSON; crowd and degenerate boxes are left out.

    ``keep_empty`` keeps images without boxes (evaluation wants them: false positives count).
    """
    coco_path = Path(coco_path)
    images_dir = Path(images_dir) if images_dir is not None else coco_path.parent
    coco = json.loads(coco_path.read_text())
    label_of: dict[int, int] = {}
    for category in coco.get("categories", []):
        if category["name"] not in taxonomy.CATEGORY_INDEX:
            raise ValueError(UNKNOWN_COCO_CATEGORY_ERROR.format(name=category["name"], id=category["id"]))
        label_of[int(category["id"])] = taxonomy.detector_label(category["name"])
    boxes_of: dict[int, list[list[float]]] = {}
    labels_of: dict[int, list[int]] = {}
    for annotation in coco.get("annotations", []):
        if annotation.get("iscrowd", 0):
            continue
        x, y, w, h = (float(v) for v in annotation["bbox"])
        if w <= 1.0 or h <= 1.0:
            continue
        boxes_of.setdefault(annotation["image_id"], []).append([x, y, x + w, y + h])
        labels_of.setdefault(annotation["image_id"], []).append(label_of[int(annotation["category_id"])])
    examples = []
    for image in sorted(coco.get("images", []), key=lambda entry: entry["id"]):
        boxes = boxes_of.get(image["id"], [])
        if not boxes and not keep_empty:
            continue
        examples.append(DetectionExample(
            image_path=images_dir / image["file_name"],
            boxes=np.asarray(boxes, dtype=np.float32).reshape(-1, 4),
            labels=np.asarray(labels_of.get(image["id"], []), dtype=np.int64),
        ))
    if not any(len(example.boxes) for example in examples):
        raise ValueError(EMPTY_DATASET_ERROR.format(path=coco_path))
    return examples


def _load_image(path: Path) -> torch.Tensor:
    with Image.open(path) as image:
        return pil_to_tensor(image.convert("RGB")).float().div_(255.0)


def _augmented(example: DetectionExample, flip: bool) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    image = _load_image(example.image_path)
    boxes = torch.from_numpy(example.boxes.copy())
    if flip:
        width = image.shape[-1]
        image = image.flip(-1)
        boxes = torch.stack([width - boxes[:, 2], boxes[:, 1], width - boxes[:, 0], boxes[:, 3]], dim=1)
    return image, {"boxes": boxes, "labels": torch.from_numpy(example.labels.copy())}


def multiscale_sizes(min_size: int, scale_range: tuple[float, float]) -> tuple[int, ...]:
    """Short-side sizes a training batch is resized to: multiples of 32 within the scale range."""
    low, high = scale_range
    if not 0 < low <= high:
        raise ValueError(SCALE_RANGE_ERROR.format(scale_range=scale_range))
    first = max(SIZE_MULTIPLE, math.ceil(min_size * low / SIZE_MULTIPLE) * SIZE_MULTIPLE)
    last = math.floor(min_size * high / SIZE_MULTIPLE) * SIZE_MULTIPLE
    # A range too narrow to hold a multiple of 32 (no augmentation asked) trains at min_size.
    return tuple(range(first, last + 1, SIZE_MULTIPLE)) if first <= last else (min_size,)


def learning_rate_factor(step: int, *, steps: int, warmup_steps: int, schedule: str) -> float:
    """Linear warmup from 1/1000, then cosine decay to zero or steps of x0.1 at 2/3 and 8/9."""
    if schedule not in SCHEDULES:
        raise ValueError(UNKNOWN_SCHEDULE_ERROR.format(name=schedule))
    if step < warmup_steps:
        return 0.001 + (1.0 - 0.001) * step / warmup_steps
    if schedule == "cosine":
        progress = (step - warmup_steps) / max(1, steps - warmup_steps)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))
    return 0.1 ** sum(step >= milestone for milestone in (steps * 2 // 3, steps * 8 // 9))


def _optimizer(model: torch.nn.Module, name: str, lr: float, weight_decay: float) -> torch.optim.Optimizer:
    if name not in OPTIMIZERS:
        raise ValueError(UNKNOWN_OPTIMIZER_ERROR.format(name=name))
    # Weight decay on BatchNorm and bias parameters only shrinks them toward zero for no benefit.
    decayed = [p for p in model.parameters() if p.requires_grad and p.ndim > 1]
    undecayed = [p for p in model.parameters() if p.requires_grad and p.ndim <= 1]
    groups = [{"params": decayed, "weight_decay": weight_decay},
              {"params": undecayed, "weight_decay": 0.0}]
    if name == "sgd":
        return torch.optim.SGD(groups, lr=lr, momentum=0.9)
    return torch.optim.AdamW(groups, lr=lr)


def evaluate_detector(detector: Detector, examples: Sequence[DetectionExample], *,
                      score_threshold: float = 0.05, batch_size: int = 8) -> tuple[list, list]:
    """``(detections, ground_truth)`` for ``examples``, in the form the detection metrics take."""
    detections = []
    for start in range(0, len(examples), batch_size):
        images = []
        for example in examples[start:start + batch_size]:
            with Image.open(example.image_path) as image:
                images.append(image.convert("RGB"))
        detections.extend(detector.detect(images, score_threshold=score_threshold, batch_size=batch_size))
    truth = [{"boxes": example.boxes, "categories": example.categories} for example in examples]
    return detections, truth


def _data_summary(examples: Sequence[DetectionExample], coco_path: Path) -> dict[str, Any]:
    per_category: dict[str, int] = {}
    for example in examples:
        for category in example.categories:
            per_category[category] = per_category.get(category, 0) + 1
    return {"coco": str(coco_path), "images": len(examples),
            "boxes": int(sum(len(example.boxes) for example in examples)),
            "boxes_per_category": dict(sorted(per_category.items()))}


def train_detector(*, coco_path: str | Path, images_dir: str | Path | None = None,
                   out_path: str | Path, arch: str = "small", steps: int = 2000, batch_size: int = 8,
                   seed: int = 0, optimizer: str = "adamw", lr: float | None = None,
                   weight_decay: float = 1e-4, schedule: str = "cosine", warmup_steps: int = 100,
                   scale_range: tuple[float, float] = (0.75, 1.25), hflip_probability: float = 0.5,
                   min_size: int = 256, max_size: int | None = None,
                   config_overrides: dict[str, Any] | None = None,
                   val_coco_path: str | Path | None = None, val_images_dir: str | Path | None = None,
                   record_path: str | Path | None = None, log_every: int = 20,
                   num_threads: int | None = None, device: str | None = None,
                   progress: ProgressCallback | None = print_progress,
                   command: str | None = None, init_checkpoint: str | Path | None = None,
                   should_stop: StopCheck | None = None) -> dict[str, Any]:
    """Train a detector and save it (float16) with its config; returns the training record.

    ``init_checkpoint`` fine-tunes a parent detector: its config (the architecture) is used, with
    ``config_overrides`` laid over it, and every weight whose shape fits is copied
    (``init_weights_load``). ``should_stop`` is asked before each step; when it says stop, the
    trainer raises ``TrainingCancelled`` and writes nothing.

    The record (also written as JSON, by default beside the checkpoint) holds the command, the
    config, the data sizes, the loss curve, the wall time and, with a validation set, its mAP.
    """
    seed_everything(seed)
    if num_threads:
        torch.set_num_threads(num_threads)
    coco_path = Path(coco_path)
    out_path = Path(out_path)
    record_path = Path(record_path) if record_path else out_path.with_suffix(".json")
    examples = load_coco_detection(coco_path, images_dir)
    max_size = max_size or min_size
    parent_state = None
    if init_checkpoint is not None:
        parent_config, parent_state, _ = load_checkpoint(init_checkpoint, kind="detector")
        config = resolve_config({**parent_config, **(config_overrides or {})})
        arch, min_size, max_size = config.get("arch", arch), config.get("min_size", min_size), config.get("max_size", max_size)
    else:
        config = resolve_config({"arch": arch, "min_size": min_size, "max_size": max_size,
                                 **(config_overrides or {})})
    lr = lr if lr is not None else (0.02 if optimizer == "sgd" else 1e-3)
    run_device = pick_device(device)
    model = build_detector(config)
    init_report = init_weights_load(model, parent_state) if parent_state is not None else None
    model = model.to(run_device)
    model.train()
    opt = _optimizer(model, optimizer, lr, weight_decay)
    sizes = multiscale_sizes(min_size, scale_range)
    rng = np.random.default_rng(seed)
    order: list[int] = []
    timer = StepTimer()
    started = time.perf_counter()
    losses: list[dict[str, float]] = []
    window: dict[str, list[float]] = {}
    for step in range(1, steps + 1):
        if should_stop is not None and should_stop():
            raise TrainingCancelled(TRAINING_CANCELLED.format(step=step - 1))
        if len(order) < batch_size:
            order.extend(rng.permutation(len(examples)).tolist())
        batch_indices, order = order[:batch_size], order[batch_size:]
        flips = rng.random(len(batch_indices)) < hflip_probability
        # One size per batch rather than per image: torchvision pads a batch to its largest image,
        # so mixed sizes would cost the largest size's compute for every image.
        size = int(sizes[rng.integers(len(sizes))])
        model.transform.min_size = (size,)
        model.transform.max_size = int(math.ceil(size * max_size / min_size))
        images, targets = [], []
        for index, flip in zip(batch_indices, flips):
            image, target = _augmented(examples[index], bool(flip))
            images.append(image.to(run_device))
            targets.append({key: value.to(run_device) for key, value in target.items()})
        factor = learning_rate_factor(step - 1, steps=steps, warmup_steps=warmup_steps, schedule=schedule)
        for group in opt.param_groups:
            group["lr"] = lr * factor
        loss_parts = model(images, targets)
        loss = sum(loss_parts.values())
        if not torch.isfinite(loss):
            raise FloatingPointError(NON_FINITE_LOSS_ERROR.format(loss=float(loss), step=step))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        # From-scratch detectors see a few huge gradients early on (random proposals); clipping
        # keeps one bad batch from undoing the warmup.
        torch.nn.utils.clip_grad_norm_(model.parameters(), 10.0)
        opt.step()
        seconds_per_step = timer.tick()
        for name, value in {"loss": loss.item(), **{k: v.item() for k, v in loss_parts.items()}}.items():
            window.setdefault(name, []).append(value)
        if step % log_every == 0 or step == steps:
            averaged = {name: float(np.mean(values)) for name, values in window.items()}
            window = {}
            losses.append({"step": step, **averaged})
            if progress:
                progress({"step": step, "steps": steps, **averaged, "lr": lr * factor,
                          "size": size, "s_per_step": seconds_per_step})
    train_seconds = time.perf_counter() - started
    model.transform.min_size = (min_size,)
    model.transform.max_size = max_size
    model.eval()
    record: dict[str, Any] = {
        "command": command,
        "arch": arch,
        "config": config,
        "parameters": int(sum(p.numel() for p in model.parameters())),
        "steps": steps, "batch_size": batch_size, "seed": seed,
        "optimizer": optimizer, "lr": lr, "weight_decay": weight_decay, "schedule": schedule,
        "warmup_steps": warmup_steps, "multiscale_sizes": list(sizes), "hflip_probability": hflip_probability,
        "device": str(run_device), "threads": torch.get_num_threads(),
        "train_seconds": round(train_seconds, 1), "seconds_per_step": round(train_seconds / steps, 4),
        "data": {"train": _data_summary(examples, coco_path)},
        "losses": losses,
        "final_loss": losses[-1]["loss"] if losses else None,
        "init_checkpoint": str(init_checkpoint) if init_checkpoint is not None else None,
        "init": init_summary(init_report) if init_report is not None else None,
    }
    if val_coco_path is not None:
        from models_runtime.metrics.detection import coco_map, f1_optimal_threshold

        val_examples = load_coco_detection(val_coco_path, val_images_dir, keep_empty=True)
        detector = Detector(model, config, run_device)
        val_detections, val_truth = evaluate_detector(detector, val_examples)
        best = f1_optimal_threshold(val_detections, val_truth)
        record["data"]["val"] = _data_summary(val_examples, Path(val_coco_path))
        record["val"] = {**coco_map(val_detections, val_truth), "f1_optimal_threshold": best.threshold,
                         "precision": best.precision, "recall": best.recall, "f1": best.f1}
        if progress:
            progress({"step": steps, "steps": steps, **{f"val_{k}": v for k, v in record["val"].items()}})
    meta = {"training": {key: record[key] for key in ("command", "arch", "steps", "batch_size", "seed", "train_seconds")},
            "val": record.get("val")}
    if record.get("val"):
        # The operating point the platform runs the detector at (seed Table 2's protocol).
        meta["score_threshold"] = record["val"]["f1_optimal_threshold"]
    save_checkpoint(out_path, kind="detector", config=config, state_dict=model.state_dict(), meta=meta, half=True)
    record["checkpoint"] = str(out_path)
    record["checkpoint_bytes"] = out_path.stat().st_size
    record_path.parent.mkdir(parents=True, exist_ok=True)
    record_path.write_text(json.dumps(record, indent=1) + "\n")
    return record


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m models_runtime.training.detector",
                                     description="Train a Faster R-CNN detector on a COCO detection export.")
    parser.add_argument("--coco", required=True, help="COCO detection JSON of the training split")
    parser.add_argument("--images", help="image folder (default: the JSON's folder)")
    parser.add_argument("--out", required=True, help="checkpoint path to write")
    parser.add_argument("--record", help="training record JSON (default: the checkpoint path with .json)")
    parser.add_argument("--arch", default="small")
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--optimizer", choices=OPTIMIZERS, default="adamw")
    parser.add_argument("--lr", type=float)
    parser.add_argument("--weight-decay", type=float, default=1e-4)
    parser.add_argument("--schedule", choices=SCHEDULES, default="cosine")
    parser.add_argument("--warmup-steps", type=int, default=100)
    parser.add_argument("--scale-range", type=float, nargs=2, default=(0.75, 1.25), metavar=("LOW", "HIGH"))
    parser.add_argument("--hflip", type=float, default=0.5, help="probability of a horizontal flip")
    parser.add_argument("--min-size", type=int, default=256)
    parser.add_argument("--max-size", type=int)
    parser.add_argument("--config", type=json.loads, default=None,
                        help='extra detector config as JSON, e.g. \'{"anchor_sizes": [16, 32, 64, 128]}\'')
    parser.add_argument("--val-coco")
    parser.add_argument("--val-images")
    parser.add_argument("--log-every", type=int, default=20)
    parser.add_argument("--threads", type=int)
    parser.add_argument("--device")
    args = parser.parse_args(argv)
    record = train_detector(
        coco_path=args.coco, images_dir=args.images, out_path=args.out, record_path=args.record,
        arch=args.arch, steps=args.steps, batch_size=args.batch_size, seed=args.seed,
        optimizer=args.optimizer, lr=args.lr, weight_decay=args.weight_decay, schedule=args.schedule,
        warmup_steps=args.warmup_steps, scale_range=tuple(args.scale_range), hflip_probability=args.hflip,
        min_size=args.min_size, max_size=args.max_size, config_overrides=args.config,
        val_coco_path=args.val_coco, val_images_dir=args.val_images, log_every=args.log_every,
        num_threads=args.threads, device=args.device,
        command="python -m models_runtime.training.detector " + " ".join(
            argv if argv is not None else sys.argv[1:]),
    )
    print(json.dumps({key: record[key] for key in ("checkpoint", "steps", "train_seconds", "final_loss")}
                     | ({"val": record["val"]} if "val" in record else {})))
    return record


if __name__ == "__main__":
    main()
