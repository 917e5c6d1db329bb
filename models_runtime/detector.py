"""Faster R-CNN detectors: builders for every supported architecture and batched inference.

``build_detector(config)`` turns a small, JSON-able config into a torchvision ``FasterRCNN``; the
same config travels inside every checkpoint, so any checkpoint (the shipped ``small`` default or a
real ResNet/ResNeXt-FPN state dict) loads through ``Detector.from_checkpoint``.
"""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import nn
from torchvision.models.detection import (
    FasterRCNN,
    fasterrcnn_mobilenet_v3_large_fpn,
    fasterrcnn_resnet50_fpn,
    fasterrcnn_resnet50_fpn_v2,
)
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.backbone_utils import resnet_fpn_backbone
from torchvision.models.detection.faster_rcnn import FastRCNNPredictor, TwoMLPHead
from torchvision.ops import FeaturePyramidNetwork, MultiScaleRoIAlign
from torchvision.ops.feature_pyramid_network import LastLevelMaxPool
from torchvision.transforms.functional import pil_to_tensor

from models_runtime import taxonomy
from models_runtime.checkpoints import load_checkpoint
from models_runtime.device import pick_device
from models_runtime.layers import conv_bn_relu

ARCHITECTURES = ("small", "mobilenet_v3_fpn", "resnet50_fpn", "resnet50_fpn_v2", "resnext101_fpn")

UNKNOWN_ARCH_ERROR = "unknown detector arch {arch!r}; expected one of " + ", ".join(ARCHITECTURES)
UNKNOWN_OPTION_ERROR = "unknown detector config keys: {keys}"
NUM_CLASSES_ERROR = "num_classes must be at least 2 (background + one category), got {num_classes}"
UNKNOWN_LABEL_ERROR = "detector predicted label {label}, outside its categories (1..{n})"
CATEGORIES_INVALID_ERROR = "categories must be a non-empty list of distinct non-empty strings"
CATEGORIES_COUNT_ERROR = ("categories names {count} classes but num_classes is {num_classes}; a detector needs "
                          "num_classes - 1 names (label 0 is the background)")
NOT_RGB_ERROR = "detect() takes PIL images; got {kind}"

# FasterRCNN keyword arguments a config may set for any architecture.
FASTER_RCNN_OPTIONS = (
    "min_size", "max_size",
    "rpn_pre_nms_top_n_train", "rpn_pre_nms_top_n_test",
    "rpn_post_nms_top_n_train", "rpn_post_nms_top_n_test",
    "rpn_batch_size_per_image", "rpn_nms_thresh",
    "box_batch_size_per_image", "box_detections_per_img", "box_score_thresh", "box_nms_thresh",
)
ARCH_OPTIONS = ("arch", "num_classes", "trainable_layers", "backbone_channels", "fpn_channels",
                "anchor_sizes", "aspect_ratios", "representation_size")
# The model's own class names: label i + 1 is categories[i]. Without it a detector's classes are
# the platform's fixture list (taxonomy.CATEGORIES), as every checkpoint made before it assumes.
CATEGORIES_KEY = "categories"
LABEL_OPTIONS = (CATEGORIES_KEY,)

# The CPU default: 256 px synthetic scenes hold 2-6 garments each, so a few hundred proposals are
# plenty and every per-image count is cut well below torchvision's 2000/1000/512 defaults.
SMALL_DEFAULTS: dict[str, Any] = {
    "min_size": 256,
    "max_size": 256,
    "rpn_pre_nms_top_n_train": 300,
    "rpn_pre_nms_top_n_test": 300,
    "rpn_post_nms_top_n_train": 150,
    "rpn_post_nms_top_n_test": 100,
    "rpn_batch_size_per_image": 128,
    # Sampled RoIs per image dominate a CPU training step (RoIAlign backward and the box MLP).
    "box_batch_size_per_image": 32,
    "box_detections_per_img": 30,
    "backbone_channels": [16, 24, 48, 96, 192],
    "fpn_channels": 64,
    # One anchor size per pyramid level (strides 8, 16, 32, 64): garments in a 256 px scene are
    # about 20-120 px on a side, and the default detector sees scenes resized to 192 px.
    "anchor_sizes": [16, 32, 64, 128],
    "aspect_ratios": [0.5, 1.0, 2.0],
    "representation_size": 256,
}


def default_num_classes() -> int:
    return len(taxonomy.CATEGORIES) + 1


def resolve_config(config: dict[str, Any]) -> dict[str, Any]:
    """The full config a model is built from: defaults filled in, unknown keys refused."""
    arch = config.get("arch", "small")
    if arch not in ARCHITECTURES:
        raise ValueError(UNKNOWN_ARCH_ERROR.format(arch=arch))
    unknown = sorted(set(config) - set(FASTER_RCNN_OPTIONS) - set(ARCH_OPTIONS) - set(LABEL_OPTIONS))
    if unknown:
        raise ValueError(UNKNOWN_OPTION_ERROR.format(keys=", ".join(unknown)))
    resolved: dict[str, Any] = dict(SMALL_DEFAULTS) if arch == "small" else {}
    resolved.update(config)
    resolved["arch"] = arch
    categories = resolved.get(CATEGORIES_KEY)
    if categories is not None and (
            not isinstance(categories, list) or not categories
            or not all(isinstance(name, str) and name for name in categories)
            or len(set(categories)) != len(categories)):
        raise ValueError(CATEGORIES_INVALID_ERROR)
    resolved.setdefault("num_classes", default_num_classes() if categories is None else len(categories) + 1)
    if resolved["num_classes"] < 2:
        raise ValueError(NUM_CLASSES_ERROR.format(num_classes=resolved["num_classes"]))
    if categories is not None and len(categories) != resolved["num_classes"] - 1:
        raise ValueError(CATEGORIES_COUNT_ERROR.format(count=len(categories), num_classes=resolved["num_classes"]))
    return resolved


def detector_categories(config: dict[str, Any]) -> tuple[str, ...]:
    """The class names of a detector built from ``config``: label i + 1 is the i-th."""
    categories = config.get(CATEGORIES_KEY)
    return tuple(categories) if categories is not None else taxonomy.CATEGORIES



class SmallBackbone(nn.Module):
    """A five-stage plain CNN (strides 2..32) with an FPN on strides 8, 16 and 32.

    ``out_channels`` is what torchvision's ``FasterRCNN`` reads to size its heads.
    """

    def __init__(self, channels: list[int], fpn_channels: int) -> None:
        super().__init__()
        stages = []
        in_channels = 3
        for out_channels in channels:
            stages.append(nn.Sequential(conv_bn_relu(in_channels, out_channels, 2),
                                        conv_bn_relu(out_channels, out_channels, 1)))
            in_channels = out_channels
        self.stages = nn.ModuleList(stages)
        self.fpn = FeaturePyramidNetwork(list(channels[2:]), fpn_channels,
                                         extra_blocks=LastLevelMaxPool())
        self.out_channels = fpn_channels

    def forward(self, images: torch.Tensor) -> OrderedDict[str, torch.Tensor]:
        features = OrderedDict()
        x = images
        for index, stage in enumerate(self.stages):
            x = stage(x)
            if index >= 2:
                features[str(index - 2)] = x
        return self.fpn(features)


def _faster_rcnn_kwargs(config: dict[str, Any]) -> dict[str, Any]:
    return {key: config[key] for key in FASTER_RCNN_OPTIONS if key in config}


def _build_small(config: dict[str, Any]) -> FasterRCNN:
    backbone = SmallBackbone(list(config["backbone_channels"]), int(config["fpn_channels"]))
    levels = ["0", "1", "2"]
    anchor_generator = AnchorGenerator(
        sizes=tuple((int(size),) for size in config["anchor_sizes"]),
        aspect_ratios=(tuple(float(r) for r in config["aspect_ratios"]),) * len(config["anchor_sizes"]),
    )
    roi_pool = MultiScaleRoIAlign(featmap_names=levels, output_size=7, sampling_ratio=2)
    representation = int(config["representation_size"])
    box_head = TwoMLPHead(backbone.out_channels * 7 * 7, representation)
    box_predictor = FastRCNNPredictor(representation, config["num_classes"])
    return FasterRCNN(backbone, num_classes=None, rpn_anchor_generator=anchor_generator,
                      box_roi_pool=roi_pool, box_head=box_head, box_predictor=box_predictor,
                      **_faster_rcnn_kwargs(config))


def build_detector(config: dict[str, Any]) -> FasterRCNN:
    """A randomly initialised Faster R-CNN for ``config["arch"]``; never downloads weights."""
    config = resolve_config(config)
    arch = config["arch"]
    kwargs = _faster_rcnn_kwargs(config)
    if arch == "small":
        return _build_small(config)
    if arch == "mobilenet_v3_fpn":
        return fasterrcnn_mobilenet_v3_large_fpn(
            weights=None, weights_backbone=None, num_classes=config["num_classes"],
            trainable_backbone_layers=config.get("trainable_layers"), **kwargs)
    if arch == "resnet50_fpn":
        return fasterrcnn_resnet50_fpn(
            weights=None, weights_backbone=None, num_classes=config["num_classes"],
            trainable_backbone_layers=config.get("trainable_layers"), **kwargs)
    if arch == "resnet50_fpn_v2":
        return fasterrcnn_resnet50_fpn_v2(
            weights=None, weights_backbone=None, num_classes=config["num_classes"],
            trainable_backbone_layers=config.get("trainable_layers"), **kwargs)
    # resnext101_fpn: torchvision has no ready-made builder; the seed's production detector is
    # ResNeXt101-FasterRCNN-FPN (section 5.1.2). Plain BatchNorm as torchvision's own builders use
    # when no pretrained weights are given (frozen statistics only make sense for pretrained ones).
    backbone = resnet_fpn_backbone(backbone_name="resnext101_32x8d", weights=None,
                                   trainable_layers=config.get("trainable_layers", 5),
                                   norm_layer=nn.BatchNorm2d)
    return FasterRCNN(backbone, num_classes=config["num_classes"], **kwargs)


@dataclass
class Detections:
    """One image's detections: ``boxes`` [n, 4] x0 y0 x1 y1 in pixels, best score first."""

    boxes: np.ndarray = field(default_factory=lambda: np.zeros((0, 4), dtype=np.float32))
    categories: list[str] = field(default_factory=list)
    scores: np.ndarray = field(default_factory=lambda: np.zeros((0,), dtype=np.float32))

    def __len__(self) -> int:
        return len(self.categories)


def _image_tensor(image: Image.Image) -> torch.Tensor:
    if not isinstance(image, Image.Image):
        raise TypeError(NOT_RGB_ERROR.format(kind=type(image).__name__))
    if image.mode != "RGB":
        image = image.convert("RGB")
    return pil_to_tensor(image).float().div_(255.0)


class Detector:
    """A built detector in eval mode on its device, with the config that rebuilds it."""

    def __init__(self, model: FasterRCNN, config: dict[str, Any], device: torch.device,
                 meta: dict[str, Any] | None = None) -> None:
        self.model = model.to(device).eval()
        self.config = config
        self.device = device
        self.meta = meta or {}

    @classmethod
    def from_config(cls, config: dict[str, Any], state_dict: dict[str, torch.Tensor] | None = None,
                    device: str | torch.device | None = None,
                    meta: dict[str, Any] | None = None) -> Detector:
        resolved = resolve_config(config)
        model = build_detector(resolved)
        if state_dict is not None:
            model.load_state_dict(state_dict)
        return cls(model, resolved, pick_device(str(device) if device is not None else None), meta)

    @classmethod
    def from_checkpoint(cls, path: str | Path, device: str | torch.device | None = None) -> Detector:
        config, state_dict, meta = load_checkpoint(path, kind="detector")
        return cls.from_config(config, state_dict=state_dict, device=device, meta=meta)

    def detect(self, images: list[Image.Image], score_threshold: float = 0.5,
               batch_size: int = 8) -> list[Detections]:
        """Detections per image, boxes in the pixels of the image given."""
        categories = detector_categories(self.config)
        n_categories = len(categories)
        # torchvision drops boxes under roi_heads.score_thresh before its per-class NMS; the
        # caller's threshold is the one that counts (mAP needs low-scoring boxes too).
        self.model.roi_heads.score_thresh = float(score_threshold)
        results: list[Detections] = []
        with torch.inference_mode():
            for start in range(0, len(images), batch_size):
                batch = [_image_tensor(image).to(self.device)
                         for image in images[start:start + batch_size]]
                for output in self.model(batch):
                    keep = output["scores"] >= score_threshold
                    labels = output["labels"][keep].cpu().tolist()
                    for label in labels:
                        if not 1 <= label <= n_categories:
                            raise ValueError(UNKNOWN_LABEL_ERROR.format(label=label, n=n_categories))
                    results.append(Detections(
                        boxes=output["boxes"][keep].float().cpu().numpy().astype(np.float32),
                        categories=[categories[label - 1] for label in labels],
                        scores=output["scores"][keep].float().cpu().numpy().astype(np.float32),
                    ))
        return results
