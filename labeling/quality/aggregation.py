"""Aggregated answers from coded frames: one value per judged unit, field by field, by majority
vote or Dawid-Skene (labeling/quality/dawid_skene.py), with ties to the kind's most conservative value."""
from __future__ import annotations

import numpy as np
import pandas as pd

from labeling.quality.coded import CodedFrames, codes_of
from labeling.quality.dawid_skene import aggregate_codes
from labeling.quality.frames import QualityFrames

# Dawid-Skene stops when the mean log-likelihood per label moves less than this: on a million
# labels 1e-5 takes about 12 EM iterations where 1e-6 takes 40, for the same answers to 0.1%
# (benchmarks/quality.py).
DAWID_SKENE_TOLERANCE = 1e-5


def aggregate_coded(prepared: CodedFrames, *, method: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(value code, confidence, labels) per key, field by field (each field has its own values);
    the codes are ordered so that a tie goes to the kind's most conservative value."""
    spec = prepared.spec
    order = list(spec.quality_value_order or ())
    rank = {v: i for i, v in enumerate(order)}
    # Known values by the kind's order (best first), the others after them by name; the highest
    # rank is the most conservative and wins ties.
    ranked = sorted(range(len(prepared.value_names)),
                    key=lambda c: (0, rank[prepared.value_names[c]]) if prepared.value_names[c] in rank
                    else (1, str(prepared.value_names[c])))
    position = np.empty(len(ranked), dtype=np.int64)
    position[ranked] = np.arange(len(ranked))
    winner = np.full(prepared.n_keys, -1, dtype=np.int64)
    confidence = np.zeros(prepared.n_keys)
    labeler_codes, labeler_names = prepared.labeler, prepared.labeler_names
    for field in range(len(prepared.field_names)):
        rows = prepared.field == field
        keys, key_names = codes_of(pd.Series(prepared.key[rows]))
        values, value_names = codes_of(pd.Series(position[prepared.value[rows]]))
        # Re-code this field's values densely, keeping their rank order.
        ascending = np.argsort(value_names.astype(np.int64))
        dense = np.empty(len(ascending), dtype=np.int64)
        dense[ascending] = np.arange(len(ascending))
        field_winner, field_confidence = aggregate_codes(
            keys, labeler_codes[rows], dense[values], n_items=len(key_names), n_labelers=len(labeler_names),
            n_values=len(ascending), method=method, tolerance=DAWID_SKENE_TOLERANCE)
        back = value_names.astype(np.int64)[ascending]  # dense rank -> global rank
        winner[key_names.astype(np.int64)] = np.asarray(ranked)[back[field_winner]]
        confidence[key_names.astype(np.int64)] = field_confidence
    return winner, confidence, prepared.n_all


def aggregated_answers(frames: QualityFrames, *, method: str, prepared: CodedFrames | None = None) -> pd.DataFrame:
    """One aggregated value per (item, unit): columns ``item``, ``unit``, ``field``, ``value``,
    ``confidence``, ``n_labels``."""
    prepared = prepared or CodedFrames(frames, seed=0, n_bootstrap=1)
    if prepared.n_keys == 0:
        return pd.DataFrame(columns=["item", "unit", "field", "value", "confidence", "n_labels"])
    winner, confidence, n_labels = aggregate_coded(prepared, method=method)
    return pd.DataFrame({"item": prepared.item_names[prepared.key_item_code],
                         "unit": prepared.unit_names[prepared.key_unit_code],
                         "field": prepared.field_names[prepared.key_field],
                         "value": prepared.value_names[winner], "confidence": confidence, "n_labels": n_labels})
