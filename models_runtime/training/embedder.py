"""Multi-task embedding trainer (seed 6.2 and A.3, after Zhai & Wu, BMVC 2019).

Reads the platform's matching/attribute export: JSON lines, one record per crop,
``{"image", "box", "product_id", "category", "color", "pattern", "fabric", "length",
"dress_style", "gender"}`` (a missing or null attribute is unknown and left out of that loss).

Loss per step, every term a normalised softmax (cosine logits / temperature) on the embedding:

    category CE + instance CE over a subsample of ``instances_per_step`` products that always
    contains the batch's own products + ``attribute_weight`` (0.1, seed A.3) x each attribute CE
    + ``sign_code_weight`` x the same instance CE computed on the sign codes.

The sign-code term feeds the instance head the binarised embedding (sign of each dimension,
scaled to unit length) with a straight-through gradient: retrieval in production ranks by Hamming
distance, i.e. by the cosine of sign codes, so this trains the quantity that is actually served
instead of hoping the float geometry survives binarisation. Weight 0 (the default) leaves the
original recipe unchanged.

Crops are decoded once into a uint8 tensor with some context around each box, so augmentation
(box jitter, horizontal flip, brightness/contrast) is one batched ``grid_sample`` per step instead
of PIL work per sample. Brightness and contrast act on all channels alike, so they never change a
pixel's hue: colour is a label here.

CLI::

    python -m models_runtime.training.embedder --manifest m.jsonl --images dir --out ckpt.pt \\
        --steps 3000 --batch-size 128 --seed 0
"""
from __future__ import annotations

import argparse
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from models_runtime import taxonomy
from models_runtime.checkpoints import save_checkpoint
from models_runtime.device import pick_device
from models_runtime.embedder import (
    EmbeddingModel,
    build_embedder,
    full_config,
    inference_state_dict,
)
from models_runtime.checkpoints import load_checkpoint
from models_runtime.training.common import (TRAINING_CANCELLED, ProgressCallback, StepTimer, StopCheck,
                                          TrainingCancelled, init_summary, init_weights_load, print_progress,
                                          seed_everything)

# Stored crops hold the box plus this much context (as a factor of the box size) so that box
# jitter can look slightly outside the box without re-reading the image.
CONTEXT_SCALE = 1.3
UNKNOWN = -1

ERROR_EMPTY_MANIFEST = "the manifest holds no records: {path}"
ERROR_UNKNOWN_CATEGORY = "record {line} has unknown category {category!r}"
ERROR_UNKNOWN_ATTRIBUTE_VALUE = "record {line} has unknown {attribute} value {value!r}"
ERROR_BAD_BOX = "record {line} has an empty or malformed box {box!r}"
ERROR_UNKNOWN_OPTIMIZER = "optimizer must be 'sgd' or 'adamw', got {optimizer!r}"

DEFAULT_TRAINING: dict[str, Any] = {
    "steps": 3000,
    "batch_size": 128,
    "optimizer": "sgd",
    "lr": 0.1,
    "weight_decay": 1e-4,
    "momentum": 0.9,
    "warmup_steps": 100,
    "instances_per_step": 2048,
    "attribute_weight": 0.1,
    "sign_code_weight": 0.0,
    "box_jitter": 0.1,
    "brightness": 0.25,
    "contrast": 0.2,
    "log_every": 50,
}


def load_manifest(path: str | Path) -> list[dict[str, Any]]:
    records = [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]
    if not records:
        raise ValueError(ERROR_EMPTY_MANIFEST.format(path=path))
    return records


@dataclass
class CropSet:
    """Pre-decoded training crops and their labels (``UNKNOWN`` = -1 where a label is absent)."""

    pixels: torch.Tensor          # uint8 [n, 3, S, S]: box plus context, squashed to a square
    inner_boxes: torch.Tensor     # float [n, 4]: the box inside the stored square, in [-1, 1]
    instances: torch.Tensor       # int64 [n]: index into product_ids
    categories: torch.Tensor      # int64 [n]
    attributes: dict[str, torch.Tensor]  # name -> int64 [n]
    product_ids: list[int]        # instance index -> product id

    def __len__(self) -> int:
        return int(self.instances.shape[0])


def _label_index(record: dict, line: int) -> tuple[int, dict[str, int]]:
    category = record.get("category")
    if category not in taxonomy.CATEGORY_INDEX:
        raise ValueError(ERROR_UNKNOWN_CATEGORY.format(line=line, category=category))
    attribute_labels = {}
    for name, attribute in taxonomy.ATTRIBUTES.items():
        value = record.get(name)
        if value is None:
            attribute_labels[name] = UNKNOWN
        elif value not in attribute.values:
            raise ValueError(ERROR_UNKNOWN_ATTRIBUTE_VALUE.format(line=line, attribute=name, value=value))
        else:
            attribute_labels[name] = attribute.values.index(value)
    return taxonomy.CATEGORY_INDEX[category], attribute_labels


def prepare_crops(records: Sequence[dict], images_dir: str | Path, input_size: int) -> CropSet:
    """Decode every crop once: the box grown by ``CONTEXT_SCALE`` (clipped to the image), resized."""
    images_dir = Path(images_dir)
    stored = int(round(input_size * CONTEXT_SCALE))
    pixels = np.empty((len(records), stored, stored, 3), dtype=np.uint8)
    inner = np.empty((len(records), 4), dtype=np.float32)
    product_ids = sorted({int(r["product_id"]) for r in records})
    instance_of = {pid: i for i, pid in enumerate(product_ids)}
    instances = np.empty(len(records), dtype=np.int64)
    categories = np.empty(len(records), dtype=np.int64)
    attributes = {name: np.empty(len(records), dtype=np.int64) for name in taxonomy.ATTRIBUTES}

    # Records of one scene share its image: decode each file once.
    order = sorted(range(len(records)), key=lambda i: records[i]["image"])
    current_path, image = None, None
    for i in order:
        record = records[i]
        if record["image"] != current_path:
            current_path = record["image"]
            with Image.open(images_dir / current_path) as opened:
                image = opened.convert("RGB")
        box = record.get("box")
        if box is None:
            box = [0.0, 0.0, float(image.width), float(image.height)]
        if len(box) != 4:
            raise ValueError(ERROR_BAD_BOX.format(line=i + 1, box=box))
        x0, y0, x1, y1 = (float(v) for v in box)
        if x1 <= x0 or y1 <= y0:
            raise ValueError(ERROR_BAD_BOX.format(line=i + 1, box=box))
        cx, cy, half_w, half_h = (x0 + x1) / 2, (y0 + y1) / 2, (x1 - x0) / 2, (y1 - y0) / 2
        region = (max(0.0, cx - half_w * CONTEXT_SCALE), max(0.0, cy - half_h * CONTEXT_SCALE),
                  min(float(image.width), cx + half_w * CONTEXT_SCALE),
                  min(float(image.height), cy + half_h * CONTEXT_SCALE))
        crop = image.resize((stored, stored), Image.BILINEAR, box=region)
        pixels[i] = np.asarray(crop)
        rw, rh = region[2] - region[0], region[3] - region[1]
        inner[i] = [2 * (x0 - region[0]) / rw - 1, 2 * (y0 - region[1]) / rh - 1,
                    2 * (x1 - region[0]) / rw - 1, 2 * (y1 - region[1]) / rh - 1]
        instances[i] = instance_of[int(record["product_id"])]
        categories[i], labels = _label_index(record, i + 1)
        for name, value in labels.items():
            attributes[name][i] = value
    return CropSet(
        pixels=torch.from_numpy(pixels).permute(0, 3, 1, 2).contiguous(),
        inner_boxes=torch.from_numpy(inner),
        instances=torch.from_numpy(instances),
        categories=torch.from_numpy(categories),
        attributes={name: torch.from_numpy(values) for name, values in attributes.items()},
        product_ids=product_ids,
    )


def augment(pixels: torch.Tensor, inner_boxes: torch.Tensor, input_size: int,
            generator: torch.Generator, box_jitter: float, brightness: float,
            contrast: float, train: bool = True) -> torch.Tensor:
    """Jittered, possibly mirrored box crops ``float [n, 3, s, s]`` in 0..255.

    With ``train=False`` it returns the exact box, which is what inference sees.
    """
    n = pixels.shape[0]
    boxes = inner_boxes.clone()
    centre = (boxes[:, :2] + boxes[:, 2:]) / 2
    half = (boxes[:, 2:] - boxes[:, :2]) / 2
    if train:
        centre = centre + (torch.rand(n, 2, generator=generator) * 2 - 1) * box_jitter * half * 2
        half = half * (1 + (torch.rand(n, 2, generator=generator) * 2 - 1) * box_jitter)
        flip = torch.rand(n, generator=generator) < 0.5
        half_x = torch.where(flip, -half[:, 0], half[:, 0])
    else:
        half_x = half[:, 0]
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0] = half_x
    theta[:, 0, 2] = centre[:, 0]
    theta[:, 1, 1] = half[:, 1]
    theta[:, 1, 2] = centre[:, 1]
    grid = F.affine_grid(theta, [n, 3, input_size, input_size], align_corners=False)
    images = F.grid_sample(pixels.float(), grid, mode="bilinear", padding_mode="border",
                           align_corners=False)
    if train:
        # One factor for all three channels: brightness and contrast never move the hue.
        gain = 1 + (torch.rand(n, 1, 1, 1, generator=generator) * 2 - 1) * brightness
        spread = 1 + (torch.rand(n, 1, 1, 1, generator=generator) * 2 - 1) * contrast
        grey = images.mean(dim=(1, 2, 3), keepdim=True)
        images = ((images - grey) * spread + grey) * gain
        images = images.clamp(0, 255)
    return images


def sample_instances(positives: torch.Tensor, n_instances: int, instances_per_step: int,
                     generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Subsampled softmax classes: the batch's products plus random others, ``instances_per_step`` in all.

    Returns ``(classes, targets)`` where ``targets`` index ``classes``.
    """
    if n_instances <= instances_per_step:
        return torch.arange(n_instances), positives
    batch_classes = torch.unique(positives)
    is_positive = torch.zeros(n_instances, dtype=torch.bool)
    is_positive[batch_classes] = True
    others = torch.nonzero(~is_positive).squeeze(1)
    n_others = max(0, instances_per_step - len(batch_classes))
    chosen = others[torch.randperm(len(others), generator=generator)[:n_others]]
    classes = torch.cat([batch_classes, chosen])
    # batch_classes is sorted, so the target of each positive is its position there.
    targets = torch.searchsorted(batch_classes, positives)
    return classes, targets


def straight_through_sign_codes(embeddings: torch.Tensor) -> torch.Tensor:
    """Unit-length sign codes in the forward pass, the identity's gradient in the backward pass."""
    codes = torch.where(embeddings > 0, 1.0, -1.0).to(embeddings.dtype) / math.sqrt(embeddings.shape[1])
    return embeddings + (codes - embeddings).detach()


def multitask_loss(model: EmbeddingModel, embeddings: torch.Tensor, batch: dict[str, torch.Tensor],
                   classes: torch.Tensor | None, instance_targets: torch.Tensor | None,
                   attribute_weight: float,
                   sign_code_weight: float = 0.0) -> tuple[torch.Tensor, dict[str, float]]:
    parts: dict[str, torch.Tensor] = {
        "category": F.cross_entropy(model.category_logits(embeddings), batch["categories"]),
    }
    total = parts["category"]
    if model.instance_head is not None and classes is not None:
        parts["instance"] = F.cross_entropy(model.instance_logits(embeddings, classes), instance_targets)
        total = total + parts["instance"]
        if sign_code_weight > 0:
            codes = straight_through_sign_codes(embeddings)
            parts["instance_sign"] = F.cross_entropy(model.instance_logits(codes, classes), instance_targets)
            total = total + sign_code_weight * parts["instance_sign"]
    for name, logits in model.attribute_logits(embeddings).items():
        targets = batch["attributes"][name]
        if bool((targets != UNKNOWN).any()):
            parts[name] = F.cross_entropy(logits, targets, ignore_index=UNKNOWN)
            total = total + attribute_weight * parts[name]
    return total, {name: float(value.detach()) for name, value in parts.items()}


def _learning_rate(step: int, progress: float, base: float, warmup: int) -> float:
    """Linear warm-up over ``warmup`` steps, then cosine decay over ``progress`` in [0, 1]."""
    if step < warmup:
        return base * (step + 1) / warmup
    return base * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


def _optimizer(model: torch.nn.Module, training: dict[str, Any]) -> torch.optim.Optimizer:
    # No weight decay on batch-norm parameters, biases and the class weights of cosine heads
    # (their norm does not enter the logits, decay would only shrink them towards instability).
    decay, no_decay = [], []
    for name, parameter in model.named_parameters():
        is_class_weight = "_head" in name and not name.startswith("embedding_head")
        (no_decay if parameter.ndim <= 1 or is_class_weight else decay).append(parameter)
    groups = [{"params": decay, "weight_decay": training["weight_decay"]},
              {"params": no_decay, "weight_decay": 0.0}]
    if training["optimizer"] == "sgd":
        return torch.optim.SGD(groups, lr=training["lr"], momentum=training["momentum"], nesterov=True)
    if training["optimizer"] == "adamw":
        return torch.optim.AdamW(groups, lr=training["lr"])
    raise ValueError(ERROR_UNKNOWN_OPTIMIZER.format(optimizer=training["optimizer"]))


@dataclass
class TrainingResult:
    model: EmbeddingModel
    record: dict[str, Any]
    crops: CropSet


def train_embedder(*, manifest: str | Path, images_dir: str | Path, out: str | Path | None = None,
                   config: dict[str, Any] | None = None, seed: int = 0,
                   progress: ProgressCallback | None = print_progress,
                   keep_instance_head: bool = False, device: str | None = None,
                   max_seconds: float | None = None, init_checkpoint: str | Path | None = None,
                   should_stop: StopCheck | None = None, **training_overrides: Any) -> TrainingResult:
    """Train an embedder on a matching manifest; save it to ``out`` (float16) with a JSON record.

    ``training_overrides`` override ``DEFAULT_TRAINING`` (``steps``, ``batch_size``, ``lr``, ...).
    ``max_seconds`` is a wall-time budget (crop preparation included): the learning-rate schedule
    then follows whichever of steps and seconds is further along, so a run on a busy machine still
    anneals fully before it stops. Seeded runs are identical only when the step budget binds.

    ``init_checkpoint`` fine-tunes a parent embedder: its config (the architecture) is used, with
    ``config`` laid over it, and every weight whose shape fits is copied; the instance head, sized
    by this manifest's products, starts fresh (``init_weights_load``; the record lists it).
    ``should_stop`` is asked before each step; when it says stop, the trainer raises
    ``TrainingCancelled`` and writes nothing.
    """
    training = {**DEFAULT_TRAINING, **training_overrides}
    seed_everything(seed)
    generator = torch.Generator().manual_seed(seed)
    started = time.perf_counter()

    records = load_manifest(manifest)
    parent_state = None
    if init_checkpoint is not None:
        parent_config, parent_state, _ = load_checkpoint(init_checkpoint, kind="embedder")
        config = {**{k: v for k, v in parent_config.items() if k != "n_instances"}, **(config or {})}
    model_config = full_config(config)
    crops = prepare_crops(records, images_dir, int(model_config["input_size"]))
    prepare_seconds = time.perf_counter() - started
    model_config["n_instances"] = len(crops.product_ids)
    model = build_embedder(model_config)
    init_report = init_weights_load(model, parent_state) if parent_state is not None else None
    target = pick_device(device)
    model = model.to(target, memory_format=torch.channels_last).train()
    optimizer = _optimizer(model, training)
    input_size = int(model_config["input_size"])
    mean = torch.tensor(model_config["mean"], device=target).view(1, 3, 1, 1) * 255
    std = torch.tensor(model_config["std"], device=target).view(1, 3, 1, 1) * 255

    timer = StepTimer()
    history: list[dict[str, Any]] = []
    steps_done = 0
    steps = int(training["steps"])
    warmup = int(training["warmup_steps"])
    train_started = time.perf_counter()
    for step in range(steps):
        if should_stop is not None and should_stop():
            raise TrainingCancelled(TRAINING_CANCELLED.format(step=step))
        schedule_position = (step - warmup) / max(1, steps - warmup)
        if max_seconds is not None:
            budget = max(1e-9, max_seconds - prepare_seconds)
            schedule_position = max(schedule_position, (time.perf_counter() - train_started) / budget)
            if schedule_position >= 1.0:
                break
        lr = _learning_rate(step, schedule_position, float(training["lr"]), warmup)
        for group in optimizer.param_groups:
            group["lr"] = lr
        index = torch.randint(len(crops), (int(training["batch_size"]),), generator=generator)
        images = augment(crops.pixels[index], crops.inner_boxes[index], input_size, generator,
                         float(training["box_jitter"]), float(training["brightness"]),
                         float(training["contrast"]))
        images = ((images.to(target) - mean) / std).contiguous(memory_format=torch.channels_last)
        batch = {
            "categories": crops.categories[index].to(target),
            "attributes": {name: values[index].to(target) for name, values in crops.attributes.items()},
        }
        classes, instance_targets = sample_instances(crops.instances[index], len(crops.product_ids),
                                                     int(training["instances_per_step"]), generator)
        embeddings = model(images)
        loss, parts = multitask_loss(model, embeddings, batch, classes.to(target),
                                     instance_targets.to(target), float(training["attribute_weight"]),
                                     float(training["sign_code_weight"]))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        seconds_per_step = timer.tick()
        steps_done = step + 1
        event = {"step": steps_done, "steps": steps, "loss": float(loss.detach()),
                 **parts, "lr": lr, "s_per_step": seconds_per_step}
        if step % int(training["log_every"]) == 0 or steps_done == steps:
            history.append(event)
            if progress is not None:
                progress(event)
    if steps_done and history[-1]["step"] != steps_done:
        # Stopped by the time budget between two progress lines: keep the final state on record.
        history.append(event)
        if progress is not None:
            progress(event)

    model.eval()
    wall_seconds = time.perf_counter() - started
    record = {
        "kind": "embedder",
        "manifest": str(manifest),
        "seed": seed,
        "config": model_config,
        "training": training,
        "steps_done": steps_done,
        "n_crops": len(crops),
        "n_instances": len(crops.product_ids),
        "prepare_seconds": round(prepare_seconds, 2),
        "wall_seconds": round(wall_seconds, 2),
        "seconds_per_step": round((wall_seconds - prepare_seconds) / max(1, steps_done), 4),
        "device": str(target),
        "torch_threads": torch.get_num_threads(),
        "final_loss": history[-1] if history else None,
        "history": history,
        "instance_head_shipped": keep_instance_head,
        "init_checkpoint": str(init_checkpoint) if init_checkpoint is not None else None,
        "init": init_summary(init_report) if init_report is not None else None,
    }
    if out is not None:
        save_embedder_checkpoint(model, out, record, keep_instance_head=keep_instance_head,
                                 product_ids=crops.product_ids)
    return TrainingResult(model=model, record=record, crops=crops)


def save_embedder_checkpoint(model: EmbeddingModel, out: str | Path, record: dict[str, Any], *,
                             keep_instance_head: bool = False,
                             product_ids: Sequence[int] = ()) -> Path:
    """float16 checkpoint plus ``<out>.json`` training record; the instance head only on request."""
    out = Path(out)
    config = dict(model.config)
    if keep_instance_head:
        state_dict = model.state_dict()
        meta = {"record": record, "instance_product_ids": list(product_ids)}
    else:
        state_dict = inference_state_dict(model)
        config["n_instances"] = 0
        meta = {"record": {k: v for k, v in record.items() if k != "history"}}
    path = save_checkpoint(out, kind="embedder", config=config, state_dict=state_dict, meta=meta, half=True)
    out.with_suffix(".json").write_text(json.dumps(record, indent=2) + "\n")
    return path


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--manifest", required=True, help="matching/attribute export (JSON lines)")
    parser.add_argument("--images", required=True, help="directory the manifest's image paths are relative to")
    parser.add_argument("--out", required=True, help="checkpoint path (.pt); the record goes beside it (.json)")
    parser.add_argument("--steps", type=int, default=DEFAULT_TRAINING["steps"])
    parser.add_argument("--batch-size", type=int, default=DEFAULT_TRAINING["batch_size"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--optimizer", choices=("sgd", "adamw"), default=DEFAULT_TRAINING["optimizer"])
    parser.add_argument("--lr", type=float, default=DEFAULT_TRAINING["lr"])
    parser.add_argument("--weight-decay", type=float, default=DEFAULT_TRAINING["weight_decay"])
    parser.add_argument("--warmup-steps", type=int, default=DEFAULT_TRAINING["warmup_steps"])
    parser.add_argument("--instances-per-step", type=int, default=DEFAULT_TRAINING["instances_per_step"])
    parser.add_argument("--attribute-weight", type=float, default=DEFAULT_TRAINING["attribute_weight"])
    parser.add_argument("--sign-code-weight", type=float, default=DEFAULT_TRAINING["sign_code_weight"],
                        help="weight of the instance loss on straight-through sign codes")
    parser.add_argument("--box-jitter", type=float, default=DEFAULT_TRAINING["box_jitter"])
    parser.add_argument("--brightness", type=float, default=DEFAULT_TRAINING["brightness"])
    parser.add_argument("--contrast", type=float, default=DEFAULT_TRAINING["contrast"])
    parser.add_argument("--backbone", default="small")
    parser.add_argument("--input-size", type=int, default=None)
    parser.add_argument("--embedding-dim", type=int, default=None)
    parser.add_argument("--temperature", type=float, default=None)
    parser.add_argument("--pooled-branch", action="store_true",
                        help="small backbone: append the globally pooled last map (texture statistics)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--max-seconds", type=float, default=None, help="stop after this wall time")
    parser.add_argument("--keep-instance-head", action="store_true")
    parser.add_argument("--device", default=None)
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    config: dict[str, Any] = {"backbone": args.backbone}
    if args.pooled_branch:
        config["small_pooled_branch"] = True
    for key in ("input_size", "embedding_dim", "temperature"):
        if getattr(args, key) is not None:
            config[key] = getattr(args, key)
    result = train_embedder(
        manifest=args.manifest, images_dir=args.images, out=args.out, config=config, seed=args.seed,
        keep_instance_head=args.keep_instance_head, device=args.device, max_seconds=args.max_seconds,
        steps=args.steps, batch_size=args.batch_size, optimizer=args.optimizer, lr=args.lr,
        weight_decay=args.weight_decay, warmup_steps=args.warmup_steps,
        instances_per_step=args.instances_per_step, attribute_weight=args.attribute_weight,
        sign_code_weight=args.sign_code_weight,
        box_jitter=args.box_jitter, brightness=args.brightness, contrast=args.contrast,
    )
    print(json.dumps({k: v for k, v in result.record.items() if k != "history"}, indent=2))


if __name__ == "__main__":
    main()
