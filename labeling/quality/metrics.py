"""Label-quality figures as pure functions on the quality frames (``labeling/quality/frames.py``).

Definitions (docs/METRICS.md, section 3):

- **consistency**: for each item (a unit of a task: a relevance slot, an attribute, a cleanup
  field, a box cluster) with two or more labels, the share of its labels equal to its most common
  answer; consistency is the mean over those items.
- **accuracy**: the share of golden (label, unit) rows that match the golden answer.

Every figure is a dict ``{"value", "low", "high", "n"}``: the point value, a bootstrap 95% interval
and the count it stands on (items for consistency, judged units for accuracy).

The bootstrap here is exact and cheap: resampling n values with replacement only changes how many
times each *distinct* value is drawn, and those counts are multinomial. So a resample of a mean is one
multinomial draw over the distinct values (a handful: shares j/m, or 0 and 1), not n index draws;
the interval is the same as resampling the values themselves, at a cost independent of n.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

DEFAULT_BOOTSTRAP_SAMPLES = 1000
DEFAULT_CONFIDENCE = 0.95


def empty_figure(n: int = 0) -> dict:
    return {"value": None, "low": None, "high": None, "n": int(n)}


def mean_figure(values, *, rng: np.random.Generator, n_bootstrap: int = DEFAULT_BOOTSTRAP_SAMPLES,
                confidence: float = DEFAULT_CONFIDENCE) -> dict:
    """Mean of ``values`` with a percentile bootstrap interval (multinomial over distinct values)."""
    values = np.asarray(values, dtype="float64")
    n = values.size
    if n == 0:
        return empty_figure()
    ones = np.count_nonzero(values == 1.0)
    zeros = np.count_nonzero(values == 0.0)
    if ones + zeros == n:  # right/wrong rows: two distinct values, no sort needed
        distinct, counts = np.array([0.0, 1.0]), np.array([zeros, ones])
        keep = counts > 0
        distinct, counts = distinct[keep], counts[keep]
    else:
        distinct, counts = np.unique(values, return_counts=True)
    mean = float(counts @ distinct / n)
    if distinct.size == 1:
        return {"value": mean, "low": mean, "high": mean, "n": int(n)}
    draws = rng.multinomial(n, counts / n, size=n_bootstrap)
    means = draws @ distinct / n
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    return {"value": mean, "low": float(low), "high": float(high), "n": int(n)}


def accuracy_figure(accuracy: pd.DataFrame, *, rng: np.random.Generator,
                    n_bootstrap: int = DEFAULT_BOOTSTRAP_SAMPLES) -> dict:
    """The share of golden (label, unit) rows that match the golden answer."""
    return mean_figure(accuracy["correct"].to_numpy(dtype="float64"), rng=rng, n_bootstrap=n_bootstrap)


def time_windows(times: pd.Series, *, max_windows: int = 24) -> tuple[str, int]:
    """(name, seconds) of the narrowest window from a fixed ladder that cuts the span of ``times``
    into at most ``max_windows`` windows."""
    ladder = (("1 minute", 60), ("10 minutes", 600), ("1 hour", 3600), ("6 hours", 21600), ("1 day", 86400),
              ("1 week", 604800), ("30 days", 2592000))
    if times.empty:
        return ladder[0]
    span = (times.max() - times.min()).total_seconds()
    for name, seconds in ladder:
        if span / seconds < max_windows:
            return name, seconds
    return ladder[-1]


def window_start(times: pd.Series, seconds: int) -> pd.Series:
    return times.dt.floor(f"{seconds}s")
