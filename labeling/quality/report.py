"""The quality report of one task kind: every figure the dashboard shows, from label records.

``quality_report`` is the one function behind the quality dashboard (through the snapshot task) and
``manage.py quality_report`` (from an export file), so the two give the same numbers for the same
labels. Pure: records in, a JSON-ready dict out. Definitions: docs/METRICS.md, section 3.

Each figure draws its bootstrap from its own generator, seeded from the report's seed and the
figure's name, so a figure does not change when another one is added or left out.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from labeling.quality.aggregation import aggregate_coded
from labeling.quality.coded import CodedFrames, accuracy_key, codes_of, position_of
from labeling.quality.dawid_skene import AGGREGATION_METHODS
from labeling.quality.frames import QualityFrames, quality_frames
from labeling.quality.metrics import DEFAULT_BOOTSTRAP_SAMPLES, empty_figure, time_windows, window_start

POOL_KIND_ORDER = {"in_house": 0, "fixed_outside": 1, "crowd": 2}
LOWEST_AGREEMENT_ITEMS = 50
# A labeler is flagged when a figure's interval lies wholly on the wrong side of the kind's overall
# interval (a difference the data supports), or when too few golden rows back their accuracy.
FEW_GOLDEN_ROWS = 10
FAST_SHARE_OF_MEDIAN = 1 / 3
FLAG_LOW_ACCURACY = "low accuracy"
FLAG_LOW_CONSISTENCY = "disagrees with others"
FLAG_FEW_GOLDEN = "few golden labels"
FLAG_FAST = "very fast"


def _time_per_label(labels: pd.DataFrame) -> float | None:
    return float(labels["time_spent_ms"].mean() / 1000) if len(labels) else None


def _correct_by(accuracy: pd.DataFrame, column: str) -> dict[str, np.ndarray]:
    """The accuracy rows' ``correct`` as 0/1 per value of ``column``."""
    if accuracy.empty:
        return {}
    correct = accuracy["correct"].to_numpy(dtype="float64")
    return {name: correct[positions]
            for name, positions in accuracy.groupby(column, sort=False, observed=True).indices.items()}


def _pool_rows(prepared: CodedFrames, scales: tuple[str, ...]) -> list[dict]:
    frames = prepared.frames
    labels = frames.labels
    accuracy_by_pool = {scale: _correct_by(frames.accuracy[scale], "pool") for scale in scales}
    pool_codes, pool_names = codes_of(labels["pool"])
    n_pools = len(pool_names)
    n_labels = np.bincount(pool_codes, minlength=n_pools)
    labeler_codes, _ = codes_of(labels["labeler"])
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
        in_pool = prepared.pool == position_of(prepared.pool_names, pool)
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
            row[accuracy_key(scale)] = (prepared.mean(own, f"accuracy:{scale}:pool:{pool}") if own is not None
                                         else empty_figure())
        accuracy = row["accuracy"]["value"]
        row["cost_per_correct_label"] = (row["cost_per_label"] / accuracy
                                         if row["cost_per_label"] is not None and accuracy else None)
        rows.append(row)
    return sorted(rows, key=lambda row: (POOL_KIND_ORDER.get(row["pool_kind"], 9), row["pool"]))


def _labeler_rows(prepared: CodedFrames, scales: tuple[str, ...], overall: dict) -> list[dict]:
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
            row[accuracy_key(scale)] = (prepared.mean(own_rows, f"accuracy:{scale}:labeler:{labeler}")
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


def _group_rows(prepared: CodedFrames, column: str, scales: tuple[str, ...]) -> list[dict]:
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
            code = position_of(prepared.field_names, name)
            in_group = prepared.field == code
            consistency = prepared.consistency_of_keys(prepared.key_field == code, f"field:{name}")
            n_labels = int(np.count_nonzero(np.bincount(units["label"].to_numpy()[in_group],
                                                        minlength=len(frames.labels))))
        elif column == "category":
            keys = prepared.key_category == position_of(prepared.category_names, name)
            consistency = prepared.consistency_of_keys(keys, f"category:{name}")
            n_labels = int(label_counts.get(name, 0))
        else:
            # A guide version splits an item's labels (some before, some after the change): recount.
            consistency = prepared.consistency(prepared.guide == position_of(prepared.guide_names, name),
                                               f"{column}:{name}")
            n_labels = int(label_counts.get(name, 0))
        row = {column: name, "n_labels": n_labels, "consistency": consistency}
        for scale in scales:
            own = accuracy_by[scale].get(name)
            row[accuracy_key(scale)] = (prepared.mean(own, f"accuracy:{scale}:{column}:{name}") if own is not None
                                         else empty_figure())
        if column == "field":
            row["alpha"] = prepared.alpha(in_group, f"field:{name}")
        rows.append(row)
    return rows


def _over_time(prepared: CodedFrames) -> dict:
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


def _items(prepared: CodedFrames) -> dict:
    """Agreement per item (mean over its judged units of the share giving the most common answer),
    lowest first, and its histogram."""
    frames = prepared.frames
    judged = prepared.n_all >= 2
    if not judged.any():
        return {"n_items": 0, "lowest": [], "histogram": []}
    item_codes, item_ids = codes_of(pd.Series(prepared.key_item_code[judged]))
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


def _aggregation(prepared: CodedFrames) -> dict:
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
        winner, _, _ = aggregate_coded(prepared, method=method)
        winners[method] = winner
        correct = (prepared.value_names[winner[positions]] == golden_values).astype("float64") if positions.size else []
        section[method] = {"accuracy": prepared.mean(correct, f"aggregated:{method}"), "n_items": int(prepared.n_keys)}
    first, second = (winners[m] for m in AGGREGATION_METHODS)
    section["methods_agree"] = float((first == second).mean()) if prepared.n_keys else None
    return section


def quality_report_from_frames(frames: QualityFrames, *, n_bootstrap: int = DEFAULT_BOOTSTRAP_SAMPLES,
                               seed: int = 0, aggregation: bool = True) -> dict:
    prepared = CodedFrames(frames, seed=seed, n_bootstrap=n_bootstrap)
    scales = prepared.spec.accuracy_scales
    labels = frames.labels
    overall = {"n_labels": int(len(labels)), "n_items": int(labels["item"].nunique()) if len(labels) else 0,
               "n_labelers": int(labels["labeler"].nunique()) if len(labels) else 0,
               "n_simulated_labels": int(labels["simulated"].sum()) if len(labels) else 0,
               "consistency": prepared.consistency(prepared.all_rows, "all"),
               "alpha": prepared.alpha(prepared.all_rows, "all"),
               "time_per_label_s": _time_per_label(labels)}
    for scale in scales:
        overall[accuracy_key(scale)] = prepared.accuracy(frames.accuracy[scale], f"{scale}:all")
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
