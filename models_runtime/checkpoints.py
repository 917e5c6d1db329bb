"""Checkpoints: a state dict saved together with the config that rebuilds its model.

One file (``torch.save`` of a dict) so a model version is a single artefact the platform can
store; ``kind`` says which builder reads the config (``detector`` or ``embedder``).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

FORMAT_VERSION = 1


class CheckpointError(ValueError):
    pass


def save_checkpoint(path: str | Path, *, kind: str, config: dict[str, Any],
                    state_dict: dict[str, torch.Tensor], meta: dict[str, Any] | None = None,
                    half: bool = False) -> Path:
    """Save ``state_dict`` with its ``config``. ``half`` stores float tensors as float16 to ship small files."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {
        name: (t.detach().cpu().half() if half and t.is_floating_point() else t.detach().cpu())
        for name, t in state_dict.items()
    }
    torch.save({"format": FORMAT_VERSION, "kind": kind, "config": config, "state_dict": tensors,
                "meta": meta or {}}, path)
    return path


def load_checkpoint(path: str | Path, *, kind: str | None = None) -> tuple[dict, dict, dict]:
    """Return ``(config, state_dict, meta)``; float16 tensors come back as float32."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"checkpoint file not found: {path}")
    blob = torch.load(path, map_location="cpu", weights_only=False)
    if not isinstance(blob, dict) or "state_dict" not in blob or "config" not in blob:
        raise CheckpointError(f"{path} is not a models_runtime checkpoint (no config/state_dict)")
    if kind is not None and blob.get("kind") != kind:
        raise CheckpointError(f"{path} holds a {blob.get('kind')!r} checkpoint, expected {kind!r}")
    state = {n: (t.float() if t.dtype == torch.float16 else t) for n, t in blob["state_dict"].items()}
    return blob["config"], state, blob.get("meta", {})
