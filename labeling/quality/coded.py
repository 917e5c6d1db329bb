"""The quality frames as integer codes (``CodedFrames``), made once per report.

Every figure of the report is a bincount, a sort or a multinomial draw over these arrays: on a
million labels, string group-bys would cost more than all the arithmetic (labeling/quality/QUALITY.md).
Pure: frames in, arrays and figures out.
"""
from __future__ import annotations

import zlib

import numpy as np
import pandas as pd

from labeling.quality.agreement import alpha_with_interval
from labeling.quality.frames import QualityFrames
from labeling.quality.metrics import accuracy_figure, empty_figure, mean_figure
from labeling.task_kinds import task_kind_spec

ALPHA_BOOTSTRAP_SAMPLES = 200


def accuracy_key(scale: str) -> str:
    """The report's key of an accuracy scale: ``accuracy`` for exact, ``accuracy_<scale>`` otherwise."""
    return "accuracy" if scale == "exact" else f"accuracy_{scale}"


def figure_rng(seed: int, name: str) -> np.random.Generator:
    return np.random.default_rng([seed, zlib.crc32(name.encode())])


def codes_of(column) -> tuple[np.ndarray, np.ndarray]:
    """(integer code per row, names): free for the frames' categorical columns, a factorize otherwise."""
    column = column if isinstance(column, pd.Series) else pd.Series(column)
    if isinstance(column.dtype, pd.CategoricalDtype):
        codes = column.cat.codes.to_numpy().astype(np.int64)
        names = np.asarray(column.cat.categories, dtype=object)
        if (codes < 0).any():  # a missing value: give it a name of its own
            codes = np.where(codes < 0, len(names), codes)
            names = np.append(names, None)
        return codes, names
    codes, names = pd.factorize(column, use_na_sentinel=False)
    return codes.astype(np.int64), np.asarray(names, dtype=object)


def position_of(names: np.ndarray, name) -> int:
    found = np.flatnonzero(names == name)
    return int(found[0]) if found.size else -1


class CodedFrames:
    """The frames as integer codes, made once: every figure below is a bincount, a sort or a
    multinomial draw over these arrays (a million labels would make string group-bys the cost).

    A *key* is one judged item: a unit of an item (``task-7`` x ``slot:3``)."""

    def __init__(self, frames: QualityFrames, *, seed: int, n_bootstrap: int):
        self.frames, self.seed, self.n_bootstrap = frames, seed, n_bootstrap
        self.spec = task_kind_spec(frames.kind)
        units = frames.units
        item, self.item_names = codes_of(units["item"])
        unit, self.unit_names = codes_of(units["unit"])
        combined = item * max(len(self.unit_names), 1) + unit
        key, key_ids = pd.factorize(combined)
        self.key, self.key_ids = key.astype(np.int64), np.asarray(key_ids, dtype=np.int64)
        self.n_keys = len(self.key_ids)
        self.key_item_code = self.key_ids // max(len(self.unit_names), 1)
        self.key_unit_code = self.key_ids % max(len(self.unit_names), 1)
        self.value, self.value_names = codes_of(units["value"])
        self.n_values = max(len(self.value_names), 1)
        self.field, self.field_names = codes_of(units["field"])
        self.labeler, self.labeler_names = codes_of(units["labeler"])
        self.pool, self.pool_names = codes_of(units["pool"])
        self.guide, self.guide_names = codes_of(units["guide_version"])
        category, self.category_names = codes_of(units["category"])
        # Per key: its field and category, from its first row.
        first = np.full(self.n_keys, -1, dtype=np.int64)
        if self.n_keys:
            first[self.key[::-1]] = np.arange(len(self.key))[::-1]
        self.key_field = self.field[first] if self.n_keys else np.empty(0, np.int64)
        self.key_category = category[first] if self.n_keys else np.empty(0, np.int64)
        self.all_rows = np.ones(len(units), dtype=bool)
        self.shares_all, self.n_all = self.key_shares(self.all_rows)

    # -- consistency ---------------------------------------------------------------------------

    def key_shares(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(share giving the most common answer, number of labels) per key, over ``rows`` only."""
        key, value = self.key[rows], self.value[rows]
        n = np.bincount(key, minlength=self.n_keys)
        top = np.zeros(self.n_keys, dtype=np.int64)
        if key.size:
            pairs, counts = np.unique(key * self.n_values + value, return_counts=True)
            pair_key = pairs // self.n_values
            starts = np.flatnonzero(np.r_[True, pair_key[1:] != pair_key[:-1]])
            top[pair_key[starts]] = np.maximum.reduceat(counts, starts)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(n > 0, top / np.maximum(n, 1), np.nan), n

    def consistency(self, rows: np.ndarray, name: str) -> dict:
        whole = rows is self.all_rows or bool(rows.all())
        shares, n = (self.shares_all, self.n_all) if whole else self.key_shares(rows)
        return self.mean(shares[n >= 2], "consistency:" + name)

    def consistency_of_keys(self, keys: np.ndarray, name: str) -> dict:
        """Consistency over whole keys (a field, a category: every label of a key is inside)."""
        chosen = keys & (self.n_all >= 2)
        return self.mean(self.shares_all[chosen], "consistency:" + name)

    def agrees_with_top(self) -> np.ndarray:
        """Per unit row: 1 where its value is (one of) its key's most common answers, NaN where the
        key has a single label."""
        if not self.key.size:
            return np.empty(0)
        pairs, inverse, counts = np.unique(self.key * self.n_values + self.value, return_inverse=True,
                                           return_counts=True)
        pair_key = pairs // self.n_values
        top = np.zeros(self.n_keys, dtype=np.int64)
        np.maximum.at(top, pair_key, counts)
        agrees = (counts[inverse] == top[self.key]).astype("float64")
        agrees[self.n_all[self.key] < 2] = np.nan
        return agrees

    # -- alpha ---------------------------------------------------------------------------------

    def alpha(self, rows: np.ndarray, name: str) -> dict:
        """Krippendorff's alpha of ``rows``; with several fields, values are qualified by their field
        (a colour never equals a pattern) and the level is nominal. The figure of every row is
        computed once (a kind with one field asks for it twice)."""
        whole = rows is self.all_rows or bool(rows.all())
        if whole and getattr(self, "_alpha_all", None) is not None:
            return self._alpha_all
        figure = self._alpha(rows, "all" if whole else name)
        if whole:
            self._alpha_all = figure
        return figure

    def _alpha(self, rows: np.ndarray, name: str) -> dict:
        spec = self.spec
        fields_here = np.unique(self.field[rows]) if rows.any() else np.empty(0)
        single = fields_here.size <= 1
        level = spec.alpha_level if single else "nominal"
        missing = {code for code, value in enumerate(self.value_names) if value in spec.quality_missing_values}
        keep = rows & ~np.isin(self.value, list(missing)) if missing else rows
        key, value = self.key[keep], self.value[keep]
        if single:
            order = [v for v in (spec.quality_value_order or ()) if v not in spec.quality_missing_values]
            if level != "nominal" and order:
                rank = {v: i for i, v in enumerate(order)}
                known = np.array([rank.get(v, -1) for v in self.value_names], dtype=np.int64)
                columns, n_columns = known[value], len(order)
                keep_known = columns >= 0
                key, columns = key[keep_known], columns[keep_known]
            else:
                columns, n_columns = value, self.n_values
        else:
            columns, qualified = codes_of(pd.Series(self.field[keep] * self.n_values + value))
            n_columns = len(qualified)
        if key.size == 0:
            return {**empty_figure(), "level": level}
        compact, n_units = codes_of(pd.Series(key))
        counts = np.bincount(compact * n_columns + columns, minlength=len(n_units) * n_columns).reshape(
            len(n_units), n_columns)
        pairable = int((counts.sum(axis=1) >= 2).sum())
        alpha, low, high = alpha_with_interval(counts, level=level, n_bootstrap=ALPHA_BOOTSTRAP_SAMPLES,
                                               seed=int(figure_rng(self.seed, "alpha:" + name).integers(2**31)))
        return {"value": alpha, "low": low, "high": high, "n": pairable, "level": level}

    # -- means ---------------------------------------------------------------------------------

    def mean(self, values, name: str) -> dict:
        return mean_figure(values, rng=figure_rng(self.seed, "mean:" + name), n_bootstrap=self.n_bootstrap)

    def accuracy(self, rows: pd.DataFrame, name: str) -> dict:
        return accuracy_figure(rows, rng=figure_rng(self.seed, "accuracy:" + name), n_bootstrap=self.n_bootstrap)
