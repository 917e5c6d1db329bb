"""Inter-labeler agreement: Krippendorff's alpha and a bootstrap interval for it.

Pure numpy/pandas. Data are reduced to a units x values count matrix (how many labelers gave each
value to each unit); alpha depends on nothing else, so no labelers x units matrix is ever built.
"""
from __future__ import annotations

import krippendorff
import numpy as np
import pandas as pd

LEVELS = ("nominal", "ordinal", "interval", "ratio")

UNKNOWN_LEVEL = "Unknown level of measurement: use 'nominal', 'ordinal', 'interval' or 'ratio'."
ORDINAL_NEEDS_ORDER = "The ordinal level needs value_order, the values from one end of the scale to the other."
NUMERIC_LEVEL_NEEDS_NUMBERS = "The interval and ratio levels need numeric values."
VALUE_NOT_IN_ORDER = "A value is not in value_order."
DOMAIN_SHAPE = "value_domain must hold one entry per column of counts."
BAD_CONFIDENCE = "confidence must lie strictly between 0 and 1."
BAD_BOOTSTRAP = "n_bootstrap must be at least 1."


def _check_level(level: str) -> None:
    if level not in LEVELS:
        raise ValueError(UNKNOWN_LEVEL)


def _distances(level: str, domain: np.ndarray, marginals: np.ndarray) -> np.ndarray:
    """Squared distances between values, one V x V matrix per row of ``marginals`` (B x V).

    Only the ordinal metric depends on the marginals: the distance between ranks c and k is
    (sum of n_g for g from c to k - (n_c + n_k) / 2) squared, so values nobody used add nothing."""
    n_draws, n_values = marginals.shape
    if level == "nominal":
        return np.broadcast_to(1.0 - np.eye(n_values), (n_draws, n_values, n_values))
    if level == "ordinal":
        low = np.minimum.outer(np.arange(n_values), np.arange(n_values))
        high = np.maximum.outer(np.arange(n_values), np.arange(n_values))
        cumulative = np.cumsum(marginals, axis=1)
        between = cumulative[:, high] - cumulative[:, low] + marginals[:, low]
        return (between - (marginals[:, low] + marginals[:, high]) / 2) ** 2
    values = domain.astype(float)
    difference = np.subtract.outer(values, values)
    if level == "interval":
        return np.broadcast_to(difference**2, (n_draws, n_values, n_values))
    total = np.add.outer(values, values)
    ratio = np.divide(difference, total, out=np.zeros_like(difference), where=total != 0)
    return np.broadcast_to(ratio**2, (n_draws, n_values, n_values))


def _unit_coincidences(counts: np.ndarray) -> np.ndarray:
    """Each unit's contribution to the coincidence matrix, flattened: U x (V * V).

    A unit with m values contributes (n_c n_k - [c == k] n_c) / (m - 1); units with fewer than two
    values contribute nothing (they hold no pair to compare)."""
    counts = counts.astype(float)
    n_values = counts.shape[1]
    totals = counts.sum(axis=1)
    weight = np.divide(1.0, totals - 1, out=np.zeros_like(totals), where=totals >= 2)
    pairs = counts[:, :, None] * counts[:, None, :]
    pairs[:, np.arange(n_values), np.arange(n_values)] -= counts
    return (pairs * weight[:, None, None]).reshape(len(counts), n_values * n_values)


def _alpha_from_coincidences(coincidences: np.ndarray, *, level: str, domain: np.ndarray) -> np.ndarray:
    """Alpha per coincidence matrix (B x V x V); NaN where expected disagreement is zero."""
    marginals = coincidences.sum(axis=1)
    total = marginals.sum(axis=1)
    distances = _distances(level, domain, marginals)
    observed = (coincidences * distances).sum(axis=(1, 2))
    # The diagonal of the distance matrix is zero, so the expected coincidences reduce to
    # n_c n_k / (n - 1) off the diagonal.
    expected = np.einsum("bc,bk,bck->b", marginals, marginals, distances) / np.maximum(total - 1, 1)
    alpha = np.full(len(coincidences), np.nan)
    defined = expected > 0
    alpha[defined] = 1.0 - observed[defined] / expected[defined]
    return alpha


def alpha_from_value_counts(counts: np.ndarray, *, level: str, value_domain: np.ndarray | None = None) -> float | None:
    """Krippendorff's alpha from a units x values count matrix via the coincidence matrix.

    ``value_domain`` gives the column values (interval and ratio use them as numbers; nominal and
    ordinal only their order); by default 0..V-1. None when fewer than two distinct values are
    pairable, where alpha is undefined."""
    _check_level(level)
    counts = np.asarray(counts)
    domain = np.arange(counts.shape[1]) if value_domain is None else np.asarray(value_domain)
    if domain.shape != (counts.shape[1],):
        raise ValueError(DOMAIN_SHAPE)
    coincidences = _unit_coincidences(counts).sum(axis=0).reshape(1, counts.shape[1], counts.shape[1])
    if np.count_nonzero(coincidences.sum(axis=1)) < 2:
        return None
    alpha = _alpha_from_coincidences(coincidences, level=level, domain=domain)[0]
    return None if np.isnan(alpha) else float(alpha)


def _value_counts(
    frame: pd.DataFrame, *, level: str, value_order: list | None, missing: frozenset
) -> tuple[np.ndarray, np.ndarray]:
    """(pairable units x values counts, value domain) for ``frame``; missing values dropped."""
    _check_level(level)
    if level == "ordinal" and value_order is None:
        raise ValueError(ORDINAL_NEEDS_ORDER)
    values = frame["value"]
    keep = values.notna()
    if missing:
        keep &= ~values.isin(list(missing))
    kept = frame.loc[keep.to_numpy(), ["unit", "value"]]
    raw_codes, raw_values = pd.factorize(kept["value"].to_numpy())
    if value_order is not None:
        domain_values = list(value_order)
    elif level in ("interval", "ratio"):
        domain_values = list(raw_values)
    else:
        domain_values = sorted(raw_values, key=str)
    if level in ("interval", "ratio"):
        try:
            numeric = np.asarray(domain_values, dtype=float)
        except (TypeError, ValueError):
            raise ValueError(NUMERIC_LEVEL_NEEDS_NUMBERS) from None
        # Interval and ratio distances need the values as numbers, in any column order.
        domain = numeric
    else:
        domain = np.arange(len(domain_values))
    position = {value: rank for rank, value in enumerate(domain_values)}
    lookup = np.array([position.get(value, -1) for value in raw_values], dtype=np.int64)
    if (lookup < 0).any():
        raise ValueError(VALUE_NOT_IN_ORDER)
    value_codes = lookup[raw_codes]
    unit_codes, units = pd.factorize(kept["unit"].to_numpy())
    n_values = len(domain_values)
    counts = np.bincount(unit_codes * n_values + value_codes, minlength=len(units) * n_values).reshape(
        len(units), n_values
    )
    return counts[counts.sum(axis=1) >= 2], domain


def krippendorff_alpha(
    frame: pd.DataFrame, *, level: str, value_order: list | None = None, missing: frozenset = frozenset()
) -> float | None:
    """Krippendorff's alpha for ``frame`` (``unit``, ``labeler_id``, ``value``), computed by the
    ``krippendorff`` package. Values in ``missing`` (and nulls) count as no answer. ``value_order``
    orders the ordinal scale (required there). None when no unit has two values or fewer than two
    distinct values can be paired."""
    counts, domain = _value_counts(frame, level=level, value_order=value_order, missing=missing)
    if len(counts) == 0 or np.count_nonzero(counts.sum(axis=0)) < 2:
        return None
    return float(krippendorff.alpha(value_counts=counts, level_of_measurement=level, value_domain=domain))


def _pattern_multiplicities(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct count rows and how often each appears. A row of small counts is packed into one
    integer first (a 1-D unique is much faster than a row-wise one); wide or large rows fall back."""
    base = int(counts.max()) + 1 if counts.size else 1
    if counts.shape[1] * np.log2(base) < 62:
        packed = counts.astype(np.int64) @ (base ** np.arange(counts.shape[1], dtype=np.int64))
        _, first, multiplicity = np.unique(packed, return_index=True, return_counts=True)
        return counts[first], multiplicity
    return np.unique(counts, axis=0, return_counts=True)


def alpha_with_interval(counts: np.ndarray, *, level: str, value_domain: np.ndarray | None = None,
                        n_bootstrap: int = 200, confidence: float = 0.95,
                        seed: int = 0) -> tuple[float | None, float | None, float | None]:
    """(alpha, low, high) from a units x values count matrix: alpha by the ``krippendorff`` package,
    the interval by resampling the pairable units (as ``alpha_interval``)."""
    _check_level(level)
    counts = np.asarray(counts)
    counts = counts[counts.sum(axis=1) >= 2]
    domain = np.arange(counts.shape[1]) if value_domain is None else np.asarray(value_domain)
    if len(counts) == 0 or np.count_nonzero(counts.sum(axis=0)) < 2:
        return None, None, None
    alpha = float(krippendorff.alpha(value_counts=counts, level_of_measurement=level, value_domain=domain))
    patterns, multiplicity = _pattern_multiplicities(counts)
    n_units = int(multiplicity.sum())
    draws = np.random.default_rng(seed).multinomial(n_units, multiplicity / n_units, size=n_bootstrap)
    n_values = counts.shape[1]
    coincidences = (draws @ _unit_coincidences(patterns)).reshape(n_bootstrap, n_values, n_values)
    alphas = _alpha_from_coincidences(coincidences, level=level, domain=domain)
    alphas = alphas[~np.isnan(alphas)]
    if alphas.size == 0:
        return alpha, None, None
    tail = (1 - confidence) / 2
    low, high = np.quantile(alphas, [tail, 1 - tail])
    return alpha, float(low), float(high)


def alpha_interval(
    frame: pd.DataFrame,
    *,
    level: str,
    value_order: list | None = None,
    missing: frozenset = frozenset(),
    n_bootstrap: int = 200,
    confidence: float = 0.95,
    seed: int = 0,
) -> tuple[float, float] | None:
    """Percentile bootstrap interval for alpha, resampling the pairable units with replacement.

    Units with the same count row contribute the same coincidences, so a resample is just a
    multinomial draw of how often each distinct row appears; every draw's coincidence matrix is then
    one matrix product. Draws in which alpha is undefined (one value left) are ignored. None when
    alpha itself is undefined."""
    if not 0 < confidence < 1:
        raise ValueError(BAD_CONFIDENCE)
    if n_bootstrap < 1:
        raise ValueError(BAD_BOOTSTRAP)
    counts, domain = _value_counts(frame, level=level, value_order=value_order, missing=missing)
    if len(counts) == 0 or np.count_nonzero(counts.sum(axis=0)) < 2:
        return None
    patterns, multiplicity = _pattern_multiplicities(counts)
    n_units = int(multiplicity.sum())
    rng = np.random.default_rng(seed)
    draws = rng.multinomial(n_units, multiplicity / n_units, size=n_bootstrap)
    n_values = counts.shape[1]
    coincidences = (draws @ _unit_coincidences(patterns)).reshape(n_bootstrap, n_values, n_values)
    alphas = _alpha_from_coincidences(coincidences, level=level, domain=domain)
    alphas = alphas[~np.isnan(alphas)]
    if alphas.size == 0:
        return None
    tail = (1 - confidence) / 2
    low, high = np.quantile(alphas, [tail, 1 - tail])
    return float(low), float(high)
