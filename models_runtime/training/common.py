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
