"""Label aggregation: majority vote and Dawid & Skene (1979) expectation-maximisation.

Pure numpy/pandas. Labels arrive as three parallel integer arrays (item, labeler, value), so a
million labels are a few flat arrays; every step is a ``np.bincount`` over them. The only Python
loops run over EM iterations and over the (few) values.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

AGGREGATION_METHODS = ("majority", "dawid_skene")

UNKNOWN_METHOD = "Unknown aggregation method: use 'majority' or 'dawid_skene'."
LABEL_ARRAYS_MISMATCH = "item_index, labeler_index and value_index must have the same length."
INDEX_OUT_OF_RANGE = "An index is outside [0, n) for its n_items, n_labelers or n_values."
TIE_BREAK_SHAPE = "tie_break must hold one rank per value."
VALUE_NOT_IN_ORDER = "A label's value is not in value_order."
NO_VALUES = "n_values must be at least 1."


@dataclass(frozen=True)
class DawidSkeneResult:
    """``posterior[i, k]``: probability that item i's true value is k (items without labels get
    ``priors``). ``confusion[j, t, g]``: probability that labeler j gives g when the truth is t."""

    posterior: np.ndarray
    confusion: np.ndarray
    priors: np.ndarray
    iterations: int
    converged: bool


def _as_index(array: np.ndarray, size: int) -> np.ndarray:
    index = np.asarray(array, dtype=np.int64).ravel()
    if index.size and (index.min() < 0 or index.max() >= size):
        raise ValueError(INDEX_OUT_OF_RANGE)
    return index


def _tie_ranks(tie_break: np.ndarray | None, n_values: int) -> np.ndarray:
    """Dense ranks 0..n_values-1; equal tie_break entries fall back to the value index, so the
    result is a strict order and argmax never depends on numpy's first-maximum rule."""
    if tie_break is None:
        return np.arange(n_values)
    ranks = np.asarray(tie_break, dtype=float).ravel()
    if ranks.size != n_values:
        raise ValueError(TIE_BREAK_SHAPE)
    order = np.lexsort((np.arange(n_values), ranks))
    dense = np.empty(n_values, dtype=np.int64)
    dense[order] = np.arange(n_values)
    return dense


def _vote_counts(items: np.ndarray, values: np.ndarray, *, n_items: int, n_values: int) -> np.ndarray:
    return np.bincount(items * n_values + values, minlength=n_items * n_values).reshape(n_items, n_values)


def majority_vote(
    item_index: np.ndarray,
    value_index: np.ndarray,
    *,
    n_items: int,
    n_values: int,
    tie_break: np.ndarray | None = None,
) -> np.ndarray:
    """Winning value index per item, -1 for items without labels. A tie goes to the value with the
    highest ``tie_break`` rank (default: the highest value index, the most conservative one)."""
    if n_values < 1:
        raise ValueError(NO_VALUES)
    items = _as_index(item_index, n_items)
    values = _as_index(value_index, n_values)
    if items.size != values.size:
        raise ValueError(LABEL_ARRAYS_MISMATCH)
    counts = _vote_counts(items, values, n_items=n_items, n_values=n_values)
    # Counts dominate, the rank only separates equal counts: rank < n_values.
    winner = np.argmax(counts * n_values + _tie_ranks(tie_break, n_values), axis=1)
    winner[counts.sum(axis=1) == 0] = -1
    return winner


def _m_step(
    posterior_t: np.ndarray,
    items: np.ndarray,
    pair: np.ndarray,
    labeled: np.ndarray,
    *,
    n_labelers: int,
    n_values: int,
    smoothing: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Priors and confusion matrices from soft class memberships (``posterior_t`` is values x items)."""
    counts = np.empty((n_values, n_labelers * n_values))
    for true in range(n_values):
        counts[true] = np.bincount(pair, weights=posterior_t[true][items], minlength=n_labelers * n_values)
    # (true, labeler, given) -> (labeler, true, given); the pseudo-count keeps unseen cells above
    # zero so one labeler's unseen (true, given) pair cannot veto a class with log(0).
    counts = counts.reshape(n_values, n_labelers, n_values).transpose(1, 0, 2) + smoothing
    confusion = counts / counts.sum(axis=2, keepdims=True)
    # Unlabeled items only echo the previous priors; leaving them out speeds convergence.
    prior_counts = posterior_t @ labeled + smoothing
    return prior_counts / prior_counts.sum(), confusion


def _e_step(
    priors: np.ndarray,
    confusion: np.ndarray,
    items: np.ndarray,
    pair: np.ndarray,
    *,
    n_items: int,
    n_values: int,
) -> tuple[np.ndarray, float]:
    """Posterior (values x items) and the total marginal log-likelihood of the labels."""
    log_confusion = np.log(confusion).transpose(1, 0, 2).reshape(n_values, -1)
    log_joint = np.empty((n_values, n_items))
    for true in range(n_values):
        log_joint[true] = np.bincount(items, weights=log_confusion[true][pair], minlength=n_items)
    log_joint += np.log(priors)[:, None]
    peak = log_joint.max(axis=0)
    log_evidence = peak + np.log(np.exp(log_joint - peak).sum(axis=0))
    return np.exp(log_joint - log_evidence), float(log_evidence.sum())


def dawid_skene(
    item_index: np.ndarray,
    labeler_index: np.ndarray,
    value_index: np.ndarray,
    *,
    n_items: int,
    n_labelers: int,
    n_values: int,
    max_iterations: int = 50,
    tolerance: float = 1e-6,
    smoothing: float = 0.01,
) -> DawidSkeneResult:
    """Dawid & Skene EM, started from each item's majority-vote proportions.

    ``smoothing`` is a pseudo-count added to every confusion cell and to every prior. EM stops when
    the mean log-likelihood per label changes by at most ``tolerance`` between iterations (a
    per-label figure, so the same tolerance suits a hundred labels or a million)."""
    if n_values < 1:
        raise ValueError(NO_VALUES)
    items = _as_index(item_index, n_items)
    labelers = _as_index(labeler_index, n_labelers)
    values = _as_index(value_index, n_values)
    if not items.size == labelers.size == values.size:
        raise ValueError(LABEL_ARRAYS_MISMATCH)
    labels_per_item = np.bincount(items, minlength=n_items)
    labeled = (labels_per_item > 0).astype(float)
    # Index of (labeler, given value) in a labeler-major flattening of the confusion rows.
    pair = labelers * n_values + values

    posterior_t = (
        _vote_counts(items, values, n_items=n_items, n_values=n_values) / np.maximum(labels_per_item, 1)[:, None]
    ).T.copy()
    priors, confusion = _m_step(
        posterior_t, items, pair, labeled, n_labelers=n_labelers, n_values=n_values, smoothing=smoothing
    )
    if items.size == 0:
        posterior = np.broadcast_to(priors, (n_items, n_values)).copy()
        return DawidSkeneResult(posterior=posterior, confusion=confusion, priors=priors, iterations=0, converged=True)

    previous = None
    converged = False
    iterations = 0
    while iterations < max_iterations:
        iterations += 1
        posterior_t, log_likelihood = _e_step(priors, confusion, items, pair, n_items=n_items, n_values=n_values)
        mean_log_likelihood = log_likelihood / items.size
        if previous is not None and abs(mean_log_likelihood - previous) <= tolerance:
            converged = True
            break
        previous = mean_log_likelihood
        if iterations < max_iterations:
            priors, confusion = _m_step(
                posterior_t, items, pair, labeled, n_labelers=n_labelers, n_values=n_values, smoothing=smoothing
            )
    # The posterior returned is the one computed from the returned priors and confusion.
    return DawidSkeneResult(
        posterior=np.ascontiguousarray(posterior_t.T),
        confusion=confusion,
        priors=priors,
        iterations=iterations,
        converged=converged,
    )


def _object_array(values: list) -> np.ndarray:
    """An object array holding ``values`` as they are (``np.array`` would split tuples)."""
    array = np.empty(len(values), dtype=object)
    for position, value in enumerate(values):
        array[position] = value
    return array


def aggregate_codes(item_codes: np.ndarray, labeler_codes: np.ndarray, value_codes: np.ndarray, *, n_items: int,
                    n_labelers: int, n_values: int, method: str,
                    tolerance: float = 1e-6) -> tuple[np.ndarray, np.ndarray]:
    """(winning value code, confidence) per item from integer codes; values are ranked by code for
    ties, the highest code the most conservative. Confidence is the winner's vote share (majority)
    or its posterior (Dawid-Skene)."""
    if method not in AGGREGATION_METHODS:
        raise ValueError(UNKNOWN_METHOD)
    if method == "majority":
        winner = majority_vote(item_codes, value_codes, n_items=n_items, n_values=n_values)
        counts = _vote_counts(item_codes, value_codes, n_items=n_items, n_values=n_values)
        n_labels = np.bincount(item_codes, minlength=n_items)
        return winner, counts[np.arange(n_items), winner] / np.maximum(n_labels, 1)
    posterior = dawid_skene(item_codes, labeler_codes, value_codes, n_items=n_items, n_labelers=n_labelers,
                            n_values=n_values, tolerance=tolerance).posterior
    # Scan the columns most-conservative first so an exact posterior tie resolves as in majority.
    columns = np.arange(n_values)[::-1]
    winner = columns[np.argmax(posterior[:, columns], axis=1)]
    return winner, posterior[np.arange(n_items), winner]


def aggregate_answers(frame: pd.DataFrame, *, method: str, value_order: list | None = None) -> pd.DataFrame:
    """One row per item (in order of first appearance): ``item``, ``value``, ``confidence``,
    ``n_labels``. ``frame`` holds ``item``, ``labeler_id``, ``value``. ``value_order`` ranks the
    values for ties, the last the most conservative; by default the values sorted as strings.
    Confidence is the winner's vote share (majority) or its posterior (Dawid-Skene)."""
    if method not in AGGREGATION_METHODS:
        raise ValueError(UNKNOWN_METHOD)
    if frame.empty:
        return pd.DataFrame({
            "item": _object_array([]), "value": _object_array([]),
            "confidence": np.empty(0, dtype=float), "n_labels": np.empty(0, dtype=np.int64),
        })
    item_codes, items = pd.factorize(frame["item"].to_numpy(), use_na_sentinel=False)
    labeler_codes, labelers = pd.factorize(frame["labeler_id"].to_numpy(), use_na_sentinel=False)
    raw_codes, raw_values = pd.factorize(frame["value"].to_numpy(), use_na_sentinel=False)
    domain = list(value_order) if value_order is not None else sorted(raw_values, key=str)
    position = {value: rank for rank, value in enumerate(domain)}
    lookup = np.array([position.get(value, -1) for value in raw_values], dtype=np.int64)
    if (lookup < 0).any():
        raise ValueError(VALUE_NOT_IN_ORDER)
    value_codes = lookup[raw_codes]
    n_items, n_values = len(items), len(domain)
    n_labels = np.bincount(item_codes, minlength=n_items)
    winner, confidence = aggregate_codes(item_codes, labeler_codes, value_codes, n_items=n_items,
                                         n_labelers=len(labelers), n_values=n_values, method=method)

    return pd.DataFrame({
        "item": items,
        "value": _object_array(domain)[winner],
        "confidence": confidence.astype(float),
        "n_labels": n_labels.astype(np.int64),
    })
