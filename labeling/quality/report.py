"""The quality report of one task kind: every figure the dashboard shows, from label records.

``quality_report`` is the one function behind the quality dashboard (through the snapshot task) and
``manage.py quality_report`` (from an export file), so the two give the same numbers for the same
labels. Pure: records in, a JSON-ready dict out. Definitions: docs/METRICS.md, section 3.

Each figure draws its bootstrap from its own generator, seeded from the report's seed and the
figure's name, so a figure does not change when another one is added or left out.
"""
from __future__ import annotations

import zlib

import numpy as np
import pandas as pd

from labeling.quality.agreement import alpha_with_interval
from labeling.quality.dawid_skene import AGGREGATION_METHODS, aggregate_codes
from labeling.quality.frames import QualityFrames, quality_frames
from labeling.quality.metrics import (DEFAULT_BOOTSTRAP_SAMPLES, accuracy_figure, empty_figure, mean_figure,
                                      time_windows, window_start)
from labeling.task_kinds import task_kind_spec

POOL_KIND_ORDER = {"in_house": 0, "fixed_outside": 1, "crowd": 2}
ALPHA_BOOTSTRAP_SAMPLES = 200
# Dawid-Skene stops when the mean log-likelihood per label moves less than this: on a million
# labels 1e-5 takes about 12 EM iterations where 1e-6 takes 40, for the same answers to 0.1%
# (benchmarks/quality.py).
DAWID_SKENE_TOLERANCE = 1e-5
LOWEST_AGREEMENT_ITEMS = 50
# A labeler is flagged when a figure's interval lies wholly on the wrong side of the kind's overall
# interval (a difference the data supports), or when too few golden rows back their accuracy.
FEW_GOLDEN_ROWS = 10
FAST_SHARE_OF_MEDIAN = 1 / 3
FLAG_LOW_ACCURACY = "low accuracy"
FLAG_LOW_CONSISTENCY = "disagrees with others"
FLAG_FEW_GOLDEN = "few golden labels"
FLAG_FAST = "very fast"


def _rng(seed: int, name: str) -> np.random.Generator:
    return np.random.default_rng([seed, zlib.crc32(name.encode())])


def _accuracy_key(scale: str) -> str:
    return "accuracy" if scale == "exact" else f"accuracy_{scale}"


def _codes(column) -> tuple[np.ndarray, np.ndarray]:
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


def _position(names: np.ndarray, name) -> int:
    found = np.flatnonzero(names == name)
    return int(found[0]) if found.size else -1


class _Prepared:
    """The frames as integer codes, made once: every figure below is a bincount, a sort or a
    multinomial draw over these arrays (a million labels would make string group-bys the cost).

    A *key* is one judged item: a unit of an item (``task-7`` x ``slot:3``)."""

    def __init__(self, frames: QualityFrames, *, seed: int, n_bootstrap: int):
        self.frames, self.seed, self.n_bootstrap = frames, seed, n_bootstrap
        self.spec = task_kind_spec(frames.kind)
        units = frames.units
        item, self.item_names = _codes(units["item"])
        unit, self.unit_names = _codes(units["unit"])
        combined = item * max(len(self.unit_names), 1) + unit
        key, key_ids = pd.factorize(combined)
        self.key, self.key_ids = key.astype(np.int64), np.asarray(key_ids, dtype=np.int64)
        self.n_keys = len(self.key_ids)
        self.key_item_code = self.key_ids // max(len(self.unit_names), 1)
        self.key_unit_code = self.key_ids % max(len(self.unit_names), 1)
        self.value, self.value_names = _codes(units["value"])
        self.n_values = max(len(self.value_names), 1)
        self.field, self.field_names = _codes(units["field"])
        self.labeler, self.labeler_names = _codes(units["labeler"])
        self.pool, self.pool_names = _codes(units["pool"])
        self.guide, self.guide_names = _codes(units["guide_version"])
        category, self.category_names = _codes(units["category"])
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
            columns, qualified = _codes(pd.Series(self.field[keep] * self.n_values + value))
            n_columns = len(qualified)
        if key.size == 0:
            return {**empty_figure(), "level": level}
        compact, n_units = _codes(pd.Series(key))
        counts = np.bincount(compact * n_columns + columns, minlength=len(n_units) * n_columns).reshape(
            len(n_units), n_columns)
        pairable = int((counts.sum(axis=1) >= 2).sum())
        alpha, low, high = alpha_with_interval(counts, level=level, n_bootstrap=ALPHA_BOOTSTRAP_SAMPLES,
                                               seed=int(_rng(self.seed, "alpha:" + name).integers(2**31)))
        return {"value": alpha, "low": low, "high": high, "n": pairable, "level": level}

    # -- means ---------------------------------------------------------------------------------

    def mean(self, values, name: str) -> dict:
        return mean_figure(values, rng=_rng(self.seed, "mean:" + name), n_bootstrap=self.n_bootstrap)

    def accuracy(self, rows: pd.DataFrame, name: str) -> dict:
        return accuracy_figure(rows, rng=_rng(self.seed, "accuracy:" + name), n_bootstrap=self.n_bootstrap)


def _time_per_label(labels: pd.DataFrame) -> float | None:
    return float(labels["time_spent_ms"].mean() / 1000) if len(labels) else None


def _split(frame: pd.DataFrame, column: str) -> dict:
    """The frame's rows per value of ``column`` (one group-by, not one scan per value)."""
    if frame.empty:
        return {}
    return {name: frame.iloc[positions]
            for name, positions in frame.groupby(column, sort=False, observed=True).indices.items()}


def _correct_by(accuracy: pd.DataFrame, column: str) -> dict[str, np.ndarray]:
    """The accuracy rows' ``correct`` as 0/1 per value of ``column``."""
    if accuracy.empty:
        return {}
    correct = accuracy["correct"].to_numpy(dtype="float64")
    return {name: correct[positions]
            for name, positions in accuracy.groupby(column, sort=False, observed=True).indices.items()}


def _pool_rows(prepared: _Prepared, scales: tuple[str, ...]) -> list[dict]:
    frames = prepared.frames
    labels = frames.labels
    accuracy_by_pool = {scale: _correct_by(frames.accuracy[scale], "pool") for scale in scales}
    pool_codes, pool_names = _codes(labels["pool"])
    n_pools = len(pool_names)
    n_labels = np.bincount(pool_codes, minlength=n_pools)
    labeler_codes, _ = _codes(labels["labeler"])
    n_labelers = np.bincount(np.unique(pool_codes * (labeler_codes.max() + 1 if labeler_codes.size else 1)
                                       + labeler_codes) // (labeler_codes.max() + 1 if labeler_codes.size else 1),
                             minlength=n_pools)
    simulated = np.bincount(pool_codes, weights=labels["simulated"].to_numpy(dtype="float64"), minlength=n_pools)
    seconds = np.bincount(pool_codes, weights=labels["time_spent_ms"].to_numpy(dtype="float64"), minlength=n_pools)
    # A pool's kind and cost are the same on all its labels: take the first label's.
    first = pd.Series(np.arange(len(labels))).groupby(pool_codes, sort=True).first()
    kinds, costs = labels["pool_kind"].to_numpy(dtype=object), labels["pool_cost_per_label"].to_numpy(dtype=object)
    rows = []
    for code, pool in enumerate(pool_names):
        if n_labels[code] == 0:
            continue
        in_pool = prepared.pool == _position(prepared.pool_names, pool)
        kind, cost = kinds[first[code]], costs[first[code]]
        row = {"pool": pool, "pool_kind": kind if isinstance(kind, str) else None,
               "n_labels": int(n_labels[code]), "n_labelers": int(n_labelers[code]),
               "simulated_labels": int(simulated[code]),
               "consistency": prepared.consistency(in_pool, f"pool:{pool}"),
               "alpha": prepared.alpha(in_pool, f"pool:{pool}"),
               "time_per_label_s": float(seconds[code] / n_labels[code] / 1000),
               "cost_per_label": float(cost) if cost is not None and not pd.isna(cost) else None}
        for scale in scales:
            own = accuracy_by_pool[scale].get(pool)
            row[_accuracy_key(scale)] = (prepared.mean(own, f"accuracy:{scale}:pool:{pool}") if own is not None
                                         else empty_figure())
        accuracy = row["accuracy"]["value"]
        row["cost_per_correct_label"] = (row["cost_per_label"] / accuracy
                                         if row["cost_per_label"] is not None and accuracy else None)
        rows.append(row)
    return sorted(rows, key=lambda row: (POOL_KIND_ORDER.get(row["pool_kind"], 9), row["pool"]))


def _labeler_rows(prepared: _Prepared, scales: tuple[str, ...], overall: dict) -> list[dict]:
    frames = prepared.frames
    labels = frames.labels
    agrees = prepared.agrees_with_top()
    agrees_by_labeler = {}
    if agrees.size:
        order = np.argsort(prepared.labeler, kind="stable")
        bounds = np.r_[0, np.cumsum(np.bincount(prepared.labeler, minlength=len(prepared.labeler_names)))]
        for code, name in enumerate(prepared.labeler_names):
            own = agrees[order[bounds[code]:bounds[code + 1]]]
            agrees_by_labeler[name] = own[~np.isnan(own)]
    accuracy_by_labeler = {scale: _correct_by(frames.accuracy[scale], "labeler") for scale in scales}
    by_labeler = labels.groupby("labeler", sort=False, observed=True)
    times = by_labeler["time_spent_ms"].mean() / 1000
    median_time = float(times.median()) if len(times) else None
    summary = by_labeler.agg(pool=("pool", "first"), simulated=("simulated", "all"), n_labels=("item", "size"))
    rows = []
    for labeler, own in summary.iterrows():
        row = {"labeler": labeler, "pool": own["pool"], "simulated": bool(own["simulated"]),
               "n_labels": int(own["n_labels"]),
               "consistency": prepared.mean(agrees_by_labeler.get(labeler, np.empty(0)), f"agrees:{labeler}"),
               "time_per_label_s": float(times[labeler])}
        row["labels_per_hour"] = 3600 / row["time_per_label_s"] if row["time_per_label_s"] > 0 else None
        for scale in scales:
            own_rows = accuracy_by_labeler[scale].get(labeler)
            row[_accuracy_key(scale)] = (prepared.mean(own_rows, f"accuracy:{scale}:labeler:{labeler}")
                                         if own_rows is not None else empty_figure())
        row["flags"] = _labeler_flags(row, overall, median_time)
        rows.append(row)
    return sorted(rows, key=lambda row: row["labeler"])


def _labeler_flags(row: dict, overall: dict, median_time: float | None) -> list[str]:
    flags = []
    accuracy, overall_accuracy = row["accuracy"], overall["accuracy"]
    if accuracy["n"] < FEW_GOLDEN_ROWS:
        flags.append(FLAG_FEW_GOLDEN)
    elif overall_accuracy["low"] is not None and accuracy["high"] is not None and accuracy["high"] < overall_accuracy["low"]:
        flags.append(FLAG_LOW_ACCURACY)
    consistency, overall_consistency = row["consistency"], overall["consistency"]
    if (overall_consistency["low"] is not None and consistency["high"] is not None
            and consistency["high"] < overall_consistency["low"]):
        flags.append(FLAG_LOW_CONSISTENCY)
    if median_time and row["time_per_label_s"] < FAST_SHARE_OF_MEDIAN * median_time:
        flags.append(FLAG_FAST)
    return flags


def _group_rows(prepared: _Prepared, column: str, scales: tuple[str, ...]) -> list[dict]:
    """Accuracy and consistency within each value of ``column`` (field, category, guide version)."""
    frames = prepared.frames
    units = frames.units
    accuracy_by = {scale: _correct_by(frames.accuracy[scale], column) for scale in scales}
    names = sorted(set(units[column].dropna().unique().tolist())
                   | set().union(*(set(groups) for groups in accuracy_by.values())))
    label_counts = frames.labels.groupby(column, observed=True).size() if column in frames.labels else None
    rows = []
    for name in names:
        if column == "field":
            code = _position(prepared.field_names, name)
            in_group = prepared.field == code
            consistency = prepared.consistency_of_keys(prepared.key_field == code, f"field:{name}")
            n_labels = int(np.count_nonzero(np.bincount(units["label"].to_numpy()[in_group],
                                                        minlength=len(frames.labels))))
        elif column == "category":
            keys = prepared.key_category == _position(prepared.category_names, name)
            consistency = prepared.consistency_of_keys(keys, f"category:{name}")
            n_labels = int(label_counts.get(name, 0))
        else:
            # A guide version splits an item's labels (some before, some after the change): recount.
            consistency = prepared.consistency(prepared.guide == _position(prepared.guide_names, name),
                                               f"{column}:{name}")
            n_labels = int(label_counts.get(name, 0))
        row = {column: name, "n_labels": n_labels, "consistency": consistency}
        for scale in scales:
            own = accuracy_by[scale].get(name)
            row[_accuracy_key(scale)] = (prepared.mean(own, f"accuracy:{scale}:{column}:{name}") if own is not None
                                         else empty_figure())
        if column == "field":
            row["alpha"] = prepared.alpha(in_group, f"field:{name}")
        rows.append(row)
    return rows


def _over_time(prepared: _Prepared) -> dict:
    frames = prepared.frames
    accuracy = frames.accuracy["exact"]
    times = frames.labels["created_at"].dropna()
    window_name, seconds = time_windows(times)
    if accuracy.empty or accuracy["created_at"].isna().all():
        return {"window": window_name, "rows": []}
    accuracy = accuracy[accuracy["created_at"].notna()]
    starts = window_start(accuracy["created_at"], seconds)
    rows = []
    correct = accuracy["correct"].to_numpy()
    for (start, pool), positions in accuracy.groupby([starts, accuracy["pool"]], sort=True,
                                                     observed=True).indices.items():
        rows.append({"start": start.isoformat(), "pool": pool,
                     "accuracy": prepared.mean(correct[positions], f"time:{start.isoformat()}:{pool}")})
    for start, positions in accuracy.groupby(starts, sort=True).indices.items():
        rows.append({"start": start.isoformat(), "pool": None,
                     "accuracy": prepared.mean(correct[positions], f"time:{start.isoformat()}")})
    return {"window": window_name, "rows": rows}


def _confusion(frames: QualityFrames, spec) -> list[dict]:
    """Per field with nominal golden values: counts of (golden value, labeler value)."""
    accuracy = frames.accuracy["exact"]
    rows = accuracy[accuracy["golden_value"].notna() & accuracy["value"].notna()]
    matrices = []
    for field, positions in rows.groupby("field", sort=True, observed=True).indices.items():
        golden = rows["golden_value"].to_numpy(dtype=object)[positions]
        given = rows["value"].to_numpy(dtype=object)[positions]
        codes, seen = pd.factorize(np.concatenate([golden, given]))
        known = list(spec.quality_value_order or ())
        order = [v for v in known if v in set(seen)] + sorted(set(seen) - set(known))
        rank = np.array([order.index(v) for v in seen], dtype=np.int64)
        golden_rank, given_rank = rank[codes[:len(golden)]], rank[codes[len(golden):]]
        matrix = np.bincount(golden_rank * len(order) + given_rank, minlength=len(order) ** 2).reshape(
            len(order), len(order))
        matrices.append({"field": field, "values": order, "matrix": matrix.astype(int).tolist(), "n": int(len(golden))})
    return matrices


def _items(prepared: _Prepared) -> dict:
    """Agreement per item (mean over its judged units of the share giving the most common answer),
    lowest first, and its histogram."""
    frames = prepared.frames
    judged = prepared.n_all >= 2
    if not judged.any():
        return {"n_items": 0, "lowest": [], "histogram": []}
    item_codes, item_ids = _codes(pd.Series(prepared.key_item_code[judged]))
    items = prepared.item_names[item_ids.astype(np.int64)]
    shares = prepared.shares_all[judged]
    n_units = np.bincount(item_codes)
    agreement = np.bincount(item_codes, weights=shares) / n_units
    n_labels = frames.labels.groupby("item", sort=False, observed=True).size().reindex(items).to_numpy()
    task_of = frames.labels.drop_duplicates("item").set_index("item")["task"].reindex(items).to_numpy()
    order = np.lexsort((-n_labels, agreement))[:LOWEST_AGREEMENT_ITEMS]
    edges = np.linspace(0, 1, 11)
    histogram, _ = np.histogram(agreement, bins=edges)
    return {"n_items": int(len(items)),
            "lowest": [{"item": items[i], "task": int(task_of[i]) if pd.notna(task_of[i]) else None,
                        "agreement": float(agreement[i]), "n_labels": int(n_labels[i]), "n_units": int(n_units[i])}
                       for i in order],
            "histogram": [{"low": float(edges[i]), "high": float(edges[i + 1]), "n_items": int(histogram[i])}
                          for i in range(len(histogram))]}


def _aggregate_prepared(prepared: _Prepared, *, method: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
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
        keys, key_names = _codes(pd.Series(prepared.key[rows]))
        values, value_names = _codes(pd.Series(position[prepared.value[rows]]))
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


def aggregated_answers(frames: QualityFrames, *, method: str, prepared: _Prepared | None = None) -> pd.DataFrame:
    """One aggregated value per (item, unit): columns ``item``, ``unit``, ``field``, ``value``,
    ``confidence``, ``n_labels``."""
    prepared = prepared or _Prepared(frames, seed=0, n_bootstrap=1)
    if prepared.n_keys == 0:
        return pd.DataFrame(columns=["item", "unit", "field", "value", "confidence", "n_labels"])
    winner, confidence, n_labels = _aggregate_prepared(prepared, method=method)
    return pd.DataFrame({"item": prepared.item_names[prepared.key_item_code],
                         "unit": prepared.unit_names[prepared.key_unit_code],
                         "field": prepared.field_names[prepared.key_field],
                         "value": prepared.value_names[winner], "confidence": confidence, "n_labels": n_labels})


def _aggregation(prepared: _Prepared) -> dict:
    """Both methods' aggregated answers scored against the golden value of each judged unit."""
    accuracy = prepared.frames.accuracy["exact"]
    golden = accuracy[accuracy["golden_value"].notna()].drop_duplicates(["item", "unit"])
    item = pd.Index(prepared.item_names).get_indexer(golden["item"].astype(object).to_numpy())
    unit = pd.Index(prepared.unit_names).get_indexer(golden["unit"].astype(object).to_numpy())
    positions = pd.Index(prepared.key_ids).get_indexer(item * max(len(prepared.unit_names), 1) + unit)
    positions[(item < 0) | (unit < 0)] = -1
    found = positions >= 0
    golden_values = golden["golden_value"].to_numpy(dtype=object)[found]
    positions = positions[found]
    section, winners = {}, {}
    for method in AGGREGATION_METHODS:
        winner, _, _ = _aggregate_prepared(prepared, method=method)
        winners[method] = winner
        correct = (prepared.value_names[winner[positions]] == golden_values).astype("float64") if positions.size else []
        section[method] = {"accuracy": prepared.mean(correct, f"aggregated:{method}"), "n_items": int(prepared.n_keys)}
    first, second = (winners[m] for m in AGGREGATION_METHODS)
    section["methods_agree"] = float((first == second).mean()) if prepared.n_keys else None
    return section


def quality_report_from_frames(frames: QualityFrames, *, n_bootstrap: int = DEFAULT_BOOTSTRAP_SAMPLES,
                               seed: int = 0, aggregation: bool = True) -> dict:
    prepared = _Prepared(frames, seed=seed, n_bootstrap=n_bootstrap)
    scales = prepared.spec.accuracy_scales
    labels = frames.labels
    overall = {"n_labels": int(len(labels)), "n_items": int(labels["item"].nunique()) if len(labels) else 0,
               "n_labelers": int(labels["labeler"].nunique()) if len(labels) else 0,
               "n_simulated_labels": int(labels["simulated"].sum()) if len(labels) else 0,
               "consistency": prepared.consistency(prepared.all_rows, "all"),
               "alpha": prepared.alpha(prepared.all_rows, "all"),
               "time_per_label_s": _time_per_label(labels)}
    for scale in scales:
        overall[_accuracy_key(scale)] = prepared.accuracy(frames.accuracy[scale], f"{scale}:all")
    report = {"kind": frames.kind, "accuracy_scales": list(scales), "overall": overall,
              "per_pool": _pool_rows(prepared, scales),
              "per_labeler": _labeler_rows(prepared, scales, overall),
              "per_field": _group_rows(prepared, "field", scales),
              "per_category": _group_rows(prepared, "category", scales),
              "per_guide_version": _group_rows(prepared, "guide_version", scales),
              "over_time": _over_time(prepared),
              "confusion": _confusion(frames, prepared.spec),
              "items": _items(prepared)}
    if aggregation:
        report["aggregation"] = _aggregation(prepared)
    return report


def quality_report(*, kind: str, records: list[dict], golden: dict[str, dict],
                   n_bootstrap: int = DEFAULT_BOOTSTRAP_SAMPLES, seed: int = 0, **options) -> dict:
    """The report of one kind's label records against ``golden`` (item -> golden answer)."""
    frames = quality_frames(kind=kind, records=records, golden=golden, **options)
    return quality_report_from_frames(frames, n_bootstrap=n_bootstrap, seed=seed)
