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

from labeling.quality.agreement import alpha_interval, krippendorff_alpha
from labeling.quality.dawid_skene import AGGREGATION_METHODS, aggregate_answers
from labeling.quality.frames import QualityFrames, quality_frames
from labeling.quality.metrics import (DEFAULT_BOOTSTRAP_SAMPLES, accuracy_figure, agrees_with_top, consistency_figure,
                                      empty_figure, mean_figure, time_windows, unit_agreement, unit_key, window_start)
from labeling.task_kinds import task_kind_spec

POOL_KIND_ORDER = {"in_house": 0, "fixed_outside": 1, "crowd": 2}
ALPHA_BOOTSTRAP_SAMPLES = 200
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


class _Figures:
    """The report's figure makers, bound to one kind, seed and bootstrap size."""

    def __init__(self, *, kind: str, seed: int, n_bootstrap: int):
        self.spec = task_kind_spec(kind)
        self.seed, self.n_bootstrap = seed, n_bootstrap

    def consistency(self, units: pd.DataFrame, name: str) -> dict:
        return consistency_figure(units, rng=_rng(self.seed, "consistency:" + name), n_bootstrap=self.n_bootstrap)

    def accuracy(self, rows: pd.DataFrame, name: str) -> dict:
        return accuracy_figure(rows, rng=_rng(self.seed, "accuracy:" + name), n_bootstrap=self.n_bootstrap)

    def mean(self, values, name: str) -> dict:
        return mean_figure(values, rng=_rng(self.seed, "mean:" + name), n_bootstrap=self.n_bootstrap)

    def alpha(self, units: pd.DataFrame, name: str) -> dict:
        """Krippendorff's alpha of the units; with several fields, values are qualified by their field
        (a colour never equals a pattern) and the level is nominal."""
        if units.empty:
            return {**empty_figure(), "level": self.spec.alpha_level}
        single_field = units["field"].nunique() == 1
        level = self.spec.alpha_level if single_field else "nominal"
        values = units["value"] if single_field else units["field"] + "=" + units["value"]
        missing = self.spec.quality_missing_values if single_field else frozenset(
            f"{field}={value}" for field in units["field"].unique() for value in self.spec.quality_missing_values)
        order = [v for v in self.spec.quality_value_order if v not in missing] if (
            level != "nominal" and self.spec.quality_value_order) else None
        frame = pd.DataFrame({"unit": unit_key(units), "labeler_id": units["labeler"], "value": values})
        value = krippendorff_alpha(frame, level=level, value_order=order, missing=missing)
        interval = alpha_interval(frame, level=level, value_order=order, missing=missing,
                                  n_bootstrap=ALPHA_BOOTSTRAP_SAMPLES,
                                  seed=int(_rng(self.seed, "alpha:" + name).integers(2**31))) if value is not None else None
        pairable = frame[~frame["value"].isin(missing)].groupby("unit").size()
        return {"value": value, "low": interval[0] if interval else None, "high": interval[1] if interval else None,
                "n": int((pairable >= 2).sum()), "level": level}


def _time_per_label(labels: pd.DataFrame) -> float | None:
    return float(labels["time_spent_ms"].mean() / 1000) if len(labels) else None


def _pool_rows(frames: QualityFrames, figures: _Figures, scales: tuple[str, ...]) -> list[dict]:
    labels, units = frames.labels, frames.units
    rows = []
    pools = labels.groupby("pool", sort=False)
    for pool, pool_labels in pools:
        pool_units = units[units["pool"] == pool]
        kind = pool_labels["pool_kind"].dropna()
        cost = pool_labels["pool_cost_per_label"].dropna()
        row = {"pool": pool, "pool_kind": kind.iloc[0] if len(kind) else None,
               "n_labels": int(len(pool_labels)), "n_labelers": int(pool_labels["labeler"].nunique()),
               "simulated_labels": int(pool_labels["simulated"].sum()),
               "consistency": figures.consistency(pool_units, f"pool:{pool}"),
               "alpha": figures.alpha(pool_units, f"pool:{pool}"),
               "time_per_label_s": _time_per_label(pool_labels),
               "cost_per_label": float(cost.iloc[0]) if len(cost) else None}
        for scale in scales:
            acc = frames.accuracy[scale]
            row[_accuracy_key(scale)] = figures.accuracy(acc[acc["pool"] == pool], f"{scale}:pool:{pool}")
        accuracy = row["accuracy"]["value"]
        row["cost_per_correct_label"] = (row["cost_per_label"] / accuracy
                                         if row["cost_per_label"] is not None and accuracy else None)
        rows.append(row)
    return sorted(rows, key=lambda row: (POOL_KIND_ORDER.get(row["pool_kind"], 9), row["pool"]))


def _accuracy_key(scale: str) -> str:
    return "accuracy" if scale == "exact" else f"accuracy_{scale}"


def _labeler_rows(frames: QualityFrames, figures: _Figures, scales: tuple[str, ...], overall: dict) -> list[dict]:
    labels, units = frames.labels, frames.units
    agrees = agrees_with_top(units)
    agrees_by_labeler = {name: group.dropna().to_numpy() for name, group in agrees.groupby(units["labeler"], sort=False)}
    accuracy_by_labeler = {scale: dict(tuple(frames.accuracy[scale].groupby("labeler", sort=False))) for scale in scales}
    times = labels.groupby("labeler", sort=False)["time_spent_ms"].mean() / 1000
    median_time = float(times.median()) if len(times) else None
    rows = []
    for labeler, own in labels.groupby("labeler", sort=False):
        row = {"labeler": labeler, "pool": own["pool"].iloc[0], "simulated": bool(own["simulated"].all()),
               "n_labels": int(len(own)),
               "consistency": figures.mean(agrees_by_labeler.get(labeler, np.empty(0)), f"agrees:{labeler}"),
               "time_per_label_s": float(times[labeler])}
        row["labels_per_hour"] = 3600 / row["time_per_label_s"] if row["time_per_label_s"] > 0 else None
        for scale in scales:
            own_rows = accuracy_by_labeler[scale].get(labeler)
            row[_accuracy_key(scale)] = (figures.accuracy(own_rows, f"{scale}:labeler:{labeler}")
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


def _group_rows(frames: QualityFrames, figures: _Figures, column: str, scales: tuple[str, ...]) -> list[dict]:
    """Accuracy and consistency within each value of ``column`` (category, guide version, field)."""
    units = frames.units
    names = sorted(set(units[column].dropna()) | set().union(*(set(frames.accuracy[s][column].dropna()) for s in scales)))
    rows = []
    for name in names:
        in_group = units[units[column] == name]
        row = {column: name, "n_labels": int(frames.labels.index.isin(in_group["label"]).sum()) if column != "field"
               else int(in_group["label"].nunique()),
               "consistency": figures.consistency(in_group, f"{column}:{name}")}
        for scale in scales:
            acc = frames.accuracy[scale]
            row[_accuracy_key(scale)] = figures.accuracy(acc[acc[column] == name], f"{scale}:{column}:{name}")
        if column == "field":
            row["alpha"] = figures.alpha(in_group, f"field:{name}")
        rows.append(row)
    return rows


def _over_time(frames: QualityFrames, figures: _Figures) -> dict:
    accuracy = frames.accuracy["exact"]
    times = frames.labels["created_at"].dropna()
    window_name, seconds = time_windows(times)
    if accuracy.empty:
        return {"window": window_name, "rows": []}
    starts = window_start(accuracy["created_at"], seconds)
    rows = []
    for (start, pool), group in accuracy.groupby([starts, accuracy["pool"]], sort=True):
        rows.append({"start": start.isoformat(), "pool": pool,
                     "accuracy": figures.accuracy(group, f"time:{start.isoformat()}:{pool}")})
    for start, group in accuracy.groupby(starts, sort=True):
        rows.append({"start": start.isoformat(), "pool": None,
                     "accuracy": figures.accuracy(group, f"time:{start.isoformat()}")})
    return {"window": window_name, "rows": rows}


def _confusion(frames: QualityFrames, spec) -> list[dict]:
    """Per field with nominal golden values: counts of (golden value, labeler value)."""
    accuracy = frames.accuracy["exact"]
    rows = accuracy[accuracy["golden_value"].notna() & accuracy["value"].notna()]
    matrices = []
    for field, group in rows.groupby("field", sort=True):
        seen = set(group["golden_value"]) | set(group["value"])
        order = [v for v in (spec.quality_value_order or ()) if v in seen] + sorted(
            seen - set(spec.quality_value_order or ()))
        table = pd.crosstab(group["golden_value"], group["value"]).reindex(index=order, columns=order, fill_value=0)
        matrices.append({"field": field, "values": order, "matrix": table.to_numpy().astype(int).tolist(),
                         "n": int(len(group))})
    return matrices


def _items(frames: QualityFrames) -> dict:
    """Agreement per item (mean over its units of the share giving the most common answer), lowest first."""
    units = frames.units
    agreement = unit_agreement(units)
    if agreement.empty:
        return {"n_items": 0, "lowest": [], "histogram": []}
    agreement = agreement[agreement["n_labels"] >= 2]
    item_of_key = units.assign(key=unit_key(units)).drop_duplicates("key").set_index("key")["item"]
    per_item = agreement.assign(item=item_of_key.reindex(agreement.index).to_numpy()).groupby("item", sort=False).agg(
        agreement=("share", "mean"), n_units=("share", "size"))
    n_labels = frames.labels.groupby("item", sort=False).size()
    task_of = frames.labels.drop_duplicates("item").set_index("item")["task"]
    per_item["n_labels"] = n_labels.reindex(per_item.index).to_numpy()
    lowest = per_item.sort_values(["agreement", "n_labels"], ascending=[True, False]).head(LOWEST_AGREEMENT_ITEMS)
    edges = np.linspace(0, 1, 11)
    histogram, _ = np.histogram(per_item["agreement"].to_numpy(), bins=edges)
    return {"n_items": int(len(per_item)),
            "lowest": [{"item": item, "task": int(task_of[item]) if pd.notna(task_of.get(item)) else None,
                        "agreement": float(row.agreement), "n_labels": int(row.n_labels), "n_units": int(row.n_units)}
                       for item, row in lowest.iterrows()],
            "histogram": [{"low": float(edges[i]), "high": float(edges[i + 1]), "n_items": int(histogram[i])}
                          for i in range(len(histogram))]}


def aggregated_answers(frames: QualityFrames, *, method: str) -> pd.DataFrame:
    """One aggregated value per (item, unit), field by field (each field has its own values):
    columns ``item``, ``unit``, ``field``, ``value``, ``confidence``, ``n_labels``."""
    spec = task_kind_spec(frames.kind)
    units = frames.units
    parts = []
    for field, group in units.groupby("field", sort=True):
        keys = unit_key(group)
        frame = pd.DataFrame({"item": keys.to_numpy(), "labeler_id": group["labeler"].to_numpy(),
                              "value": group["value"].to_numpy()})
        order = list(spec.quality_value_order) if spec.quality_value_order else None
        if order is not None:
            order += sorted(set(frame["value"]) - set(order))
        result = aggregate_answers(frame, method=method, value_order=order)
        split = result["item"].str.rsplit("|", n=1, expand=True)
        parts.append(pd.DataFrame({"item": split[0], "unit": split[1], "field": field, "value": result["value"],
                                   "confidence": result["confidence"], "n_labels": result["n_labels"]}))
    if not parts:
        return pd.DataFrame(columns=["item", "unit", "field", "value", "confidence", "n_labels"])
    return pd.concat(parts, ignore_index=True)


def _aggregation(frames: QualityFrames, figures: _Figures) -> dict:
    """Both methods' aggregated answers scored against the golden value of each (item, unit)."""
    accuracy = frames.accuracy["exact"]
    golden_values = (accuracy[accuracy["golden_value"].notna()].drop_duplicates(["item", "unit"])
                     .set_index(["item", "unit"])["golden_value"])
    section, answers = {}, {}
    for method in AGGREGATION_METHODS:
        aggregated = aggregated_answers(frames, method=method).set_index(["item", "unit"])
        answers[method] = aggregated["value"]
        judged = aggregated.join(golden_values, how="inner")
        correct = (judged["value"] == judged["golden_value"]).to_numpy(dtype="float64")
        section[method] = {"accuracy": figures.mean(correct, f"aggregated:{method}"),
                           "n_items": int(len(aggregated))}
    first, second = (answers[m] for m in AGGREGATION_METHODS)
    both = first.to_frame("first").join(second.to_frame("second"), how="inner")
    section["methods_agree"] = float((both["first"] == both["second"]).mean()) if len(both) else None
    return section


def quality_report_from_frames(frames: QualityFrames, *, n_bootstrap: int = DEFAULT_BOOTSTRAP_SAMPLES,
                               seed: int = 0, aggregation: bool = True) -> dict:
    spec = task_kind_spec(frames.kind)
    figures = _Figures(kind=frames.kind, seed=seed, n_bootstrap=n_bootstrap)
    scales = spec.accuracy_scales
    labels, units = frames.labels, frames.units
    overall = {"n_labels": int(len(labels)), "n_items": int(labels["item"].nunique()) if len(labels) else 0,
               "n_labelers": int(labels["labeler"].nunique()) if len(labels) else 0,
               "n_simulated_labels": int(labels["simulated"].sum()) if len(labels) else 0,
               "consistency": figures.consistency(units, "all"), "alpha": figures.alpha(units, "all"),
               "time_per_label_s": _time_per_label(labels)}
    for scale in scales:
        overall[_accuracy_key(scale)] = figures.accuracy(frames.accuracy[scale], f"{scale}:all")
    report = {"kind": frames.kind, "accuracy_scales": list(scales), "overall": overall,
              "per_pool": _pool_rows(frames, figures, scales),
              "per_labeler": _labeler_rows(frames, figures, scales, overall),
              "per_field": _group_rows(frames, figures, "field", scales),
              "per_category": _group_rows(frames, figures, "category", scales),
              "per_guide_version": _group_rows(frames, figures, "guide_version", scales),
              "over_time": _over_time(frames, figures),
              "confusion": _confusion(frames, spec),
              "items": _items(frames)}
    if aggregation:
        report["aggregation"] = _aggregation(frames, figures)
    return report


def quality_report(*, kind: str, records: list[dict], golden: dict[str, dict],
                   n_bootstrap: int = DEFAULT_BOOTSTRAP_SAMPLES, seed: int = 0, **options) -> dict:
    """The report of one kind's label records against ``golden`` (item -> golden answer)."""
    frames = quality_frames(kind=kind, records=records, golden=golden, **options)
    return quality_report_from_frames(frames, n_bootstrap=n_bootstrap, seed=seed)
