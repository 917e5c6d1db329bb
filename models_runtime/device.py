"""Device choice: the GPU when one is present, the CPU otherwise."""
from __future__ import annotations

import os

import torch


def pick_device(preferred: str | None = None) -> torch.device:
    """``preferred`` (or the MODELS_DEVICE environment variable) overrides the automatic choice."""
    choice = preferred or os.environ.get("MODELS_DEVICE")
    if choice:
        return torch.device(choice)
    if torch.cuda.is_available():
        return torch.device("cuda")
    return torch.device("cpu")
