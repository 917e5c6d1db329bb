"""Multi-task embedding model (seed 6.2, A.3; Zhai & Wu, BMVC 2019) and batched crop embedding.

The model maps a product crop to an L2-normalised embedding. Every task head is a *normalised
softmax* (cosine classifier): logits = cos(embedding, class weight) / temperature. Training them on
the embedding itself, rather than on a private hidden layer, is what makes category, instance,
colour and pattern structure show up in the retrieval space; the sign of each embedding dimension
gives the binary code used for Hamming retrieval.

Heads: category (``taxonomy.CATEGORIES``), one per attribute of ``taxonomy.ATTRIBUTES`` (gender is
one of them), and an instance head over the training products. The instance head is a
training-time device: shipped checkpoints may leave it out and ``Embedder`` never needs it.
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
import torch.nn.functional as F
import torchvision
from PIL import Image
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from models_runtime import taxonomy
from models_runtime.checkpoints import load_checkpoint
from models_runtime.device import pick_device
from models_runtime.layers import conv_bn_relu

TORCHVISION_BACKBONES = ("resnet18", "resnet50", "resnext50_32x4d", "resnext101_32x8d")
BACKBONES = ("small",) + TORCHVISION_BACKBONES

DEFAULT_CONFIG: dict[str, Any] = {
    "backbone": "small",
    "input_size": 64,
    "embedding_dim": 256,
    "temperature": 0.05,
    "n_instances": 0,
    # ImageNet statistics; the small backbone is trained from scratch with them too, so real
    # ResNet checkpoints and the default model share one preprocessing path.
    "mean": [0.485, 0.456, 0.406],
    "std": [0.229, 0.224, 0.225],
    "small_widths": [32, 64, 128, 256],
    # False reproduces the first default model (flattened 4x4 map only); checkpoints saved before
    # the key existed load with it.
    "small_pooled_branch": False,
}

ERROR_UNKNOWN_BACKBONE = "unknown embedder backbone {backbone!r}; expected one of " + ", ".join(BACKBONES)
ERROR_EMBEDDING_DIM = "embedding_dim must be a positive multiple of 8 (codes are packed bytes), got {dim}"
ERROR_NO_INSTANCE_HEAD = "this embedding model has no instance head (n_instances is 0)"
INSTANCE_HEAD_PREFIX = "instance_head."


def full_config(config: dict[str, Any] | None) -> dict[str, Any]:
    merged = dict(DEFAULT_CONFIG)
    merged.update(config or {})
    if merged["backbone"] not in BACKBONES:
        raise ValueError(ERROR_UNKNOWN_BACKBONE.format(backbone=merged["backbone"]))
    dim = int(merged["embedding_dim"])
    if dim <= 0 or dim % 8:
        raise ValueError(ERROR_EMBEDDING_DIM.format(dim=dim))
    return merged


def binarize(embeddings: np.ndarray) -> np.ndarray:
    """Sign binarisation packed to bytes: ``uint8 [n, d/8]``, bit set where the dimension is > 0."""
    return np.packbits(np.asarray(embeddings) > 0, axis=1)



class SmallBackbone(nn.Module):
    """A compact CNN for CPU use: four stride-2 stages, then a flattened 4x4 map.

    Flattening the last map instead of global pooling keeps where things are inside the crop
    (silhouette, hem length, where a stripe runs), which is most of what tells two synthetic
    products of the same category and colour apart. With ``pooled_branch`` the global average of
    the last map is appended: a position-free summary of which texture detectors fired anywhere,
    which is what separates plaid, striped, dotted and floral when the layout features do not.
    """

    def __init__(self, widths: Sequence[int], input_size: int, pooled_branch: bool = False) -> None:
        super().__init__()
        w1, w2, w3, w4 = widths
        self.features = nn.Sequential(
            conv_bn_relu(3, w1, 2),            # /2
            conv_bn_relu(w1, w1, 1),
            conv_bn_relu(w1, w2, 2),           # /4
            conv_bn_relu(w2, w2, 1),
            conv_bn_relu(w2, w3, 2),           # /8
            conv_bn_relu(w3, w3, 1),
            conv_bn_relu(w3, w4, 2),           # /16
        )
        self.pool = nn.AdaptiveAvgPool2d(4)
        self.pooled_branch = bool(pooled_branch)
        self.out_features = w4 * 16 + (w4 if self.pooled_branch else 0)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        maps = self.features(images)
        spatial = torch.flatten(self.pool(maps), 1)
        if not self.pooled_branch:
            return spatial
        return torch.cat([spatial, maps.mean(dim=(2, 3))], dim=1)


def _torchvision_backbone(name: str) -> tuple[nn.Module, int]:
    net = getattr(torchvision.models, name)(weights=None)
    out_features = net.fc.in_features
    net.fc = nn.Identity()
    return net, out_features


class CosineClassifier(nn.Module):
    """Normalised-softmax head: logits are cosines between embedding and class weights / temperature."""

    def __init__(self, embedding_dim: int, n_classes: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(n_classes, embedding_dim) / math.sqrt(embedding_dim))

    def forward(self, embeddings: torch.Tensor, temperature: float,
                classes: torch.Tensor | None = None) -> torch.Tensor:
        weight = self.weight if classes is None else self.weight[classes]
        return embeddings @ F.normalize(weight, dim=1).t() / temperature


class EmbeddingModel(nn.Module):
    def __init__(self, config: dict[str, Any]) -> None:
        super().__init__()
        self.config = full_config(config)
        dim = int(self.config["embedding_dim"])
        if self.config["backbone"] == "small":
            self.backbone = SmallBackbone(self.config["small_widths"], int(self.config["input_size"]),
                                          bool(self.config["small_pooled_branch"]))
            feature_dim = self.backbone.out_features
        else:
            self.backbone, feature_dim = _torchvision_backbone(self.config["backbone"])
        # Batch norm before the L2 normalisation centres every dimension on zero, so the sign
        # binarisation splits each bit about evenly and Hamming distance keeps its resolution.
        self.embedding_head = nn.Sequential(nn.Linear(feature_dim, dim), nn.BatchNorm1d(dim))
        self.category_head = CosineClassifier(dim, len(taxonomy.CATEGORIES))
        self.attribute_heads = nn.ModuleDict({
            name: CosineClassifier(dim, len(attribute.values))
            for name, attribute in taxonomy.ATTRIBUTES.items()
        })
        n_instances = int(self.config["n_instances"])
        self.instance_head = CosineClassifier(dim, n_instances) if n_instances > 0 else None
        self.temperature = float(self.config["temperature"])

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """L2-normalised embeddings ``[n, d]`` of normalised image tensors ``[n, 3, s, s]``."""
        return F.normalize(self.embedding_head(self.backbone(images)), dim=1)

    def category_logits(self, embeddings: torch.Tensor) -> torch.Tensor:
        return self.category_head(embeddings, self.temperature)

    def attribute_logits(self, embeddings: torch.Tensor) -> dict[str, torch.Tensor]:
        return {name: head(embeddings, self.temperature) for name, head in self.attribute_heads.items()}

    def instance_logits(self, embeddings: torch.Tensor,
                        classes: torch.Tensor | None = None) -> torch.Tensor:
        """Cosine logits over all training instances, or over the subsample ``classes``."""
        if self.instance_head is None:
            raise RuntimeError(ERROR_NO_INSTANCE_HEAD)
        return self.instance_head(embeddings, self.temperature, classes)


def build_embedder(config: dict[str, Any]) -> EmbeddingModel:
    """Build an untrained model; torchvision backbones always start from ``weights=None``."""
    return EmbeddingModel(config)


def inference_state_dict(model: EmbeddingModel) -> dict[str, torch.Tensor]:
    """The weights inference needs: everything but the instance head (a training-time device)."""
    return {name: tensor for name, tensor in model.state_dict().items()
            if not name.startswith(INSTANCE_HEAD_PREFIX)}


def fused_for_inference(model: EmbeddingModel) -> EmbeddingModel:
    """An eval-mode copy whose small-backbone batch norms are folded into their convolutions.

    Saves one pass over every feature map per layer (about a tenth of CPU inference time); the
    caller's model is left untouched so it can still be trained or saved with its own layout.
    """
    fused = copy.deepcopy(model).eval()
    if isinstance(fused.backbone, SmallBackbone):
        for block in fused.backbone.features:
            block[0] = fuse_conv_bn_eval(block[0], block[1])
            block[1] = nn.Identity()
    return fused


class CropPreprocessor:
    """PIL crops -> normalised float tensor batch, the same way for training and inference.

    Crops are squashed to a square (no padding): detector boxes and catalogue images then reach
    the network with the same geometry the trainer used.
    """

    def __init__(self, input_size: int, mean: Sequence[float], std: Sequence[float]) -> None:
        self.input_size = int(input_size)
        self.mean = torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1) * 255.0
        self.std = torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1) * 255.0

    def to_uint8(self, crops: Sequence[Image.Image]) -> np.ndarray:
        size = (self.input_size, self.input_size)
        batch = np.empty((len(crops), self.input_size, self.input_size, 3), dtype=np.uint8)
        for i, crop in enumerate(crops):
            if crop.mode != "RGB":
                crop = crop.convert("RGB")
            batch[i] = np.asarray(crop.resize(size, Image.BILINEAR) if crop.size != size else crop)
        return batch

    def normalise(self, batch_uint8: torch.Tensor) -> torch.Tensor:
        """``uint8 [n, s, s, 3]`` (or ``[n, 3, s, s]`` floats in 0..255) -> normalised ``[n, 3, s, s]``."""
        if batch_uint8.dtype == torch.uint8:
            batch_uint8 = batch_uint8.permute(0, 3, 1, 2).float()
        return (batch_uint8 - self.mean.to(batch_uint8.device)) / self.std.to(batch_uint8.device)

    def __call__(self, crops: Sequence[Image.Image]) -> torch.Tensor:
        return self.normalise(torch.from_numpy(self.to_uint8(crops)))


@dataclass
class EmbedResult:
    embeddings: np.ndarray                   # float32 [n, d], L2-normalised
    codes: np.ndarray                        # uint8 [n, d/8], packed sign bits
    categories: list[str] = field(default_factory=list)
    attributes: list[dict[str, str]] = field(default_factory=list)
    genders: list[str] = field(default_factory=list)


class Embedder:
    """Inference wrapper: preprocessing, batching, category and attribute decoding."""

    def __init__(self, model: EmbeddingModel, device: torch.device | str | None = None,
                 meta: dict[str, Any] | None = None) -> None:
        self.device = pick_device(str(device) if device is not None else None)
        # channels_last roughly doubles mkldnn convolution throughput on CPU and suits GPUs too.
        # ``model`` keeps the trainable layout, so ``embedder.model.state_dict()`` saves a loadable
        # checkpoint; inference runs a copy with batch norm folded into the convolutions.
        self.model = model.eval().to(self.device)
        self._inference_model = fused_for_inference(model).to(self.device, memory_format=torch.channels_last)
        self.config = model.config
        self.meta = meta or {}
        self.preprocessor = CropPreprocessor(self.config["input_size"], self.config["mean"],
                                             self.config["std"])

    @classmethod
    def from_config(cls, config: dict[str, Any], device: torch.device | str | None = None) -> "Embedder":
        return cls(build_embedder(config), device)

    @classmethod
    def from_checkpoint(cls, path: str | Path, device: torch.device | str | None = None) -> "Embedder":
        config, state_dict, meta = load_checkpoint(path, kind="embedder")
        has_instance_head = any(name.startswith(INSTANCE_HEAD_PREFIX) for name in state_dict)
        if not has_instance_head:
            config = {**config, "n_instances": 0}
        model = build_embedder(config)
        model.load_state_dict(state_dict)
        return cls(model, device, meta)

    @property
    def embedding_dim(self) -> int:
        return int(self.config["embedding_dim"])

    @torch.inference_mode()
    def embed(self, crops: Sequence[Image.Image], batch_size: int = 64) -> EmbedResult:
        dim = self.embedding_dim
        embeddings = np.zeros((0, dim), dtype=np.float32)
        category_index = np.zeros(0, dtype=np.int64)
        attribute_index: dict[str, np.ndarray] = {name: np.zeros(0, dtype=np.int64)
                                                  for name in taxonomy.ATTRIBUTES}
        chunks_embeddings, chunks_categories = [], []
        chunks_attributes: dict[str, list[np.ndarray]] = {name: [] for name in taxonomy.ATTRIBUTES}
        for start in range(0, len(crops), batch_size):
            images = self.preprocessor(crops[start:start + batch_size]).to(
                self.device, memory_format=torch.channels_last)
            batch_embeddings = self._inference_model(images)
            chunks_embeddings.append(batch_embeddings.float().cpu().numpy())
            chunks_categories.append(self._inference_model.category_logits(batch_embeddings).argmax(1).cpu().numpy())
            for name, logits in self._inference_model.attribute_logits(batch_embeddings).items():
                chunks_attributes[name].append(logits.argmax(1).cpu().numpy())
        if chunks_embeddings:
            embeddings = np.concatenate(chunks_embeddings).astype(np.float32, copy=False)
            category_index = np.concatenate(chunks_categories)
            attribute_index = {name: np.concatenate(parts) for name, parts in chunks_attributes.items()}

        categories = [taxonomy.CATEGORIES[i] for i in category_index]
        attributes: list[dict[str, str]] = []
        for row, category in enumerate(categories):
            attributes.append({
                attribute.name: attribute.values[attribute_index[attribute.name][row]]
                for attribute in taxonomy.attributes_for(category)
            })
        gender = taxonomy.ATTRIBUTES["gender"]
        genders = [gender.values[i] for i in attribute_index["gender"]]
        return EmbedResult(embeddings=embeddings, codes=binarize(embeddings).reshape(-1, dim // 8),
                           categories=categories, attributes=attributes, genders=genders)
