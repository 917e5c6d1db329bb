"""Pieces both trainers share: seeding and progress reporting."""
from __future__ import annotations

import random
import sys
import time
from typing import Callable

import numpy as np
import torch

ProgressCallback = Callable[[dict], None]


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def print_progress(event: dict) -> None:
    """Default progress callback: one line per event, ``{"step", "steps", "loss", ...}``."""
    parts = [f"step {event['step']}/{event['steps']}"]
    parts += [f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}"
              for k, v in event.items() if k not in ("step", "steps")]
    print("  ".join(parts), file=sys.stderr, flush=True)


class StepTimer:
    """Seconds per step, averaged, for progress lines and the training record."""

    def __init__(self) -> None:
        self.started = time.perf_counter()
        self.steps = 0

    def tick(self) -> float:
        self.steps += 1
        return (time.perf_counter() - self.started) / self.steps


StopCheck = Callable[[], bool]


class TrainingCancelled(RuntimeError):
    """``should_stop`` said stop: the trainer saves nothing."""


TRAINING_CANCELLED = "training stopped at step {step} because it was cancelled"


def init_weights_load(model: torch.nn.Module, state_dict: dict[str, torch.Tensor]) -> dict[str, list[str]]:
    """Fine-tuning: copy every tensor of ``state_dict`` whose name and shape the model has; the
    rest of the model keeps its fresh initialisation (a head sized by another class count).

    Returns the names ``loaded``, ``reinitialised`` (model tensors with no fitting parent tensor)
    and ``unused`` (parent tensors the model has no place for), for the training record.
    """
    own = model.state_dict()
    fitting = {name: tensor for name, tensor in state_dict.items()
               if name in own and tuple(own[name].shape) == tuple(tensor.shape)}
    model.load_state_dict(fitting, strict=False)
    return {"loaded": sorted(fitting), "reinitialised": sorted(set(own) - set(fitting)),
            "unused": sorted(set(state_dict) - set(fitting))}


def init_summary(report: dict[str, list[str]]) -> dict[str, object]:
    return {"loaded": len(report["loaded"]), "reinitialised": report["reinitialised"][:20],
            "unused": report["unused"][:20]}
